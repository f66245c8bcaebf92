package schema

// Event names.
const (
	EventProcessExec = "process.exec"
	EventProcessExit = "process.exit"
	resource         = "resource"
)

var processEvents = []string{EventProcessExec, EventProcessExit}

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
	{HostName, String, []string{resource}, "always", "`node_name` setting, else the host name", "worker-1", "The node."},
	{HostID, String, []string{resource}, "when readable", "/etc/machine-id", "8f2b6c1e4d0a4c55b7f3e1a2c9d8e7f6", "The node's machine id."},
	{OSType, String, []string{resource}, "always", "constant", "linux", ""},
	{ContainerID, String, []string{resource}, "processes in a container", "the cgroup path (64 hex digits of the runtime's scope or directory)", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "Resources are one per container, plus one for host processes (without container.id)."},
	{ContainerRuntimeName, String, []string{resource}, "when the cgroup path names it", "the cgroup path", "containerd", "containerd, cri-o, docker or podman."},
	{K8sPodUID, String, []string{resource}, "Kubernetes pods", "the cgroup path (kubepods slices)", "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f", "Lets the k8s enrichment processor find the pod."},

	{ProcessPID, Int, processEvents, "always", "kernel: task tgid", "4242", ""},
	{ProcessParentPID, Int, processEvents, "always", "kernel: real_parent tgid when the image started", "4200", ""},
	{ProcessVPID, Int, processEvents, "when known", "kernel: pid in the process's pid namespace", "1", "Differs from process.pid in containers."},
	{ProcessExecutablePath, String, processEvents, "when known", "kernel: mm->exe_file, resolved by a dentry walk to the process's root", "/usr/bin/curl", "For a script, the interpreter; the script is in the arguments and otelsec.process.exec.filename."},
	{ProcessExecutableName, String, processEvents, "when known", "base name of process.executable.path", "curl", ""},
	{ProcessCommandArgs, StringSlice, processEvents, "when known", "kernel: argv from the new process's memory (bounded by `process.args_max_bytes`)", `["curl","-s","http://example.com"]`, ""},
	{ProcessCommandLine, String, processEvents, "when known", "process.command_args joined with spaces", "curl -s http://example.com", ""},
	{ProcessWorkingDirectory, String, processEvents, "when known", "kernel: fs->pwd, dentry walk", "/home/alice", ""},
	{ProcessUserID, Int, processEvents, "when known", "kernel: cred euid", "0", "Effective user id."},
	{ProcessRealUserID, Int, processEvents, "when known", "kernel: cred uid", "1000", ""},
	{ProcessSavedUserID, Int, processEvents, "when known", "kernel: cred suid", "0", ""},
	{ProcessGroupID, Int, processEvents, "when known", "kernel: cred egid", "0", "Effective group id."},
	{ProcessRealGroupID, Int, processEvents, "when known", "kernel: cred gid", "1000", ""},
	{ProcessSavedGroupID, Int, processEvents, "when known", "kernel: cred sgid", "0", ""},
	{ProcessCreationTime, String, processEvents, "always", "kernel: task start_boottime (fork time), as RFC 3339", "2026-11-25T23:10:14.123456789Z", ""},
	{ProcessLinuxCgroup, String, processEvents, "when known", "kernel: the default hierarchy's kernfs path", "0::/kubepods.slice/…/cri-containerd-9f86….scope", "In the format of a /proc/PID/cgroup line."},
	{ProcessExitCode, Int, []string{EventProcessExit}, "when the process exited (not killed)", "kernel: exit_code >> 8", "3", ""},
	{ProcessExitTime, String, []string{EventProcessExit}, "always", "kernel: time of the last thread's exit, RFC 3339", "2026-11-25T23:10:15Z", ""},

	{ExecID, String, processEvents, "always", "<node>:<boot id prefix>:<image start ns>:<pid>", "worker-1:5b0c2f1e:1834529873000:4242", "Unique per program image on the node, across reboots. The start is the exec time (fork time for a forked image, /proc start for processes seen at startup)."},
	{ParentExecID, String, processEvents, "when the parent is known", "process cache", "worker-1:5b0c2f1e:1834500000000:4200", ""},
	{ParentExecutablePath, String, processEvents, "when the parent is known", "process cache", "/usr/bin/bash", ""},
	{ParentCommandLine, String, processEvents, "when the parent is known", "process cache", "bash -c curl -s http://example.com", ""},
	{AncestorExecIDs, StringSlice, processEvents, "when the parent is known", "process cache, nearest first, up to `process.ancestry_depth`", `["worker-1:…:4200","worker-1:…:1"]`, "Index 0 is the parent."},
	{AncestorPIDs, IntSlice, processEvents, "when the parent is known", "process cache", "[4200, 1]", ""},
	{AncestorExecutablePaths, StringSlice, processEvents, "when the parent is known", "process cache", `["/usr/bin/bash","/usr/lib/systemd/systemd"]`, ""},
	{ExecFilename, String, []string{EventProcessExec}, "when known", "kernel: bprm->filename, the path given to execve", "./run.sh", ""},
	{FSUserID, Int, processEvents, "when it differs from process.user.id", "kernel: cred fsuid", "1000", ""},
	{FSGroupID, Int, processEvents, "when it differs from process.group.id", "kernel: cred fsgid", "1000", ""},
	{CapEffective, StringSlice, processEvents, "when known", "kernel: cred cap_effective", `["CAP_NET_RAW","CAP_SYS_ADMIN"]`, "Capability names."},
	{CapPermitted, StringSlice, processEvents, "when known", "kernel: cred cap_permitted", `["CAP_NET_RAW","CAP_SYS_ADMIN"]`, ""},
	{CapInheritable, StringSlice, processEvents, "when not empty", "kernel: cred cap_inheritable", `["CAP_NET_BIND_SERVICE"]`, ""},
	{AuditLoginUserID, Int, processEvents, "when set", "kernel: task loginuid (auid)", "1000", "The user who logged in, kept across su and sudo."},
	{AuditSessionID, Int, processEvents, "when set", "kernel: task sessionid", "3", ""},
	{CredentialsChange, StringSlice, []string{EventProcessExec}, "when the exec changed credentials", "kernel: credentials before and after the exec", `["setuid","capabilities"]`, "setuid (effective uid changed by a set-user-id file), setgid, capabilities (permitted set gained capabilities)."},
	{PrevUserID, Int, []string{EventProcessExec}, "with otelsec.process.credentials.change", "kernel: euid before the exec", "1000", ""},
	{PrevGroupID, Int, []string{EventProcessExec}, "with otelsec.process.credentials.change", "kernel: egid before the exec", "1000", ""},
	{PrevCapPermitted, StringSlice, []string{EventProcessExec}, "with otelsec.process.credentials.change", "kernel: permitted capabilities before the exec", "[]", ""},
	{ExecutableSetuid, Bool, []string{EventProcessExec}, "when true", "kernel: executable inode mode has S_ISUID", "true", ""},
	{ExecutableSetgid, Bool, []string{EventProcessExec}, "when true", "kernel: executable inode mode has S_ISGID", "true", ""},
	{ExecutableDeleted, Bool, processEvents, "when true", "kernel: executable inode has no links (deleted file, memfd)", "true", ""},
	{ExecutableTruncated, Bool, processEvents, "when true", "kernel: path deeper or longer than the walk's bounds (64 components, 4 KiB)", "true", "The path is then a suffix of the real one."},
	{CommandArgsTruncated, Bool, processEvents, "when true", "kernel: argv longer than `process.args_max_bytes`", "true", "The last argument may be cut."},
	{WorkingDirectoryTruncated, Bool, processEvents, "when true", "kernel: as for the executable path", "true", ""},
	{CgroupTruncated, Bool, processEvents, "when true", "kernel: cgroup path deeper than 32 or longer than 1 KiB", "true", ""},
	{CgroupID, Int, processEvents, "when known", "kernel: cgroup kernfs id (the cgroup directory's inode)", "4026", ""},
	{NSMnt, Int, processEvents, "when known", "kernel: namespace inode", "4026531841", ""},
	{NSPID, Int, processEvents, "when known", "kernel: namespace inode", "4026531836", ""},
	{NSNet, Int, processEvents, "when known", "kernel: namespace inode", "4026531840", ""},
	{NSUTS, Int, processEvents, "when known", "kernel: namespace inode", "4026531838", ""},
	{NSIPC, Int, processEvents, "when known", "kernel: namespace inode", "4026531839", ""},
	{NSUser, Int, processEvents, "when known", "kernel: namespace inode", "4026531837", ""},
	{NSCgroup, Int, processEvents, "when known", "kernel: namespace inode", "4026531835", ""},
	{NSTime, Int, processEvents, "when known", "kernel: namespace inode", "4026531834", ""},
	{Origin, String, []string{EventProcessExit}, "always", "process cache", "exec", "How otelsec learned of the image: exec (seen in the kernel), fork (forked, did not exec), procfs (running before the collector)."},
	{Comm, String, []string{EventProcessExit}, "when the process is unknown to the cache", "kernel: task comm", "kworker", ""},
	{ExitSignal, String, []string{EventProcessExit}, "when a signal killed the process", "kernel: exit_code & 0x7f", "SIGKILL", ""},
	{ExitCoreDumped, Bool, []string{EventProcessExit}, "when true", "kernel: exit_code & 0x80", "true", ""},
}
