package enforce

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	mbits "math/bits"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/policy"
)

// Kernel-side limits of one policy set. A set beyond them is refused as a whole.
const (
	// MaxRules is the number of rules of a set (the width of the kernel's rule bitmaps).
	MaxRules = 256 // POL_MAX_RULES
	// MaxPathEntries bounds the distinct entries of each path map: exact binaries, binary
	// prefixes, exact file paths, file path prefixes.
	MaxPathEntries = 65536
	// MaxCIDREntries bounds the distinct CIDRs of each family.
	MaxCIDREntries = 65536
	// MaxIDEntries bounds the distinct uids, and the distinct euids, of a set.
	MaxIDEntries = 4096
	// MaxArgStrings is the number of distinct argument strings of a set (POL_MAX_NEEDLES);
	// MaxArgBytes the length of one (POL_NEEDLE_BYTES). The kernel looks for them in the first
	// 1024 bytes of the command line (POL_ARGS_BYTES).
	MaxArgStrings = 32
	MaxArgBytes   = 64
	// MaxPathBytes is the longest path an exact or prefix selector may name: the kernel
	// matches the first 255 bytes of a path (prefixes need one more for their '/').
	MaxPathBytes = 254
)

// Hook is a kernel attach point that evaluates rules: a rule's backend.
type Hook uint8

const (
	HookExecLSM    = Hook(bpf.PolicyPolHookPOL_HOOK_EXEC_LSM)
	HookExecTP     = Hook(bpf.PolicyPolHookPOL_HOOK_EXEC_TP)
	HookFileLSM    = Hook(bpf.PolicyPolHookPOL_HOOK_FILE_LSM)
	HookConnectLSM = Hook(bpf.PolicyPolHookPOL_HOOK_CONNECT_LSM)
	HookConnectCG  = Hook(bpf.PolicyPolHookPOL_HOOK_CONNECT_CG)
	HookBindLSM    = Hook(bpf.PolicyPolHookPOL_HOOK_BIND_LSM)
	HookBindCG     = Hook(bpf.PolicyPolHookPOL_HOOK_BIND_CG)
	HookSendLSM    = Hook(bpf.PolicyPolHookPOL_HOOK_SEND_LSM)
	HookSendCG     = Hook(bpf.PolicyPolHookPOL_HOOK_SEND_CG)
	HookSetuidLSM  = Hook(bpf.PolicyPolHookPOL_HOOK_SETUID_LSM)
	HookSetuidTP   = Hook(bpf.PolicyPolHookPOL_HOOK_SETUID_TP)
	HookPathLSM    = Hook(bpf.PolicyPolHookPOL_HOOK_PATH_LSM)
	HookListenLSM  = Hook(bpf.PolicyPolHookPOL_HOOK_LISTEN_LSM)
	HookListenTP   = Hook(bpf.PolicyPolHookPOL_HOOK_LISTEN_TP)
	numHooks       = int(bpf.PolicyPolHookPOL_HOOK_MAX)
)

// String names the backend as decisions and logs report it.
func (h Hook) String() string {
	switch h {
	case HookExecLSM:
		return "lsm/bprm_check_security"
	case HookExecTP:
		return "tp_btf/sched_process_exec"
	case HookFileLSM:
		return "lsm/file_open"
	case HookConnectLSM:
		return "lsm/socket_connect"
	case HookConnectCG:
		return "cgroup/connect4,connect6"
	case HookBindLSM:
		return "lsm/socket_bind"
	case HookBindCG:
		return "cgroup/bind4,bind6"
	case HookSendLSM:
		return "lsm/socket_sendmsg"
	case HookSendCG:
		return "cgroup/sendmsg4,sendmsg6"
	case HookSetuidLSM:
		return "lsm/task_fix_setuid"
	case HookSetuidTP:
		return "tracepoint/syscalls/sys_exit_setuid,setreuid,setresuid,setfsuid"
	case HookPathLSM:
		return "lsm/path_unlink,path_rename,path_chmod,path_chown,path_truncate,path_link,path_symlink,path_mkdir,path_rmdir"
	case HookListenLSM:
		return "lsm/socket_listen"
	case HookListenTP:
		return "tp_btf/inet_sock_set_state"
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// lsm reports whether the hook is a BPF LSM one (a deny makes the operation fail).
func (h Hook) lsm() bool {
	return h == HookExecLSM || h == HookFileLSM || h == HookConnectLSM || h == HookBindLSM || h == HookSendLSM ||
		h == HookSetuidLSM || h == HookPathLSM || h == HookListenLSM
}

// canDeny: the hook can make the operation fail with EPERM.
func (h Hook) canDeny() bool { return h != HookExecTP && h != HookSetuidTP && h != HookListenTP }

// canSignal: the hook's programs may call bpf_send_signal (cgroup programs may not).
func (h Hook) canSignal() bool {
	return h == HookExecTP || h == HookSetuidTP || h == HookListenTP || h.lsm()
}

type bits = bpf.PolicyPolBits

// binval is the value of the binary maps: the rules a binary matches and the rules it excepts.
type binval = bpf.PolicyPolBinval

func set(b *bits, i int) { b.W[i/64] |= 1 << (i % 64) }
func or(a *bits, b bits) { a.W[0] |= b.W[0]; a.W[1] |= b.W[1]; a.W[2] |= b.W[2]; a.W[3] |= b.W[3] }

// fileOpBits are the file operations the kernel distinguishes (at lsm/file_open and the path
// hooks), by bit index in policy.FileOps.
var fileOpBits = map[policy.FileOps]int{
	policy.FileOpen: 0, policy.FileRead: 1, policy.FileWrite: 2, policy.FileCreate: 3, policy.FileTruncate: 8,
	policy.FileUnlink: 4, policy.FileRename: 5, policy.FileChmod: 6, policy.FileChown: 7, policy.FileLink: 9,
	policy.FileMkdir: 10, policy.FileRmdir: 11,
}

// openOps are the file operations lsm/file_open sees (truncate: an O_TRUNC open); pathOps
// those the path hooks see (truncate: truncate(2)). A rule with both kinds is evaluated at
// both hooks.
const (
	openOps = policy.FileOpen | policy.FileRead | policy.FileWrite | policy.FileCreate | policy.FileTruncate
	pathOps = policy.FileUnlink | policy.FileRename | policy.FileChmod | policy.FileChown | policy.FileTruncate |
		policy.FileLink | policy.FileMkdir | policy.FileRmdir
)

// RuleState is what became of one rule in the kernel.
type RuleState struct {
	Name    string // security_rule.name
	Source  string
	Backend Hook
	// Also are further hooks that evaluate the rule: lsm/file_open (Backend) and the path hooks
	// for a file rule with both open-time and other operations.
	Also []Hook
	// KillFallback: a deny that no backend here can honour, carried out as SIGKILL.
	KillFallback bool
}

// Backends names every hook that evaluates the rule, joined by " + ".
func (rs RuleState) Backends() string {
	n := rs.Backend.String()
	for _, h := range rs.Also {
		n += " + " + h.String()
	}
	return n
}

// state is a compiled set: everything one generation of the kernel maps holds, except the
// cgroup ids of the workloads (resolved separately, and again as cgroups come and go).
type state struct {
	set         *policy.Set
	hdr         bpf.PolicyPolHdr
	rules       []bpf.PolicyPolRule
	binExact    map[string]binval
	binPrefix   map[string]binval
	binSuffix   map[string]binval // keys reversed
	parExact    map[string]binval // parent binary selectors, the same three kinds
	parPrefix   map[string]binval
	parSuffix   map[string]binval
	needles     []string // distinct argument strings (osec_pol_args)
	needleRules []bits   // the rules of each
	pathExact   map[string]bits
	pathPrefix  map[string]bits
	cidr4       map[netip.Prefix]bits
	cidr6       map[netip.Prefix]bits
	uids        map[uint32]bits
	euids       map[uint32]bits
	touids      map[uint32]bits // privilege changes: the new uid
	ports       map[uint16]bits
	net4        map[uint16]net16      // osec_pol_net4: the IPv4 /16s CIDRs touch (their rules, first node, flags)
	net6        map[uint16]net16      // osec_pol_net6: the IPv6 /16s
	netx        []bpf.PolicyPolNetn   // osec_pol_netx: the nodes of the CIDRs longer than /16, both families
	net4val     []bits                // osec_pol_net4val: the rules the IPv4 entries and nodes index (0: none)
	net6val     []bits                // osec_pol_net6val: the same for IPv6
	trie4       map[netip.Prefix]bits // osec_pol_cidr4: the CIDRs the /16s left to the trie need (closed)
	trie6       map[netip.Prefix]bits // osec_pol_cidr6
	workloads   []ruleWorkload
	states      []RuleState
}

// ruleWorkload is the workload of a rule that does not select every process.
type ruleWorkload struct {
	rule int // bit
	w    policy.Workload
}

// compile validates set against what this kernel's hooks can do and the map limits, and
// builds its kernel state. hooks are the attached hooks. It writes nothing.
func compile(set *policy.Set, hooks map[Hook]bool) (*state, error) {
	if set == nil {
		return nil, errors.New("policy set is nil")
	}
	if len(set.Rules) > MaxRules {
		return nil, fmt.Errorf("policy set has %d rules; the kernel side holds at most %d", len(set.Rules), MaxRules)
	}
	s := &state{
		set:        set,
		rules:      make([]bpf.PolicyPolRule, len(set.Rules)),
		binExact:   map[string]binval{},
		binPrefix:  map[string]binval{},
		binSuffix:  map[string]binval{},
		parExact:   map[string]binval{},
		parPrefix:  map[string]binval{},
		parSuffix:  map[string]binval{},
		pathExact:  map[string]bits{},
		pathPrefix: map[string]bits{},
		cidr4:      map[netip.Prefix]bits{},
		cidr6:      map[netip.Prefix]bits{},
		uids:       map[uint32]bits{},
		euids:      map[uint32]bits{},
		touids:     map[uint32]bits{},
		ports:      map[uint16]bits{},
		states:     make([]RuleState, len(set.Rules)),
	}
	s.hdr.Generation = set.Generation
	var errs []error
	for i := range set.Rules {
		r := &set.Rules[i]
		if err := s.add(i, r, hooks); err != nil {
			errs = append(errs, fmt.Errorf("rule %s (%s): %w", r.SecurityRuleName(), r.Source, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		what string
		n    int
		max  int
	}{
		{"exact binaries", len(s.binExact), MaxPathEntries},
		{"binary prefixes", len(s.binPrefix), MaxPathEntries},
		{"binary suffixes", len(s.binSuffix), MaxPathEntries},
		{"exact parent binaries", len(s.parExact), MaxPathEntries},
		{"parent binary prefixes", len(s.parPrefix), MaxPathEntries},
		{"parent binary suffixes", len(s.parSuffix), MaxPathEntries},
		{"exact file paths", len(s.pathExact), MaxPathEntries},
		{"file path prefixes", len(s.pathPrefix), MaxPathEntries},
		{"IPv4 CIDRs", len(s.cidr4), MaxCIDREntries},
		{"IPv6 CIDRs", len(s.cidr6), MaxCIDREntries},
		{"uids", len(s.uids), MaxIDEntries},
		{"euids", len(s.euids), MaxIDEntries},
		{"to uids", len(s.touids), MaxIDEntries},
	} {
		if l.n > l.max {
			errs = append(errs, fmt.Errorf("policy set has %d distinct %s; the kernel map holds at most %d", l.n, l.what, l.max))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	closeBinaries(s.binPrefix, prefixAncestors)
	closeBinaries(s.binSuffix, suffixAncestors)
	closeBinaries(s.parPrefix, prefixAncestors)
	closeBinaries(s.parSuffix, suffixAncestors)
	closePaths(s.pathPrefix)
	closeCIDRs(s.cidr4)
	closeCIDRs(s.cidr6)
	s.fillNet()
	s.fillNeed()
	return s, nil
}

// fillNeed sets, per hook, which of the header's sets a rule of that hook uses
// (struct pol_hdr's need): the programs read a set only when its bit is set.
func (s *state) fillNeed() {
	h := &s.hdr
	for k := range h.Hook {
		rules := h.Hook[k]
		var n bpf.PolicyPolNeed
		for _, c := range []struct {
			bit  bpf.PolicyPolNeed
			set  bits
			uses bool // the hook's rules use the set when they are in it, not when they are outside it
		}{
			{bpf.PolicyPolNeedPOL_NEED_WORKLOAD, h.AllWorkloads, false},
			{bpf.PolicyPolNeedPOL_NEED_UID, h.AnyUid, false},
			{bpf.PolicyPolNeedPOL_NEED_EUID, h.AnyEuid, false},
			{bpf.PolicyPolNeedPOL_NEED_CAP, h.AnyCap, false},
			{bpf.PolicyPolNeedPOL_NEED_STDIO, h.StdioSocket, true},
			{bpf.PolicyPolNeedPOL_NEED_PARENT, h.AnyParent, false},
			{bpf.PolicyPolNeedPOL_NEED_ARGS, h.Args, true},
			{bpf.PolicyPolNeedPOL_NEED_DENY, h.Deny, true},
			{bpf.PolicyPolNeedPOL_NEED_KILL, h.Kill, true},
			{bpf.PolicyPolNeedPOL_NEED_SIGNAL, h.Signal, true},
			{bpf.PolicyPolNeedPOL_NEED_SUPPRESS, h.Suppress, true},
		} {
			for w := range rules.W {
				if c.uses && rules.W[w]&c.set.W[w] != 0 || !c.uses && rules.W[w]&^c.set.W[w] != 0 {
					n |= c.bit
					break
				}
			}
		}
		h.Need[k] = uint16(n)
	}
}

// suppresses reports whether the set has a suppress rule that mutes (not in monitor mode).
func (s *state) suppresses() bool {
	for i := range s.set.Rules {
		if r := &s.set.Rules[i]; r.Action == policy.ActionSuppress && r.Mode != policy.ModeMonitor {
			return true
		}
	}
	return false
}

// ruleIndex numbers the distinct sets of rules of a family's CIDR lookup (osec_pol_net4val,
// osec_pol_net6val): index 0 is none, at most 255 others; past them ok turns false.
type ruleIndex struct {
	vals  []bits
	index map[bits]uint8
	ok    bool
}

func newRuleIndex() *ruleIndex {
	return &ruleIndex{vals: []bits{{}}, index: map[bits]uint8{}, ok: true}
}

func (x *ruleIndex) of(b bits) uint8 {
	if b == (bits{}) {
		return 0
	}
	if i, ok := x.index[b]; ok {
		return i
	}
	if len(x.vals) == 256 {
		x.ok = false
		return 0
	}
	i := uint8(len(x.vals))
	x.vals = append(x.vals, b)
	x.index[b] = i
	return i
}

type net16 = bpf.PolicyPolNet16

// netBudget is the most nodes of a set's CIDR lookup, both families (osec_pol_netx, 336
// bytes each in the kernel: 5.3 MiB at most): the /16s whose nodes do not fit are searched in
// their family's trie (POL_NET_TRIE), those with the most nodes first. A /16 takes a node for
// its CIDRs longer than /16, and one more per byte where they part or end below it: 10,000 IPv4
// /32s each in its own /24 take 10,040; 10,000 IPv6 CIDRs of /112 to /128 in one /16, 4,745;
// 10,000 IPv6 /128s in 256 /16s, 10,256 (BENCHMARKS.md).
var netBudget = 16384 // a variable for the tests

// netFamily is what fillNet builds of one family's closed CIDRs, mapped to 16 bytes.
type netFamily struct {
	cidrs   map[netip.Prefix]bits // closed, IPv4 ones mapped (::ffff:a.b.c.d/96+n)
	from    int                   // the byte of the address a /16 starts at: 12 (IPv4), 0
	covered map[uint16]bool       // /16s a CIDR of /16 or shorter covers
	inner   map[uint16][]netip.Prefix
	idx     *ruleIndex
	out     map[uint16]net16
	trie    map[netip.Prefix]bits // the CIDRs the /16s left to the trie need
}

// fillNet builds the CIDR lookup that replaces the tries (osec_pol_net4, osec_pol_net6,
// osec_pol_netx, osec_pol_net4val, osec_pol_net6val: see policy.bpf.c): per /16 the rules of
// the longest CIDR of /16 or shorter covering it and the first node of the longer CIDRs in it.
// s.cidr4 and s.cidr6 are closed.
func (s *state) fillNet() {
	v4 := make(map[netip.Prefix]bits, len(s.cidr4))
	for p, v := range s.cidr4 {
		v4[netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), 96+p.Bits())] = v
	}
	fams := []*netFamily{{cidrs: v4, from: 12}, {cidrs: s.cidr6, from: 0}}
	type key struct {
		fam int
		h   uint16
	}
	count := map[key]int{}
	total := 0
	for f, fam := range fams {
		fam.covered, fam.inner, fam.idx, fam.out = map[uint16]bool{}, map[uint16][]netip.Prefix{}, newRuleIndex(), map[uint16]net16{}
		for p := range fam.cidrs {
			a := p.Addr().As16()
			h := uint16(a[fam.from])<<8 | uint16(a[fam.from+1])
			if l := p.Bits() - 8*fam.from; l <= 16 {
				for i := range 1 << (16 - l) {
					fam.covered[h+uint16(i)] = true
				}
				continue
			}
			fam.inner[h] = append(fam.inner[h], p)
		}
		for h, ps := range fam.inner {
			b := netBuilder{cidrs: fam.cidrs}
			b.root(ps, fam.from+2, bits{})
			count[key{f, h}] = b.count
			total += b.count
		}
	}
	// Over the budget: the /16s with the most nodes go to the trie.
	trie := map[key]bool{}
	if total > netBudget {
		ks := slices.Collect(maps.Keys(count))
		slices.SortFunc(ks, func(x, y key) int {
			return cmp.Or(count[y]-count[x], cmp.Compare(x.fam, y.fam), cmp.Compare(x.h, y.h))
		})
		for _, k := range ks {
			if total <= netBudget {
				break
			}
			trie[k] = true
			total -= count[k]
		}
	}
	b := netBuilder{}
	for f, fam := range fams {
		b.cidrs, b.idx = fam.cidrs, fam.idx
		first := len(b.nodes)
		// longest16: the rules of the longest CIDR of /16 or shorter covering the /16 h.
		longest16 := func(h uint16) bits {
			if ps := fam.covering(h); len(ps) > 0 {
				return fam.cidrs[ps[0]]
			}
			return bits{}
		}
		for h := range fam.covered {
			if !trie[key{f, h}] {
				fam.out[h] = net16{Val: fam.idx.of(longest16(h))}
			}
		}
		// In address order, so that a set compiles to the same nodes each time.
		for _, h := range slices.Sorted(maps.Keys(fam.inner)) {
			if !trie[key{f, h}] {
				base := longest16(h)
				fam.out[h] = net16{Val: fam.idx.of(base), Node: b.root(fam.inner[h], fam.from+2, base)}
			}
		}
		if !fam.idx.ok {
			// More than 255 distinct sets of rules: the trie for every /16 a CIDR touches.
			b.nodes = b.nodes[:first]
			fam.idx = newRuleIndex()
			clear(fam.out)
			for h := range fam.covered {
				trie[key{f, h}] = true
			}
			for h := range fam.inner {
				trie[key{f, h}] = true
			}
		}
		// The tries hold what the /16s left to them need: their CIDRs and those covering them.
		fam.trie = map[netip.Prefix]bits{}
		for k := range trie {
			if k.fam != f {
				continue
			}
			fam.out[k.h] = net16{Flags: uint8(bpf.PolicyPolNetFlagsPOL_NET_TRIE)}
			for _, p := range append(fam.covering(k.h), fam.inner[k.h]...) {
				fam.trie[p] = fam.cidrs[p]
			}
		}
	}
	s.net4, s.net4val = fams[0].out, fams[0].idx.vals
	s.net6, s.net6val = fams[1].out, fams[1].idx.vals
	s.netx = b.nodes
	s.trie4 = make(map[netip.Prefix]bits, len(fams[0].trie))
	for p, v := range fams[0].trie {
		s.trie4[netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)] = v
	}
	s.trie6 = fams[1].trie
}

// covering returns the family's CIDRs of /16 or shorter that cover the /16 h, longest first.
func (fam *netFamily) covering(h uint16) []netip.Prefix {
	var a [16]byte
	if fam.from == 12 {
		a[10], a[11] = 0xff, 0xff
	}
	a[fam.from], a[fam.from+1] = byte(h>>8), byte(h)
	var ps []netip.Prefix
	for l := 8*fam.from + 16; l >= 8*fam.from; l-- {
		p := netip.PrefixFrom(netip.AddrFrom16(a), l).Masked()
		if _, ok := fam.cidrs[p]; ok {
			ps = append(ps, p)
		}
	}
	return ps
}

// netBuilder builds the nodes of the CIDR lookup (struct pol_netn), or with idx nil only counts
// them.
type netBuilder struct {
	cidrs map[netip.Prefix]bits // closed, 16 bytes
	idx   *ruleIndex
	nodes []bpf.PolicyPolNetn
	count int
}

// root builds the node of the CIDRs ps, all longer than /8*from and in one /8*from prefix that
// the rules base cover (those of the longest CIDR covering it), and the nodes below it. It
// returns the node's index + 1 (0 when only counting).
func (b *netBuilder) root(ps []netip.Prefix, from int, base bits) uint16 {
	at := len(b.nodes)
	if b.idx != nil {
		b.nodes = append(b.nodes, bpf.PolicyPolNetn{})
	}
	b.node(ps, from, base, at)
	if b.idx == nil {
		return 0
	}
	return uint16(at + 1)
}

// node builds root's node at index at (reserved) and, below it, its children, consecutive in
// the order of their byte (reserved before any is built).
func (b *netBuilder) node(ps []netip.Prefix, from int, base bits, at int) {
	// Its level: the first byte from `from` where the CIDRs part, or where the shortest ends.
	first := ps[0].Addr().As16()
	lvl := 15
	for _, p := range ps {
		lvl = min(lvl, (p.Bits()-1)/8)
		a := p.Addr().As16()
		for i := from; i < lvl; i++ {
			if a[i] != first[i] {
				lvl = i
				break
			}
		}
	}
	b.count++
	// The rules of each slot (the prefix and byte lvl), and the CIDRs below each.
	slices.SortFunc(ps, func(x, y netip.Prefix) int { return x.Bits() - y.Bits() })
	var below [256][]netip.Prefix
	var rules *[256]bits
	if b.idx != nil {
		rules = new([256]bits)
		for x := range rules {
			rules[x] = base
		}
	}
	for _, p := range ps {
		a := p.Addr().As16()
		if p.Bits() > 8*lvl+8 {
			below[a[lvl]] = append(below[a[lvl]], p)
			continue
		}
		if rules != nil { // shortest first: a longer CIDR's rules include those of a shorter one covering it
			for x := int(a[lvl]); x < int(a[lvl])+1<<(8*lvl+8-p.Bits()); x++ {
				rules[x] = b.cidrs[p]
			}
		}
	}
	if rules == nil {
		for _, ps := range below {
			if len(ps) > 0 {
				b.node(ps, lvl+1, bits{}, 0)
			}
		}
		return
	}
	n := bpf.PolicyPolNetn{Lvl: uint32(lvl), Kids: uint32(len(b.nodes))}
	var addr, mask [16]byte
	copy(addr[:lvl], first[:lvl])
	for x := range lvl {
		mask[x] = 0xff
	}
	// As the kernel loads them: words in the machine's byte order.
	n.Addr = [2]uint64{binary.NativeEndian.Uint64(addr[:8]), binary.NativeEndian.Uint64(addr[8:])}
	n.Mask = [2]uint64{binary.NativeEndian.Uint64(mask[:8]), binary.NativeEndian.Uint64(mask[8:])}
	kids := 0
	for x := range 256 {
		n.Val[x] = b.idx.of(rules[x])
		if len(below[x]) > 0 {
			n.Has[x/64] |= 1 << (x % 64)
			kids++
		}
	}
	if kids == 0 {
		n.Kids = 0 // a leaf: the same bytes wherever it is
	}
	for w := 1; w < 4; w++ {
		n.Rank[w] = n.Rank[w-1] + uint8(mbits.OnesCount64(n.Has[w-1]))
	}
	b.nodes[at] = n
	b.nodes = append(b.nodes, make([]bpf.PolicyPolNetn, kids)...)
	k := len(b.nodes) - kids
	for x := range 256 {
		if len(below[x]) > 0 {
			b.node(below[x], lvl+1, rules[x], k)
			k++
		}
	}
}

// chooseHook picks the rule's backend among the attached hooks.
func chooseHook(r *policy.Rule, hooks map[Hook]bool) (h Hook, killFallback bool, err error) {
	type pair struct{ lsm, other Hook }
	var p pair
	switch r.Event {
	case policy.EventExec:
		p = pair{HookExecLSM, HookExecTP}
	case policy.EventFile:
		p = pair{HookFileLSM, 255}
	case policy.EventConnect:
		p = pair{HookConnectLSM, HookConnectCG}
	case policy.EventBind:
		p = pair{HookBindLSM, HookBindCG}
	case policy.EventSend:
		p = pair{HookSendLSM, HookSendCG}
	case policy.EventListen:
		p = pair{HookListenLSM, HookListenTP}
	case policy.EventPrivilegeChange:
		p = pair{HookSetuidLSM, HookSetuidTP}
	default:
		return 0, false, fmt.Errorf("event %q: no kernel backend evaluates it yet", r.Event)
	}
	if r.Event == policy.EventExec && len(r.ArgsContain) > 0 {
		// The new image's command line is readable after the exec only (sched_process_exec):
		// argument rules never run at bprm_check_security, so they cannot deny, only kill.
		if r.Action == policy.ActionDeny && !r.FallbackKill && r.Mode != policy.ModeMonitor {
			return 0, false, errors.New("deny on process.exec with arguments: the command line is read after the exec, where only kill can stop it; set fallback: kill")
		}
		hooks = maps.Clone(hooks)
		delete(hooks, p.lsm)
	}
	switch r.Action {
	case policy.ActionDeny:
		if hooks[p.lsm] {
			return p.lsm, false, nil
		}
		if p.other != 255 && hooks[p.other] && p.other.canDeny() {
			return p.other, false, nil
		}
		if p.other != 255 && hooks[p.other] && p.other.canSignal() {
			if r.FallbackKill {
				return p.other, true, nil
			}
			if r.Mode == policy.ModeMonitor {
				return p.other, false, nil // reports would_deny; nothing to carry out
			}
		}
		if p.other == 255 {
			return 0, false, fmt.Errorf("deny on %s: needs BPF LSM (lsm/file_open), which is not active on this kernel", r.Event)
		}
		if hooks[p.other] && p.other.canSignal() {
			return 0, false, fmt.Errorf("deny on %s: no backend on this kernel can deny it (BPF LSM is not active); set fallback: kill to kill instead", r.Event)
		}
		return 0, false, fmt.Errorf("deny on %s: no backend on this kernel can deny it (neither BPF LSM nor cgroup sock_addr hooks)", r.Event)
	case policy.ActionKill, policy.ActionSignal:
		// Exec: the tracepoint kills before the new image runs; other events: the LSM hook.
		if r.Event == policy.EventExec && hooks[HookExecTP] {
			return HookExecTP, false, nil
		}
		if hooks[p.lsm] {
			return p.lsm, false, nil
		}
		// Without BPF LSM: the hook that can signal (exec, listen and setuid tracepoints kill
		// before the process runs another instruction of its own).
		if p.other != 255 && hooks[p.other] && p.other.canSignal() {
			return p.other, false, nil
		}
		return 0, false, fmt.Errorf("%s on %s: no backend on this kernel can signal the process (cgroup hooks cannot; BPF LSM is not active)", r.Action, r.Event)
	case policy.ActionAudit:
		if r.Event == policy.EventExec && hooks[HookExecTP] {
			return HookExecTP, false, nil
		}
		if hooks[p.lsm] {
			return p.lsm, false, nil
		}
		if p.other != 255 && hooks[p.other] {
			return p.other, false, nil
		}
		return 0, false, fmt.Errorf("audit on %s: no hook on this kernel evaluates it (BPF LSM is not active)", r.Event)
	case policy.ActionSuppress:
		// Marked at sched_process_exec, once the exec succeeded (see mute in policy.bpf.c).
		if r.Event != policy.EventExec {
			return 0, false, fmt.Errorf("suppress on %s: suppress applies to %s rules only (it mutes the process the exec starts)", r.Event, policy.EventExec)
		}
		if hooks[HookExecTP] {
			return HookExecTP, false, nil
		}
		return 0, false, errors.New("suppress on process.exec: needs tp_btf/sched_process_exec, which this kernel does not offer")
	}
	return 0, false, fmt.Errorf("unknown action %q", r.Action)
}

// add compiles rule r as bit i.
func (s *state) add(i int, r *policy.Rule, hooks map[Hook]bool) error {
	if r.ID != uint32(i+1) {
		return fmt.Errorf("rule id %d at index %d: ids must be the index plus one", r.ID, i)
	}
	var unsupported []string
	if len(r.Paths.Suffix) > 0 {
		unsupported = append(unsupported, "path suffix")
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("selectors not evaluated in the kernel yet: %s", strings.Join(unsupported, ", "))
	}
	network := r.Event == policy.EventConnect || r.Event == policy.EventBind || r.Event == policy.EventSend ||
		r.Event == policy.EventListen
	if !network && (len(r.CIDRs) > 0 || len(r.Ports) > 0 || r.Protocol != "") {
		return fmt.Errorf("network selectors (cidrs, ports, protocol) do not apply to event %s", r.Event)
	}
	if r.Event != policy.EventFile && (!r.Paths.Empty() || r.FileOps != 0) {
		return fmt.Errorf("file selectors (paths, operations) do not apply to event %s", r.Event)
	}
	if r.Event != policy.EventExec && (len(r.ArgsContain) > 0 || r.StdioNetworkSocket) {
		return fmt.Errorf("arguments and stdioNetworkSocket apply to process.exec only, not to %s", r.Event)
	}
	if r.Event != policy.EventPrivilegeChange && len(r.ToUIDs) > 0 {
		return fmt.Errorf("toUIDs applies to event %s only, not %s", policy.EventPrivilegeChange, r.Event)
	}
	if r.Event == policy.EventFile && !hooks[HookPathLSM] && fileOps(r)&pathOps&^policy.FileTruncate != 0 {
		return errNoPathHooks
	}
	hook, killFallback, err := chooseHook(r, hooks)
	if err != nil {
		return err
	}
	var also []Hook
	if r.Event == policy.EventFile {
		hook, also, err = fileHooks(r, hook, hooks)
		if err != nil {
			return err
		}
	}
	s.states[i] = RuleState{Name: r.SecurityRuleName(), Source: r.Source, Backend: hook, Also: also, KillFallback: killFallback}
	set(&s.hdr.Hook[hook], i)
	for _, h := range also {
		set(&s.hdr.Hook[h], i)
	}

	kr := &s.rules[i]
	monitor := r.Mode == policy.ModeMonitor
	if monitor {
		kr.Flags |= uint8(bpf.PolicyPolRuleFlagsPOL_MONITOR)
	}
	switch r.Action {
	case policy.ActionAudit:
		kr.Action = uint8(bpf.PolicyPolActionPOL_ACT_AUDIT)
	case policy.ActionDeny:
		kr.Action = uint8(bpf.PolicyPolActionPOL_ACT_DENY)
		switch {
		case killFallback:
			kr.Flags |= uint8(bpf.PolicyPolRuleFlagsPOL_KILL_FALLBACK)
			if !monitor {
				set(&s.hdr.Kill, i)
			}
		case !monitor && hook.canDeny():
			set(&s.hdr.Deny, i)
		}
	case policy.ActionKill:
		kr.Action = uint8(bpf.PolicyPolActionPOL_ACT_KILL)
		if !monitor {
			set(&s.hdr.Kill, i)
		}
	case policy.ActionSuppress:
		kr.Action = uint8(bpf.PolicyPolActionPOL_ACT_SUPPRESS)
		if !monitor {
			set(&s.hdr.Suppress, i) // no record: the process is muted (monitor: would_suppress)
		}
	case policy.ActionSignal:
		kr.Action = uint8(bpf.PolicyPolActionPOL_ACT_SIGNAL)
		sig := r.Signal
		if sig <= 0 || sig > 64 {
			return fmt.Errorf("signal %d: not a signal number", sig)
		}
		if sig == syscall.SIGKILL && !monitor {
			set(&s.hdr.Kill, i)
		}
		kr.Signal = uint32(sig)
		if !monitor {
			set(&s.hdr.Signal, i)
		}
	}
	if r.Rate.PerSecond > 0 {
		kr.IntervalNs = uint64(time.Second) / uint64(r.Rate.PerSecond)
		burst := max(r.Rate.Burst, 1)
		kr.BurstNs = uint64(burst-1) * kr.IntervalNs
	}

	if r.Workload.All() {
		set(&s.hdr.AllWorkloads, i)
	} else {
		s.workloads = append(s.workloads, ruleWorkload{rule: i, w: r.Workload})
	}
	if r.Binary.Empty() {
		set(&s.hdr.AnyBinary, i)
	} else if err := s.addBinaries(i, r.Binary, false, s.binaries()); err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	if !r.ExceptBinary.Empty() {
		set(&s.hdr.BinExcept, i)
		if err := s.addBinaries(i, r.ExceptBinary, true, s.binaries()); err != nil {
			return fmt.Errorf("except binary: %w", err)
		}
	}
	if r.ParentBinary.Empty() {
		set(&s.hdr.AnyParent, i)
	} else if err := s.addBinaries(i, r.ParentBinary, false, s.parents()); err != nil {
		return fmt.Errorf("parent binary: %w", err)
	}
	if err := s.addArgs(i, r.ArgsContain); err != nil {
		return err
	}
	if r.StdioNetworkSocket {
		set(&s.hdr.StdioSocket, i)
	}
	if len(r.Capabilities) == 0 {
		set(&s.hdr.AnyCap, i)
	}
	for _, c := range r.Capabilities {
		n := slices.Index(policy.Capabilities, c)
		if n < 0 || n >= len(s.hdr.Cap) {
			return fmt.Errorf("capability %q: unknown to the kernel side", c)
		}
		set(&s.hdr.Cap[n], i)
	}
	addIDs(i, r.UIDs, &s.hdr.AnyUid, s.uids)
	addIDs(i, r.EUIDs, &s.hdr.AnyEuid, s.euids)
	if r.Paths.Empty() {
		set(&s.hdr.AnyPath, i)
	} else if err := addPaths(i, r.Paths, s.pathExact, s.pathPrefix); err != nil {
		return fmt.Errorf("paths: %w", err)
	}
	if r.Event == policy.EventFile {
		ops := r.FileOps
		if ops == 0 {
			ops = policy.FileOpen
		}
		for op, bit := range fileOpBits {
			if ops&op != 0 {
				set(&s.hdr.FileOp[bit], i)
				ops &^= op
			}
		}
		if ops != 0 {
			return fmt.Errorf("file operations %#x: not evaluated in the kernel", uint32(ops))
		}
	}
	addIDs(i, r.ToUIDs, &s.hdr.AnyTouid, s.touids)
	if len(r.CIDRs) == 0 {
		set(&s.hdr.AnyAddr, i)
	}
	for _, p := range r.CIDRs {
		if !p.IsValid() {
			return fmt.Errorf("invalid CIDR %v", p)
		}
		p = p.Masked()
		m := s.cidr6
		if p.Addr().Is4() || (p.Addr().Is4In6() && p.Bits() >= 96) {
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			m = s.cidr4
		}
		b := m[p]
		set(&b, i)
		m[p] = b
	}
	if len(r.Ports) == 0 {
		set(&s.hdr.AnyPort, i)
	}
	for _, pr := range r.Ports {
		if pr.First > pr.Last {
			return fmt.Errorf("port range %d-%d is empty", pr.First, pr.Last)
		}
		for p := int(pr.First); p <= int(pr.Last); p++ {
			b := s.ports[uint16(p)]
			set(&b, i)
			s.ports[uint16(p)] = b
		}
	}
	switch r.Protocol {
	case "":
		set(&s.hdr.Tcp, i)
		set(&s.hdr.Udp, i)
	case "tcp":
		set(&s.hdr.Tcp, i)
	case "udp":
		set(&s.hdr.Udp, i)
	default:
		return fmt.Errorf("protocol %q: must be tcp, udp or empty", r.Protocol)
	}
	return nil
}

// addIDs adds the ids of one selector of rule i (uids, euids, toUIDs) to its map, or the rule
// to the selector's any bitmap when it names none.
func addIDs(i int, ids []uint32, any *bits, m map[uint32]bits) {
	if len(ids) == 0 {
		set(any, i)
	}
	for _, u := range ids {
		b := m[u]
		set(&b, i)
		m[u] = b
	}
}

// binMaps are the three maps of a binary selector kind (the process's own binary, or its
// parent's) and the header bitmap of the rules with suffixes.
type binMaps struct {
	exact, prefix, suffix map[string]binval
	suffixRules           *bits
}

func (s *state) binaries() binMaps {
	return binMaps{s.binExact, s.binPrefix, s.binSuffix, &s.hdr.BinSuffix}
}

func (s *state) parents() binMaps {
	return binMaps{s.parExact, s.parPrefix, s.parSuffix, &s.hdr.ParSuffix}
}

// addArgs adds the argument strings of rule i: the kernel looks for every string of the set
// in the command line once (POL_MAX_NEEDLES, each 2 to POL_NEEDLE_BYTES bytes).
func (s *state) addArgs(i int, args []string) error {
	if len(args) == 0 {
		return nil
	}
	set(&s.hdr.Args, i)
	for _, a := range args {
		if len(a) < 2 || len(a) > MaxArgBytes {
			return fmt.Errorf("argument string %q: the kernel matches strings of 2 to %d bytes", a, MaxArgBytes)
		}
		k := slices.Index(s.needles, a)
		if k < 0 {
			if len(s.needles) == MaxArgStrings {
				return fmt.Errorf("argument string %q: the set has more than %d distinct argument strings", a, MaxArgStrings)
			}
			s.needles = append(s.needles, a)
			s.needleRules = append(s.needleRules, bits{})
			k = len(s.needles) - 1
		}
		set(&s.needleRules[k], i)
	}
	return nil
}

// argsValue is the kernel's form of the set's argument strings (osec_pol_args[gen]).
func (s *state) argsValue() *bpf.PolicyPolArgs {
	v := &bpf.PolicyPolArgs{N: uint32(len(s.needles))}
	for k, a := range s.needles {
		nd := &v.Needle[k]
		copy(nd.Bytes[:], a)
		nd.Len = uint32(len(a))
		nd.Rules = s.needleRules[k]
		g := uint32(a[0]) | uint32(a[1])<<8
		v.Grams[g/64] |= 1 << (g % 64)
	}
	return v
}

var errNoPathHooks = errors.New("file operations unlink, rename, chmod, chown, link, mkdir and rmdir need the BPF LSM path hooks " +
	"(BPF LSM active and a kernel built with CONFIG_SECURITY_PATH), not available on this kernel; " +
	"there is no kill fallback: anything else sees the operation after it happened")

// fileOps are the operations of a file rule (none named: open).
func fileOps(r *policy.Rule) policy.FileOps {
	if r.FileOps == 0 {
		return policy.FileOpen
	}
	return r.FileOps
}

// fileHooks splits a file rule between lsm/file_open (open, read, write, create, O_TRUNC) and
// the path hooks (unlink, rename, chmod, chown, truncate(2), link, mkdir, rmdir); chooseHook
// chose lsm/file_open (BPF LSM is active). The path hooks need CONFIG_SECURITY_PATH; nothing
// else can stand in for them: a tracepoint sees the operation once it has happened.
func fileHooks(r *policy.Rule, chosen Hook, hooks map[Hook]bool) (Hook, []Hook, error) {
	ops := fileOps(r)
	open, path := ops&openOps, ops&pathOps
	if path&^policy.FileTruncate != 0 && !hooks[HookPathLSM] {
		return 0, nil, errNoPathHooks
	}
	switch {
	case open != 0 && path != 0 && hooks[HookPathLSM]:
		return chosen, []Hook{HookPathLSM}, nil
	case open != 0:
		return chosen, nil, nil
	}
	return HookPathLSM, nil, nil
}

// addBinaries adds the binary patterns of rule i to bm, as matches or as exceptions.
func (s *state) addBinaries(i int, m policy.Match, except bool, bm binMaps) error {
	put := func(mp map[string]binval, k string) {
		v := mp[k]
		if except {
			set(&v.Except, i)
		} else {
			set(&v.Match, i)
		}
		mp[k] = v
	}
	for _, p := range m.Exact {
		if !strings.HasPrefix(p, "/") || len(p) > MaxPathBytes {
			return fmt.Errorf("exact path %q: must be absolute and at most %d bytes", p, MaxPathBytes)
		}
		put(bm.exact, p)
	}
	for _, p := range m.Prefix {
		if !strings.HasPrefix(p, "/") || len(p) > MaxPathBytes {
			return fmt.Errorf("path prefix %q: must be absolute and at most %d bytes", p, MaxPathBytes)
		}
		put(bm.prefix, prefixKey(p))
	}
	for _, p := range m.Suffix {
		if p == "" || len(p) > MaxPathBytes {
			return fmt.Errorf("path suffix %q: must not be empty and at most %d bytes", p, MaxPathBytes)
		}
		put(bm.suffix, reverse(p))
		set(bm.suffixRules, i)
	}
	return nil
}

// reverse reverses a string's bytes: the suffix trie's keys (the kernel reverses the path).
func reverse(p string) string {
	b := []byte(p)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// prefixAncestors are the keys above k in the prefix trie: its prefixes ending in '/'.
func prefixAncestors(k string, fn func(string)) {
	for j := 0; j < len(k)-1; j++ {
		if k[j] == '/' {
			fn(k[:j+1])
		}
	}
}

// suffixAncestors are the keys above k in the suffix trie: all its proper prefixes (shorter
// suffixes of the path).
func suffixAncestors(k string, fn func(string)) {
	for j := 1; j < len(k); j++ {
		fn(k[:j])
	}
}

// closeBinaries adds to each key the rules of the keys above it (see closePaths).
func closeBinaries(m map[string]binval, ancestors func(string, func(string))) {
	own := make(map[string]binval, len(m))
	for k, v := range m {
		own[k] = v
	}
	for k := range m {
		v := m[k]
		ancestors(k, func(a string) {
			if av, ok := own[a]; ok {
				or(&v.Match, av.Match)
				or(&v.Except, av.Except)
			}
		})
		m[k] = v
	}
}

// prefixKey is the prefix trie's form of a prefix: with a trailing '/', so that /etc matches
// /etc and /etc/passwd but not /etcd; the root is "/".
func prefixKey(p string) string {
	p = strings.TrimRight(p, "/")
	return p + "/"
}

func addPaths(i int, m policy.Match, exact, prefix map[string]bits) error {
	for _, p := range m.Exact {
		if !strings.HasPrefix(p, "/") || len(p) > MaxPathBytes {
			return fmt.Errorf("exact path %q: must be absolute and at most %d bytes", p, MaxPathBytes)
		}
		b := exact[p]
		set(&b, i)
		exact[p] = b
	}
	for _, p := range m.Prefix {
		if !strings.HasPrefix(p, "/") || len(p) > MaxPathBytes {
			return fmt.Errorf("path prefix %q: must be absolute and at most %d bytes", p, MaxPathBytes)
		}
		k := prefixKey(p)
		b := prefix[k]
		set(&b, i)
		prefix[k] = b
	}
	return nil
}

// closePaths adds to each prefix the rules of the prefixes above it: the trie returns only the
// longest match, which must stand for every match.
func closePaths(m map[string]bits) {
	own := make(map[string]bits, len(m))
	for k, v := range m {
		own[k] = v
	}
	for k := range m {
		v := m[k]
		for j := 0; j < len(k)-1; j++ {
			if k[j] == '/' {
				if a, ok := own[k[:j+1]]; ok {
					or(&v, a)
				}
			}
		}
		m[k] = v
	}
}

func closeCIDRs(m map[netip.Prefix]bits) {
	own := make(map[netip.Prefix]bits, len(m))
	for k, v := range m {
		own[k] = v
	}
	for k := range m {
		v := m[k]
		for l := 0; l < k.Bits(); l++ {
			if a, ok := own[netip.PrefixFrom(k.Addr(), l).Masked()]; ok {
				or(&v, a)
			}
		}
		m[k] = v
	}
}

// pathKey is the kernel's key of a path: its bytes, zero-filled, and their length in bits.
func pathKey(p string) bpf.PolicyFileKey {
	var k bpf.PolicyFileKey
	n := copy(k.Data[:], p)
	k.Prefixlen = uint32(n * 8)
	return k
}
