package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/proctree"
)

// Kind is a record's event kind (bpf's enum event_kind).
type Kind uint8

const (
	KindExec = Kind(bpf.ProcessEventKindEVENT_EXEC)
	KindFork = Kind(bpf.ProcessEventKindEVENT_FORK)
	KindExit = Kind(bpf.ProcessEventKindEVENT_EXIT)
	// KindFile records are file.<operation> events.
	KindFile = Kind(bpf.ProcessEventKindEVENT_FILE)
	// KindNetwork records are network.* events.
	KindNetwork = Kind(bpf.ProcessEventKindEVENT_NETWORK)
	// KindPrivilege records are process.privilege_change events.
	KindPrivilege = Kind(bpf.ProcessEventKindEVENT_PRIVILEGE)
	// KindSecurity records are namespace changes, ptrace, module and bpf loads, mounts.
	KindSecurity = Kind(bpf.ProcessEventKindEVENT_SECURITY)
	// NumKinds bounds the per-kind kernel counters.
	NumKinds = int(bpf.ProcessEventKindEVENT_KIND_MAX)
)

// Kinds lists every record kind, for per-kind counters.
var Kinds = []Kind{KindExec, KindFork, KindExit, KindFile, KindNetwork, KindPrivilege, KindSecurity}

// String names the kind: the event name for the process kinds, the family for the others
// (whose records carry their operation).
func (k Kind) String() string {
	switch k {
	case KindExec:
		return "process.exec"
	case KindFork:
		return "process.fork"
	case KindExit:
		return "process.exit"
	case KindFile:
		return "file"
	case KindNetwork:
		return "network"
	case KindPrivilege:
		return "privilege"
	case KindSecurity:
		return "security"
	case KindPolicy:
		return "policy"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header is the common part of every record.
type Header struct {
	Kind  Kind
	CPU   uint32
	KTime uint64 // CLOCK_BOOTTIME ns
	TGID  uint32
	TID   uint32
	// Suppressed: the process is muted by a policy's suppress rule. Set on exec and exit
	// records, which feed the process cache but are not emitted.
	Suppressed bool
}

// Exec is a decoded exec record.
type Exec struct {
	Header
	PPID, VPID    uint32
	StartBoottime uint64 // the task's creation
	Image         proctree.Image
	// Prev holds the credentials the exec replaced, when PrevKnown.
	Prev      proctree.Creds
	PrevKnown bool
	ExeMode   uint32 // inode mode of the executable
	ExeUID    uint32
	ExeGID    uint32
	ArgsTotal uint32 // argv bytes in the process, before truncation
	// Decisions are the policy decisions the enforcer's exec tracepoint program took on this
	// exec (they travel in the exec record; ExecDecisions makes Decision values of them), of
	// the policy set DecisionGeneration. Reused between decodes.
	Decisions          []ExecDecision
	DecisionGeneration uint64
}

// Fork is a decoded fork record: a new thread group.
type Fork struct {
	Header
	PPID          uint32
	StartBoottime uint64
}

// Exit is a decoded exit record: the last thread of a thread group ended.
type Exit struct {
	Header
	PPID          uint32
	Status        int32  // wait status
	StartBoottime uint64 // the thread group leader's creation
	CgroupID      uint64
	Comm          string
}

// Code is the exit code when the process exited (Signal() == 0).
func (e *Exit) Code() int { return int(e.Status>>8) & 0xff }

// Signal is the number of the signal that killed the process, 0 if it exited.
func (e *Exit) Signal() int { return int(e.Status & 0x7f) }

// CoreDumped reports whether the killing signal dumped core.
func (e *Exit) CoreDumped() bool { return e.Status&0x80 != 0 }

// ErrShortRecord is returned for a record shorter than its kind's layout says.
var ErrShortRecord = errors.New("short record")

// PeekKind returns the kind of a raw record.
func PeekKind(raw []byte) (Kind, error) {
	if len(raw) < int(unsafe.Sizeof(bpf.ProcessEventHeader{})) {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrShortRecord, len(raw), unsafe.Sizeof(bpf.ProcessEventHeader{}))
	}
	return Kind(raw[0]), nil
}

// view reinterprets the front of raw as the generated record type T. The ring buffer hands out
// 8-byte aligned samples in the kernel's layout, which is the generated type's layout
// (structs.HostLayout), so this costs nothing and cannot drift from the C definition.
func view[T any](raw []byte) (*T, error) {
	var zero T
	if n := int(unsafe.Sizeof(zero)); len(raw) < n {
		return nil, fmt.Errorf("%w: %d bytes, %T needs %d", ErrShortRecord, len(raw), zero, n)
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(raw))), nil
}

func header(h *bpf.ProcessEventHeader) Header {
	return Header{Kind: Kind(h.Kind), CPU: h.Cpu, KTime: h.Ktime, TGID: h.Tgid, TID: h.Tid,
		Suppressed: h.Flags&uint16(bpf.ProcessEventHdrFlagsEVENT_HDR_SUPPRESSED) != 0}
}

func creds(c *bpf.ProcessTaskCreds) proctree.Creds {
	return proctree.Creds{
		UID: c.Uid, GID: c.Gid, EUID: c.Euid, EGID: c.Egid,
		SUID: c.Suid, SGID: c.Sgid, FSUID: c.Fsuid, FSGID: c.Fsgid,
		CapEffective: c.CapEffective, CapPermitted: c.CapPermitted, CapInheritable: c.CapInheritable,
	}
}

// DecodeExec decodes an exec record into e.
func DecodeExec(raw []byte, e *Exec) error {
	r, err := view[bpf.ProcessExecEvent](raw)
	if err != nil {
		return err
	}
	data := raw[unsafe.Sizeof(*r):]
	lens := [...]int{int(r.PathLen), int(r.ArgsLen), int(r.FilenameLen), int(r.CwdLen), int(r.CgroupLen), int(r.DecisionsLen)}
	total := 0
	for _, n := range lens {
		total += n
	}
	if total > len(data) {
		return fmt.Errorf("%w: exec sections need %d bytes after the header, record has %d", ErrShortRecord, total, len(data))
	}
	section := func(n int) []byte {
		s := data[:n]
		data = data[n:]
		return s
	}
	flags := bpf.ProcessExecFlags(r.Flags)
	has := func(f bpf.ProcessExecFlags) bool { return flags&f != 0 }

	decisions := e.Decisions[:0]
	*e = Exec{
		Decisions:     decisions,
		Header:        header(&r.Hdr),
		PPID:          r.Ppid,
		VPID:          r.Vpid,
		StartBoottime: r.StartBoottime,
		PrevKnown:     has(bpf.ProcessExecFlagsEXEC_PREV_CREDS),
		ExeMode:       r.ExeMode,
		ExeUID:        r.ExeUid,
		ExeGID:        r.ExeGid,
		ArgsTotal:     r.ArgsTotal,
	}
	if e.PrevKnown {
		e.Prev = creds(&r.Prev)
	}
	img := &e.Image
	img.Creds = creds(&r.Creds)
	img.LoginUID, img.SessionID = r.Loginuid, r.Sessionid
	img.NS = proctree.Namespaces{Mnt: r.Ns.Mnt, PID: r.Ns.Pid, Net: r.Ns.Net, UTS: r.Ns.Uts, IPC: r.Ns.Ipc, User: r.Ns.User, Cgroup: r.Ns.Cgroup, Time: r.Ns.Time}
	img.CgroupID = r.CgroupId
	img.Comm = cString(r.Comm[:])

	if path := section(lens[0]); !has(bpf.ProcessExecFlagsEXEC_PATH_UNRESOLVED) {
		img.Executable = joinLeafFirst(path)
	}
	img.ExecutableTruncated = has(bpf.ProcessExecFlagsEXEC_PATH_TRUNCATED)
	img.ExecutableDeleted = has(bpf.ProcessExecFlagsEXEC_PATH_DELETED)
	img.Args = splitArgs(section(lens[1]))
	img.ArgsTruncated = has(bpf.ProcessExecFlagsEXEC_ARGS_TRUNCATED)
	img.Filename = string(bytes.TrimRight(section(lens[2]), "\x00"))
	if cwd := section(lens[3]); !has(bpf.ProcessExecFlagsEXEC_CWD_UNRESOLVED) {
		img.Cwd = joinLeafFirst(cwd)
	}
	img.CwdTruncated = has(bpf.ProcessExecFlagsEXEC_CWD_TRUNCATED)
	img.Cgroup = joinLeafFirst(section(lens[4]))
	img.CgroupTruncated = has(bpf.ProcessExecFlagsEXEC_CGROUP_TRUNCATED)
	if dec := section(lens[5]); len(dec) > 0 {
		const entry = int(unsafe.Sizeof(bpf.ProcessExecDecision{}))
		if len(dec) < 8 || (len(dec)-8)%entry != 0 || (len(dec)-8)/entry > len(bpf.ProcessExecDecisions{}.D) {
			return fmt.Errorf("exec record: decisions section of %d bytes (8 + n × %d, n ≤ %d)", len(dec), entry, len(bpf.ProcessExecDecisions{}.D))
		}
		e.DecisionGeneration = binary.LittleEndian.Uint64(dec)
		for d := dec[8:]; len(d) >= entry; d = d[entry:] {
			e.Decisions = append(e.Decisions, ExecDecision{
				RuleID: binary.LittleEndian.Uint32(d), Action: d[4], Outcome: d[5], RuleFlags: d[6],
			})
		}
	}
	return nil
}

// ExecDecision is one policy decision carried by an exec record.
type ExecDecision struct {
	RuleID    uint32 // policy.Rule.ID
	Action    uint8  // bpf's enum pol_action
	Outcome   uint8  // bpf's enum pol_outcome
	RuleFlags uint8  // bpf's enum pol_rule_flags
}

// ExecDecisions returns the decisions e carries as Decision values, as the kernel's decision
// records would have described them: the hook is the exec tracepoint, the path the new
// executable, the credentials and the comm the new image's.
func ExecDecisions(e *Exec) []Decision {
	if len(e.Decisions) == 0 {
		return nil
	}
	out := make([]Decision, len(e.Decisions))
	h := e.Header
	h.Kind = KindPolicy
	h.Suppressed = false
	for i, x := range e.Decisions {
		out[i] = Decision{
			Header:     h,
			Generation: e.DecisionGeneration,
			CgroupID:   e.Image.CgroupID,
			RuleID:     x.RuleID,
			Hook:       uint8(bpf.PolicyPolHookPOL_HOOK_EXEC_TP),
			Action:     x.Action,
			Outcome:    x.Outcome,
			RuleFlags:  x.RuleFlags,
			UID:        e.Image.Creds.UID,
			EUID:       e.Image.Creds.EUID,
			Path:       e.Image.Executable,
			HasPath:    e.Image.Executable != "",
			PathTrunc:  e.Image.ExecutableTruncated,
			Comm:       e.Image.Comm,
		}
	}
	return out
}

// DecodeFork decodes a fork record.
func DecodeFork(raw []byte, f *Fork) error {
	r, err := view[bpf.ProcessForkEvent](raw)
	if err != nil {
		return err
	}
	*f = Fork{Header: header(&r.Hdr), PPID: r.Ppid, StartBoottime: r.StartBoottime}
	return nil
}

// DecodeExit decodes an exit record.
func DecodeExit(raw []byte, x *Exit) error {
	r, err := view[bpf.ProcessExitEvent](raw)
	if err != nil {
		return err
	}
	*x = Exit{
		Header:        header(&r.Hdr),
		PPID:          r.Ppid,
		Status:        r.ExitCode,
		StartBoottime: r.StartBoottime,
		CgroupID:      r.CgroupId,
		Comm:          cString(r.Comm[:]),
	}
	return nil
}

// joinLeafFirst turns NUL-terminated components written leaf first ("bin\0usr\0") into an
// absolute path ("/usr/bin"). No components is the root.
func joinLeafFirst(b []byte) string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return "/"
	}
	n := bytes.Count(b, []byte{0}) + 1
	var sb strings.Builder
	sb.Grow(len(b) + 1)
	parts := make([][]byte, 0, n)
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			parts = append(parts, b)
			break
		}
		parts = append(parts, b[:i])
		b = b[i+1:]
	}
	for i := len(parts) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.Write(parts[i])
	}
	return sb.String()
}

// splitArgs splits argv as it lies in process memory: NUL-terminated strings. A truncated
// argv ends without its NUL; the partial argument is kept.
func splitArgs(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	s := string(b)
	return strings.Split(s, "\x00")
}

func cString(c []int8) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c))), len(c))
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func errNotYet(sensor string) error { return fmt.Errorf("%s sensor: not implemented yet", sensor) }
