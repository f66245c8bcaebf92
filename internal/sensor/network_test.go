package sensor

// The network sensor on whatever kernel runs the tests (the host, or a Debian kernel under qemu
// via `make vmtest`): every hook set the kernel offers, each with real TCP and UDP traffic in a
// network namespace of the test's own (so only its events are in it, and its loopback is up
// even in a guest whose init never raised lo), every field of every record asserted.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/kernel"
)

// The test binary doubles as the helper processes of the network tests (see netHelper).
const netHelperEnv = "OTELSEC_NET_TEST_HELPER"

func init() {
	if os.Getenv(netHelperEnv) != "" {
		netHelper(os.Getenv(netHelperEnv))
	}
}

// netHelper runs one helper role and exits:
//   - accept: accepts one connection on fd 3, reads OTELSEC_NT_RECV bytes, writes
//     OTELSEC_NT_SEND bytes, then closes at once (OTELSEC_NT_CLOSE_FIRST=1) or after the
//     peer's EOF; prints {"pid","tid"}.
//   - connect: connects to OTELSEC_NT_ADDR and prints {"pid","tid","errno"}.
func netHelper(role string) {
	runtime.LockOSThread()
	start, _ := readStartTicks(os.Getpid())
	out := map[string]uint64{"pid": uint64(os.Getpid()), "tid": uint64(unix.Gettid()), "start": start}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "net helper:", role, err)
		os.Exit(2)
	}
	switch role {
	case "accept":
		recv, _ := strconv.Atoi(os.Getenv("OTELSEC_NT_RECV"))
		send, _ := strconv.Atoi(os.Getenv("OTELSEC_NT_SEND"))
		fd, _, err := unix.Accept(3)
		if err != nil {
			fail(err)
		}
		if err := readN(fd, recv); err != nil {
			fail(err)
		}
		if err := writeN(fd, send); err != nil {
			fail(err)
		}
		if os.Getenv("OTELSEC_NT_CLOSE_FIRST") != "1" {
			if err := readEOF(fd); err != nil {
				fail(err)
			}
		}
		unix.Close(fd)
	case "connect":
		ap, err := netip.ParseAddrPort(os.Getenv("OTELSEC_NT_ADDR"))
		if err != nil {
			fail(err)
		}
		fd, err := unix.Socket(family(ap.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fail(err)
		}
		err = unix.Connect(fd, sockaddr(ap))
		var errno unix.Errno
		errors.As(err, &errno)
		out["errno"] = uint64(errno)
	default:
		fail(errors.New("unknown role"))
	}
	json.NewEncoder(os.Stdout).Encode(out)
	os.Exit(0)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func localAddr(t *testing.T, fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	require.NoError(t, err)
	return addrPort(sa)
}

var pattern = []byte(strings.Repeat("otelsec-network-", 4096))

func writeN(fd, n int) error {
	for n > 0 {
		w, err := unix.Write(fd, pattern[:min(n, len(pattern))])
		if err != nil {
			return err
		}
		n -= w
	}
	return nil
}

func readN(fd, n int) error {
	buf := make([]byte, 65536)
	for n > 0 {
		r, err := unix.Read(fd, buf[:min(n, len(buf))])
		if err != nil {
			return err
		}
		if r == 0 {
			return fmt.Errorf("EOF with %d bytes still expected", n)
		}
		n -= r
	}
	return nil
}

func readEOF(fd int) error {
	buf := make([]byte, 4096)
	for {
		r, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		if r == 0 {
			return nil
		}
		return fmt.Errorf("%d bytes where EOF was expected", r)
	}
}

// netns is a network namespace of the test's own, entered by one locked OS thread: every socket
// that thread creates, and every process it starts, is in it.
type netns struct {
	inode uint32
	tid   int
	jobs  chan func()
	done  chan struct{}
}

// newNetns starts the thread, unshares its network namespace and brings its loopback up.
func newNetns(t *testing.T) *netns {
	n := &netns{jobs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer close(n.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		if err := loopbackUp(); err != nil {
			ready <- err
			return
		}
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st); err != nil {
			ready <- err
			return
		}
		n.inode, n.tid = uint32(st.Ino), unix.Gettid()
		ready <- nil
		for f := range n.jobs {
			f()
		}
	}()
	require.NoError(t, <-ready)
	t.Cleanup(func() { close(n.jobs); <-n.done })
	return n
}

// run runs f on the namespace's thread. f must not call t.FailNow (require): it reports errors.
func (n *netns) run(f func() error) error {
	errc := make(chan error, 1)
	n.jobs <- func() { errc <- f() }
	return <-errc
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

// helperResult is what a helper process printed.
type helperResult struct {
	PID, TID, Errno int
	Start           uint64 // /proc/PID/stat starttime
}

func startHelper(role string, env []string, extra []*os.File, cgroupFD int) (*exec.Cmd, *strings.Builder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append([]string{netHelperEnv + "=" + role}, env...)
	cmd.ExtraFiles = extra
	out := new(strings.Builder)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	// Started from the namespace's thread, which lives until the test's cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if cgroupFD >= 0 {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cgroupFD
	}
	return cmd, out, cmd.Start()
}

func finishHelper(cmd *exec.Cmd, out *strings.Builder) (helperResult, error) {
	var r helperResult
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("helper %v: %w", cmd.Env[0], err)
	}
	var m map[string]uint64
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil {
		return r, fmt.Errorf("helper output %q: %w", out.String(), err)
	}
	return helperResult{PID: int(m["pid"]), TID: int(m["tid"]), Errno: int(m["errno"]), Start: m["start"]}, nil
}

// tcpExchange is one TCP connection over loopback: the namespace's thread listens and connects;
// a helper process accepts on the listening socket it inherits, so the listener and the
// accepter are different processes.
type tcpExchange struct {
	family               int            // of the sockets
	server, client       netip.AddrPort // as the kernel reports them: IPv4-mapped addresses unmapped
	clientSent, srvSent  int
	clientClosesFirst    bool
	accepter             helperResult
	listenedAt, closedAt time.Time
}

func (n *netns) tcp(lo netip.Addr, clientSends, serverSends int, clientClosesFirst bool) (*tcpExchange, error) {
	x := &tcpExchange{family: family(lo), clientSent: clientSends, srvSent: serverSends, clientClosesFirst: clientClosesFirst}
	err := n.run(func() error {
		lfd, err := unix.Socket(family(lo), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		lf := os.NewFile(uintptr(lfd), "listener")
		defer lf.Close()
		if err := unix.Bind(lfd, sockaddr(netip.AddrPortFrom(lo, 0))); err != nil {
			return err
		}
		x.listenedAt = time.Now()
		if err := unix.Listen(lfd, 8); err != nil {
			return err
		}
		srv, err := unix.Getsockname(lfd)
		if err != nil {
			return err
		}
		x.server = addrPort(srv)
		close := "0"
		if !clientClosesFirst {
			close = "1"
		}
		cmd, out, err := startHelper("accept", []string{
			"OTELSEC_NT_RECV=" + strconv.Itoa(clientSends), "OTELSEC_NT_SEND=" + strconv.Itoa(serverSends),
			"OTELSEC_NT_CLOSE_FIRST=" + close}, []*os.File{lf}, -1)
		if err != nil {
			return err
		}
		finished := false
		defer func() {
			if !finished { // an error before the helper was done: it must not outlive the test
				cmd.Process.Kill()
				cmd.Wait()
			}
		}()
		cfd, err := unix.Socket(family(lo), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer func() {
			if !finished {
				unix.Close(cfd)
			}
		}()
		if err := unix.Connect(cfd, srv); err != nil {
			return fmt.Errorf("connect %s: %w", x.server, err)
		}
		sa, err := unix.Getsockname(cfd)
		if err != nil {
			return err
		}
		x.client = addrPort(sa)
		if err := writeN(cfd, clientSends); err != nil {
			return err
		}
		if err := readN(cfd, serverSends); err != nil {
			return err
		}
		if !clientClosesFirst {
			if err := readEOF(cfd); err != nil {
				return err
			}
		}
		unix.Close(cfd)
		finished = true
		x.accepter, err = finishHelper(cmd, out)
		x.closedAt = time.Now()
		return err
	})
	return x, err
}

// netCapture collects the network records of one namespace from the ring buffer.
type netCapture struct {
	t     *testing.T
	rd    *ringbuf.Reader
	netns uint32
	recs  []Network
}

func (c *netCapture) read(deadline time.Time) bool {
	c.rd.SetDeadline(deadline)
	rec, err := c.rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	require.NoError(c.t, err)
	k, err := PeekKind(rec.RawSample)
	require.NoError(c.t, err)
	if k != KindNetwork {
		return true
	}
	var n Network
	require.NoError(c.t, DecodeNetwork(rec.RawSample, &n))
	if n.NetNS == c.netns {
		c.recs = append(c.recs, n)
	}
	return true
}

// await waits for a record matching pred and returns every record matching it after a short
// drain (so that a duplicate would show).
func (c *netCapture) await(desc string, pred func(*Network) bool) []Network {
	c.t.Helper()
	deadline := time.Now().Add(ktRecordWait)
	for !slices.ContainsFunc(c.recs, func(n Network) bool { return pred(&n) }) {
		if !c.read(deadline) {
			c.t.Fatalf("no %s record within %s; the namespace's records: %s", desc, ktRecordWait, c.dump())
		}
	}
	c.drain(100 * time.Millisecond)
	return c.matching(pred)
}

func (c *netCapture) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	for c.read(deadline) {
	}
}

func (c *netCapture) matching(pred func(*Network) bool) []Network {
	var out []Network
	for i := range c.recs {
		if pred(&c.recs[i]) {
			out = append(out, c.recs[i])
		}
	}
	return out
}

func (c *netCapture) dump() string {
	var b strings.Builder
	for _, n := range c.recs {
		fmt.Fprintf(&b, "\n  %s pid=%d tid=%d %s -> %s err=%v out=%v listener=%v", n.Op, n.TGID, n.TID, n.Local, n.Remote, n.Error, n.Outbound, n.OwnerIsListener)
	}
	return b.String()
}

// netSelf is what every record owned by the test process must say about it.
type netSelf struct {
	pid       uint32
	comm      string
	startTick uint64 // /proc/self/stat starttime, clock ticks since boot
}

func readNetSelf(t *testing.T) netSelf {
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	return netSelf{pid: uint32(os.Getpid()), comm: strings.TrimSpace(string(comm)), startTick: procStartTicks(t, os.Getpid())}
}

func procStartTicks(t *testing.T, pid int) uint64 {
	v, err := readStartTicks(pid)
	require.NoError(t, err)
	return v
}

// readStartTicks reads a process's start time, in clock ticks (10 ms) since boot.
func readStartTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	return strconv.ParseUint(fields[19], 10, 64) // field 22 of proc(5)
}

// assertOwner checks the process context of a record: pid, thread, task name, process start.
func assertOwner(t *testing.T, n *Network, pid, tid int, comm string, startTick uint64) {
	t.Helper()
	assert.EqualValues(t, pid, n.TGID, "%s: pid", n.Op)
	assert.EqualValues(t, tid, n.TID, "%s: tid", n.Op)
	assert.Equal(t, comm, n.Comm, "%s: comm", n.Op)
	assert.Equal(t, startTick, n.ProcStart/10_000_000, "%s: process start (clock ticks)", n.Op)
	assert.Equal(t, KindNetwork, n.Kind)
	assert.LessOrEqual(t, n.Opened, n.KTime, "%s: opened after the event", n.Op)
}

func netLoad(t *testing.T, caps Capabilities, opts NetworkOptions) (*Sensors, *ringbuf.Reader) {
	t.Helper()
	opts.Enabled = true
	s, err := Load(Options{RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 64, Network: opts}, caps)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	return s, rd
}

func probeCaps(t *testing.T) Capabilities {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	require.NoError(t, f.Require())
	return CapabilitiesOf(f)
}

// networkVariants are the hook sets to test on this kernel: the one chosen from what it
// offers, and each fallback below it that it can also run.
func networkVariants(t *testing.T, caps Capabilities) []struct {
	name string
	caps Capabilities
} {
	type v = struct {
		name string
		caps Capabilities
	}
	vs := []v{{"probed", caps}}
	c := caps
	if c.Fentry {
		c.Fentry = false
		vs = append(vs, v{"no_fentry", c})
	}
	if c.SyscallTracepoints || c.SockSendLength {
		c.SyscallTracepoints, c.SockSendLength = false, false
		vs = append(vs, v{"no_tracefs_no_sock_send_length", c})
	}
	if c.TPBTF && c.RawTracepoint {
		c.TPBTF = false
		vs = append(vs, v{"raw_tp", c})
	}
	return vs
}

func TestNetwork(t *testing.T) {
	caps := probeCaps(t)
	self := readNetSelf(t)
	deny := newDenyCgroup(t)
	for _, v := range networkVariants(t, caps) {
		t.Run(v.name, func(t *testing.T) { testNetworkHooks(t, v.caps, self, deny) })
	}
}

func testNetworkHooks(t *testing.T, caps Capabilities, self netSelf, deny *denyCgroup) {
	hooks, err := ChooseNetworkHooks(caps, nil)
	require.NoError(t, err)
	s, rd := netLoad(t, caps, NetworkOptions{})
	var points []string
	for _, a := range s.Attachments() {
		if strings.HasPrefix(a.Event, "network") {
			points = append(points, a.Event+"="+a.String())
		}
	}
	t.Logf("network hooks: %s: %s", hooks, strings.Join(points, " "))
	require.Contains(t, points, "network="+string(hooks.State)+"/inet_sock_set_state")

	ns := newNetns(t)
	c := &netCapture{t: t, rd: rd, netns: ns.inode}

	for _, tc := range []struct {
		name              string
		lo                netip.Addr
		clientClosesFirst bool
	}{
		{"ipv4", netip.MustParseAddr("127.0.0.1"), true},
		{"ipv6", netip.MustParseAddr("::1"), false},
		// IPv6 sockets talking IPv4 (dual stack): reported with IPv4 addresses.
		{"ipv4_mapped", netip.MustParseAddr("::ffff:127.0.0.1"), true},
	} {
		t.Run("tcp_"+tc.name, func(t *testing.T) {
			c.t = t
			x, err := ns.tcp(tc.lo, 70001, 12345, tc.clientClosesFirst)
			require.NoError(t, err)
			t.Logf("%s: server %s, client %s, accepted by pid %d", tc.name, x.server, x.client, x.accepter.PID)
			checkTCPExchange(t, c, ns, hooks, self, x)
		})
	}

	t.Run("refused", func(t *testing.T) {
		c.t = t
		var target netip.AddrPort
		err := ns.run(func() error {
			// A port nobody listens on: bind one, then close it without listening.
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, sockaddr(netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
				return err
			}
			sa, _ := unix.Getsockname(fd)
			target = addrPort(sa)
			unix.Close(fd)
			cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(cfd)
			if err := unix.Connect(cfd, sockaddr(target)); !errors.Is(err, unix.ECONNREFUSED) {
				return fmt.Errorf("connect %s: %v, want ECONNREFUSED", target, err)
			}
			return nil
		})
		require.NoError(t, err)
		recs := c.await("refused connect", func(n *Network) bool { return n.Op == NetConnect && n.Remote == target })
		require.Len(t, recs, 1, c.dump())
		n := recs[0]
		assert.Equal(t, syscall.ECONNREFUSED, n.Error)
		assert.False(t, n.BeforeSYN, "the SYN went out; the RST came back")
		assert.True(t, n.Outbound)
		assert.Equal(t, netip.MustParseAddr("127.0.0.1"), n.Local.Addr())
		assert.NotZero(t, n.Local.Port(), "a SYN went out from a bound port")
		assert.NotEqual(t, target.Port(), n.Local.Port())
		assert.EqualValues(t, unix.AF_INET, n.Family)
		assert.EqualValues(t, unix.IPPROTO_TCP, n.Protocol)
		assert.Zero(t, n.Established)
		assertOwner(t, &n, os.Getpid(), ns.tid, self.comm, self.startTick)
		// A failed attempt has no close event.
		assert.Empty(t, c.matching(func(m *Network) bool { return m.Op == NetClose && m.Remote == target }))
	})

	t.Run("eperm", func(t *testing.T) {
		c.t = t
		if deny == nil {
			t.Skip("no cgroup2 to attach the denying connect4 program to")
		}
		target := netip.MustParseAddrPort("127.0.0.1:9")
		var r helperResult
		err := ns.run(func() error {
			cmd, out, err := startHelper("connect", []string{"OTELSEC_NT_ADDR=" + target.String()}, nil, deny.fd)
			if err != nil {
				return err
			}
			r, err = finishHelper(cmd, out)
			return err
		})
		require.NoError(t, err)
		require.Equal(t, int(unix.EPERM), r.Errno, "the cgroup program denies the connect")
		pred := func(n *Network) bool { return n.Op == NetConnect && n.TGID == uint32(r.PID) }
		if hooks.Connect == "" {
			c.drain(time.Second)
			assert.Empty(t, c.matching(pred), "no connect hook: failures before the SYN are not seen")
			return
		}
		recs := c.await("EPERM connect", pred)
		require.Len(t, recs, 1, c.dump())
		n := recs[0]
		assert.Equal(t, syscall.EPERM, n.Error)
		assert.True(t, n.BeforeSYN)
		assert.True(t, n.Outbound)
		assert.Equal(t, target, n.Remote)
		assert.Equal(t, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), n.Local, "never bound")
		assertOwner(t, &n, r.PID, r.TID, self.comm, r.Start)
	})

	t.Run("udp", func(t *testing.T) {
		c.t = t
		checkUDP(t, c, ns, hooks, self)
	})
}

func checkTCPExchange(t *testing.T, c *netCapture, ns *netns, hooks NetworkHooks, self netSelf, x *tcpExchange) {
	pid, tid := os.Getpid(), ns.tid
	fam := uint16(x.family)

	listen := c.await("listen", func(n *Network) bool { return n.Op == NetListen && n.Local == x.server })
	require.Len(t, listen, 1, c.dump())
	l := listen[0]
	assertOwner(t, &l, pid, tid, self.comm, self.startTick)
	assert.False(t, l.Remote.IsValid())
	assert.False(t, l.Outbound)
	assert.Equal(t, fam, l.Family)
	assert.EqualValues(t, unix.IPPROTO_TCP, l.Protocol)
	assert.Zero(t, l.Error)

	connect := c.await("connect", func(n *Network) bool { return n.Op == NetConnect && n.Local == x.client })
	require.Len(t, connect, 1, c.dump())
	cn := connect[0]
	assertOwner(t, &cn, pid, tid, self.comm, self.startTick)
	assert.Equal(t, x.server, cn.Remote)
	assert.Zero(t, cn.Error)
	assert.True(t, cn.Outbound)
	assert.False(t, cn.BeforeSYN)
	assert.Equal(t, fam, cn.Family)
	assert.EqualValues(t, unix.IPPROTO_TCP, cn.Protocol)
	assert.NotZero(t, cn.Established)
	assert.LessOrEqual(t, cn.Opened, cn.Established)
	assert.Equal(t, cn.Established, cn.KTime, "connect is reported when the handshake completes")

	accept := c.await("accept", func(n *Network) bool { return n.Op == NetAccept && n.Remote == x.client })
	require.Len(t, accept, 1, c.dump())
	a := accept[0]
	assert.Equal(t, x.server, a.Local)
	assert.False(t, a.Outbound)
	assert.Equal(t, fam, a.Family)
	assert.EqualValues(t, unix.IPPROTO_TCP, a.Protocol)
	assert.NotZero(t, a.Established)
	assert.LessOrEqual(t, a.Established, a.KTime)
	if hooks.Accept != "" {
		// The accepting process, not the one that listened.
		assertOwner(t, &a, x.accepter.PID, x.accepter.TID, self.comm, x.accepter.Start)
		assert.False(t, a.OwnerIsListener)
	} else {
		assertOwner(t, &a, pid, tid, self.comm, self.startTick)
		assert.True(t, a.OwnerIsListener)
		assert.Equal(t, a.Established, a.KTime, "reported when the handshake completes")
	}

	clientClose := c.await("client close", func(n *Network) bool { return n.Op == NetClose && n.Local == x.client })
	require.Len(t, clientClose, 1, c.dump())
	cc := clientClose[0]
	assertOwner(t, &cc, pid, tid, self.comm, self.startTick)
	assert.Equal(t, x.server, cc.Remote)
	assert.True(t, cc.Outbound)
	assert.EqualValues(t, x.clientSent, cc.BytesSent)
	assert.EqualValues(t, x.srvSent, cc.BytesReceived)
	assert.Equal(t, cn.Established, cc.Established)
	assert.Equal(t, cn.Opened, cc.Opened)
	assert.Greater(t, cc.KTime, cc.Established)
	assert.Less(t, time.Duration(cc.KTime-cc.Established), time.Since(x.listenedAt)+time.Second, "duration")

	serverClose := c.await("server close", func(n *Network) bool { return n.Op == NetClose && n.Remote == x.client })
	require.Len(t, serverClose, 1, c.dump())
	sc := serverClose[0]
	assert.Equal(t, x.server, sc.Local)
	assert.False(t, sc.Outbound)
	assert.EqualValues(t, x.srvSent, sc.BytesSent)
	assert.EqualValues(t, x.clientSent, sc.BytesReceived)
	assert.Equal(t, a.Established, sc.Established)
	assert.Greater(t, sc.KTime, sc.Established)
	if hooks.Accept != "" {
		assertOwner(t, &sc, x.accepter.PID, x.accepter.TID, self.comm, x.accepter.Start)
		assert.False(t, sc.OwnerIsListener)
	} else {
		assertOwner(t, &sc, pid, tid, self.comm, self.startTick)
		assert.True(t, sc.OwnerIsListener)
	}
	for _, n := range []Network{l, cn, a, cc, sc} {
		assert.Equal(t, ns.inode, n.NetNS)
	}
}

// The UDP servers on port 53 and what was sent to them.
var (
	dns4  = netip.MustParseAddrPort("127.0.0.1:53")
	dns4b = netip.MustParseAddrPort("127.0.0.2:53")
	dns6  = netip.MustParseAddrPort("[::1]:53")
)

// udpTraffic are the local ends of the sockets of one run of udp.
type udpTraffic struct {
	unconnected, connected, v6 netip.AddrPort
}

// udp sends DNS-shaped datagrams to UDP servers on port 53 of both loopback addresses: from
// one unconnected socket twice to the same destination, then to a second destination; from a
// connected socket twice; and from an IPv6 socket.
func (n *netns) udp() (udpTraffic, error) {
	var u udpTraffic
	err := n.run(func() error {
		var servers []int
		defer func() {
			for _, fd := range servers {
				unix.Close(fd)
			}
		}()
		for _, ap := range []netip.AddrPort{dns4, dns4b, dns6} {
			fd, err := unix.Socket(family(ap.Addr()), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			servers = append(servers, fd)
			if err := unix.Bind(fd, sockaddr(ap)); err != nil {
				return fmt.Errorf("bind %s: %w", ap, err)
			}
		}
		query := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
		u1, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(u1)
		for _, to := range []netip.AddrPort{dns4, dns4, dns4b} {
			if err := unix.Sendto(u1, query, 0, sockaddr(to)); err != nil {
				return fmt.Errorf("sendto %s: %w", to, err)
			}
		}
		sa, _ := unix.Getsockname(u1)
		u.unconnected = addrPort(sa)
		u2, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(u2)
		if err := unix.Connect(u2, sockaddr(dns4)); err != nil {
			return err
		}
		for range 2 {
			if _, err := unix.Write(u2, query); err != nil {
				return err
			}
		}
		sa, _ = unix.Getsockname(u2)
		u.connected = addrPort(sa)
		u3, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(u3)
		if err := unix.Sendto(u3, query, 0, sockaddr(dns6)); err != nil {
			return err
		}
		sa, _ = unix.Getsockname(u3)
		u.v6 = addrPort(sa)
		// Every datagram arrived.
		buf := make([]byte, 512)
		for i, want := range []int{4, 1, 1} {
			for range want {
				if _, _, err := unix.Recvfrom(servers[i], buf, unix.MSG_DONTWAIT); err != nil {
					return fmt.Errorf("server %d: %w", i, err)
				}
			}
		}
		return nil
	})
	return u, err
}

// checkUDP runs udp and checks its events: one per socket and destination.
func checkUDP(t *testing.T, c *netCapture, ns *netns, hooks NetworkHooks, self netSelf) {
	u, err := ns.udp()
	require.NoError(t, err)
	unconnected, connected, v6 := u.unconnected, u.connected, u.v6
	sendFrom := func(local, to netip.AddrPort) func(*Network) bool {
		return func(n *Network) bool { return n.Op == NetSend && n.Local.Port() == local.Port() && n.Remote == to }
	}
	check := func(desc string, local, to netip.AddrPort, atConnect bool) {
		recs := c.await(desc, sendFrom(local, to))
		require.Len(t, recs, 1, "%s: one event per socket and destination%s", desc, c.dump())
		n := recs[0]
		assertOwner(t, &n, os.Getpid(), ns.tid, self.comm, self.startTick)
		assert.EqualValues(t, unix.IPPROTO_UDP, n.Protocol, desc)
		assert.True(t, n.Outbound, desc)
		assert.Equal(t, atConnect, n.AtConnect, desc)
		assert.Zero(t, n.Error, desc)
		assert.Zero(t, n.BytesSent+n.BytesReceived, desc)
		assert.Equal(t, ns.inode, n.NetNS, desc)
		// The sender's address: unbound sockets (the usual case) have none until routing
		// picks one per packet; a connected socket's is set.
		if local.Addr().IsUnspecified() {
			assert.True(t, n.Local.Addr().IsUnspecified(), "%s: local %s", desc, n.Local)
		} else {
			assert.Equal(t, local, n.Local, desc)
		}
	}
	check("unconnected send to 127.0.0.1:53", unconnected, dns4, false)
	check("unconnected send to 127.0.0.2:53", unconnected, dns4b, false)
	atConnect := hooks.UDP == HookCgroup && hooks.UDPConnected == HookCgroup
	if atConnect {
		// Seen at connect(), before the kernel bound the socket to a port.
		connected = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	check("connected send", connected, dns4, atConnect)
	check("IPv6 send", v6, dns6, false)
}

// denyCgroup is a cgroup of the test's own whose connect4/connect6 programs refuse every
// connect with EPERM, as a local network policy would.
type denyCgroup struct {
	fd int
}

func newDenyCgroup(t *testing.T) *denyCgroup {
	mnt, _ := cgroup2Mount(t)
	if mnt == "" {
		return nil
	}
	dir := filepath.Join(mnt, fmt.Sprintf("otelsec-nt-deny-%d", os.Getpid()))
	require.NoError(t, os.Mkdir(dir, 0o755))
	t.Cleanup(func() { os.Remove(dir) })
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	for _, at := range []ebpf.AttachType{ebpf.AttachCGroupInet4Connect, ebpf.AttachCGroupInet6Connect} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "osectest_deny", Type: ebpf.CGroupSockAddr, AttachType: at, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		require.NoError(t, err)
		t.Cleanup(func() { prog.Close() })
		l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: at, Program: prog})
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
	}
	return &denyCgroup{fd: fd}
}

// TestNetworkConnectTimeout: a SYN nobody answers. The listener's accept queue is full (backlog
// 0, one connection already waiting), so the kernel drops further SYNs; with TCP_SYNCNT 1 the
// connect gives up after about 3 s with ETIMEDOUT. The connection left unaccepted is counted
// when the listener closes.
func TestNetworkConnectTimeout(t *testing.T) {
	caps := probeCaps(t)
	hooks, err := ChooseNetworkHooks(caps, nil)
	require.NoError(t, err)
	s, rd := netLoad(t, caps, NetworkOptions{})
	ns := newNetns(t)
	c := &netCapture{t: t, rd: rd, netns: ns.inode}
	self := readNetSelf(t)
	before, err := s.NetworkStats()
	require.NoError(t, err)

	var server netip.AddrPort
	var took time.Duration
	err = ns.run(func() error {
		lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(lfd)
		if err := unix.Bind(lfd, sockaddr(netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
			return err
		}
		if err := unix.Listen(lfd, 0); err != nil {
			return err
		}
		sa, _ := unix.Getsockname(lfd)
		server = addrPort(sa)
		first, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(first)
		if err := unix.Connect(first, sockaddr(server)); err != nil {
			return fmt.Errorf("first connect: %w", err)
		}
		// Its close resets it (linger 0): a graceful close can leave it in FIN_WAIT2 on the
		// keepalive timer for tcp_fin_timeout (60 s) when the ACK of its FIN is processed from
		// the socket's backlog, which made this test wait past its deadline on 6.1 once.
		if err := unix.SetsockoptLinger(first, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
			return err
		}
		second, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(second)
		if err := unix.SetsockoptInt(second, unix.IPPROTO_TCP, unix.TCP_SYNCNT, 1); err != nil {
			return err
		}
		start := time.Now()
		err = unix.Connect(second, sockaddr(server))
		took = time.Since(start)
		if !errors.Is(err, unix.ETIMEDOUT) {
			return fmt.Errorf("second connect: %v after %s, want ETIMEDOUT", err, took)
		}
		return nil
	})
	require.NoError(t, err)
	t.Logf("connect timed out after %s", took.Round(time.Millisecond))
	recs := c.await("timed-out connect", func(n *Network) bool { return n.Op == NetConnect && n.Error != 0 })
	require.Len(t, recs, 1, c.dump())
	n := recs[0]
	assert.Equal(t, syscall.ETIMEDOUT, n.Error)
	assert.Equal(t, server, n.Remote)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), n.Local.Addr())
	assert.NotZero(t, n.Local.Port())
	assert.False(t, n.BeforeSYN)
	assert.True(t, n.Outbound)
	assert.Zero(t, n.Established)
	assert.InDelta(t, float64(took), float64(n.KTime-n.Opened), float64(500*time.Millisecond), "from the SYN to the give-up")
	assertOwner(t, &n, os.Getpid(), ns.tid, self.comm, self.startTick)

	// The listener closed with the first connection still in its queue: nobody accepted it.
	c.await("first connection's client close", func(n *Network) bool { return n.Op == NetClose && n.Remote == server })
	after, err := s.NetworkStats()
	require.NoError(t, err)
	if hooks.Accept != "" {
		assert.GreaterOrEqual(t, after.Unaccepted-before.Unaccepted, uint64(1), "unaccepted connections are counted")
		assert.Empty(t, c.matching(func(n *Network) bool { return n.Op == NetAccept || (n.Op == NetClose && !n.Outbound) }), c.dump())
	}
}

// TestNetworkUnowned: a connection opened before the sensor has no owner to attribute its close
// to: it is not reported, and it is counted.
func TestNetworkUnowned(t *testing.T) {
	caps := probeCaps(t)
	ns := newNetns(t)
	var server netip.AddrPort
	fds := make([]int, 0, 3)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	require.NoError(t, ns.run(func() error {
		lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		fds = append(fds, lfd)
		if err := unix.Bind(lfd, sockaddr(netip.MustParseAddrPort("127.0.0.1:0"))); err != nil {
			return err
		}
		if err := unix.Listen(lfd, 1); err != nil {
			return err
		}
		sa, _ := unix.Getsockname(lfd)
		server = addrPort(sa)
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		fds = append(fds, cfd)
		if err := unix.Connect(cfd, sockaddr(server)); err != nil {
			return err
		}
		afd, _, err := unix.Accept(lfd)
		fds = append(fds, afd)
		return err
	}))

	s, rd := netLoad(t, caps, NetworkOptions{})
	c := &netCapture{t: t, rd: rd, netns: ns.inode}
	before, err := s.NetworkStats()
	require.NoError(t, err)
	for _, fd := range fds {
		unix.Close(fd)
	}
	fds = nil
	c.drain(time.Second)
	after, err := s.NetworkStats()
	require.NoError(t, err)
	assert.Empty(t, c.recs, "no event for a connection the sensor did not see open: %s", c.dump())
	assert.GreaterOrEqual(t, after.Unowned-before.Unowned, uint64(2), "both ends' closes are counted")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, st.Filtered[KindNetwork], after.Unowned-before.Unowned)
}

// TestNetworkFilters: events outside the in-kernel filters produce no record, and the kernel
// counts each by reason. Each case runs a TCP exchange over IPv4 (listen, connect, accept, two
// closes) and over IPv6, and the UDP sends of udp (four events: 127.0.0.1:53 from two sockets,
// 127.0.0.2:53, [::1]:53). The counters are machine-wide, so on a busy host other
// traffic may add to them: they must grow by at least what this traffic should add.
func TestNetworkFilters(t *testing.T) {
	caps := probeCaps(t)
	v4, v6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	type counts struct{ event, loopback, port, cidr uint64 }
	for _, tc := range []struct {
		name string
		opts NetworkOptions
		// which TCP events pass, per family, and which UDP destinations
		tcp4, tcp6 []NetworkOp
		udp        []netip.AddrPort
		filtered   counts
	}{
		{
			name: "exclude_cidrs",
			opts: NetworkOptions{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			// listen has no peer: the CIDR lists do not apply to it
			tcp4: []NetworkOp{NetListen}, tcp6: []NetworkOp{NetListen, NetConnect, NetAccept, NetClose},
			udp:      []netip.AddrPort{dns6},
			filtered: counts{cidr: 4 + 3},
		},
		{
			name: "include_cidrs",
			opts: NetworkOptions{IncludeCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("::1/128")}},
			tcp4: []NetworkOp{NetListen}, tcp6: []NetworkOp{NetListen, NetConnect, NetAccept, NetClose},
			udp:      []netip.AddrPort{dns4b, dns6},
			filtered: counts{cidr: 4 + 2},
		},
		{
			name: "include_ports",
			opts: NetworkOptions{IncludePorts: []uint16{53}},
			udp:  []netip.AddrPort{dns4, dns4b, dns6}, filtered: counts{port: 5 + 5},
		},
		{
			name: "exclude_ports",
			opts: NetworkOptions{ExcludePorts: []uint16{53, 54}},
			tcp4: []NetworkOp{NetListen, NetConnect, NetAccept, NetClose}, tcp6: []NetworkOp{NetListen, NetConnect, NetAccept, NetClose},
			filtered: counts{port: 4},
		},
		{
			name: "exclude_loopback",
			opts: NetworkOptions{ExcludeLoopback: true},
			// listen is filtered by its own (loopback) address
			filtered: counts{loopback: 5 + 5 + 4},
		},
		{
			name: "events",
			opts: NetworkOptions{Events: []NetworkOp{NetClose, NetSend}},
			tcp4: []NetworkOp{NetClose}, tcp6: []NetworkOp{NetClose},
			udp:      []netip.AddrPort{dns4, dns4b, dns6},
			filtered: counts{event: 3 + 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rd := netLoad(t, caps, tc.opts)
			ns := newNetns(t)
			c := &netCapture{t: t, rd: rd, netns: ns.inode}
			before, err := s.NetworkStats()
			require.NoError(t, err)
			st0, err := s.Stats()
			require.NoError(t, err)

			x4, err := ns.tcp(v4, 1000, 2000, true)
			require.NoError(t, err)
			x6, err := ns.tcp(v6, 1000, 2000, true)
			require.NoError(t, err)
			u, err := ns.udp()
			require.NoError(t, err)
			// The last event every case reports, or a second to let filtered ones be counted.
			c.drain(time.Second)

			count := func(x *tcpExchange) map[NetworkOp]int {
				m := map[NetworkOp]int{}
				for _, n := range c.matching(func(n *Network) bool {
					return n.Protocol == unix.IPPROTO_TCP && (n.Local == x.server || n.Local == x.client)
				}) {
					m[n.Op]++
				}
				return m
			}
			want := func(ops []NetworkOp) map[NetworkOp]int {
				m := map[NetworkOp]int{}
				for _, op := range ops {
					m[op]++
					if op == NetClose {
						m[op]++ // both ends
					}
				}
				return m
			}
			assert.Equal(t, want(tc.tcp4), count(x4), "IPv4 TCP events that passed: %s", c.dump())
			assert.Equal(t, want(tc.tcp6), count(x6), "IPv6 TCP events that passed: %s", c.dump())
			var dests []netip.AddrPort
			for _, n := range c.matching(func(n *Network) bool { return n.Op == NetSend }) {
				if !slices.Contains(dests, n.Remote) {
					dests = append(dests, n.Remote)
				}
			}
			slices.SortFunc(dests, func(a, b netip.AddrPort) int { return a.Compare(b) })
			wantDests := slices.Clone(tc.udp)
			slices.SortFunc(wantDests, func(a, b netip.AddrPort) int { return a.Compare(b) })
			assert.Equal(t, wantDests, dests, "UDP destinations that passed")
			_ = u

			after, err := s.NetworkStats()
			require.NoError(t, err)
			st1, err := s.Stats()
			require.NoError(t, err)
			got := counts{after.FilteredEvent - before.FilteredEvent, after.FilteredLoopback - before.FilteredLoopback,
				after.FilteredPort - before.FilteredPort, after.FilteredCIDR - before.FilteredCIDR}
			t.Logf("filtered by the kernel: %+v (want at least %+v)", got, tc.filtered)
			assert.GreaterOrEqual(t, got.event, tc.filtered.event, "event mask")
			assert.GreaterOrEqual(t, got.loopback, tc.filtered.loopback, "loopback")
			assert.GreaterOrEqual(t, got.port, tc.filtered.port, "ports")
			assert.GreaterOrEqual(t, got.cidr, tc.filtered.cidr, "CIDRs")
			total := tc.filtered.event + tc.filtered.loopback + tc.filtered.port + tc.filtered.cidr
			assert.GreaterOrEqual(t, st1.Filtered[KindNetwork]-st0.Filtered[KindNetwork], total, "osec_stats.filtered[network]")
		})
	}
}

func TestChooseNetworkHooks(t *testing.T) {
	all := func(string) bool { return true }
	none := func(string) bool { return false }
	host := Capabilities{TPBTF: true, RawTracepoint: true, SyscallTracepoints: true, Cgroup2Path: "/sys/fs/cgroup", CgroupSockAddr: true, SockSendLength: true}
	for _, tc := range []struct {
		name string
		caps Capabilities
		have func(string) bool
		want NetworkHooks
	}{
		{"fentry", func() Capabilities { c := host; c.Fentry = true; return c }(), all,
			NetworkHooks{State: HookTPBTF, Accept: HookFexit, Connect: HookFexit, UDP: HookFentry}},
		{"fentry without the functions", func() Capabilities { c := host; c.Fentry = true; return c }(), none,
			NetworkHooks{State: HookTPBTF, Accept: HookTracepoint, Connect: HookTracepoint, UDP: HookCgroup, UDPConnected: HookTPBTF}},
		{"no fentry", host, all,
			NetworkHooks{State: HookTPBTF, Accept: HookTracepoint, Connect: HookTracepoint, UDP: HookCgroup, UDPConnected: HookTPBTF}},
		{"no sock_send_length", func() Capabilities { c := host; c.SockSendLength = false; return c }(), all,
			NetworkHooks{State: HookTPBTF, Accept: HookTracepoint, Connect: HookTracepoint, UDP: HookCgroup, UDPConnected: HookCgroup}},
		{"no tracefs", func() Capabilities { c := host; c.SyscallTracepoints = false; return c }(), all,
			NetworkHooks{State: HookTPBTF, UDP: HookCgroup, UDPConnected: HookTPBTF}},
		{"raw_tp", func() Capabilities { c := host; c.TPBTF = false; return c }(), all,
			NetworkHooks{State: HookRawTP, Accept: HookTracepoint, Connect: HookTracepoint, UDP: HookCgroup, UDPConnected: HookCgroup}},
		{"no cgroup2", func() Capabilities { c := host; c.Cgroup2Path = ""; return c }(), all,
			NetworkHooks{State: HookTPBTF, Accept: HookTracepoint, Connect: HookTracepoint, UDPConnected: HookTPBTF}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ChooseNetworkHooks(tc.caps, tc.have)
			require.NoError(t, err)
			assert.Equal(t, tc.want, h)
		})
	}
	_, err := ChooseNetworkHooks(Capabilities{}, all)
	require.ErrorContains(t, err, "neither tp_btf nor raw tracepoints")
}

func TestNetworkOptionsCheck(t *testing.T) {
	many := make([]netip.Prefix, NetworkCIDRLimit+1)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	}
	for _, tc := range []struct {
		opts NetworkOptions
		err  string
	}{
		{NetworkOptions{IncludeCIDRs: many}, "16385 include CIDRs, at most 16384"},
		{NetworkOptions{ExcludeCIDRs: many}, "16385 exclude CIDRs, at most 16384"},
		{NetworkOptions{IncludeCIDRs: []netip.Prefix{{}}}, "invalid prefix"},
		{NetworkOptions{Events: []NetworkOp{9}}, "unknown operation 9"},
		{NetworkOptions{MaxSockets: 10}, "max sockets 10: must be between 1024 and 16777216"},
	} {
		require.ErrorContains(t, tc.opts.check(), tc.err)
	}
	require.NoError(t, (&NetworkOptions{IncludeCIDRs: many[:NetworkCIDRLimit], MaxSockets: 1024}).check())
	v4, v6 := splitFamilies([]netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("::ffff:192.168.0.0/112"), netip.MustParsePrefix("fd00::/8")})
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}, v4)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("fd00::/8")}, v6)
}

func TestDecodeNetwork(t *testing.T) {
	var r bpf.NetworkNetEvent
	r.Hdr.Kind = uint8(KindNetwork)
	r.Hdr.Tgid, r.Hdr.Tid, r.Hdr.Ktime = 42, 43, 1000
	r.Op = uint8(NetClose)
	r.Protocol = unix.IPPROTO_TCP
	r.Family = unix.AF_INET6
	r.Local = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.Remote = netip.MustParseAddr("fd00::2").As16()
	r.LocalPort, r.RemotePort = 5555, 443
	r.Flags = uint32(bpf.NetworkNetFlagsNET_OUTBOUND | bpf.NetworkNetFlagsNET_ESTABLISHED)
	r.Established, r.BytesSent, r.BytesReceived, r.Netns = 500, 7, 9, 4026531840
	copy(r.Comm[:], []int8{'c', 'u', 'r', 'l'})
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	var n Network
	require.NoError(t, DecodeNetwork(raw, &n))
	assert.Equal(t, Network{
		Header: Header{Kind: KindNetwork, KTime: 1000, TGID: 42, TID: 43}, Op: NetClose, Protocol: unix.IPPROTO_TCP,
		Family: unix.AF_INET6, Local: netip.MustParseAddrPort("10.0.0.1:5555"), Remote: netip.MustParseAddrPort("[fd00::2]:443"),
		Outbound: true, Established: 500, BytesSent: 7, BytesReceived: 9, NetNS: 4026531840, Comm: "curl",
	}, n)
	require.ErrorIs(t, DecodeNetwork(raw[:len(raw)-1], &n), ErrShortRecord)
	r.Op = 9
	require.ErrorContains(t, DecodeNetwork(raw, &n), "unknown operation 9")
}

func BenchmarkDecodeNetwork(b *testing.B) {
	var r bpf.NetworkNetEvent
	r.Hdr.Kind = uint8(KindNetwork)
	r.Op = uint8(NetClose)
	r.Local = netip.MustParseAddr("::ffff:10.0.0.1").As16()
	r.Remote = netip.MustParseAddr("::ffff:10.0.0.2").As16()
	copy(r.Comm[:], []int8{'c', 'u', 'r', 'l'})
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	var n Network
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeNetwork(raw, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNetworkFentryRefused: where the probe says fentry is refused, asking for it anyway makes
// the kernel refuse the fexit programs at load; the sensor falls back to the next hooks, says
// why, and still works.
func TestNetworkFentryRefused(t *testing.T) {
	caps := probeCaps(t)
	if caps.Fentry {
		t.Skip("this kernel loads fentry/fexit programs: nothing refuses them here (TestNetwork covers them)")
	}
	want, err := ChooseNetworkHooks(caps, nil)
	require.NoError(t, err)
	forced := caps
	forced.Fentry = true
	s, rd := netLoad(t, forced, NetworkOptions{})
	require.Len(t, s.NetworkFallbacks(), 1, "one fallback: fentry")
	assert.Contains(t, s.NetworkFallbacks()[0], "accept=fexit connect=fexit udp=fentry")
	t.Logf("fallback: %s", s.NetworkFallbacks()[0])
	var points []string
	for _, a := range s.Attachments() {
		if strings.HasPrefix(a.Event, "network") {
			points = append(points, string(a.Hook))
		}
	}
	assert.NotContains(t, points, string(HookFexit))
	assert.NotContains(t, points, string(HookFentry))
	ns := newNetns(t)
	c := &netCapture{t: t, rd: rd, netns: ns.inode}
	x, err := ns.tcp(netip.MustParseAddr("127.0.0.1"), 10, 20, true)
	require.NoError(t, err)
	checkTCPExchange(t, c, ns, want, readNetSelf(t), x)
}
