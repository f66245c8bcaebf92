package ebpfsecurityreceiver

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

// PrivilegeConfig configures the privilege sensor: credential and namespace changes, ptrace,
// kernel module and BPF program loads, mounts.
type PrivilegeConfig struct {
	// Enabled turns the privilege sensor on.
	Enabled bool `mapstructure:"enabled"`
	// Events are the event names reported (all of them by default).
	Events []string `mapstructure:"events"`
	// CredentialsHook is where credential changes are read: auto (BPF LSM where it is active,
	// the syscall tracepoints otherwise), lsm or tracepoint.
	CredentialsHook string `mapstructure:"credentials_hook"`
}

func defaultPrivilegeConfig() PrivilegeConfig {
	return PrivilegeConfig{Enabled: true, Events: slices.Clone(s.PrivilegeEvents), CredentialsHook: string(sensor.HookAuto)}
}

func (c *PrivilegeConfig) validate(bad func(field, format string, args ...any)) {
	switch sensor.Hook(c.CredentialsHook) {
	case sensor.HookAuto, sensor.HookLSM, sensor.HookTracepoint:
	default:
		bad("privilege::credentials_hook", "must be one of auto, lsm, tracepoint; got %q", c.CredentialsHook)
	}
	if c.Enabled && len(c.Events) == 0 {
		bad("privilege::events", "must name at least one of %s when the privilege sensor is enabled", strings.Join(s.PrivilegeEvents, ", "))
	}
	for i, e := range c.Events {
		if !slices.Contains(s.PrivilegeEvents, e) {
			bad("privilege::events", "unknown event %q; known: %s", e, strings.Join(s.PrivilegeEvents, ", "))
		} else if slices.Index(c.Events, e) != i {
			bad("privilege::events", "%q is listed twice", e)
		}
	}
}

func (c *PrivilegeConfig) options() sensor.PrivilegeOptions {
	return sensor.PrivilegeOptions{Enabled: c.Enabled, Events: c.Events, CredsHook: sensor.Hook(c.CredentialsHook)}
}

// handlePrivilege decodes a privilege (KindPrivilege) or security (KindSecurity) record and
// appends its event.
func (r *ebpfReceiver) handlePrivilege(raw []byte, b *batch, m *mapper) error {
	kind, err := sensor.PeekKind(raw)
	if err != nil {
		return err
	}
	if kind == sensor.KindPrivilege {
		var p sensor.PrivilegeChange
		if err := sensor.DecodePrivilegeChange(raw, &p); err != nil {
			return err
		}
		proc := r.cache.Get(p.TGID)
		lr := m.event(b, s.EventPrivilegeChange, p.KTime, p.TGID, proc, p.Comm)
		m.privilegeChange(lr, &p, proc)
		r.emitted.inc(s.EventPrivilegeChange)
		return nil
	}
	rec, err := sensor.DecodeSecurity(raw)
	if err != nil {
		return err
	}
	var (
		name string
		lr   plog.LogRecord
	)
	switch e := rec.(type) {
	case *sensor.NamespaceChange:
		name = s.EventNamespaceChange
		proc := r.cache.Get(e.TGID)
		lr = m.event(b, name, e.KTime, e.TGID, proc, e.Comm)
		m.namespaceChange(lr, e, proc)
	case *sensor.Ptrace:
		name = s.EventPtrace
		proc := r.cache.Get(e.TGID)
		lr = m.event(b, name, e.KTime, e.TGID, proc, e.Comm)
		m.ptrace(lr, e, proc, r.cache)
	case *sensor.ModuleLoad:
		name = s.EventModuleLoad
		proc := r.cache.Get(e.TGID)
		lr = m.event(b, name, e.KTime, e.TGID, proc, e.Comm)
		m.moduleLoad(lr, e, proc)
	case *sensor.BPFProgramLoad:
		name = s.EventBPFProgramLoad
		proc := r.cache.Get(e.TGID)
		lr = m.event(b, name, e.KTime, e.TGID, proc, e.Comm)
		m.bpfProgramLoad(lr, e, proc)
	case *sensor.Mount:
		name = s.EventMount
		if e.Op == sensor.OpUmount {
			name = s.EventUnmount
		}
		proc := r.cache.Get(e.TGID)
		lr = m.event(b, name, e.KTime, e.TGID, proc, e.Comm)
		m.mount(lr, e, proc)
	default:
		return fmt.Errorf("security record of type %T", rec)
	}
	r.emitted.inc(name)
	return nil
}

// who names the process in a body: its executable, else its task name.
func who(p *proctree.Process, comm string, pid uint32) string {
	exe := comm
	if p != nil && p.Image != nil && p.Image.Executable != "" {
		exe = p.Image.Executable
	}
	if exe == "" {
		exe = "?"
	}
	return exe + " (pid " + strconv.FormatUint(uint64(pid), 10) + ")"
}

func (m *mapper) privilegeChange(lr plog.LogRecord, p *sensor.PrivilegeChange, proc *proctree.Process) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, p.Op.String())
	a.PutInt(s.ThreadID, int64(p.TID))
	n, o := &p.New, &p.Old
	// The process as it is after the change (process.user.id replaces the cache's).
	a.PutInt(s.ProcessUserID, int64(n.EUID))
	a.PutInt(s.ProcessRealUserID, int64(n.UID))
	a.PutInt(s.ProcessSavedUserID, int64(n.SUID))
	a.PutInt(s.ProcessGroupID, int64(n.EGID))
	a.PutInt(s.ProcessRealGroupID, int64(n.GID))
	a.PutInt(s.ProcessSavedGroupID, int64(n.SGID))
	if n.FSUID != n.EUID {
		a.PutInt(s.FSUserID, int64(n.FSUID))
	}
	if n.FSGID != n.EGID {
		a.PutInt(s.FSGroupID, int64(n.FSGID))
	}
	putStrs(a, s.CapEffective, proctree.CapabilityNames(n.CapEffective))
	putStrs(a, s.CapPermitted, proctree.CapabilityNames(n.CapPermitted))
	if n.CapInheritable != 0 {
		putStrs(a, s.CapInheritable, proctree.CapabilityNames(n.CapInheritable))
	}
	// And before.
	a.PutInt(s.PrevUserID, int64(o.EUID))
	a.PutInt(s.PrevRealUserID, int64(o.UID))
	a.PutInt(s.PrevSavedUserID, int64(o.SUID))
	a.PutInt(s.PrevGroupID, int64(o.EGID))
	a.PutInt(s.PrevRealGroupID, int64(o.GID))
	a.PutInt(s.PrevSavedGroupID, int64(o.SGID))
	if o.FSUID != o.EUID {
		a.PutInt(s.PrevFSUserID, int64(o.FSUID))
	}
	if o.FSGID != o.EGID {
		a.PutInt(s.PrevFSGroupID, int64(o.FSGID))
	}
	putStrs(a, s.PrevCapEffective, proctree.CapabilityNames(o.CapEffective))
	putStrs(a, s.PrevCapPermitted, proctree.CapabilityNames(o.CapPermitted))
	if o.CapInheritable != 0 {
		putStrs(a, s.PrevCapInheritable, proctree.CapabilityNames(o.CapInheritable))
	}

	var changes []string
	for _, f := range []struct {
		name     string
		old, new uint32
	}{
		{"uid", o.UID, n.UID}, {"euid", o.EUID, n.EUID}, {"suid", o.SUID, n.SUID}, {"fsuid", o.FSUID, n.FSUID},
		{"gid", o.GID, n.GID}, {"egid", o.EGID, n.EGID}, {"sgid", o.SGID, n.SGID}, {"fsgid", o.FSGID, n.FSGID},
	} {
		if f.old != f.new {
			changes = append(changes, fmt.Sprintf("%s %d→%d", f.name, f.old, f.new))
		}
	}
	for _, c := range []struct {
		name     string
		old, new uint64
	}{{"effective", o.CapEffective, n.CapEffective}, {"permitted", o.CapPermitted, n.CapPermitted}, {"inheritable", o.CapInheritable, n.CapInheritable}} {
		if c.old != c.new {
			changes = append(changes, capChange(c.name, c.old, c.new))
		}
	}
	lr.Body().SetStr(p.Op.String() + " " + who(proc, p.Comm, p.TGID) + ": " + strings.Join(changes, ", "))
}

// capChange describes how a capability set changed: by name when few changed.
func capChange(set string, old, new uint64) string {
	lost := proctree.CapabilityNames(old &^ new)
	gained := proctree.CapabilityNames(new &^ old)
	var parts []string
	if len(gained) > 0 {
		if len(gained) > 3 {
			parts = append(parts, fmt.Sprintf("+%d", len(gained)))
		} else {
			parts = append(parts, "+"+strings.Join(gained, " +"))
		}
	}
	if len(lost) > 0 {
		if len(lost) > 3 {
			parts = append(parts, fmt.Sprintf("-%d", len(lost)))
		} else {
			parts = append(parts, "-"+strings.Join(lost, " -"))
		}
	}
	return set + " capabilities " + strings.Join(parts, " ")
}

// nsKeys and nsPrevKeys are the attributes of each namespace, in NamespaceSet order.
var (
	nsKeys = [...]string{s.NSMnt, s.NSPID, s.NSNet, s.NSUTS, s.NSIPC, s.NSUser, s.NSCgroup, s.NSTime,
		s.NSPIDForChildren, s.NSTimeForChildren}
	nsPrevKeys = [...]string{s.NSPrevMnt, s.NSPrevPID, s.NSPrevNet, s.NSPrevUTS, s.NSPrevIPC, s.NSPrevUser,
		s.NSPrevCgroup, s.NSPrevTime, s.NSPrevPIDForChildren, s.NSPrevTimeForChildren}
)

func (m *mapper) namespaceChange(lr plog.LogRecord, e *sensor.NamespaceChange, proc *proctree.Process) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, e.Op.String())
	a.PutInt(s.ThreadID, int64(e.TID))
	if e.Arg != 0 {
		putStrs(a, s.SyscallFlags, flagNames(e.Arg, cloneFlags))
	}
	putStrs(a, s.NSChanged, e.Changed)
	var changes []string
	for i := range e.New {
		if e.New[i] != 0 {
			a.PutInt(nsKeys[i], int64(e.New[i]))
		}
		if e.Old[i] != e.New[i] {
			a.PutInt(nsPrevKeys[i], int64(e.Old[i]))
			changes = append(changes, fmt.Sprintf("%s %d→%d", s.NamespaceNames[i], e.Old[i], e.New[i]))
		}
	}
	lr.Body().SetStr(e.Op.String() + " " + who(proc, e.Comm, e.TGID) + ": " + strings.Join(changes, ", "))
}

var ptraceRequests = map[int64]string{0: "PTRACE_TRACEME", 16: "PTRACE_ATTACH", 0x4206: "PTRACE_SEIZE"}

func (m *mapper) ptrace(lr plog.LogRecord, e *sensor.Ptrace, proc *proctree.Process, cache *proctree.Cache) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, "ptrace")
	a.PutInt(s.ThreadID, int64(e.TID))
	req, ok := ptraceRequests[e.Request]
	if !ok {
		req = "0x" + strconv.FormatInt(e.Request, 16)
	}
	a.PutStr(s.PtraceRequest, req)
	a.PutInt(s.PtraceTracerPID, int64(e.TracerTGID))
	tracer := cache.Get(e.TracerTGID)
	if tracer != nil {
		a.PutStr(s.PtraceTracerExecID, tracer.ExecID)
	}
	tracee := "?"
	if e.TraceeFound {
		a.PutInt(s.PtraceTraceePID, int64(e.TraceeTGID))
		a.PutInt(s.PtraceTraceeThreadID, int64(e.TraceeTID))
		p := cache.Get(e.TraceeTGID)
		// The cache knows pids; the start time says it is the same process (to /proc's 10 ms).
		if p != nil && p.CreationTime/10_000_000 == e.TraceeStart/10_000_000 {
			a.PutStr(s.PtraceTraceeExecID, p.ExecID)
			if p.Image != nil && p.Image.Executable != "" {
				a.PutStr(s.PtraceTraceeExe, p.Image.Executable)
			}
		} else {
			p = nil
		}
		tracee = who(p, e.TraceeComm, e.TraceeTGID)
	}
	if e.Request == 0 {
		lr.Body().SetStr(req + ": " + who(proc, e.Comm, e.TGID) + " asks to be traced by " + who(tracer, "", e.TracerTGID))
		return
	}
	lr.Body().SetStr(req + ": " + who(proc, e.Comm, e.TGID) + " traces " + tracee)
}

// taintNames are the kernel's TAINT_* flags by bit (include/linux/panic.h).
var taintNames = []string{"TAINT_PROPRIETARY_MODULE", "TAINT_FORCED_MODULE", "TAINT_CPU_OUT_OF_SPEC",
	"TAINT_FORCED_RMMOD", "TAINT_MACHINE_CHECK", "TAINT_BAD_PAGE", "TAINT_USER", "TAINT_DIE",
	"TAINT_OVERRIDDEN_ACPI_TABLE", "TAINT_WARN", "TAINT_CRAP", "TAINT_FIRMWARE_WORKAROUND",
	"TAINT_OOT_MODULE", "TAINT_UNSIGNED_MODULE", "TAINT_SOFTLOCKUP", "TAINT_LIVEPATCH", "TAINT_AUX",
	"TAINT_RANDSTRUCT", "TAINT_TEST", "TAINT_FWCTL"}

var moduleInitFlags = []flagName{{1, "MODULE_INIT_IGNORE_MODVERSIONS"}, {2, "MODULE_INIT_IGNORE_VERMAGIC"}, {4, "MODULE_INIT_COMPRESSED_FILE"}}

func (m *mapper) moduleLoad(lr plog.LogRecord, e *sensor.ModuleLoad, proc *proctree.Process) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, e.Op.String())
	a.PutInt(s.ThreadID, int64(e.TID))
	origin := "memory"
	if e.Op == sensor.OpFinitModule {
		origin = "file"
	}
	a.PutStr(s.ModuleOrigin, origin)
	if e.Name != "" {
		a.PutStr(s.ModuleName, e.Name)
	}
	if e.Path != "" {
		a.PutStr(s.ModuleFilePath, e.Path)
	}
	a.PutInt(s.ModuleSize, int64(e.Size))
	if e.Params != "" {
		a.PutStr(s.ModuleParameters, e.Params)
	}
	if e.Taints != 0 {
		var names []string
		for bit := 0; bit < 64; bit++ {
			if e.Taints&(1<<bit) == 0 {
				continue
			}
			if bit < len(taintNames) {
				names = append(names, taintNames[bit])
			} else {
				names = append(names, "TAINT_"+strconv.Itoa(bit))
			}
		}
		putStrs(a, s.ModuleTaints, names)
	}
	if e.LoadFlags != 0 {
		putStrs(a, s.SyscallFlags, flagNames(uint64(e.LoadFlags), moduleInitFlags))
	}
	var cut []string
	if e.PathTruncated {
		cut = append(cut, "file.path")
	}
	if e.ParamsTrunc {
		cut = append(cut, "parameters")
	}
	if len(cut) > 0 {
		putStrs(a, s.ModuleTruncated, cut)
	}
	name := e.Name
	if name == "" {
		name = "?"
	}
	from := "from memory"
	if e.Op == sensor.OpFinitModule {
		from = "from " + e.Path
		if e.Path == "" {
			from = "from a file"
		}
	}
	lr.Body().SetStr("kernel module " + name + " loaded " + from + " by " + who(proc, e.Comm, e.TGID))
}

func (m *mapper) bpfProgramLoad(lr plog.LogRecord, e *sensor.BPFProgramLoad, proc *proctree.Process) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, "bpf")
	a.PutInt(s.ThreadID, int64(e.TID))
	typ := sensor.KernelEnumName("bpf_prog_type", "BPF_PROG_TYPE_", uint64(e.ProgType))
	a.PutInt(s.BPFProgramID, int64(e.ID))
	if e.Name != "" {
		a.PutStr(s.BPFProgramName, e.Name)
	}
	a.PutStr(s.BPFProgramType, typ)
	a.PutStr(s.BPFProgramAttachType, sensor.KernelEnumName("bpf_attach_type", "BPF_", uint64(e.AttachType)))
	if e.AttachFunc != "" {
		a.PutStr(s.BPFProgramAttachTarget, e.AttachFunc)
	}
	a.PutInt(s.BPFProgramInstructions, int64(e.Instructions))
	a.PutStr(s.BPFProgramTag, hex.EncodeToString(e.Tag[:]))
	name := e.Name
	if name == "" {
		name = "(unnamed)"
	}
	target := ""
	if e.AttachFunc != "" {
		target = " on " + e.AttachFunc
	}
	lr.Body().SetStr(fmt.Sprintf("BPF program %s (%s%s, id %d) loaded by %s", name, typ, target, e.ID, who(proc, e.Comm, e.TGID)))
}

// mntAttributes name a mount's MNT_* flags as mountinfo does.
var mntAttributes = []flagName{{0x40, "ro"}, {0x1, "nosuid"}, {0x2, "nodev"}, {0x4, "noexec"}, {0x8, "noatime"},
	{0x10, "nodiratime"}, {0x20, "relatime"}, {0x80, "nosymfollow"}}

func (m *mapper) mount(lr plog.LogRecord, e *sensor.Mount, proc *proctree.Process) {
	a := lr.Attributes()
	a.PutStr(s.SyscallName, e.Op.String())
	a.PutInt(s.ThreadID, int64(e.TID))
	var flags []string
	switch e.Op {
	case sensor.OpMount:
		f := e.Flags
		if f&0xffff0000 == 0xc0ed0000 { // MS_MGC_VAL, the magic of old callers
			f &^= 0xffff0000
		}
		flags = flagNames(f, msFlags)
	case sensor.OpMoveMount:
		flags = flagNames(e.Flags, moveMountFlags)
	case sensor.OpUmount:
		flags = flagNames(e.Flags, umountFlags)
	}
	if len(flags) > 0 {
		putStrs(a, s.SyscallFlags, flags)
	}
	if e.Source != "" {
		a.PutStr(s.MountSource, e.Source)
	}
	if e.FSType != "" {
		a.PutStr(s.MountFSType, e.FSType)
	}
	a.PutStr(s.MountTarget, e.Target)
	a.PutBool(s.MountTargetResolved, e.TargetResolved)
	if e.Options != "" {
		a.PutStr(s.MountOptions, e.Options)
	}
	if e.FromMount && e.Op != sensor.OpUmount {
		mf := uint64(e.MntFlags & 0xff)
		if e.SBFlags&1 != 0 { // SB_RDONLY
			mf |= 0x40
		}
		putStrs(a, s.MountAttributes, nonNil(flagNames(mf, mntAttributes)))
	}
	var cut []string
	for _, c := range []struct {
		on   bool
		name string
	}{{e.SourceTruncated, "source"}, {e.TargetTruncated, "target"}, {e.OptionsTruncated, "options"}} {
		if c.on {
			cut = append(cut, c.name)
		}
	}
	if len(cut) > 0 {
		putStrs(a, s.MountTruncated, cut)
	}
	var body string
	switch {
	case e.Op == sensor.OpUmount:
		body = "umount " + e.Target
	case e.Flags&msRemount != 0:
		body = "remount " + e.Target
	case e.Op == sensor.OpMount && e.Flags&msPropagation != 0 && e.FSType == "":
		body = "mount propagation " + strings.Join(flags, ",") + " on " + e.Target
	default:
		body = "mount " + e.FSType + " " + e.Source + " on " + e.Target
	}
	lr.Body().SetStr(body + " by " + who(proc, e.Comm, e.TGID))
}

const (
	msRemount     = 0x20
	msPropagation = 1<<17 | 1<<18 | 1<<19 | 1<<20
)

// flagName names one bit (or value) of a flags argument.
type flagName struct {
	bit  uint64
	name string
}

// flagNames names the bits of v; bits the table does not know are given in hex.
func flagNames(v uint64, table []flagName) []string {
	var names []string
	for _, f := range table {
		if v&f.bit != 0 {
			names = append(names, f.name)
			v &^= f.bit
		}
	}
	if v != 0 {
		names = append(names, "0x"+strconv.FormatUint(v, 16))
	}
	return names
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

var cloneFlags = []flagName{
	{0x100, "CLONE_VM"}, {0x200, "CLONE_FS"}, {0x400, "CLONE_FILES"}, {0x800, "CLONE_SIGHAND"},
	{0x1000, "CLONE_PIDFD"}, {0x2000, "CLONE_PTRACE"}, {0x4000, "CLONE_VFORK"}, {0x8000, "CLONE_PARENT"},
	{0x10000, "CLONE_THREAD"}, {0x20000, "CLONE_NEWNS"}, {0x40000, "CLONE_SYSVSEM"}, {0x80000, "CLONE_SETTLS"},
	{0x80, "CLONE_NEWTIME"}, {0x2000000, "CLONE_NEWCGROUP"}, {0x4000000, "CLONE_NEWUTS"},
	{0x8000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"}, {0x20000000, "CLONE_NEWPID"},
	{0x40000000, "CLONE_NEWNET"}, {0x80000000, "CLONE_IO"},
}

var msFlags = []flagName{
	{1, "MS_RDONLY"}, {2, "MS_NOSUID"}, {4, "MS_NODEV"}, {8, "MS_NOEXEC"}, {16, "MS_SYNCHRONOUS"},
	{32, "MS_REMOUNT"}, {64, "MS_MANDLOCK"}, {128, "MS_DIRSYNC"}, {256, "MS_NOSYMFOLLOW"}, {1024, "MS_NOATIME"},
	{2048, "MS_NODIRATIME"}, {4096, "MS_BIND"}, {8192, "MS_MOVE"}, {16384, "MS_REC"}, {32768, "MS_SILENT"},
	{1 << 16, "MS_POSIXACL"}, {1 << 17, "MS_UNBINDABLE"}, {1 << 18, "MS_PRIVATE"}, {1 << 19, "MS_SLAVE"},
	{1 << 20, "MS_SHARED"}, {1 << 21, "MS_RELATIME"}, {1 << 22, "MS_KERNMOUNT"}, {1 << 23, "MS_I_VERSION"},
	{1 << 24, "MS_STRICTATIME"}, {1 << 25, "MS_LAZYTIME"},
}

var moveMountFlags = []flagName{
	{0x1, "MOVE_MOUNT_F_SYMLINKS"}, {0x2, "MOVE_MOUNT_F_AUTOMOUNTS"}, {0x4, "MOVE_MOUNT_F_EMPTY_PATH"},
	{0x10, "MOVE_MOUNT_T_SYMLINKS"}, {0x20, "MOVE_MOUNT_T_AUTOMOUNTS"}, {0x40, "MOVE_MOUNT_T_EMPTY_PATH"},
	{0x100, "MOVE_MOUNT_SET_GROUP"}, {0x200, "MOVE_MOUNT_BENEATH"},
}

var umountFlags = []flagName{{1, "MNT_FORCE"}, {2, "MNT_DETACH"}, {4, "MNT_EXPIRE"}, {8, "UMOUNT_NOFOLLOW"}}
