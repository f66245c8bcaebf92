package schema

import "slices"

// Event names of the privilege sensor.
const (
	// EventPrivilegeChange: a process's credentials (user and group ids, capability sets)
	// changed through the setuid family or capset. Credential changes made by an exec are
	// process.exec's otelsec.process.credentials.* attributes, not this event.
	EventPrivilegeChange = "process.privilege_change"
	// EventNamespaceChange: a process entered other namespaces (clone into new namespaces,
	// unshare, setns).
	EventNamespaceChange = "process.namespace_change"
	// EventPtrace: a process became traced (PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME).
	EventPtrace = "process.ptrace"
	// EventModuleLoad: a kernel module was loaded (init_module, finit_module).
	EventModuleLoad = "kernel.module_load"
	// EventBPFProgramLoad: a process other than the collector loaded a BPF program.
	EventBPFProgramLoad = "bpf.program_load"
	// EventMount: a filesystem was mounted, remounted or moved (mount, move_mount).
	EventMount = "filesystem.mount"
	// EventUnmount: a filesystem was unmounted (umount2).
	EventUnmount = "filesystem.unmount"
)

// PrivilegeEvents are the privilege sensor's event names, in documentation order.
var PrivilegeEvents = []string{
	EventPrivilegeChange, EventNamespaceChange, EventPtrace, EventModuleLoad,
	EventBPFProgramLoad, EventMount, EventUnmount,
}

var mountEvents = []string{EventMount, EventUnmount}

// Attributes of the privilege sensor's events.
const (
	ThreadID     = "thread.id"
	SyscallName  = "otelsec.syscall.name"
	SyscallFlags = "otelsec.syscall.flags"

	PrevRealUserID     = "otelsec.process.credentials.previous.real_user.id"
	PrevSavedUserID    = "otelsec.process.credentials.previous.saved_user.id"
	PrevFSUserID       = "otelsec.process.credentials.previous.fs_user.id"
	PrevRealGroupID    = "otelsec.process.credentials.previous.real_group.id"
	PrevSavedGroupID   = "otelsec.process.credentials.previous.saved_group.id"
	PrevFSGroupID      = "otelsec.process.credentials.previous.fs_group.id"
	PrevCapEffective   = "otelsec.process.credentials.previous.capabilities.effective"
	PrevCapInheritable = "otelsec.process.credentials.previous.capabilities.inheritable"

	NSPIDForChildren      = "otelsec.process.namespaces.pid_for_children"
	NSTimeForChildren     = "otelsec.process.namespaces.time_for_children"
	NSChanged             = "otelsec.process.namespaces.changed"
	NSPrevious            = "otelsec.process.namespaces.previous." // + the namespace's name
	NSPrevMnt             = NSPrevious + "mnt"
	NSPrevPID             = NSPrevious + "pid"
	NSPrevNet             = NSPrevious + "net"
	NSPrevUTS             = NSPrevious + "uts"
	NSPrevIPC             = NSPrevious + "ipc"
	NSPrevUser            = NSPrevious + "user"
	NSPrevCgroup          = NSPrevious + "cgroup"
	NSPrevTime            = NSPrevious + "time"
	NSPrevPIDForChildren  = NSPrevious + "pid_for_children"
	NSPrevTimeForChildren = NSPrevious + "time_for_children"

	PtraceRequest        = "otelsec.ptrace.request"
	PtraceTraceePID      = "otelsec.ptrace.tracee.pid"
	PtraceTraceeThreadID = "otelsec.ptrace.tracee.thread.id"
	PtraceTraceeExecID   = "otelsec.ptrace.tracee.exec_id"
	PtraceTraceeExe      = "otelsec.ptrace.tracee.executable.path"
	PtraceTracerPID      = "otelsec.ptrace.tracer.pid"
	PtraceTracerExecID   = "otelsec.ptrace.tracer.exec_id"

	ModuleName       = "otelsec.module.name"
	ModuleOrigin     = "otelsec.module.origin"
	ModuleFilePath   = "otelsec.module.file.path"
	ModuleSize       = "otelsec.module.size"
	ModuleParameters = "otelsec.module.parameters"
	ModuleTaints     = "otelsec.module.taints"
	ModuleTruncated  = "otelsec.module.truncated"

	BPFProgramID           = "otelsec.bpf.program.id"
	BPFProgramName         = "otelsec.bpf.program.name"
	BPFProgramType         = "otelsec.bpf.program.type"
	BPFProgramAttachType   = "otelsec.bpf.program.attach_type"
	BPFProgramAttachTarget = "otelsec.bpf.program.attach_target"
	BPFProgramInstructions = "otelsec.bpf.program.instructions"
	BPFProgramTag          = "otelsec.bpf.program.tag"

	MountSource         = "otelsec.mount.source"
	MountFSType         = "otelsec.mount.filesystem.type"
	MountTarget         = "otelsec.mount.target.path"
	MountTargetResolved = "otelsec.mount.target.resolved"
	MountOptions        = "otelsec.mount.options"
	MountAttributes     = "otelsec.mount.attributes"
	MountTruncated      = "otelsec.mount.truncated"
)

// NamespaceNames are the namespaces a namespace change names, in the order of the kernel
// record's fields.
var NamespaceNames = []string{"mnt", "pid", "net", "uts", "ipc", "user", "cgroup", "time", "pid_for_children", "time_for_children"}

var (
	privilegeChange = []string{EventPrivilegeChange}
	namespaceChange = []string{EventNamespaceChange}
	ptraceEvent     = []string{EventPtrace}
	moduleEvent     = []string{EventModuleLoad}
	bpfEvent        = []string{EventBPFProgramLoad}
)

var privilegeAttributes = []Attribute{
	{Name: ThreadID, Type: Int, Events: PrivilegeEvents, Presence: "always", Source: "kernel: the calling thread's id (tid); for a clone, the new task's", Example: "4243", Description: "Credentials and namespaces belong to a thread: a multi-threaded process changes them once per thread (glibc and Go change every thread, one event each).", ECS: "process.thread.id"},
	{Name: SyscallName, Type: String, Events: PrivilegeEvents, Presence: "always", Source: "kernel: the syscall tracepoint or LSM hook that saw it", Example: "setresuid", Description: "setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, setfsgid, capset, clone (any fork into other namespaces), unshare, setns, ptrace, init_module, finit_module, bpf, mount, move_mount, umount2."},
	{Name: SyscallFlags, Type: StringSlice, Events: []string{EventNamespaceChange, EventModuleLoad, EventMount, EventUnmount}, Presence: "when the flags argument is not 0", Source: "kernel: the syscall's flags argument, by name (unknown bits in hex)", Example: `["MS_NOSUID","MS_NODEV"]`, Description: "unshare: CLONE_*; setns: the nstype (CLONE_NEW*); finit_module: MODULE_INIT_*; mount: MS_*; move_mount: MOVE_MOUNT_*; umount2: MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW."},

	{Name: PrevRealUserID, Type: Int, Events: privilegeChange, Presence: "always", Source: "kernel: cred uid before the change", Example: "0", Description: "The new credentials are process.real_user.id, process.user.id, process.saved_user.id, ...: the process as it is after the change."},
	{Name: PrevSavedUserID, Type: Int, Events: privilegeChange, Presence: "always", Source: "kernel: cred suid before the change", Example: "0", Description: ""},
	{Name: PrevFSUserID, Type: Int, Events: privilegeChange, Presence: "when it differs from otelsec.process.credentials.previous.user.id", Source: "kernel: cred fsuid before the change", Example: "1000", Description: ""},
	{Name: PrevRealGroupID, Type: Int, Events: privilegeChange, Presence: "always", Source: "kernel: cred gid before the change", Example: "0", Description: ""},
	{Name: PrevSavedGroupID, Type: Int, Events: privilegeChange, Presence: "always", Source: "kernel: cred sgid before the change", Example: "0", Description: ""},
	{Name: PrevFSGroupID, Type: Int, Events: privilegeChange, Presence: "when it differs from otelsec.process.credentials.previous.group.id", Source: "kernel: cred fsgid before the change", Example: "1000", Description: ""},
	{Name: PrevCapEffective, Type: StringSlice, Events: privilegeChange, Presence: "always", Source: "kernel: cred cap_effective before the change", Example: `["CAP_NET_RAW","CAP_SYS_ADMIN"]`, Description: ""},
	{Name: PrevCapInheritable, Type: StringSlice, Events: privilegeChange, Presence: "when not empty", Source: "kernel: cred cap_inheritable before the change", Example: `["CAP_NET_BIND_SERVICE"]`, Description: ""},

	{Name: NSPIDForChildren, Type: Int, Events: namespaceChange, Presence: "when known", Source: "kernel: nsproxy pid_ns_for_children inode", Example: "4026532301", Description: "Where the process's next children go: unshare(CLONE_NEWPID) and setns into a pid namespace change only this."},
	{Name: NSTimeForChildren, Type: Int, Events: namespaceChange, Presence: "when known", Source: "kernel: nsproxy time_ns_for_children inode", Example: "4026531834", Description: ""},
	{Name: NSChanged, Type: StringSlice, Events: namespaceChange, Presence: "always", Source: "kernel: namespaces before and after", Example: `["net"]`, Description: "The namespaces that differ: mnt, pid, net, uts, ipc, user, cgroup, time, pid_for_children, time_for_children. For clone, compared with the parent's."},
	{Name: NSPrevMnt, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change (clone: the parent's)", Example: "4026531841", Description: "The new inode numbers are otelsec.process.namespaces.*."},
	{Name: NSPrevPID, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531836", Description: ""},
	{Name: NSPrevNet, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531840", Description: ""},
	{Name: NSPrevUTS, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531838", Description: ""},
	{Name: NSPrevIPC, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531839", Description: ""},
	{Name: NSPrevUser, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531837", Description: ""},
	{Name: NSPrevCgroup, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531835", Description: ""},
	{Name: NSPrevTime, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531834", Description: ""},
	{Name: NSPrevPIDForChildren, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531836", Description: ""},
	{Name: NSPrevTimeForChildren, Type: Int, Events: namespaceChange, Presence: "when the namespace changed", Source: "kernel: namespace inode before the change", Example: "4026531834", Description: ""},

	{Name: PtraceRequest, Type: String, Events: ptraceEvent, Presence: "always", Source: "kernel: ptrace request argument", Example: "PTRACE_ATTACH", Description: "PTRACE_ATTACH, PTRACE_SEIZE or PTRACE_TRACEME (the caller asks its parent to trace it)."},
	{Name: PtraceTraceePID, Type: Int, Events: ptraceEvent, Presence: "when the kernel found the tracee (after every successful attach)", Source: "kernel: the traced task's tgid, from the tracer's ptraced list", Example: "4300", Description: ""},
	{Name: PtraceTraceeThreadID, Type: Int, Events: ptraceEvent, Presence: "with otelsec.ptrace.tracee.pid", Source: "kernel: the traced task's tid", Example: "4300", Description: "ptrace attaches to one thread."},
	{Name: PtraceTraceeExecID, Type: String, Events: ptraceEvent, Presence: "when the process cache knows the tracee", Source: "process cache", Example: "worker-1:5b0c2f1e:1834529873000:4300", Description: ""},
	{Name: PtraceTraceeExe, Type: String, Events: ptraceEvent, Presence: "when the process cache knows the tracee", Source: "process cache", Example: "/usr/sbin/sshd", Description: ""},
	{Name: PtraceTracerPID, Type: Int, Events: ptraceEvent, Presence: "always", Source: "kernel: the caller, or its parent for PTRACE_TRACEME", Example: "4242", Description: ""},
	{Name: PtraceTracerExecID, Type: String, Events: ptraceEvent, Presence: "when the process cache knows the tracer", Source: "process cache", Example: "worker-1:5b0c2f1e:1834500000000:4242", Description: ""},

	{Name: ModuleName, Type: String, Events: moduleEvent, Presence: "when the module_load tracepoint saw it", Source: "kernel: module name (struct module)", Example: "nf_tables", Description: ""},
	{Name: ModuleOrigin, Type: String, Events: moduleEvent, Presence: "always", Source: "kernel: the syscall", Example: "file", Description: "file (finit_module) or memory (init_module: an image in the caller's memory, e.g. a module dropped by malware without a file)."},
	{Name: ModuleFilePath, Type: String, Events: moduleEvent, Presence: "origin file", Source: "kernel: the file descriptor's path, dentry walk", Example: "/usr/lib/modules/6.12.0/kernel/net/netfilter/nf_tables.ko.xz", Description: ""},
	{Name: ModuleSize, Type: Int, Events: moduleEvent, Presence: "always", Source: "kernel: init_module's length, or the file's size", Example: "331776", Description: "Bytes."},
	{Name: ModuleParameters, Type: String, Events: moduleEvent, Presence: "when not empty", Source: "kernel: the parameter string from the caller's memory (up to 511 bytes)", Example: "debug=1", Description: ""},
	{Name: ModuleTaints, Type: StringSlice, Events: moduleEvent, Presence: "when the module taints the kernel", Source: "kernel: the module's taint flags", Example: `["TAINT_OOT_MODULE","TAINT_UNSIGNED_MODULE"]`, Description: "An unsigned, out-of-tree or force-loaded module is worth a look."},
	{Name: ModuleTruncated, Type: StringSlice, Events: moduleEvent, Presence: "when something was cut", Source: "kernel: bounds of the record", Example: `["parameters"]`, Description: "file.path (deeper or longer than the path walk's bounds: the path is a suffix of the real one), parameters."},

	{Name: BPFProgramID, Type: Int, Events: bpfEvent, Presence: "always", Source: "kernel: the loaded program's id", Example: "812", Description: "`bpftool prog show id 812` while it is loaded."},
	{Name: BPFProgramName, Type: String, Events: bpfEvent, Presence: "when the loader named it", Source: "kernel: program name (15 characters)", Example: "trace_execve", Description: ""},
	{Name: BPFProgramType, Type: String, Events: bpfEvent, Presence: "always", Source: "kernel: enum bpf_prog_type, named from the kernel's BTF", Example: "kprobe", Description: ""},
	{Name: BPFProgramAttachType, Type: String, Events: bpfEvent, Presence: "always", Source: "kernel: expected_attach_type, named from the kernel's BTF", Example: "trace_fentry", Description: "Meaningful only for the program types that use it (0 is cgroup_inet_ingress)."},
	{Name: BPFProgramAttachTarget, Type: String, Events: bpfEvent, Presence: "tracing, LSM and extension programs", Source: "kernel: the function or hook the program attaches to", Example: "security_file_open", Description: ""},
	{Name: BPFProgramInstructions, Type: Int, Events: bpfEvent, Presence: "always", Source: "kernel: instruction count after verification", Example: "42", Description: ""},
	{Name: BPFProgramTag, Type: String, Events: bpfEvent, Presence: "always", Source: "kernel: program tag (hash of the instructions), hex", Example: "a04f5eef06a7f555", Description: "The same tag bpftool shows."},

	{Name: MountSource, Type: String, Events: mountEvents, Presence: "when given", Source: "kernel: the new mount's device name (otherwise the caller's source argument)", Example: "/dev/sdb1", Description: ""},
	{Name: MountFSType, Type: String, Events: mountEvents, Presence: "when given", Source: "kernel: the new mount's filesystem type (otherwise the caller's type argument)", Example: "tmpfs", Description: ""},
	{Name: MountTarget, Type: String, Events: mountEvents, Presence: "always", Source: "kernel: the mount point of the new or moved mount, dentry walk; otherwise (remount, MS_MOVE, propagation changes, umount2) the caller's string", Example: "/mnt/data", Description: ""},
	{Name: MountTargetResolved, Type: Bool, Events: mountEvents, Presence: "always", Source: "kernel", Example: "true", Description: "true: otelsec.mount.target.path is the absolute path the kernel mounted on; false: it is the path the caller passed (possibly relative or through symlinks)."},
	{Name: MountOptions, Type: String, Events: []string{EventMount}, Presence: "when given as text", Source: "kernel: mount's data argument from the caller's memory (up to 511 bytes)", Example: "size=64m,mode=1777", Description: ""},
	{Name: MountTruncated, Type: StringSlice, Events: mountEvents, Presence: "when something was cut", Source: "kernel: bounds of the record", Example: `["options"]`, Description: "source (over 1 KiB), target (a path deeper or longer than the walk's bounds, or a string over 1 KiB), options (over 511 bytes)."},
	{Name: MountAttributes, Type: StringSlice, Events: []string{EventMount}, Presence: "new and moved mounts", Source: "kernel: the mount's MNT_* and superblock flags", Example: `["nosuid","nodev"]`, Description: "ro, nosuid, nodev, noexec, noatime, nodiratime, relatime, nosymfollow: what the mount actually has, whoever set it (mount flags, fsmount attributes, propagation)."},
}

// carriedAlso lists process attributes that the privilege sensor's events carry too, with
// their meaning there: a privilege change names the process's credentials after the change in
// the same attributes as process.exec, and a namespace change its namespaces after the change.
var carriedAlso = []struct {
	event, presence, source string
	names                   []string
}{
	{EventPrivilegeChange, "", "", []string{ProcessRealUserID, ProcessSavedUserID, ProcessGroupID,
		ProcessRealGroupID, ProcessSavedGroupID, FSUserID, FSGroupID, CapEffective, CapPermitted,
		CapInheritable}},
	{EventPrivilegeChange, "always on process.privilege_change", "on process.privilege_change, before the change", []string{PrevUserID, PrevGroupID, PrevCapPermitted}},
	{EventNamespaceChange, "", "", []string{NSMnt, NSPID, NSNet, NSUTS, NSIPC, NSUser, NSCgroup, NSTime}},
}

var privilegeEventDescriptions = []Event{
	{Name: EventPrivilegeChange, Meaning: "a process's user or group ids or capabilities changed (setuid family, capset)",
		ECSKind: "event", ECSCategory: []string{"process"}, ECSType: []string{"change"}, ECSAction: "privilege_change", ECSOutcome: "success"},
	{Name: EventNamespaceChange, Meaning: "a process entered other namespaces (clone into new namespaces, unshare, setns)",
		ECSKind: "event", ECSCategory: []string{"process"}, ECSType: []string{"change"}, ECSAction: "namespace_change", ECSOutcome: "success"},
	{Name: EventPtrace, Meaning: "a process became traced (PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME)",
		ECSKind: "event", ECSCategory: []string{"process"}, ECSType: []string{"access"}, ECSAction: "ptrace", ECSOutcome: "success"},
	{Name: EventModuleLoad, Meaning: "a kernel module was loaded, from a file or from memory",
		ECSKind: "event", ECSCategory: []string{"driver"}, ECSType: []string{"start"}, ECSAction: "module_load", ECSOutcome: "success"},
	{Name: EventBPFProgramLoad, Meaning: "another process than the collector loaded a BPF program",
		ECSKind: "event", ECSCategory: []string{"driver"}, ECSType: []string{"start"}, ECSAction: "bpf_program_load", ECSOutcome: "success"},
	{Name: EventMount, Meaning: "a filesystem was mounted, bind-mounted, remounted or moved",
		ECSKind: "event", ECSCategory: []string{"host"}, ECSType: []string{"change"}, ECSAction: "mount", ECSOutcome: "success"},
	{Name: EventUnmount, Meaning: "a filesystem was unmounted",
		ECSKind: "event", ECSCategory: []string{"host"}, ECSType: []string{"change"}, ECSAction: "unmount", ECSOutcome: "success"},
}

func init() {
	Events = append(Events, privilegeEventDescriptions...)
	All = append(All, privilegeAttributes...)
	for _, c := range carriedAlso {
		for _, name := range c.names {
			i := slices.IndexFunc(All, func(a Attribute) bool { return a.Name == name })
			if i < 0 {
				panic("schema: privilege sensor: no attribute " + name)
			}
			a := &All[i]
			a.Events = append(slices.Clone(a.Events), c.event)
			if c.presence != "" {
				a.Presence += "; " + c.presence
			}
			if c.source != "" {
				a.Source += "; " + c.source
			}
		}
	}
}
