package sensor

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/otelsec/otelsec/bpf"
)

// NetworkOp is a network record's operation.
type NetworkOp uint8

const (
	NetConnect = NetworkOp(bpf.NetworkNetOpNET_CONNECT)
	NetAccept  = NetworkOp(bpf.NetworkNetOpNET_ACCEPT)
	NetClose   = NetworkOp(bpf.NetworkNetOpNET_CLOSE)
	NetListen  = NetworkOp(bpf.NetworkNetOpNET_LISTEN)
	NetSend    = NetworkOp(bpf.NetworkNetOpNET_SEND)
)

// NetworkOps lists every operation, in the order of the documentation.
var NetworkOps = []NetworkOp{NetConnect, NetAccept, NetClose, NetListen, NetSend}

// String is the operation's name in configuration and in its event name (network.<name>).
func (o NetworkOp) String() string {
	switch o {
	case NetConnect:
		return "connect"
	case NetAccept:
		return "accept"
	case NetClose:
		return "close"
	case NetListen:
		return "listen"
	case NetSend:
		return "send"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ParseNetworkOp returns the operation called name ("connect", ...).
func ParseNetworkOp(name string) (NetworkOp, bool) {
	for _, o := range NetworkOps {
		if o.String() == name {
			return o, true
		}
	}
	return 0, false
}

// Limits of the network sensor's options.
const (
	// NetworkCIDRLimit bounds each CIDR list (each is one LPM trie per address family).
	NetworkCIDRLimit = 16384
	// DefaultMaxSockets sizes the socket-owner map when NetworkOptions.MaxSockets is 0.
	DefaultMaxSockets = 65536
	MinMaxSockets     = 1024
	MaxMaxSockets     = 1 << 24
)

// NetworkOptions configure the network sensor.
type NetworkOptions struct {
	Enabled bool
	// Events are the operations reported; empty means all.
	Events []NetworkOp
	// IncludeCIDRs, when not empty, restricts events to peers in one of them; ExcludeCIDRs
	// drops events whose peer is in one of them. Listen events have no peer.
	IncludeCIDRs, ExcludeCIDRs []netip.Prefix
	// IncludePorts, when not empty, restricts events to these service ports; ExcludePorts drops
	// events on these. The service port is the peer's for what the process opened (connect,
	// send) and the local one for what it accepted or listens on.
	IncludePorts, ExcludePorts []uint16
	// ExcludeLoopback drops events whose peer (for listen: the listening address) is a
	// loopback address.
	ExcludeLoopback bool
	// MaxSockets bounds the sockets whose owner is remembered and the (UDP socket,
	// destination) pairs already reported (0: DefaultMaxSockets).
	MaxSockets uint32

	fallbacks []string // set by the loader: preferred hooks the kernel refused
}

func (o *NetworkOptions) check() error {
	if n := len(o.IncludeCIDRs); n > NetworkCIDRLimit {
		return fmt.Errorf("%d include CIDRs, at most %d", n, NetworkCIDRLimit)
	}
	if n := len(o.ExcludeCIDRs); n > NetworkCIDRLimit {
		return fmt.Errorf("%d exclude CIDRs, at most %d", n, NetworkCIDRLimit)
	}
	for _, p := range slices.Concat(o.IncludeCIDRs, o.ExcludeCIDRs) {
		if !p.IsValid() {
			return fmt.Errorf("invalid prefix %v", p)
		}
	}
	for _, op := range o.Events {
		if !slices.Contains(NetworkOps, op) {
			return fmt.Errorf("unknown operation %d", op)
		}
	}
	if o.MaxSockets != 0 && (o.MaxSockets < MinMaxSockets || o.MaxSockets > MaxMaxSockets) {
		return fmt.Errorf("max sockets %d: must be between %d and %d", o.MaxSockets, MinMaxSockets, MaxMaxSockets)
	}
	return nil
}

// NetworkHooks are the hooks the network sensor uses, chosen from what the kernel offers.
type NetworkHooks struct {
	// State runs the TCP state machine (sock:inet_sock_set_state): tp_btf or raw_tp.
	State Hook
	// Accept reports accepts in the accepting process: fexit (inet_csk_accept), tracepoint
	// (the accept and accept4 syscalls), or "" (reported when the handshake completes and
	// attributed to the listening process).
	Accept Hook
	// Connect reads connect()'s return, for failures before any packet: fexit
	// (inet_stream_connect), tracepoint (the connect syscall), or "" (not reported).
	Connect Hook
	// UDP sees UDP sends: fentry (udp_sendmsg, udpv6_sendmsg: every send), cgroup
	// (sendmsg4/6: sends with an explicit destination), or "" (none).
	UDP Hook
	// UDPConnected sees connected UDP sockets when UDP is cgroup: tp_btf (sock_send_length,
	// after a send), cgroup (connect4/6: the destination at connect()), or "".
	UDPConnected Hook
}

func (h NetworkHooks) String() string {
	or := func(v Hook, none string) string {
		if v == "" {
			return none
		}
		return string(v)
	}
	return fmt.Sprintf("state=%s accept=%s connect=%s udp=%s udp_connected=%s", h.State,
		or(h.Accept, "handshake"), or(h.Connect, "none"), or(h.UDP, "none"), or(h.UDPConnected, "none"))
}

// fentry targets of the network sensor, by program.
var networkFexit = map[string]string{
	"osec_ac_fexit": "inet_csk_accept",
	"osec_cn_fexit": "inet_stream_connect",
	"osec_u4_fent":  "udp_sendmsg",
	"osec_u6_fent":  "udpv6_sendmsg",
}

// ChooseNetworkHooks picks the best hooks of each kind that caps offers. haveFunc tells
// whether a kernel function can be traced (nil: from the kernel's BTF).
func ChooseNetworkHooks(caps Capabilities, haveFunc func(name string) bool) (NetworkHooks, error) {
	var h NetworkHooks
	switch {
	case caps.TPBTF:
		h.State = HookTPBTF
	case caps.RawTracepoint:
		h.State = HookRawTP
	default:
		return h, errors.New("network sensor: the kernel supports neither tp_btf nor raw tracepoints")
	}
	if haveFunc == nil {
		haveFunc = kernelHasFunc
	}
	fexit := func(prog string) bool { return caps.Fentry && haveFunc(networkFexit[prog]) }
	switch {
	case fexit("osec_ac_fexit"):
		h.Accept = HookFexit
	case caps.SyscallTracepoints:
		h.Accept = HookTracepoint
	}
	switch {
	case fexit("osec_cn_fexit"):
		h.Connect = HookFexit
	case caps.SyscallTracepoints:
		h.Connect = HookTracepoint
	}
	cgroup := caps.CgroupSockAddr && caps.Cgroup2Path != ""
	switch {
	case fexit("osec_u4_fent") && fexit("osec_u6_fent"):
		h.UDP = HookFentry
	case cgroup:
		h.UDP = HookCgroup
		switch {
		case caps.SockSendLength && h.State == HookTPBTF:
			h.UDPConnected = HookTPBTF
		default:
			h.UDPConnected = HookCgroup
		}
	case caps.SockSendLength && h.State == HookTPBTF:
		h.UDPConnected = HookTPBTF
	}
	return h, nil
}

func kernelHasFunc(name string) bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	var fn *btf.Func
	return spec.TypeByName(name, &fn) == nil
}

// programs of the network sensor and where they attach.
type netProg struct {
	prog, event string
	hook        Hook
	point       string // tracepoint or function name; for cgroup programs, the attach type's name
}

func (h NetworkHooks) programs() []netProg {
	var ps []netProg
	if h.State == HookTPBTF {
		ps = append(ps, netProg{"osec_ns_btf", "network", HookTPBTF, "inet_sock_set_state"})
	} else {
		ps = append(ps, netProg{"osec_ns_raw", "network", HookRawTP, "inet_sock_set_state"})
	}
	switch h.Accept {
	case HookFexit:
		ps = append(ps, netProg{"osec_ac_fexit", "network.accept", HookFexit, "inet_csk_accept"})
	case HookTracepoint:
		ps = append(ps,
			netProg{"osec_ac4_exit", "network.accept", HookTracepoint, "syscalls/sys_exit_accept4"},
			netProg{"osec_ac_exit", "network.accept", HookTracepoint, "syscalls/sys_exit_accept"})
	}
	switch h.Connect {
	case HookFexit:
		ps = append(ps, netProg{"osec_cn_fexit", "network.connect", HookFexit, "inet_stream_connect"})
	case HookTracepoint:
		ps = append(ps,
			netProg{"osec_cn_enter", "network.connect", HookTracepoint, "syscalls/sys_enter_connect"},
			netProg{"osec_cn_exit", "network.connect", HookTracepoint, "syscalls/sys_exit_connect"})
	}
	switch h.UDP {
	case HookFentry:
		ps = append(ps,
			netProg{"osec_u4_fent", "network.send", HookFentry, "udp_sendmsg"},
			netProg{"osec_u6_fent", "network.send", HookFentry, "udpv6_sendmsg"})
	case HookCgroup:
		ps = append(ps,
			netProg{"osec_u4_cg", "network.send", HookCgroup, "sendmsg4"},
			netProg{"osec_u6_cg", "network.send", HookCgroup, "sendmsg6"})
	}
	switch h.UDPConnected {
	case HookTPBTF:
		ps = append(ps, netProg{"osec_usl_btf", "network.send", HookTPBTF, "sock_send_length"})
	case HookCgroup:
		ps = append(ps,
			netProg{"osec_uc4_cg", "network.send", HookCgroup, "connect4"},
			netProg{"osec_uc6_cg", "network.send", HookCgroup, "connect6"})
	}
	return ps
}

// loadNetwork loads the network sensor when it is enabled. When the kernel refuses a program
// of the chosen hooks (an fexit whose helper an older kernel lacks, a cgroup program that may
// not read the task there), it falls back one hook kind at a time and notes why
// (NetworkFallbacks).
func loadNetwork(s *Sensors, caps Capabilities) error {
	o := &s.opts.Network
	if !o.Enabled {
		return nil
	}
	if err := o.check(); err != nil {
		return fmt.Errorf("network sensor: %w", err)
	}
	for {
		hooks, err := ChooseNetworkHooks(caps, nil)
		if err != nil {
			return err
		}
		coll, progs, attachTypes, err := loadNetworkObject(s, o, hooks)
		if err != nil {
			next, ok := degradeNetwork(caps, hooks)
			if !ok {
				return err
			}
			msg := err.Error()
			if i := strings.IndexByte(msg, '\n'); i > 0 {
				msg = msg[:i]
			}
			o.fallbacks = append(o.fallbacks, fmt.Sprintf("hooks %s refused: %s", hooks, msg))
			caps = next
			continue
		}
		return attachNetwork(s, caps, coll, progs, attachTypes)
	}
}

// degradeNetwork returns the capabilities without the first hook kind of h that has a
// fallback, and false when h has none left.
func degradeNetwork(caps Capabilities, h NetworkHooks) (Capabilities, bool) {
	switch {
	case h.Accept == HookFexit || h.Connect == HookFexit || h.UDP == HookFentry:
		caps.Fentry = false
	case h.UDP == HookCgroup || h.UDPConnected == HookCgroup:
		caps.CgroupSockAddr = false
	case h.UDPConnected == HookTPBTF:
		caps.SockSendLength = false
	case h.Accept == HookTracepoint || h.Connect == HookTracepoint:
		caps.SyscallTracepoints = false
	case h.State == HookTPBTF && caps.RawTracepoint:
		caps.TPBTF = false
	default:
		return caps, false
	}
	return caps, true
}

// NetworkFallbacks says which preferred network hooks the kernel refused, and why.
func (s *Sensors) NetworkFallbacks() []string { return s.opts.Network.fallbacks }

func loadNetworkObject(s *Sensors, o *NetworkOptions, hooks NetworkHooks) (*ebpf.Collection, []netProg, map[string]ebpf.AttachType, error) {
	spec, err := bpf.LoadNetwork()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("network sensor: read BPF object: %w", err)
	}
	if err := configureNetwork(spec, o, hooks); err != nil {
		return nil, nil, nil, fmt.Errorf("network sensor: %w", err)
	}
	progs := hooks.programs()
	keep := make(map[string]bool, len(progs))
	attachTypes := make(map[string]ebpf.AttachType, len(progs))
	for _, p := range progs {
		keep[p.prog] = true
		attachTypes[p.prog] = spec.Programs[p.prog].AttachType
	}
	coll, err := s.loadObject("network", spec, keep)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := fillNetworkFilters(coll, o); err != nil {
		return nil, nil, nil, fmt.Errorf("network sensor: %w", err)
	}
	return coll, progs, attachTypes, nil
}

func attachNetwork(s *Sensors, caps Capabilities, coll *ebpf.Collection, progs []netProg, attachTypes map[string]ebpf.AttachType) error {
	for _, p := range progs {
		prog := coll.Programs[p.prog]
		var (
			l   link.Link
			err error
		)
		switch p.hook {
		case HookTPBTF, HookRawTP:
			if err := s.attachTracepoint(p.hook, p.event, prog, p.point); err != nil {
				return fmt.Errorf("network sensor: %w", err)
			}
			continue
		case HookFentry, HookFexit:
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		case HookTracepoint:
			group, name, _ := strings.Cut(p.point, "/")
			l, err = link.Tracepoint(group, name, prog, nil)
		case HookCgroup:
			l, err = link.AttachCgroup(link.CgroupOptions{Path: caps.Cgroup2Path, Attach: attachTypes[p.prog], Program: prog})
		}
		if err != nil {
			return fmt.Errorf("network sensor: attach %s/%s: %w", p.hook, p.point, err)
		}
		s.addLink(l, Attachment{Event: p.event, Hook: p.hook, Point: p.point})
	}
	return nil
}

// configureNetwork writes the load-time settings and sizes the maps.
func configureNetwork(spec *ebpf.CollectionSpec, o *NetworkOptions, h NetworkHooks) error {
	events := uint32(0)
	for _, op := range o.Events {
		events |= 1 << op
	}
	if events == 0 {
		for _, op := range NetworkOps {
			events |= 1 << op
		}
	}
	b := func(v bool) uint32 {
		if v {
			return 1
		}
		return 0
	}
	connect := uint32(0)
	switch h.Connect {
	case HookTracepoint:
		connect = 1
	case HookFexit:
		connect = 2
	}
	for _, v := range []struct {
		name string
		val  uint32
	}{
		{"net_events", events},
		{"net_loopback", b(!o.ExcludeLoopback)},
		{"net_cidr_include", b(len(o.IncludeCIDRs) > 0)},
		{"net_cidr_exclude", b(len(o.ExcludeCIDRs) > 0)},
		{"net_port_include", b(len(o.IncludePorts) > 0)},
		{"net_port_exclude", b(len(o.ExcludePorts) > 0)},
		{"net_accept_hooked", b(h.Accept != "")},
		{"net_connect_hook", connect},
	} {
		if err := setVar(spec, v.name, v.val); err != nil {
			return err
		}
	}
	size := o.MaxSockets
	if size == 0 {
		size = DefaultMaxSockets
	}
	spec.Maps["osec_net_sk"].MaxEntries = size
	spec.Maps["osec_net_udp"].MaxEntries = size
	in4, in6 := splitFamilies(o.IncludeCIDRs)
	ex4, ex6 := splitFamilies(o.ExcludeCIDRs)
	for name, n := range map[string]int{"osec_net_in4": len(in4), "osec_net_in6": len(in6), "osec_net_ex4": len(ex4), "osec_net_ex6": len(ex6)} {
		spec.Maps[name].MaxEntries = uint32(max(n, 1))
	}
	return nil
}

// splitFamilies separates IPv4 prefixes (including IPv4-mapped IPv6 ones) from IPv6 ones.
func splitFamilies(ps []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range ps {
		a := p.Addr()
		switch {
		case a.Is4():
			v4 = append(v4, p.Masked())
		case a.Is4In6() && p.Bits() >= 96:
			v4 = append(v4, netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked())
		default:
			v6 = append(v6, p.Masked())
		}
	}
	return v4, v6
}

// fillNetworkFilters writes the CIDR tries and the port bitmaps.
func fillNetworkFilters(coll *ebpf.Collection, o *NetworkOptions) error {
	one := uint8(1)
	for _, l := range []struct {
		prefixes []netip.Prefix
		m4, m6   string
	}{
		{o.IncludeCIDRs, "osec_net_in4", "osec_net_in6"},
		{o.ExcludeCIDRs, "osec_net_ex4", "osec_net_ex6"},
	} {
		v4, v6 := splitFamilies(l.prefixes)
		for _, p := range v4 {
			k := bpf.NetworkLpm4Key{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}
			if err := coll.Maps[l.m4].Put(&k, &one); err != nil {
				return fmt.Errorf("CIDR %s: %w", p, err)
			}
		}
		for _, p := range v6 {
			k := bpf.NetworkLpm6Key{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}
			if err := coll.Maps[l.m6].Put(&k, &one); err != nil {
				return fmt.Errorf("CIDR %s: %w", p, err)
			}
		}
	}
	for i, ports := range [][]uint16{o.IncludePorts, o.ExcludePorts} {
		if len(ports) == 0 {
			continue
		}
		var bits bpf.NetworkPortBits
		for _, p := range ports {
			bits.B[p>>3] |= 1 << (p & 7)
		}
		if err := coll.Maps["osec_net_ports"].Put(uint32(i), &bits); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	return nil
}

// NetworkStats are the network sensor's kernel counters of events it did not send, by reason.
// Each is also in Stats().Filtered[KindNetwork].
type NetworkStats struct {
	FilteredEvent    uint64 // operation not in the configured events
	FilteredLoopback uint64 // loopback peer, loopback excluded
	FilteredPort     uint64 // outside the include ports or in the exclude ports
	FilteredCIDR     uint64 // peer outside the include CIDRs or in the exclude CIDRs
	// Unowned: sockets opened before the sensor started (no owner to attribute them to).
	Unowned uint64
	// Unaccepted: inbound connections that ended before any process accepted them.
	Unaccepted uint64
}

// NetworkStats sums the network sensor's per-CPU counters. It fails when the sensor is not
// loaded.
func (s *Sensors) NetworkStats() (NetworkStats, error) {
	for _, coll := range s.colls {
		m, ok := coll.Maps["osec_net_stats"]
		if !ok {
			continue
		}
		var perCPU []bpf.NetworkNetStats
		if err := m.Lookup(uint32(0), &perCPU); err != nil {
			return NetworkStats{}, fmt.Errorf("read network stats: %w", err)
		}
		var sum [len(bpf.NetworkNetStats{}.N)]uint64
		for _, c := range perCPU {
			for i, v := range c.N {
				sum[i] += v
			}
		}
		return NetworkStats{
			FilteredEvent:    sum[bpf.NetworkNetStatNET_FILTER_EVENT],
			FilteredLoopback: sum[bpf.NetworkNetStatNET_FILTER_LOOPBACK],
			FilteredPort:     sum[bpf.NetworkNetStatNET_FILTER_PORT],
			FilteredCIDR:     sum[bpf.NetworkNetStatNET_FILTER_CIDR],
			Unowned:          sum[bpf.NetworkNetStatNET_UNOWNED],
			Unaccepted:       sum[bpf.NetworkNetStatNET_UNACCEPTED],
		}, nil
	}
	return NetworkStats{}, errors.New("network sensor is not loaded")
}

// Network is a decoded network record.
type Network struct {
	Header
	Op       NetworkOp
	Protocol uint8  // syscall.IPPROTO_TCP or IPPROTO_UDP
	Family   uint16 // the socket's: syscall.AF_INET or AF_INET6
	// Local and Remote are the socket's ends; IPv4-mapped addresses are unmapped. For listen,
	// Remote is invalid; for a UDP send, Remote is the destination.
	Local, Remote netip.AddrPort
	// Error is the errno a connect attempt failed with (0: established).
	Error syscall.Errno
	// Outbound: the owner opened the connection or sends; otherwise it accepted or listens.
	Outbound bool
	// OwnerIsListener: no accept hook, the owner is the process that listened.
	OwnerIsListener bool
	// AtConnect: a connected UDP socket's destination, seen at connect().
	AtConnect bool
	// BeforeSYN: the connect failed before any packet was sent.
	BeforeSYN bool
	// ProcStart is the owner process's creation (CLOCK_BOOTTIME ns); Opened when the owner was
	// recorded; Established when the handshake completed (0: unknown).
	ProcStart, Opened, Established uint64
	// BytesSent and BytesReceived are a closed connection's data bytes.
	BytesSent, BytesReceived uint64
	NetNS                    uint32
	Comm                     string // the owner's task name when it was recorded
}

// DecodeNetwork decodes a network record.
func DecodeNetwork(raw []byte, n *Network) error {
	r, err := view[bpf.NetworkNetEvent](raw)
	if err != nil {
		return err
	}
	flags := bpf.NetworkNetFlags(r.Flags)
	has := func(f bpf.NetworkNetFlags) bool { return flags&f != 0 }
	*n = Network{
		Header:          Header{Kind: Kind(r.Hdr.Kind), CPU: r.Hdr.Cpu, KTime: r.Hdr.Ktime, TGID: r.Hdr.Tgid, TID: r.Hdr.Tid},
		Op:              NetworkOp(r.Op),
		Protocol:        r.Protocol,
		Family:          r.Family,
		Local:           netip.AddrPortFrom(netip.AddrFrom16(r.Local).Unmap(), r.LocalPort),
		Remote:          netip.AddrPortFrom(netip.AddrFrom16(r.Remote).Unmap(), r.RemotePort),
		Error:           syscall.Errno(r.Error),
		Outbound:        has(bpf.NetworkNetFlagsNET_OUTBOUND),
		OwnerIsListener: has(bpf.NetworkNetFlagsNET_OWNER_LISTENER),
		AtConnect:       has(bpf.NetworkNetFlagsNET_AT_CONNECT),
		BeforeSYN:       has(bpf.NetworkNetFlagsNET_PRE_SYN),
		ProcStart:       r.ProcStart,
		Opened:          r.Opened,
		BytesSent:       r.BytesSent,
		BytesReceived:   r.BytesReceived,
		NetNS:           r.Netns,
		Comm:            cString(r.Comm[:]),
	}
	if has(bpf.NetworkNetFlagsNET_ESTABLISHED) {
		n.Established = r.Established
	}
	if n.Op == NetListen {
		n.Remote = netip.AddrPort{}
	}
	if !slices.Contains(NetworkOps, n.Op) {
		return fmt.Errorf("network record with unknown operation %d", r.Op)
	}
	return nil
}
