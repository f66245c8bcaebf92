package sensor

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/otelsec/otelsec/bpf"
)

// KindPolicy records are policy.decision events (bpf/policy.bpf.c).
const KindPolicy = Kind(bpf.ProcessEventKindEVENT_POLICY)

// SharedMaps returns the maps every BPF object shares (the ring buffer, its wakeup sequence and
// the per-kind counters), for loaders of other objects (internal/enforce) to pass as
// ebpf.CollectionOptions.MapReplacements. They stay owned by s.
func (s *Sensors) SharedMaps() map[string]*ebpf.Map {
	m := make(map[string]*ebpf.Map, len(s.shared))
	for k, v := range s.shared {
		m[k] = v
	}
	return m
}

// WakeupEvery is the load-time setting other objects sharing the ring buffer must use too.
func (s *Sensors) WakeupEvery() uint32 { return s.opts.WakeupEvery }

// Decision is a decoded policy decision record: one rule that matched one operation.
type Decision struct {
	Header
	Generation uint64 // policy.Set.Generation of the rule's set
	CgroupID   uint64
	RuleID     uint32 // policy.Rule.ID
	Hook       uint8  // bpf's enum pol_hook
	Action     uint8  // bpf's enum pol_action
	Outcome    uint8  // bpf's enum pol_outcome
	RuleFlags  uint8  // bpf's enum pol_rule_flags
	UID, EUID  uint32 // a privilege change (HasCreds): the new credentials
	FileOps    uint32 // policy.FileOps bits of a file operation
	Path       string // the exec's binary, the file, or the binary making a privilege change, when HasPath
	HasPath    bool
	PathTrunc  bool
	// PathNew: a rename or link decided on its new name (Path), the old one matched no rule.
	PathNew bool
	// HasCreds: a privilege change; UID, EUID and FSUID are the credentials after it, the
	// Old ones before it.
	HasCreds                  bool
	FSUID                     uint32
	OldUID, OldEUID, OldFSUID uint32
	HasAddr                   bool
	Addr                      netip.Addr // IPv4 unmapped
	Port                      uint16
	Protocol                  uint16
	Comm                      string
}

// decisionFixed is the size of a decision record without its path: the kernel sends the
// fixed part and the path's bytes only.
const decisionFixed = int(unsafe.Offsetof(bpf.PolicyPolicyEvent{}.Path))

// DecodeDecision decodes a policy decision record into d. A record is the fixed part followed
// by path_len bytes of path (not the whole path array); it is read in place when the buffer
// holds a whole struct, copied otherwise.
func DecodeDecision(raw []byte, d *Decision) error {
	if len(raw) < decisionFixed {
		return fmt.Errorf("%w: %d bytes, a policy decision needs at least %d", ErrShortRecord, len(raw), decisionFixed)
	}
	var r *bpf.PolicyPolicyEvent
	if len(raw) >= int(unsafe.Sizeof(bpf.PolicyPolicyEvent{})) {
		r = (*bpf.PolicyPolicyEvent)(unsafe.Pointer(unsafe.SliceData(raw)))
	} else {
		var full bpf.PolicyPolicyEvent
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&full)), unsafe.Sizeof(full)), raw)
		r = &full
		if n := len(raw) - decisionFixed; int(r.PathLen) > n {
			return fmt.Errorf("%w: policy decision path of %d bytes in a %d-byte record", ErrShortRecord, r.PathLen, len(raw))
		}
	}
	flags := bpf.PolicyPolEventFlags(r.Flags)
	*d = Decision{
		Header:     header((*bpf.ProcessEventHeader)(unsafe.Pointer(&r.Hdr))),
		Generation: r.Generation,
		CgroupID:   r.CgroupId,
		RuleID:     r.RuleId,
		Hook:       r.Hook,
		Action:     r.Action,
		Outcome:    r.Outcome,
		RuleFlags:  r.Rflags,
		UID:        r.Uid,
		EUID:       r.Euid,
		FileOps:    r.FileOps,
		HasPath:    flags&bpf.PolicyPolEventFlagsPOL_EV_PATH != 0,
		PathTrunc:  flags&bpf.PolicyPolEventFlagsPOL_EV_PATH_TRUNCATED != 0,
		HasAddr:    flags&bpf.PolicyPolEventFlagsPOL_EV_ADDR != 0,
		PathNew:    flags&bpf.PolicyPolEventFlagsPOL_EV_PATH_NEW != 0,
		HasCreds:   flags&bpf.PolicyPolEventFlagsPOL_EV_CREDS != 0,
		Comm:       cString(r.Comm[:]),
	}
	if d.HasPath {
		n := min(int(r.PathLen), len(r.Path))
		d.Path = string(unsafe.Slice((*byte)(unsafe.Pointer(&r.Path[0])), n))
	}
	if d.HasCreds {
		d.FSUID, d.OldUID, d.OldEUID, d.OldFSUID = r.Fsuid, r.OldUid, r.OldEuid, r.OldFsuid
	}
	if d.HasAddr {
		d.Addr = netip.AddrFrom16(r.Addr).Unmap()
		d.Port, d.Protocol = r.Port, r.Protocol
	}
	return nil
}
