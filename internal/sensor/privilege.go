package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/proctree"
	"github.com/otelsec/otelsec/internal/schema"
)

// PrivilegeOptions configure the privilege sensor.
type PrivilegeOptions struct {
	Enabled bool
	// Events are the event names to observe (schema.PrivilegeEvents); empty means all of them.
	Events []string
	// CredsHook says where credential changes are read: HookLSM (the task_fix_setuid,
	// task_fix_setgid and capset hooks), HookTracepoint (the syscalls' enter and exit), or
	// HookAuto: LSM where BPF LSM is active, tracepoints otherwise.
	CredsHook Hook
}

// PrivOp says which syscall (or kernel path) a privilege or security record reports.
type PrivOp uint32

const (
	OpSetuid      = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETUID)
	OpSetgid      = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETGID)
	OpSetreuid    = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETREUID)
	OpSetregid    = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETREGID)
	OpSetresuid   = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETRESUID)
	OpSetresgid   = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETRESGID)
	OpSetfsuid    = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETFSUID)
	OpSetfsgid    = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETFSGID)
	OpCapset      = PrivOp(bpf.PrivilegePrivOpPRIV_OP_CAPSET)
	OpClone       = PrivOp(bpf.PrivilegePrivOpPRIV_OP_CLONE)
	OpUnshare     = PrivOp(bpf.PrivilegePrivOpPRIV_OP_UNSHARE)
	OpSetns       = PrivOp(bpf.PrivilegePrivOpPRIV_OP_SETNS)
	OpPtrace      = PrivOp(bpf.PrivilegePrivOpPRIV_OP_PTRACE)
	OpInitModule  = PrivOp(bpf.PrivilegePrivOpPRIV_OP_INIT_MODULE)
	OpFinitModule = PrivOp(bpf.PrivilegePrivOpPRIV_OP_FINIT_MODULE)
	OpBPFProgLoad = PrivOp(bpf.PrivilegePrivOpPRIV_OP_BPF_PROG_LOAD)
	OpMount       = PrivOp(bpf.PrivilegePrivOpPRIV_OP_MOUNT)
	OpMoveMount   = PrivOp(bpf.PrivilegePrivOpPRIV_OP_MOVE_MOUNT)
	OpUmount      = PrivOp(bpf.PrivilegePrivOpPRIV_OP_UMOUNT)
)

// privSyscall is one syscall the privilege sensor follows on its tracepoints.
type privSyscall struct {
	op    PrivOp
	name  string // syscall name; its tracepoints are syscalls/sys_{enter,exit}_<tracepoint>
	tp    string
	nr    int // this architecture's syscall number
	event string
	group string // the enter/exit program pair: osec_<group>_enter, osec_<group>_exit
}

var privSyscalls = []privSyscall{
	{OpSetuid, "setuid", "setuid", unix.SYS_SETUID, schema.EventPrivilegeChange, "cred"},
	{OpSetgid, "setgid", "setgid", unix.SYS_SETGID, schema.EventPrivilegeChange, "cred"},
	{OpSetreuid, "setreuid", "setreuid", unix.SYS_SETREUID, schema.EventPrivilegeChange, "cred"},
	{OpSetregid, "setregid", "setregid", unix.SYS_SETREGID, schema.EventPrivilegeChange, "cred"},
	{OpSetresuid, "setresuid", "setresuid", unix.SYS_SETRESUID, schema.EventPrivilegeChange, "cred"},
	{OpSetresgid, "setresgid", "setresgid", unix.SYS_SETRESGID, schema.EventPrivilegeChange, "cred"},
	{OpSetfsuid, "setfsuid", "setfsuid", unix.SYS_SETFSUID, schema.EventPrivilegeChange, "cred"},
	{OpSetfsgid, "setfsgid", "setfsgid", unix.SYS_SETFSGID, schema.EventPrivilegeChange, "cred"},
	{OpCapset, "capset", "capset", unix.SYS_CAPSET, schema.EventPrivilegeChange, "cred"},
	{OpUnshare, "unshare", "unshare", unix.SYS_UNSHARE, schema.EventNamespaceChange, "ns"},
	{OpSetns, "setns", "setns", unix.SYS_SETNS, schema.EventNamespaceChange, "ns"},
	{OpPtrace, "ptrace", "ptrace", unix.SYS_PTRACE, schema.EventPtrace, "ptr"},
	{OpInitModule, "init_module", "init_module", unix.SYS_INIT_MODULE, schema.EventModuleLoad, "mod"},
	{OpFinitModule, "finit_module", "finit_module", unix.SYS_FINIT_MODULE, schema.EventModuleLoad, "mod"},
	{OpBPFProgLoad, "bpf", "bpf", unix.SYS_BPF, schema.EventBPFProgramLoad, "bpf"},
	{OpMount, "mount", "mount", unix.SYS_MOUNT, schema.EventMount, "mnt"},
	{OpMoveMount, "move_mount", "move_mount", unix.SYS_MOVE_MOUNT, schema.EventMount, "mnt"},
	{OpUmount, "umount2", "umount", unix.SYS_UMOUNT2, schema.EventUnmount, "mnt"},
}

// String is the syscall's name ("clone" for any fork into other namespaces).
func (o PrivOp) String() string {
	if o == OpClone {
		return "clone"
	}
	for _, sc := range privSyscalls {
		if sc.op == o {
			return sc.name
		}
	}
	return fmt.Sprintf("op(%d)", uint32(o))
}

// lsmCredHooks are the BPF LSM programs that can replace the credential syscalls' tracepoints.
var lsmCredHooks = []struct{ prog, hook string }{
	{"osec_lsm_setuid", "task_fix_setuid"},
	{"osec_lsm_setgid", "task_fix_setgid"},
	{"osec_lsm_capset", "capset"},
}

// kernelBTFHas reports whether the kernel's BTF has every named type (functions, typedefs).
func kernelBTFHas(names ...string) bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	for _, name := range names {
		if _, err := spec.AnyTypeByName(name); err != nil {
			return false
		}
	}
	return true
}

// ChoosePrivilegeCredsHook resolves where credential changes are read.
func ChoosePrivilegeCredsHook(want Hook, caps Capabilities) (Hook, error) {
	lsm := caps.LSM && kernelBTFHas("bpf_lsm_task_fix_setuid", "bpf_lsm_task_fix_setgid", "bpf_lsm_capset")
	switch want {
	case HookAuto, "":
		if lsm {
			return HookLSM, nil
		}
		if caps.SyscallTracepoints {
			return HookTracepoint, nil
		}
		return "", errors.New("privilege sensor: credential changes need BPF LSM or the syscall tracepoints (tracefs), and this kernel offers neither")
	case HookLSM:
		if !lsm {
			return "", errors.New("privilege sensor: hook lsm requested but BPF LSM is not active on this kernel (or lacks task_fix_setuid, task_fix_setgid, capset)")
		}
	case HookTracepoint:
		if !caps.SyscallTracepoints {
			return "", errors.New("privilege sensor: hook tracepoint requested but the syscall tracepoints are unavailable (is tracefs mounted?)")
		}
	default:
		return "", fmt.Errorf("privilege sensor: unknown hook %q", want)
	}
	return want, nil
}

// loadPrivilege loads the privilege sensor when it is enabled.
func loadPrivilege(s *Sensors, caps Capabilities) error {
	o := s.opts.Privilege
	if !o.Enabled {
		return nil
	}
	want := map[string]bool{}
	for _, ev := range o.Events {
		if !slices.Contains(schema.PrivilegeEvents, ev) {
			return fmt.Errorf("privilege sensor: unknown event %q (known: %s)", ev, strings.Join(schema.PrivilegeEvents, ", "))
		}
		want[ev] = true
	}
	if len(want) == 0 {
		for _, ev := range schema.PrivilegeEvents {
			want[ev] = true
		}
	}

	credsHook := Hook("")
	if want[schema.EventPrivilegeChange] {
		var err error
		if credsHook, err = ChoosePrivilegeCredsHook(o.CredsHook, caps); err != nil {
			return err
		}
	}
	// tp_btf or raw_tp, as the process sensor: for forks into new namespaces and module names.
	tpHook, err := ChooseProcessHook(s.opts.ProcessHook, caps)
	if err != nil {
		return err
	}

	var syscalls []privSyscall
	var needTP []string
	for _, sc := range privSyscalls {
		if !want[sc.event] || (sc.group == "cred" && credsHook == HookLSM) {
			continue
		}
		syscalls = append(syscalls, sc)
		if !slices.Contains(needTP, sc.event) {
			needTP = append(needTP, sc.event)
		}
	}
	if len(syscalls) > 0 && !caps.SyscallTracepoints {
		return fmt.Errorf("privilege sensor: %s need the syscall tracepoints, which are unavailable (tracefs is not mounted: let the receiver mount it with mount_tracefs, or leave these events out of privilege::events)", strings.Join(needTP, ", "))
	}

	spec, err := bpf.LoadPrivilege()
	if err != nil {
		return fmt.Errorf("privilege sensor: read BPF object: %w", err)
	}
	if err := setVar(spec, "self_tgid", uint32(os.Getpid())); err != nil {
		return fmt.Errorf("privilege sensor: %w", err)
	}
	keep := map[string]bool{}
	for _, sc := range syscalls {
		keep["osec_"+sc.group+"_enter"], keep["osec_"+sc.group+"_exit"] = true, true
	}
	if credsHook == HookLSM {
		for _, h := range lsmCredHooks {
			keep[h.prog] = true
		}
	}
	suffix := map[Hook]string{HookTPBTF: "_btf", HookRawTP: "_raw"}[tpHook]
	if want[schema.EventNamespaceChange] {
		keep["osec_nsfork"+suffix] = true
	}
	// module_load exists only in kernels built with modules; without it the module's name is
	// unknown, but there is no module to load either.
	moduleLoadTP := want[schema.EventModuleLoad] && kernelBTFHas("btf_trace_module_load")
	if moduleLoadTP {
		keep["osec_modld"+suffix] = true
	}
	coll, err := s.loadObject("privilege", spec, keep)
	if err != nil {
		return err
	}

	ops := coll.Maps["osec_sc_ops"]
	for _, sc := range syscalls {
		if err := ops.Put(int32(sc.nr), uint32(sc.op)); err != nil {
			return fmt.Errorf("privilege sensor: syscall table: %w", err)
		}
	}
	for _, sc := range syscalls {
		if err := s.attachSyscall(coll, sc); err != nil {
			return fmt.Errorf("privilege sensor: %w", err)
		}
	}
	if credsHook == HookLSM {
		for _, h := range lsmCredHooks {
			l, err := link.AttachLSM(link.LSMOptions{Program: coll.Programs[h.prog]})
			if err != nil {
				return fmt.Errorf("privilege sensor: attach lsm/%s: %w", h.hook, err)
			}
			s.addLink(l, Attachment{Event: schema.EventPrivilegeChange, Hook: HookLSM, Point: h.hook})
		}
	}
	if want[schema.EventNamespaceChange] {
		if err := s.attachTracepoint(tpHook, schema.EventNamespaceChange, coll.Programs["osec_nsfork"+suffix], "sched_process_fork"); err != nil {
			return fmt.Errorf("privilege sensor: %w", err)
		}
	}
	if moduleLoadTP {
		if err := s.attachTracepoint(tpHook, schema.EventModuleLoad, coll.Programs["osec_modld"+suffix], "module_load"); err != nil {
			return fmt.Errorf("privilege sensor: %w", err)
		}
	}
	return nil
}

// attachSyscall attaches the enter and exit programs of sc's group to its tracepoints. A
// syscall the kernel does not have (init_module without CONFIG_MODULES) has no tracepoint and
// is left out: nothing can call it.
func (s *Sensors) attachSyscall(coll *ebpf.Collection, sc privSyscall) error {
	enter, err := link.Tracepoint("syscalls", "sys_enter_"+sc.tp, coll.Programs["osec_"+sc.group+"_enter"], nil)
	if errors.Is(err, os.ErrNotExist) && (sc.op == OpInitModule || sc.op == OpFinitModule) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("attach tracepoint syscalls/sys_enter_%s: %w", sc.tp, err)
	}
	s.addLink(enter, Attachment{Event: sc.event, Hook: HookTracepoint, Point: "syscalls/sys_enter_" + sc.tp})
	exit, err := link.Tracepoint("syscalls", "sys_exit_"+sc.tp, coll.Programs["osec_"+sc.group+"_exit"], nil)
	if err != nil {
		return fmt.Errorf("attach tracepoint syscalls/sys_exit_%s: %w", sc.tp, err)
	}
	s.addLink(exit, Attachment{Event: sc.event, Hook: HookTracepoint, Point: "syscalls/sys_exit_" + sc.tp})
	return nil
}

// PrivilegeChange is a decoded process.privilege_change record.
type PrivilegeChange struct {
	Header
	Op       PrivOp
	FromLSM  bool // read at the LSM hook rather than at syscall exit
	Old, New proctree.Creds
	Comm     string
}

// DecodePrivilegeChange decodes a KindPrivilege record.
func DecodePrivilegeChange(raw []byte, p *PrivilegeChange) error {
	r, err := view[bpf.PrivilegePrivilegeEvent](raw)
	if err != nil {
		return err
	}
	*p = PrivilegeChange{
		Header:  header((*bpf.ProcessEventHeader)(&r.Hdr)),
		Op:      PrivOp(r.Op),
		FromLSM: r.Flags&uint32(bpf.PrivilegePrivilegeFlagsPRIVF_FROM_LSM) != 0,
		Old:     creds((*bpf.ProcessTaskCreds)(&r.Old)),
		New:     creds((*bpf.ProcessTaskCreds)(&r.New)),
		Comm:    cString(r.Comm[:]),
	}
	return nil
}

// NamespaceSet are the inode numbers of a task's namespaces, in the order of
// schema.NamespaceNames.
type NamespaceSet [10]uint32

// NamespaceChange is a decoded process.namespace_change record.
type NamespaceChange struct {
	Header
	Op       PrivOp // OpClone, OpUnshare or OpSetns
	Arg      uint64 // unshare: flags; setns: nstype
	FD       int32  // setns: the descriptor; -1 otherwise
	Old, New NamespaceSet
	Changed  []string // names of the namespaces that differ, as schema.NamespaceNames
	Comm     string
}

// Ptrace is a decoded process.ptrace record.
type Ptrace struct {
	Header
	Request     int64
	PIDArg      uint32 // the pid argument as the caller gave it (its pid namespace)
	TraceeFound bool
	TraceeTGID  uint32
	TraceeTID   uint32
	TraceeStart uint64 // the tracee's thread group leader's start, CLOCK_BOOTTIME ns
	TraceeComm  string
	TracerTGID  uint32
	TracerTID   uint32
	Comm        string
}

// ModuleLoad is a decoded kernel.module_load record.
type ModuleLoad struct {
	Header
	Op             PrivOp // OpInitModule (from memory) or OpFinitModule (from a file)
	Name           string // "" when the module_load tracepoint did not see it
	Size           uint64
	Taints         uint64
	LoadFlags      uint32
	Path           string // OpFinitModule, when resolved
	PathTruncated  bool
	PathUnresolved bool
	Params         string
	ParamsTrunc    bool
	Comm           string
}

// BPFProgramLoad is a decoded bpf.program_load record.
type BPFProgramLoad struct {
	Header
	ProgType, AttachType uint32
	ID, Instructions     uint32
	Tag                  [8]byte
	Name, AttachFunc     string
	Comm                 string
}

// Mount is a decoded filesystem.mount or filesystem.unmount record.
type Mount struct {
	Header
	Op               PrivOp // OpMount, OpMoveMount or OpUmount
	Flags            uint64 // the syscall's flags argument
	FromMount        bool   // Source, FSType, MntFlags and SBFlags come from the kernel's mount
	MntFlags         uint32
	SBFlags          uint32
	Source, FSType   string
	Target           string
	TargetResolved   bool
	TargetTruncated  bool
	SourceTruncated  bool
	Options          string
	OptionsTruncated bool
	Comm             string
}

// securityOffset is where a security record's op lies, after the header.
var securityOffset = int(unsafe.Sizeof(bpf.ProcessEventHeader{}))

// DecodeSecurity decodes a KindSecurity record into a *NamespaceChange, *Ptrace, *ModuleLoad,
// *BPFProgramLoad or *Mount.
func DecodeSecurity(raw []byte) (any, error) {
	if len(raw) < securityOffset+4 {
		return nil, fmt.Errorf("%w: %d bytes, a security record needs %d", ErrShortRecord, len(raw), securityOffset+4)
	}
	op := PrivOp(*(*uint32)(unsafe.Pointer(&raw[securityOffset])))
	switch op {
	case OpClone, OpUnshare, OpSetns:
		return decodeNamespace(raw)
	case OpPtrace:
		return decodePtrace(raw)
	case OpInitModule, OpFinitModule:
		return decodeModule(raw)
	case OpBPFProgLoad:
		return decodeBPFProg(raw)
	case OpMount, OpMoveMount, OpUmount:
		return decodeMount(raw)
	}
	return nil, fmt.Errorf("security record with unknown op %d", uint32(op))
}

func nsSet(s *bpf.PrivilegeNsSet) NamespaceSet {
	return NamespaceSet{s.Mnt, s.Pid, s.Net, s.Uts, s.Ipc, s.User, s.Cgroup, s.Time, s.PidChildren, s.TimeChildren}
}

func decodeNamespace(raw []byte) (*NamespaceChange, error) {
	r, err := view[bpf.PrivilegeNamespaceEvent](raw)
	if err != nil {
		return nil, err
	}
	n := &NamespaceChange{
		Header: header((*bpf.ProcessEventHeader)(&r.Hdr)),
		Op:     PrivOp(r.Op),
		Arg:    r.Arg,
		FD:     r.Fd,
		Old:    nsSet(&r.Old),
		New:    nsSet(&r.New),
		Comm:   cString(r.Comm[:]),
	}
	for i, name := range schema.NamespaceNames {
		if r.Changed&(1<<i) != 0 {
			n.Changed = append(n.Changed, name)
		}
	}
	return n, nil
}

func decodePtrace(raw []byte) (*Ptrace, error) {
	r, err := view[bpf.PrivilegePtraceEvent](raw)
	if err != nil {
		return nil, err
	}
	return &Ptrace{
		Header:      header((*bpf.ProcessEventHeader)(&r.Hdr)),
		Request:     r.Request,
		PIDArg:      r.PidArg,
		TraceeFound: r.Flags&uint32(bpf.PrivilegePtraceEventFlagsPTRF_TRACEE_FOUND) != 0,
		TraceeTGID:  r.TraceeTgid,
		TraceeTID:   r.TraceeTid,
		TraceeStart: r.TraceeStart,
		TraceeComm:  cString(r.TraceeComm[:]),
		TracerTGID:  r.TracerTgid,
		TracerTID:   r.TracerTid,
		Comm:        cString(r.Comm[:]),
	}, nil
}

// sections splits the variable part of a record into the sections of the given lengths.
func sections(data []byte, lens ...int) ([][]byte, error) {
	total := 0
	for _, n := range lens {
		total += n
	}
	if total > len(data) {
		return nil, fmt.Errorf("%w: sections need %d bytes after the fixed part, record has %d", ErrShortRecord, total, len(data))
	}
	out := make([][]byte, len(lens))
	for i, n := range lens {
		out[i], data = data[:n], data[n:]
	}
	return out, nil
}

func str(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }

func decodeModule(raw []byte) (*ModuleLoad, error) {
	r, err := view[bpf.PrivilegeModuleEvent](raw)
	if err != nil {
		return nil, err
	}
	sec, err := sections(raw[unsafe.Sizeof(*r):], int(r.PathLen), int(r.ArgsLen))
	if err != nil {
		return nil, err
	}
	has := func(f bpf.PrivilegeModuleEventFlags) bool { return r.Flags&uint32(f) != 0 }
	m := &ModuleLoad{
		Header:         header((*bpf.ProcessEventHeader)(&r.Hdr)),
		Op:             PrivOp(r.Op),
		Size:           r.Size,
		Taints:         r.Taints,
		LoadFlags:      r.LoadFlags,
		PathTruncated:  has(bpf.PrivilegeModuleEventFlagsMODF_PATH_TRUNCATED),
		PathUnresolved: has(bpf.PrivilegeModuleEventFlagsMODF_PATH_UNRESOLVED),
		Params:         str(sec[1]),
		ParamsTrunc:    has(bpf.PrivilegeModuleEventFlagsMODF_ARGS_TRUNCATED),
		Comm:           cString(r.Comm[:]),
	}
	if has(bpf.PrivilegeModuleEventFlagsMODF_NAME_KNOWN) {
		m.Name = cString(r.Name[:])
	}
	if m.Op == OpFinitModule && !m.PathUnresolved {
		m.Path = joinLeafFirst(sec[0])
	}
	return m, nil
}

func decodeBPFProg(raw []byte) (*BPFProgramLoad, error) {
	r, err := view[bpf.PrivilegeBpfProgEvent](raw)
	if err != nil {
		return nil, err
	}
	return &BPFProgramLoad{
		Header:       header((*bpf.ProcessEventHeader)(&r.Hdr)),
		ProgType:     r.ProgType,
		AttachType:   r.AttachType,
		ID:           r.ProgId,
		Instructions: r.InsnCnt,
		Tag:          r.Tag,
		Name:         cString(r.Name[:]),
		AttachFunc:   cString(r.AttachFunc[:]),
		Comm:         cString(r.Comm[:]),
	}, nil
}

func decodeMount(raw []byte) (*Mount, error) {
	r, err := view[bpf.PrivilegeMountEvent](raw)
	if err != nil {
		return nil, err
	}
	sec, err := sections(raw[unsafe.Sizeof(*r):], int(r.SourceLen), int(r.FstypeLen), int(r.TargetLen), int(r.OptionsLen))
	if err != nil {
		return nil, err
	}
	has := func(f bpf.PrivilegeMountEventFlags) bool { return r.Flags&uint32(f) != 0 }
	m := &Mount{
		Header:           header((*bpf.ProcessEventHeader)(&r.Hdr)),
		Op:               PrivOp(r.Op),
		Flags:            r.MountFlags,
		FromMount:        has(bpf.PrivilegeMountEventFlagsMNTF_FROM_MOUNT),
		MntFlags:         r.MntFlags,
		SBFlags:          r.SbFlags,
		Source:           str(sec[0]),
		FSType:           str(sec[1]),
		TargetResolved:   has(bpf.PrivilegeMountEventFlagsMNTF_TARGET_RESOLVED),
		TargetTruncated:  has(bpf.PrivilegeMountEventFlagsMNTF_TARGET_TRUNCATED),
		SourceTruncated:  has(bpf.PrivilegeMountEventFlagsMNTF_SOURCE_TRUNCATED),
		Options:          str(sec[3]),
		OptionsTruncated: has(bpf.PrivilegeMountEventFlagsMNTF_OPTIONS_TRUNCATED),
		Comm:             cString(r.Comm[:]),
	}
	if m.TargetResolved {
		m.Target = joinLeafFirst(sec[2])
	} else {
		m.Target = str(sec[2])
	}
	return m, nil
}

// kernelEnums names enum values from the kernel's BTF, so that program and attach types the
// collector was built before are still named.
var kernelEnums = struct {
	once sync.Once
	m    map[string]map[uint64]string
}{}

// KernelEnumName names value v of the kernel's enum typ with the constant's name, lowercased
// and without prefix (BPF_PROG_TYPE_KPROBE -> kprobe). Unknown values are their number.
func KernelEnumName(typ, prefix string, v uint64) string {
	kernelEnums.once.Do(func() {
		kernelEnums.m = map[string]map[uint64]string{}
		spec, err := btf.LoadKernelSpec()
		if err != nil {
			return
		}
		for _, name := range []string{"bpf_prog_type", "bpf_attach_type"} {
			var e *btf.Enum
			if spec.TypeByName(name, &e) != nil {
				continue
			}
			vals := map[uint64]string{}
			for _, ev := range e.Values {
				if _, dup := vals[ev.Value]; !dup {
					vals[ev.Value] = ev.Name
				}
			}
			kernelEnums.m[name] = vals
		}
	})
	if name, ok := kernelEnums.m[typ][v]; ok {
		return strings.ToLower(strings.TrimPrefix(name, prefix))
	}
	return fmt.Sprint(v)
}
