package ebpfsecurityreceiver

import (
	"bufio"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/xconfmap"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/procfs"
	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

// The network tests run their traffic in helper processes (this test binary, exec'd: each has
// its own exec id and process.exec event) in a network namespace of the test's own.
const netHelperEnv = "OTELSEC_NET_HELPER"

func init() {
	if role := os.Getenv(netHelperEnv); role != "" {
		if err := netHelper(role); err != nil {
			fmt.Fprintln(os.Stderr, "net helper", role+":", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
}

// netHelper roles, configured by OTELSEC_NT_* variables, reporting one JSON line per fact:
//   - serve: listens on ADDR, prints {"port"}, starts an accept helper on the listening socket,
//     waits for it and prints {"accepter"}: the listener and the accepter are two processes;
//   - accept: accepts on fd 3, reads RECV bytes, writes SEND bytes, closes after the peer;
//   - client: connects to ADDR, writes SEND, reads RECV, closes first (EXIT_CLOSES=1: leaves it
//     to its exit); prints {"local"};
//   - refused: connects to ADDR, prints {"errno"};
//   - dns: binds a UDP server on ADDR, sends it a query from a connected socket and one from an
//     unconnected socket; prints {"connected","unconnected"} (their local addresses).
func netHelper(role string) error {
	runtime.LockOSThread() // the thread Pdeathsig of a child watches
	env := func(k string) string { return os.Getenv("OTELSEC_NT_" + k) }
	num := func(k string) int { n, _ := strconv.Atoi(env(k)); return n }
	out := json.NewEncoder(os.Stdout)
	ap, _ := netip.ParseAddrPort(env("ADDR"))
	switch role {
	case "serve":
		fd, err := unix.Socket(family(ap.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, sockaddr(ap)); err != nil {
			return err
		}
		if err := unix.Listen(fd, 4); err != nil {
			return err
		}
		sa, _ := unix.Getsockname(fd)
		out.Encode(map[string]any{"port": addrPort(sa).Port()})
		self, _ := os.Executable()
		cmd := exec.Command(self)
		cmd.Env = []string{netHelperEnv + "=accept", "OTELSEC_NT_RECV=" + env("RECV"), "OTELSEC_NT_SEND=" + env("SEND")}
		cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(fd), "listener")}
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives us
		if err := cmd.Run(); err != nil {
			return err
		}
		return out.Encode(map[string]any{"accepter": cmd.Process.Pid})
	case "accept":
		fd, _, err := unix.Accept(3)
		if err != nil {
			return err
		}
		if err := readN(fd, num("RECV")); err != nil {
			return err
		}
		if err := writeN(fd, num("SEND")); err != nil {
			return err
		}
		if err := readN(fd, 0); err != nil { // until EOF
			return err
		}
		return unix.Close(fd)
	case "client":
		fd, err := unix.Socket(family(ap.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Connect(fd, sockaddr(ap)); err != nil {
			return err
		}
		sa, _ := unix.Getsockname(fd)
		if err := writeN(fd, num("SEND")); err != nil {
			return err
		}
		if err := readN(fd, num("RECV")); err != nil {
			return err
		}
		out.Encode(map[string]any{"local": addrPort(sa).String()})
		if env("EXIT_CLOSES") == "1" {
			return nil // the exit closes the socket: its close is reported after the exit
		}
		return unix.Close(fd)
	case "refused":
		fd, err := unix.Socket(family(ap.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		err = unix.Connect(fd, sockaddr(ap))
		var errno unix.Errno
		errors.As(err, &errno)
		return out.Encode(map[string]any{"errno": int(errno)})
	case "dns":
		srv, err := unix.Socket(family(ap.Addr()), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(srv, sockaddr(ap)); err != nil {
			return err
		}
		query := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
		conn, err := unix.Socket(family(ap.Addr()), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Connect(conn, sockaddr(ap)); err != nil {
			return err
		}
		if _, err := unix.Write(conn, query); err != nil {
			return err
		}
		udp, err := unix.Socket(family(ap.Addr()), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := unix.Sendto(udp, query, 0, sockaddr(ap)); err != nil {
			return err
		}
		buf := make([]byte, 512)
		for range 2 {
			if _, _, err := unix.Recvfrom(srv, buf, 0); err != nil {
				return err
			}
		}
		c, _ := unix.Getsockname(conn)
		u, _ := unix.Getsockname(udp)
		return out.Encode(map[string]any{"connected": addrPort(c).String(), "unconnected": addrPort(u).String()})
	}
	return errors.New("unknown role")
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

func writeN(fd, n int) error {
	buf := []byte(strings.Repeat("x", 8192))
	for n > 0 {
		w, err := unix.Write(fd, buf[:min(n, len(buf))])
		if err != nil {
			return err
		}
		n -= w
	}
	return nil
}

// readN reads n bytes, then (n == 0) requires EOF.
func readN(fd, n int) error {
	buf := make([]byte, 65536)
	for {
		r, err := unix.Read(fd, buf[:max(min(n, len(buf)), 1)])
		if err != nil {
			return err
		}
		if n == 0 {
			if r != 0 {
				return fmt.Errorf("%d bytes where EOF was expected", r)
			}
			return nil
		}
		if r == 0 {
			return fmt.Errorf("EOF with %d bytes still expected", n)
		}
		if n -= r; n == 0 {
			return nil
		}
	}
}

// testNetns is a thread in a network namespace of the test's own, with its loopback up: the
// helpers it starts run in it.
type testNetns struct {
	inode uint32
	jobs  chan func()
}

func newTestNetns(t *testing.T) *testNetns {
	n := &testNetns{jobs: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ready <- err
			return
		}
		ifr, _ := unix.NewIfreq("lo")
		ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		unix.Close(fd)
		if err != nil {
			ready <- fmt.Errorf("bring lo up: %w", err)
			return
		}
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st); err != nil {
			ready <- err
			return
		}
		n.inode = uint32(st.Ino)
		ready <- nil
		for f := range n.jobs {
			f()
		}
	}()
	require.NoError(t, <-ready)
	t.Cleanup(func() { close(n.jobs) })
	return n
}

// helper is a running helper process and its JSON lines.
type helper struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// start starts a helper from the namespace's thread.
func (n *testNetns) start(t *testing.T, role string, env ...string) *helper {
	self, err := os.Executable()
	require.NoError(t, err)
	h := &helper{cmd: exec.Command(self)}
	h.cmd.Env = append([]string{netHelperEnv + "=" + role}, env...)
	h.cmd.Stderr = os.Stderr
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	h.lines = bufio.NewScanner(stdout)
	errc := make(chan error, 1)
	n.jobs <- func() { errc <- h.cmd.Start() }
	require.NoError(t, <-errc)
	t.Cleanup(func() { // a failed test must not leave its helpers waiting for a peer
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
	})
	return h
}

// next reads the helper's next JSON line into v.
func (h *helper) next(t *testing.T, v any) {
	t.Helper()
	require.True(t, h.lines.Scan(), "helper %s ended early: %v", h.cmd.Env[0], h.lines.Err())
	require.NoError(t, json.Unmarshal(h.lines.Bytes(), v))
}

// wait reads the rest of the helper's output and waits for it to exit successfully.
func (h *helper) wait(t *testing.T) {
	t.Helper()
	for h.lines.Scan() {
	}
	require.NoError(t, h.cmd.Wait(), "helper %s", h.cmd.Env[0])
}

// netSelfExecID is the exec id the process cache gave this test process, seeded from /proc.
func netSelfExecID(t *testing.T, h *harness) string {
	p, err := procfs.Read("/proc", uint32(os.Getpid()))
	require.NoError(t, err)
	boot, err := procfs.BootID("/proc")
	require.NoError(t, err)
	boot = strings.ReplaceAll(boot, "-", "")[:8]
	return fmt.Sprintf("%s:%s:%d:%d", h.receiver().node.name, boot, p.StartBootNS, os.Getpid())
}

// assertNetContext checks the process context of a network event of pid against its process.exec
// event, and the attributes every network event has.
func assertNetContext(t *testing.T, e event, pid int, execEv event, netns uint32) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	name := e.rec.EventName()
	assert.Equal(t, int64(pid), e.int(s.ProcessPID), name)
	assert.Equal(t, execEv.str(s.ExecID), e.str(s.ExecID), name)
	assert.NotEmpty(t, e.str(s.ExecID), name)
	assert.Equal(t, execEv.int(s.ProcessParentPID), e.int(s.ProcessParentPID), name)
	assert.Equal(t, self, e.str(s.ProcessExecutablePath), name)
	assert.Equal(t, filepath.Base(self), e.str(s.ProcessExecutableName), name)
	assert.Equal(t, execEv.str(s.ProcessCommandLine), e.str(s.ProcessCommandLine), name)
	assert.Equal(t, int64(0), e.int(s.ProcessUserID), name)
	assert.Equal(t, execEv.str(s.ParentExecID), e.str(s.ParentExecID), name)
	assert.Equal(t, execEv.str(s.ParentExecutablePath), e.str(s.ParentExecutablePath), name)
	assert.Equal(t, int64(netns), e.int(s.NetworkNamespace), name)
	assert.Equal(t, plog.SeverityNumberInfo, e.rec.SeverityNumber(), name)
	assert.WithinDuration(t, time.Now(), e.rec.Timestamp().AsTime(), 20*time.Second, name)
	_, hasContainer := e.res.Get(s.ContainerID)
	assert.False(t, hasContainer, name)
	checkSchema(t, e)
}

// keys returns the event's attribute names, sorted.
func keys(e event) []string {
	var k []string
	for name := range e.attrs.All() {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}

func withKeys(base []string, more ...string) []string {
	k := slices.Concat(base, more)
	slices.Sort(k)
	return k
}

// contextKeys are the process context attributes of a network event of an exec'd process.
var contextKeys = []string{s.ProcessPID, s.ProcessParentPID, s.ExecID, s.ProcessExecutablePath, s.ProcessExecutableName,
	s.ProcessCommandLine, s.ProcessUserID, s.ParentExecID, s.ParentExecutablePath, s.NetworkTransport, s.NetworkType, s.NetworkNamespace}

func TestNetworkEvents(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Network.Enabled = true })
	lines := h.logged.FilterMessage("Kernel probed, sensors attached").All()
	require.Len(t, lines, 1)
	hooks := fmt.Sprint(lines[0].ContextMap()["hooks"])
	require.Contains(t, hooks, "network=tp_btf/inet_sock_set_state")
	t.Logf("hooks: %s", hooks)
	ns := newTestNetns(t)
	selfExecID := netSelfExecID(t, h)

	for _, lo := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")} {
		// Over IPv6 the client exits without closing: its connection's close is reported
		// after its exit, and still names it.
		exitCloses := lo.Is6()
		t.Run("tcp_"+lo.String(), func(t *testing.T) {
			network := "ipv4"
			if lo.Is6() {
				network = "ipv6"
			}
			const clientSends, serverSends = 40000, 3000
			srv := ns.start(t, "serve", "OTELSEC_NT_ADDR="+netip.AddrPortFrom(lo, 0).String(),
				"OTELSEC_NT_RECV="+strconv.Itoa(clientSends), "OTELSEC_NT_SEND="+strconv.Itoa(serverSends))
			var port struct{ Port uint16 }
			srv.next(t, &port)
			server := netip.AddrPortFrom(lo, port.Port)
			cli := ns.start(t, "client", "OTELSEC_NT_ADDR="+server.String(),
				"OTELSEC_NT_SEND="+strconv.Itoa(clientSends), "OTELSEC_NT_RECV="+strconv.Itoa(serverSends),
				"OTELSEC_NT_EXIT_CLOSES="+map[bool]string{true: "1", false: "0"}[exitCloses])
			var local struct{ Local string }
			cli.next(t, &local)
			client := netip.MustParseAddrPort(local.Local)
			cli.wait(t)
			var acc struct{ Accepter int }
			srv.next(t, &acc)
			srv.wait(t)
			srvPID, cliPID := srv.cmd.Process.Pid, cli.cmd.Process.Pid

			srvExec := h.await(s.EventProcessExec, srvPID)
			cliExec := h.await(s.EventProcessExec, cliPID)
			accExec := h.await(s.EventProcessExec, acc.Accepter)
			assert.Equal(t, selfExecID, srvExec.str(s.ParentExecID), "the helpers' parent is this test process")
			assert.Equal(t, srvExec.str(s.ExecID), accExec.str(s.ParentExecID), "the accepter is the server's child")

			listen := h.await(s.EventNetworkListen, srvPID)
			assertNetContext(t, listen, srvPID, srvExec, ns.inode)
			assert.Equal(t, withKeys(contextKeys, s.ServerAddress, s.ServerPort), keys(listen))
			assert.Equal(t, "tcp", listen.str(s.NetworkTransport))
			assert.Equal(t, network, listen.str(s.NetworkType))
			assert.Equal(t, lo.String(), listen.str(s.ServerAddress))
			assert.Equal(t, int64(server.Port()), listen.int(s.ServerPort))
			assert.Equal(t, fmt.Sprintf("listen %s (pid %d): %s tcp", selfPath(t), srvPID, server), listen.rec.Body().Str())

			conn := h.await(s.EventNetworkConnect, cliPID)
			assertNetContext(t, conn, cliPID, cliExec, ns.inode)
			tcpKeys := withKeys(contextKeys, s.ClientAddress, s.ClientPort, s.ServerAddress, s.ServerPort, s.NetworkDirection)
			assert.Equal(t, tcpKeys, keys(conn))
			assert.Equal(t, network, conn.str(s.NetworkType))
			assert.Equal(t, "tcp", conn.str(s.NetworkTransport))
			assert.Equal(t, client.Addr().String(), conn.str(s.ClientAddress))
			assert.Equal(t, int64(client.Port()), conn.int(s.ClientPort))
			assert.Equal(t, lo.String(), conn.str(s.ServerAddress))
			assert.Equal(t, int64(server.Port()), conn.int(s.ServerPort))
			assert.Equal(t, "outbound", conn.str(s.NetworkDirection))
			assert.Equal(t, fmt.Sprintf("connect %s (pid %d): %s -> %s tcp, established", selfPath(t), cliPID, client, server), conn.rec.Body().Str())

			accept := h.await(s.EventNetworkAccept, acc.Accepter)
			assertNetContext(t, accept, acc.Accepter, accExec, ns.inode)
			assert.Equal(t, tcpKeys, keys(accept))
			assert.Equal(t, client.Addr().String(), accept.str(s.ClientAddress))
			assert.Equal(t, int64(client.Port()), accept.int(s.ClientPort))
			assert.Equal(t, lo.String(), accept.str(s.ServerAddress))
			assert.Equal(t, int64(server.Port()), accept.int(s.ServerPort))
			assert.Equal(t, "inbound", accept.str(s.NetworkDirection))
			assert.Empty(t, h.find(s.EventNetworkAccept, srvPID), "the listener did not accept")

			closeKeys := withKeys(tcpKeys, s.NetworkBytesSent, s.NetworkBytesReceived, s.NetworkDuration)
			cc := h.await(s.EventNetworkClose, cliPID)
			if exitCloses {
				exit := h.await(s.EventProcessExit, cliPID)
				assert.Less(t, exit.rec.Timestamp(), cc.rec.Timestamp(), "the close came after the exit")
			}
			assertNetContext(t, cc, cliPID, cliExec, ns.inode)
			assert.Equal(t, closeKeys, keys(cc))
			assert.Equal(t, client.Addr().String(), cc.str(s.ClientAddress))
			assert.Equal(t, int64(client.Port()), cc.int(s.ClientPort))
			assert.Equal(t, int64(server.Port()), cc.int(s.ServerPort))
			assert.Equal(t, "outbound", cc.str(s.NetworkDirection))
			assert.Equal(t, int64(clientSends), cc.int(s.NetworkBytesSent))
			assert.Equal(t, int64(serverSends), cc.int(s.NetworkBytesReceived))
			assert.Positive(t, cc.int(s.NetworkDuration))
			assert.Less(t, cc.int(s.NetworkDuration), int64(20*time.Second))
			assert.Contains(t, cc.rec.Body().Str(), fmt.Sprintf("close %s (pid %d): %s -> %s tcp, sent %d B, received %d B, ", selfPath(t), cliPID, client, server, clientSends, serverSends))

			sc := h.await(s.EventNetworkClose, acc.Accepter)
			assertNetContext(t, sc, acc.Accepter, accExec, ns.inode)
			assert.Equal(t, closeKeys, keys(sc))
			assert.Equal(t, client.Addr().String(), sc.str(s.ClientAddress))
			assert.Equal(t, int64(client.Port()), sc.int(s.ClientPort))
			assert.Equal(t, int64(server.Port()), sc.int(s.ServerPort))
			assert.Equal(t, "inbound", sc.str(s.NetworkDirection))
			assert.Equal(t, int64(serverSends), sc.int(s.NetworkBytesSent))
			assert.Equal(t, int64(clientSends), sc.int(s.NetworkBytesReceived))
			assert.Positive(t, sc.int(s.NetworkDuration))

			for _, pe := range []struct {
				name string
				pid  int
				n    int
			}{{s.EventNetworkListen, srvPID, 1}, {s.EventNetworkConnect, cliPID, 1}, {s.EventNetworkAccept, acc.Accepter, 1},
				{s.EventNetworkClose, cliPID, 1}, {s.EventNetworkClose, acc.Accepter, 1}, {s.EventNetworkClose, srvPID, 0}} {
				assert.Len(t, h.find(pe.name, pe.pid), pe.n, "%s of pid %d", pe.name, pe.pid)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		target := netip.MustParseAddrPort("127.0.0.1:1") // nothing listens in the namespace
		r := ns.start(t, "refused", "OTELSEC_NT_ADDR="+target.String())
		var res struct{ Errno int }
		r.next(t, &res)
		r.wait(t)
		require.Equal(t, int(unix.ECONNREFUSED), res.Errno)
		pid := r.cmd.Process.Pid
		ex := h.await(s.EventProcessExec, pid)
		e := h.await(s.EventNetworkConnect, pid)
		assertNetContext(t, e, pid, ex, ns.inode)
		assert.Equal(t, withKeys(contextKeys, s.ClientAddress, s.ClientPort, s.ServerAddress, s.ServerPort, s.NetworkDirection, s.ErrorType), keys(e))
		assert.Equal(t, "ECONNREFUSED", e.str(s.ErrorType))
		assert.Equal(t, "127.0.0.1", e.str(s.ClientAddress))
		assert.Positive(t, e.int(s.ClientPort))
		assert.Equal(t, "127.0.0.1", e.str(s.ServerAddress))
		assert.Equal(t, int64(1), e.int(s.ServerPort))
		assert.Equal(t, "outbound", e.str(s.NetworkDirection))
		assert.Contains(t, e.rec.Body().Str(), "-> 127.0.0.1:1 tcp, failed: ECONNREFUSED (connection refused)")
		assert.Empty(t, h.find(s.EventNetworkClose, pid), "a failed attempt has no close")
	})

	t.Run("dns", func(t *testing.T) {
		dns := netip.MustParseAddrPort("127.0.0.1:53")
		d := ns.start(t, "dns", "OTELSEC_NT_ADDR="+dns.String())
		var res struct{ Connected, Unconnected string }
		d.next(t, &res)
		d.wait(t)
		pid := d.cmd.Process.Pid
		ex := h.await(s.EventProcessExec, pid)
		require.Eventually(t, func() bool { return len(h.find(s.EventNetworkSend, pid)) >= 2 }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		sends := h.find(s.EventNetworkSend, pid)
		require.Len(t, sends, 2, "one per socket")
		byPort := map[int64]event{}
		for _, e := range sends {
			assertNetContext(t, e, pid, ex, ns.inode)
			byPort[e.int(s.SourcePort)] = e
		}
		connected, unconnected := netip.MustParseAddrPort(res.Connected), netip.MustParseAddrPort(res.Unconnected)
		for _, sock := range []netip.AddrPort{connected, unconnected} {
			e, ok := byPort[int64(sock.Port())]
			require.True(t, ok, "no send from %s", sock)
			want := withKeys(contextKeys, s.NetworkProtocolName, s.SourcePort, s.DestinationAddress, s.DestinationPort, s.NetworkDirection)
			if !sock.Addr().IsUnspecified() {
				want = withKeys(want, s.SourceAddress)
				assert.Equal(t, sock.Addr().String(), e.str(s.SourceAddress))
			}
			assert.Equal(t, want, keys(e))
			assert.Equal(t, "udp", e.str(s.NetworkTransport))
			assert.Equal(t, "ipv4", e.str(s.NetworkType))
			assert.Equal(t, "dns", e.str(s.NetworkProtocolName))
			assert.Equal(t, "127.0.0.1", e.str(s.DestinationAddress))
			assert.Equal(t, int64(53), e.int(s.DestinationPort))
			assert.Equal(t, "outbound", e.str(s.NetworkDirection))
			assert.Equal(t, fmt.Sprintf("send %s (pid %d): %s -> %s udp", selfPath(t), pid, sockString(e), dns), e.rec.Body().Str())
		}
	})

	// The receiver's own metrics count the events by name and report the network hooks.
	require.Eventually(t, func() bool {
		return metricSum(h, "otelsec.events", s.EventNetworkConnect) >= 3 &&
			metricSum(h, "otelsec.events", s.EventNetworkClose) >= 4 &&
			metricSum(h, "otelsec.events", s.EventNetworkSend) >= 2 &&
			metricSum(h, "otelsec.kernel.records", "network") >= 13
	}, 5*time.Second, 20*time.Millisecond)
}

func selfPath(t *testing.T) string {
	self, err := os.Executable()
	require.NoError(t, err)
	return self
}

// sockString is how the body shows a UDP event's local end.
func sockString(e event) string {
	addr := e.str(s.SourceAddress)
	if addr == "" {
		addr = "0.0.0.0"
	}
	return netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(e.int(s.SourcePort))).String()
}

// TestNetworkFiltered: a send outside the configured ports leaves no event; the kernel counts
// it, and the receiver reports that count.
func TestNetworkFiltered(t *testing.T) {
	h := startHarness(t, func(c *Config) {
		c.Network.Enabled = true
		c.Network.ExcludePorts = []int{53}
		c.Network.Events = []string{"send"}
	})
	ns := newTestNetns(t)
	before, err := h.receiver().sensors.NetworkStats()
	require.NoError(t, err)
	d := ns.start(t, "dns", "OTELSEC_NT_ADDR=127.0.0.1:53")
	var res struct{ Connected, Unconnected string }
	d.next(t, &res)
	d.wait(t)
	h.await(s.EventProcessExec, d.cmd.Process.Pid)
	after, err := h.receiver().sensors.NetworkStats()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after.FilteredPort-before.FilteredPort, uint64(2), "both sends were filtered by port")
	assert.Empty(t, h.find(s.EventNetworkSend, d.cmd.Process.Pid))
	require.Eventually(t, func() bool { return metricSum(h, "otelsec.kernel.records.filtered", "network") >= 2 },
		5*time.Second, 20*time.Millisecond)
}

func TestNetworkConfig(t *testing.T) {
	cm := confmapFrom(t, map[string]any{"network": map[string]any{
		"enabled":       true,
		"events":        []any{"connect", "close"},
		"include_cidrs": []any{"10.0.0.0/8", "fd00::/8", "192.168.1.7"},
		"exclude_cidrs": []any{"10.1.0.0/16"},
		"include_ports": []any{443, 53},
		"exclude_ports": []any{22},
		"loopback":      false,
		"max_sockets":   4096,
	}})
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, NetworkConfig{Enabled: true, Events: []string{"connect", "close"},
		IncludeCIDRs: []string{"10.0.0.0/8", "fd00::/8", "192.168.1.7"}, ExcludeCIDRs: []string{"10.1.0.0/16"},
		IncludePorts: []int{443, 53}, ExcludePorts: []int{22}, MaxSockets: 4096}, cfg.Network)
	assert.Equal(t, sensor.NetworkOptions{Enabled: true, Events: []sensor.NetworkOp{sensor.NetConnect, sensor.NetClose},
		IncludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.1.7/32")},
		ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		IncludePorts: []uint16{443, 53}, ExcludePorts: []uint16{22}, ExcludeLoopback: true, MaxSockets: 4096}, cfg.Network.options())

	def := createDefaultConfig().(*Config).Network
	assert.Equal(t, NetworkConfig{Events: []string{"connect", "accept", "close", "listen", "send"}, Loopback: true, MaxSockets: 65536}, def)
	assert.False(t, def.Enabled, "off by default: see BENCHMARKS.md")
}

func TestNetworkValidateNamesTheEntry(t *testing.T) {
	many := make([]string, sensor.NetworkCIDRLimit+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.%d.%d.0/24", i>>8, i&255)
	}
	for _, tc := range []struct {
		mutate func(*NetworkConfig)
		msg    string
	}{
		{func(c *NetworkConfig) { c.IncludeCIDRs = []string{"10.0.0.0/8", "10.0.0.300/8"} },
			`network::include_cidrs[1]: "10.0.0.300/8" is not a CIDR`},
		{func(c *NetworkConfig) { c.ExcludeCIDRs = []string{"example.com"} },
			`network::exclude_cidrs[0]: "example.com" is neither a CIDR nor an IP address`},
		{func(c *NetworkConfig) { c.ExcludeCIDRs = []string{"fd00::/8", "10.1.2.3/8"} },
			`network::exclude_cidrs[1]: "10.1.2.3/8" has bits set beyond the prefix length; did you mean "10.0.0.0/8"?`},
		{func(c *NetworkConfig) { c.IncludeCIDRs = []string{"fe80::1%eth0"} },
			`network::include_cidrs[0]: "fe80::1%eth0" is neither a CIDR nor an IP address`},
		{func(c *NetworkConfig) { c.IncludeCIDRs = many },
			"network::include_cidrs: 16385 entries, at most 16384"},
		{func(c *NetworkConfig) { c.ExcludeCIDRs = many },
			"network::exclude_cidrs: 16385 entries, at most 16384"},
		{func(c *NetworkConfig) { c.IncludePorts = []int{80, 0} },
			"network::include_ports[1]: must be between 1 and 65535; got 0"},
		{func(c *NetworkConfig) { c.ExcludePorts = []int{65536} },
			"network::exclude_ports[0]: must be between 1 and 65535; got 65536"},
		{func(c *NetworkConfig) { c.Events = []string{"connect", "dns"} },
			`network::events[1]: unknown event "dns"; must be one of connect, accept, close, listen, send`},
		{func(c *NetworkConfig) { c.Enabled = true; c.Events = nil },
			"network::events: must name at least one of connect, accept, close, listen, send when the network sensor is enabled"},
		{func(c *NetworkConfig) { c.MaxSockets = 100 },
			"network::max_sockets: must be between 1024 and 16777216; got 100"},
	} {
		cfg := createDefaultConfig().(*Config)
		tc.mutate(&cfg.Network)
		err := xconfmap.Validate(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.msg)
	}
}

func TestNetworkOwnersBounded(t *testing.T) {
	var o networkOwners
	p := func(pid uint32) *proctree.Process { return &proctree.Process{PID: pid} }
	for i := range uint32(5) {
		o.put(ownerKey{i, 100}, p(i), 3)
	}
	assert.Len(t, o.m, 3, "bounded")
	assert.Nil(t, o.take(ownerKey{0, 100}), "the oldest went first")
	assert.Nil(t, o.take(ownerKey{1, 100}))
	assert.Equal(t, uint32(2), o.take(ownerKey{2, 100}).PID)
	assert.Nil(t, o.take(ownerKey{2, 100}), "taken once")
	assert.Nil(t, o.take(ownerKey{3, 99}), "the time the owner was recorded is part of the key")
	for i := range uint32(20) {
		o.put(ownerKey{100 + i, 1}, p(i), 3)
		o.take(ownerKey{100 + i, 1})
	}
	assert.LessOrEqual(t, len(o.order), 6, "taken keys do not pile up")
}
