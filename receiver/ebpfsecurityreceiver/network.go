package ebpfsecurityreceiver

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

// NetworkConfig configures the network sensor.
type NetworkConfig struct {
	// Enabled turns the network sensor on.
	Enabled bool `mapstructure:"enabled"`
	// Events are the operations reported: connect, accept, close, listen, send.
	Events []string `mapstructure:"events"`
	// IncludeCIDRs, when not empty, reports only events whose peer is in one of them (CIDRs or
	// single addresses, IPv4 or IPv6). Listen events have no peer and are not subject to it.
	IncludeCIDRs []string `mapstructure:"include_cidrs"`
	// ExcludeCIDRs drops events whose peer is in one of them.
	ExcludeCIDRs []string `mapstructure:"exclude_cidrs"`
	// IncludePorts, when not empty, reports only events on these service ports: the peer's port
	// for what the process opened (connect, send), its own for what it accepted or listens on.
	IncludePorts []int `mapstructure:"include_ports"`
	// ExcludePorts drops events on these service ports.
	ExcludePorts []int `mapstructure:"exclude_ports"`
	// Loopback reports events whose peer (for listen: the listening address) is a loopback
	// address.
	Loopback bool `mapstructure:"loopback"`
	// MaxSockets bounds the sockets whose owning process is remembered, and the (UDP socket,
	// destination) pairs already reported.
	MaxSockets int `mapstructure:"max_sockets"`
}

func defaultNetworkConfig() NetworkConfig {
	events := make([]string, len(sensor.NetworkOps))
	for i, op := range sensor.NetworkOps {
		events[i] = op.String()
	}
	return NetworkConfig{Events: events, Loopback: true, MaxSockets: sensor.DefaultMaxSockets}
}

func (c *NetworkConfig) validate(bad func(field, format string, args ...any)) {
	if c.Enabled && len(c.Events) == 0 {
		bad("network::events", "must name at least one of %s when the network sensor is enabled", networkOpNames())
	}
	for i, e := range c.Events {
		if _, ok := sensor.ParseNetworkOp(e); !ok {
			bad(fmt.Sprintf("network::events[%d]", i), "unknown event %q; must be one of %s", e, networkOpNames())
		}
	}
	for _, l := range []struct {
		field string
		cidrs []string
	}{{"network::include_cidrs", c.IncludeCIDRs}, {"network::exclude_cidrs", c.ExcludeCIDRs}} {
		if len(l.cidrs) > sensor.NetworkCIDRLimit {
			bad(l.field, "%d entries, at most %d", len(l.cidrs), sensor.NetworkCIDRLimit)
		}
		for i, v := range l.cidrs {
			if _, err := parseCIDR(v); err != nil {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "%v", err)
			}
		}
	}
	for _, l := range []struct {
		field string
		ports []int
	}{{"network::include_ports", c.IncludePorts}, {"network::exclude_ports", c.ExcludePorts}} {
		for i, p := range l.ports {
			if p < 1 || p > 65535 {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "must be between 1 and 65535; got %d", p)
			}
		}
	}
	if c.MaxSockets < sensor.MinMaxSockets || c.MaxSockets > sensor.MaxMaxSockets {
		bad("network::max_sockets", "must be between %d and %d; got %d", sensor.MinMaxSockets, sensor.MaxMaxSockets, c.MaxSockets)
	}
}

func networkOpNames() string {
	names := make([]string, len(sensor.NetworkOps))
	for i, op := range sensor.NetworkOps {
		names[i] = op.String()
	}
	return strings.Join(names, ", ")
}

// parseCIDR accepts a CIDR ("10.0.0.0/8", "fd00::/8") or a single address ("10.0.0.1"), and
// refuses a CIDR with bits set beyond its prefix length (10.1.2.3/8): that is a typo more often
// than not, and silently masking it would watch another network than the one written.
func parseCIDR(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", v)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %v", v, err)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set beyond the prefix length; did you mean %q?", v, p.Masked())
	}
	return p, nil
}

func (c *NetworkConfig) options() sensor.NetworkOptions {
	o := sensor.NetworkOptions{Enabled: c.Enabled, ExcludeLoopback: !c.Loopback, MaxSockets: uint32(c.MaxSockets)}
	for _, e := range c.Events {
		if op, ok := sensor.ParseNetworkOp(e); ok && !slices.Contains(o.Events, op) {
			o.Events = append(o.Events, op)
		}
	}
	for _, v := range c.IncludeCIDRs {
		if p, err := parseCIDR(v); err == nil {
			o.IncludeCIDRs = append(o.IncludeCIDRs, p)
		}
	}
	for _, v := range c.ExcludeCIDRs {
		if p, err := parseCIDR(v); err == nil {
			o.ExcludeCIDRs = append(o.ExcludeCIDRs, p)
		}
	}
	for _, p := range c.IncludePorts {
		o.IncludePorts = append(o.IncludePorts, uint16(p))
	}
	for _, p := range c.ExcludePorts {
		o.ExcludePorts = append(o.ExcludePorts, uint16(p))
	}
	return o
}

var networkEventNames = map[sensor.NetworkOp]string{
	sensor.NetConnect: s.EventNetworkConnect,
	sensor.NetAccept:  s.EventNetworkAccept,
	sensor.NetClose:   s.EventNetworkClose,
	sensor.NetListen:  s.EventNetworkListen,
	sensor.NetSend:    s.EventNetworkSend,
}

// handleNetwork decodes a network record and appends its event.
func (r *ebpfReceiver) handleNetwork(raw []byte, b *batch, m *mapper) error {
	var n sensor.Network
	if err := sensor.DecodeNetwork(raw, &n); err != nil {
		return err
	}
	name := networkEventNames[n.Op]
	key := ownerKey{n.TGID, n.Opened}
	var p *proctree.Process
	if n.Op == sensor.NetClose {
		p = r.netOwners.take(key)
	}
	if p == nil {
		if p = r.cache.Get(n.TGID); p != nil && !ownedBy(p, &n) {
			p = nil
		}
	}
	if p != nil && n.Protocol == unix.IPPROTO_TCP && (n.Op == sensor.NetAccept || (n.Op == sensor.NetConnect && n.Error == 0)) {
		r.netOwners.put(key, p, r.cfg.Network.MaxSockets)
	}
	lr := m.event(b, name, n.KTime, n.TGID, p, n.Comm)
	a := lr.Attributes()
	putNetwork(a, &n)
	lr.Body().SetStr(networkSummary(&n, p))
	r.emitted.inc(name)
	return nil
}

// networkOwners remembers the process image of each connection the receiver reported open
// (connect, accept), by the owner the kernel recorded for its socket: the process's tgid and
// when it was recorded, which the connection's close record repeats. A close often comes after
// its process exited (the kernel finishes the close, or the peer's FIN arrives later), when the
// process cache no longer holds it as live: the close still names it. Bounded by
// network::max_sockets, oldest first; each entry goes at its close. The reader goroutine owns it.
type networkOwners struct {
	m     map[ownerKey]*proctree.Process
	order []ownerKey // insertion order, for eviction; may hold keys already taken
}

type ownerKey struct {
	tgid   uint32
	opened uint64
}

func (o *networkOwners) put(k ownerKey, p *proctree.Process, max int) {
	if o.m == nil {
		o.m = make(map[ownerKey]*proctree.Process)
	}
	if _, ok := o.m[k]; !ok {
		o.order = append(o.order, k)
	}
	o.m[k] = p
	for len(o.m) > max && len(o.order) > 0 {
		delete(o.m, o.order[0])
		o.order = o.order[1:]
	}
	if len(o.order) > 2*max { // drop the keys already taken
		live := o.order[:0]
		for _, k := range o.order {
			if _, ok := o.m[k]; ok {
				live = append(live, k)
			}
		}
		o.order = live
	}
}

func (o *networkOwners) take(k ownerKey) *proctree.Process {
	p, ok := o.m[k]
	if ok {
		delete(o.m, k)
	}
	return p
}

// ownedBy tells whether the process image p is the one that owned the socket when the kernel
// recorded its owner: the same process (creation time, to the 10 ms of /proc for processes
// seeded from it), with an image that started before. An event reported long after (a close)
// whose owner has exec'd another program or exited meanwhile keeps the pid and task name the
// kernel recorded, but not another image's context.
func ownedBy(p *proctree.Process, n *sensor.Network) bool {
	const tick = 10_000_000
	return p.CreationTime/tick == n.ProcStart/tick && p.StartTime <= n.Opened
}

func putNetwork(a pcommon.Map, n *sensor.Network) {
	tcp := n.Protocol == unix.IPPROTO_TCP
	if tcp {
		a.PutStr(s.NetworkTransport, "tcp")
	} else {
		a.PutStr(s.NetworkTransport, "udp")
	}
	// The wire protocol: an IPv4-mapped address on an IPv6 socket is IPv4.
	addr := n.Remote.Addr()
	if n.Op == sensor.NetListen {
		addr = n.Local.Addr()
	}
	if addr.Is4() {
		a.PutStr(s.NetworkType, "ipv4")
	} else {
		a.PutStr(s.NetworkType, "ipv6")
	}
	service := n.Remote.Port()
	if !n.Outbound {
		service = n.Local.Port()
	}
	if service == 53 {
		a.PutStr(s.NetworkProtocolName, "dns")
	}
	a.PutInt(s.NetworkNamespace, int64(n.NetNS))

	if !tcp {
		if !n.Local.Addr().IsUnspecified() {
			a.PutStr(s.SourceAddress, n.Local.Addr().String())
		}
		if n.Local.Port() != 0 {
			a.PutInt(s.SourcePort, int64(n.Local.Port()))
		}
		a.PutStr(s.DestinationAddress, n.Remote.Addr().String())
		a.PutInt(s.DestinationPort, int64(n.Remote.Port()))
		a.PutStr(s.NetworkDirection, "outbound")
		if n.AtConnect {
			a.PutBool(s.NetworkSendAtConnect, true)
		}
		return
	}

	client, server := n.Local, n.Remote
	if !n.Outbound {
		client, server = n.Remote, n.Local
	}
	if n.Op != sensor.NetListen {
		a.PutStr(s.ClientAddress, client.Addr().String())
		if client.Port() != 0 {
			a.PutInt(s.ClientPort, int64(client.Port()))
		}
		if n.Outbound {
			a.PutStr(s.NetworkDirection, "outbound")
		} else {
			a.PutStr(s.NetworkDirection, "inbound")
		}
	}
	a.PutStr(s.ServerAddress, server.Addr().String())
	a.PutInt(s.ServerPort, int64(server.Port()))
	if n.OwnerIsListener {
		a.PutBool(s.NetworkOwnerIsListener, true)
	}
	switch n.Op {
	case sensor.NetConnect:
		if n.Error != 0 {
			a.PutStr(s.ErrorType, errnoName(n.Error))
			if n.BeforeSYN {
				a.PutBool(s.NetworkConnectBeforeSYN, true)
			}
		}
	case sensor.NetClose:
		a.PutInt(s.NetworkBytesSent, int64(n.BytesSent))
		a.PutInt(s.NetworkBytesReceived, int64(n.BytesReceived))
		if n.Established != 0 && n.KTime >= n.Established {
			a.PutInt(s.NetworkDuration, int64(n.KTime-n.Established))
		}
	}
}

// errnoName is the errno's symbolic name (ECONNREFUSED), or errno<N> for one unix does not name.
func errnoName(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return "errno" + strconv.Itoa(int(e))
}

// networkSummary is the record's body, e.g. "connect /usr/bin/curl (pid 42): 10.0.0.7:51234 ->
// 93.184.216.34:443 tcp, established".
func networkSummary(n *sensor.Network, p *proctree.Process) string {
	var b strings.Builder
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	switch {
	case p != nil && p.Image != nil && p.Image.Executable != "":
		b.WriteString(p.Image.Executable)
	case n.Comm != "":
		b.WriteString(n.Comm)
	default:
		b.WriteByte('?')
	}
	b.WriteString(" (pid ")
	b.WriteString(strconv.FormatUint(uint64(n.TGID), 10))
	b.WriteString("): ")
	transport := " tcp"
	if n.Protocol == unix.IPPROTO_UDP {
		transport = " udp"
	}
	switch n.Op {
	case sensor.NetListen:
		b.WriteString(n.Local.String())
		b.WriteString(transport)
		return b.String()
	case sensor.NetAccept:
		b.WriteString(n.Remote.String() + " -> " + n.Local.String())
	default:
		b.WriteString(n.Local.String() + " -> " + n.Remote.String())
	}
	b.WriteString(transport)
	switch n.Op {
	case sensor.NetConnect:
		if n.Error == 0 {
			b.WriteString(", established")
		} else {
			b.WriteString(", failed: " + errnoName(n.Error) + " (" + n.Error.Error() + ")")
		}
	case sensor.NetClose:
		fmt.Fprintf(&b, ", sent %d B, received %d B", n.BytesSent, n.BytesReceived)
		if n.Established != 0 && n.KTime >= n.Established {
			b.WriteString(", " + time.Duration(n.KTime-n.Established).Round(time.Millisecond).String())
		}
	}
	return b.String()
}
