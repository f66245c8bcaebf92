package schema

// Event names.
const (
	EventProcessExec = "process.exec"
	EventProcessExit = "process.exit"
	resource         = "resource"
)

var (
	processEvents = []string{EventProcessExec, EventProcessExit}
	allEvents     = []string{AllEvents}
)

// Resource attributes.
const (
	HostName             = "host.name"
	HostID               = "host.id"
	OSType               = "os.type"
	ContainerID          = "container.id"
	ContainerRuntimeName = "container.runtime.name"
	K8sPodUID            = "k8s.pod.uid"
)

// Process attributes (OpenTelemetry semantic conventions).
const (
	ProcessPID              = "process.pid"
	ProcessParentPID        = "process.parent_pid"
	ProcessVPID             = "process.vpid"
	ProcessExecutablePath   = "process.executable.path"
	ProcessExecutableName   = "process.executable.name"
	ProcessCommandArgs      = "process.command_args"
	ProcessCommandLine      = "process.command_line"
	ProcessWorkingDirectory = "process.working_directory"
	ProcessUserID           = "process.user.id"
	ProcessRealUserID       = "process.real_user.id"
	ProcessSavedUserID      = "process.saved_user.id"
	ProcessGroupID          = "process.group.id"
	ProcessRealGroupID      = "process.real_group.id"
	ProcessSavedGroupID     = "process.saved_group.id"
	ProcessCreationTime     = "process.creation.time"
	ProcessExitCode         = "process.exit.code"
	ProcessExitTime         = "process.exit.time"
	ProcessLinuxCgroup      = "process.linux.cgroup"
)

// Process attributes in otelsec's namespace.
const (
	ExecID                    = "otelsec.process.exec_id"
	ParentExecID              = "otelsec.process.parent.exec_id"
	ParentExecutablePath      = "otelsec.process.parent.executable.path"
	ParentCommandLine         = "otelsec.process.parent.command_line"
	AncestorExecIDs           = "otelsec.process.ancestors.exec_ids"
	AncestorPIDs              = "otelsec.process.ancestors.pids"
	AncestorExecutablePaths   = "otelsec.process.ancestors.executable.paths"
	ExecFilename              = "otelsec.process.exec.filename"
	FSUserID                  = "otelsec.process.fs_user.id"
	FSGroupID                 = "otelsec.process.fs_group.id"
	CapEffective              = "otelsec.process.capabilities.effective"
	CapPermitted              = "otelsec.process.capabilities.permitted"
	CapInheritable            = "otelsec.process.capabilities.inheritable"
	AuditLoginUserID          = "otelsec.process.audit.login_user.id"
	AuditSessionID            = "otelsec.process.audit.session.id"
	CredentialsChange         = "otelsec.process.credentials.change"
	PrevUserID                = "otelsec.process.credentials.previous.user.id"
	PrevGroupID               = "otelsec.process.credentials.previous.group.id"
	PrevCapPermitted          = "otelsec.process.credentials.previous.capabilities.permitted"
	ExecutableSetuid          = "otelsec.process.executable.setuid"
	ExecutableSetgid          = "otelsec.process.executable.setgid"
	ExecutableDeleted         = "otelsec.process.executable.deleted"
	ExecutableTruncated       = "otelsec.process.executable.path.truncated"
	CommandArgsTruncated      = "otelsec.process.command_args.truncated"
	WorkingDirectoryTruncated = "otelsec.process.working_directory.truncated"
	CgroupTruncated           = "otelsec.process.cgroup.truncated"
	CgroupID                  = "otelsec.process.cgroup.id"
	NSMnt                     = "otelsec.process.namespaces.mnt"
	NSPID                     = "otelsec.process.namespaces.pid"
	NSNet                     = "otelsec.process.namespaces.net"
	NSUTS                     = "otelsec.process.namespaces.uts"
	NSIPC                     = "otelsec.process.namespaces.ipc"
	NSUser                    = "otelsec.process.namespaces.user"
	NSCgroup                  = "otelsec.process.namespaces.cgroup"
	NSTime                    = "otelsec.process.namespaces.time"
	Origin                    = "otelsec.process.origin"
	Comm                      = "otelsec.process.comm"
	ExitSignal                = "otelsec.process.exit.signal"
	ExitCoreDumped            = "otelsec.process.exit.core_dumped"
)

// All is every attribute otelsec emits, in documentation order.
var All = []Attribute{
	{Name: HostName, Type: String, Events: []string{resource}, Presence: "always", Source: "`node_name` setting, else the host name", Example: "worker-1", Description: "The node.", ECS: "host.name, host.hostname", CIM: "dest"},
	{Name: HostID, Type: String, Events: []string{resource}, Presence: "when readable", Source: "/etc/machine-id", Example: "8f2b6c1e4d0a4c55b7f3e1a2c9d8e7f6", Description: "The node's machine id.", ECS: "host.id"},
	{Name: OSType, Type: String, Events: []string{resource}, Presence: "always", Source: "constant", Example: "linux", Description: "", ECS: "host.os.type", CIM: "os"},
	{Name: ContainerID, Type: String, Events: []string{resource}, Presence: "processes in a container", Source: "the cgroup path (64 hex digits of the runtime's scope or directory)", Example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Description: "Resources are one per container, plus one for host processes (without container.id).", ECS: "container.id"},
	{Name: ContainerRuntimeName, Type: String, Events: []string{resource}, Presence: "when the cgroup path names it", Source: "the cgroup path", Example: "containerd", Description: "containerd, cri-o, docker or podman.", ECS: "container.runtime"},
	{Name: K8sPodUID, Type: String, Events: []string{resource}, Presence: "Kubernetes pods", Source: "the cgroup path (kubepods slices)", Example: "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f", Description: "Lets the k8s enrichment processor find the pod.", ECS: "orchestrator.resource.id"},

	{Name: ProcessPID, Type: Int, Events: allEvents, Presence: "always", Source: "kernel: task tgid", Example: "4242", Description: "", ECS: "process.pid", CIM: "process_id"},
	{Name: ProcessParentPID, Type: Int, Events: allEvents, Presence: "always", Source: "kernel: real_parent tgid when the image started", Example: "4200", Description: "", ECS: "process.parent.pid", CIM: "parent_process_id"},
	{Name: ProcessVPID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: pid in the process's pid namespace", Example: "1", Description: "Differs from process.pid in containers.", ECS: "process.vpid"},
	{Name: ProcessExecutablePath, Type: String, Events: allEvents, Presence: "when known", Source: "kernel: mm->exe_file, resolved by a dentry walk to the process's root", Example: "/usr/bin/curl", Description: "For a script, the interpreter; the script is in the arguments and otelsec.process.exec.filename.", ECS: "process.executable", CIM: "process_path"},
	{Name: ProcessExecutableName, Type: String, Events: allEvents, Presence: "when known", Source: "base name of process.executable.path", Example: "curl", Description: "", ECS: "process.name", CIM: "process_name, process_exec"},
	{Name: ProcessCommandArgs, Type: StringSlice, Events: processEvents, Presence: "when known", Source: "kernel: argv from the new process's memory (bounded by `process.args_max_bytes`)", Example: `["curl","-s","http://example.com"]`, Description: "", ECS: "process.args"},
	{Name: ProcessCommandLine, Type: String, Events: allEvents, Presence: "when known", Source: "process.command_args joined with spaces", Example: "curl -s http://example.com", Description: "", ECS: "process.command_line", CIM: "process"},
	{Name: ProcessWorkingDirectory, Type: String, Events: processEvents, Presence: "when known", Source: "kernel: fs->pwd, dentry walk", Example: "/home/alice", Description: "", ECS: "process.working_directory", CIM: "process_current_directory"},
	{Name: ProcessUserID, Type: Int, Events: allEvents, Presence: "when known", Source: "kernel: cred euid", Example: "0", Description: "Effective user id.", ECS: "process.user.id, user.id", CIM: "user_id"},
	{Name: ProcessRealUserID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cred uid", Example: "1000", Description: "", ECS: "process.real_user.id"},
	{Name: ProcessSavedUserID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cred suid", Example: "0", Description: "", ECS: "process.saved_user.id"},
	{Name: ProcessGroupID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cred egid", Example: "0", Description: "Effective group id.", ECS: "process.group.id, group.id"},
	{Name: ProcessRealGroupID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cred gid", Example: "1000", Description: "", ECS: "process.real_group.id"},
	{Name: ProcessSavedGroupID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cred sgid", Example: "0", Description: "", ECS: "process.saved_group.id"},
	{Name: ProcessCreationTime, Type: String, Events: processEvents, Presence: "always", Source: "kernel: task start_boottime (fork time), as RFC 3339", Example: "2026-11-25T23:10:14.123456789Z", Description: "", ECS: "process.start"},
	{Name: ProcessLinuxCgroup, Type: String, Events: processEvents, Presence: "when known", Source: "kernel: the default hierarchy's kernfs path", Example: "0::/kubepods.slice/…/cri-containerd-9f86….scope", Description: "In the format of a /proc/PID/cgroup line."},
	{Name: ProcessExitCode, Type: Int, Events: []string{EventProcessExit}, Presence: "when the process exited (not killed)", Source: "kernel: exit_code >> 8", Example: "3", Description: "", ECS: "process.exit_code"},
	{Name: ProcessExitTime, Type: String, Events: []string{EventProcessExit}, Presence: "always", Source: "kernel: time of the last thread's exit, RFC 3339", Example: "2026-11-25T23:10:15Z", Description: "", ECS: "process.end"},

	{Name: ExecID, Type: String, Events: allEvents, Presence: "always", Source: "<node>:<boot id prefix>:<image start ns>:<pid>", Example: "worker-1:5b0c2f1e:1834529873000:4242", Description: "Unique per program image on the node, across reboots. The start is the exec time (fork time for a forked image, /proc start for processes seen at startup).", ECS: "process.entity_id", CIM: "process_guid"},
	{Name: ParentExecID, Type: String, Events: allEvents, Presence: "when the parent is known", Source: "process cache", Example: "worker-1:5b0c2f1e:1834500000000:4200", Description: "", ECS: "process.parent.entity_id", CIM: "parent_process_guid"},
	{Name: ParentExecutablePath, Type: String, Events: allEvents, Presence: "when the parent is known", Source: "process cache", Example: "/usr/bin/bash", Description: "", ECS: "process.parent.executable", CIM: "parent_process_path"},
	{Name: ParentCommandLine, Type: String, Events: processEvents, Presence: "when the parent is known", Source: "process cache", Example: "bash -c curl -s http://example.com", Description: "", ECS: "process.parent.command_line", CIM: "parent_process"},
	{Name: AncestorExecIDs, Type: StringSlice, Events: processEvents, Presence: "when the parent is known", Source: "process cache, nearest first, up to `process.ancestry_depth`", Example: `["worker-1:…:4200","worker-1:…:1"]`, Description: "Index 0 is the parent."},
	{Name: AncestorPIDs, Type: IntSlice, Events: processEvents, Presence: "when the parent is known", Source: "process cache", Example: "[4200, 1]", Description: ""},
	{Name: AncestorExecutablePaths, Type: StringSlice, Events: processEvents, Presence: "when the parent is known", Source: "process cache", Example: `["/usr/bin/bash","/usr/lib/systemd/systemd"]`, Description: ""},
	{Name: ExecFilename, Type: String, Events: []string{EventProcessExec}, Presence: "when known", Source: "kernel: bprm->filename, the path given to execve", Example: "./run.sh", Description: ""},
	{Name: FSUserID, Type: Int, Events: processEvents, Presence: "when it differs from process.user.id", Source: "kernel: cred fsuid", Example: "1000", Description: ""},
	{Name: FSGroupID, Type: Int, Events: processEvents, Presence: "when it differs from process.group.id", Source: "kernel: cred fsgid", Example: "1000", Description: ""},
	{Name: CapEffective, Type: StringSlice, Events: processEvents, Presence: "when known", Source: "kernel: cred cap_effective", Example: `["CAP_NET_RAW","CAP_SYS_ADMIN"]`, Description: "Capability names.", ECS: "process.thread.capabilities.effective"},
	{Name: CapPermitted, Type: StringSlice, Events: processEvents, Presence: "when known", Source: "kernel: cred cap_permitted", Example: `["CAP_NET_RAW","CAP_SYS_ADMIN"]`, Description: "", ECS: "process.thread.capabilities.permitted"},
	{Name: CapInheritable, Type: StringSlice, Events: processEvents, Presence: "when not empty", Source: "kernel: cred cap_inheritable", Example: `["CAP_NET_BIND_SERVICE"]`, Description: ""},
	{Name: AuditLoginUserID, Type: Int, Events: processEvents, Presence: "when set", Source: "kernel: task loginuid (auid)", Example: "1000", Description: "The user who logged in, kept across su and sudo."},
	{Name: AuditSessionID, Type: Int, Events: processEvents, Presence: "when set", Source: "kernel: task sessionid", Example: "3", Description: ""},
	{Name: CredentialsChange, Type: StringSlice, Events: []string{EventProcessExec}, Presence: "when the exec changed credentials", Source: "kernel: credentials before and after the exec", Example: `["setuid","capabilities"]`, Description: "setuid (effective uid changed by a set-user-id file), setgid, capabilities (permitted set gained capabilities)."},
	{Name: PrevUserID, Type: Int, Events: []string{EventProcessExec}, Presence: "with otelsec.process.credentials.change", Source: "kernel: euid before the exec", Example: "1000", Description: ""},
	{Name: PrevGroupID, Type: Int, Events: []string{EventProcessExec}, Presence: "with otelsec.process.credentials.change", Source: "kernel: egid before the exec", Example: "1000", Description: ""},
	{Name: PrevCapPermitted, Type: StringSlice, Events: []string{EventProcessExec}, Presence: "with otelsec.process.credentials.change", Source: "kernel: permitted capabilities before the exec", Example: "[]", Description: ""},
	{Name: ExecutableSetuid, Type: Bool, Events: []string{EventProcessExec}, Presence: "when true", Source: "kernel: executable inode mode has S_ISUID", Example: "true", Description: ""},
	{Name: ExecutableSetgid, Type: Bool, Events: []string{EventProcessExec}, Presence: "when true", Source: "kernel: executable inode mode has S_ISGID", Example: "true", Description: ""},
	{Name: ExecutableDeleted, Type: Bool, Events: processEvents, Presence: "when true", Source: "kernel: executable inode has no links (deleted file, memfd)", Example: "true", Description: ""},
	{Name: ExecutableTruncated, Type: Bool, Events: processEvents, Presence: "when true", Source: "kernel: path deeper or longer than the walk's bounds (64 components, 4 KiB)", Example: "true", Description: "The path is then a suffix of the real one."},
	{Name: CommandArgsTruncated, Type: Bool, Events: processEvents, Presence: "when true", Source: "kernel: argv longer than `process.args_max_bytes`", Example: "true", Description: "The last argument may be cut."},
	{Name: WorkingDirectoryTruncated, Type: Bool, Events: processEvents, Presence: "when true", Source: "kernel: as for the executable path", Example: "true", Description: ""},
	{Name: CgroupTruncated, Type: Bool, Events: processEvents, Presence: "when true", Source: "kernel: cgroup path deeper than 32 or longer than 1 KiB", Example: "true", Description: ""},
	{Name: CgroupID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: cgroup kernfs id (the cgroup directory's inode)", Example: "4026", Description: ""},
	{Name: NSMnt, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531841", Description: ""},
	{Name: NSPID, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531836", Description: ""},
	{Name: NSNet, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531840", Description: ""},
	{Name: NSUTS, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531838", Description: ""},
	{Name: NSIPC, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531839", Description: ""},
	{Name: NSUser, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531837", Description: ""},
	{Name: NSCgroup, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531835", Description: ""},
	{Name: NSTime, Type: Int, Events: processEvents, Presence: "when known", Source: "kernel: namespace inode", Example: "4026531834", Description: ""},
	{Name: Origin, Type: String, Events: []string{EventProcessExit}, Presence: "always", Source: "process cache", Example: "exec", Description: "How otelsec learned of the image: exec (seen in the kernel), fork (forked, did not exec), procfs (running before the collector)."},
	{Name: Comm, Type: String, Events: allEvents, Presence: "when the process is unknown to the cache", Source: "kernel: task comm", Example: "kworker", Description: ""},
	{Name: ExitSignal, Type: String, Events: []string{EventProcessExit}, Presence: "when a signal killed the process", Source: "kernel: exit_code & 0x7f", Example: "SIGKILL", Description: ""},
	{Name: ExitCoreDumped, Type: Bool, Events: []string{EventProcessExit}, Presence: "when true", Source: "kernel: exit_code & 0x80", Example: "true", Description: ""},
}
