package enforce

// The enforcer on whatever kernel runs the tests (the host, or a Debian kernel under qemu via
// `make vmtest`): real programs, real exec and connect, every decision record asserted. Tests
// that need a backend this kernel lacks say so and skip; the others never skip.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	mbits "math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// recordWait bounds the wait for records; generous because guests run under TCG emulation.
const recordWait = 30 * time.Second

type env struct {
	caps     sensor.Capabilities
	sensors  *sensor.Sensors
	enf      *Enforcer
	reader   *ringbuf.Reader
	mu       sync.Mutex
	records  []sensor.Decision
	others   []sensorRecord // exec, exit and file records, with keepOthers
	readDone chan struct{}
}

// sensorRecord is what the tests look at of a sensor's record.
type sensorRecord struct {
	sensor.Header
	Path string // exec: the executable; file: the path
}

func newEnv(t testing.TB) *env {
	return newEnvWith(t, Options{ResolveInterval: 200 * time.Millisecond})
}

// newEnvWith loads the sensors and the enforcer; wakeupEvery (default 1: every record wakes
// the reader, for the tests' latency) is the ring buffer's wakeup batching.
func newEnvWith(t testing.TB, opts Options, wakeupEvery ...uint32) *env {
	t.Helper()
	wakeup := uint32(1)
	if len(wakeupEvery) > 0 {
		wakeup = wakeupEvery[0]
	}
	return newEnvSensors(t, opts, sensor.Options{WakeupEvery: wakeup}, false)
}

// newEnvSensors loads the sensors of so (hook, ring buffer and argument size filled in) and the
// enforcer, in the receiver's order: the enforcer attaches before the sensors do. keepOthers
// keeps exec, exit and file records too.
func newEnvSensors(t testing.TB, opts Options, so sensor.Options, keepOthers bool) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	require.NoError(t, f.Require())
	caps := sensor.CapabilitiesOf(f)
	so.ProcessHook, so.RingBufferSize, so.ArgsMaxBytes = sensor.HookAuto, 1<<22, 256
	var enf *Enforcer
	so.BeforeAttach = func(s *sensor.Sensors) (err error) {
		enf, err = Load(s, caps, opts)
		return err
	}
	s, err := sensor.Load(so, caps)
	if err != nil && enf != nil {
		enf.Close()
	}
	require.NoError(t, err)
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	e := &env{caps: caps, sensors: s, enf: enf, reader: rd, readDone: make(chan struct{})}
	go e.read(keepOthers)
	t.Cleanup(func() {
		st, err := s.Stats()
		if assert.NoError(t, err) {
			assert.Zero(t, st.Lost[sensor.KindPolicy], "policy records lost")
		}
		assert.NoError(t, enf.Close())
		rd.Close()
		<-e.readDone
		assert.NoError(t, s.Close())
	})
	t.Logf("kernel %s, hooks %v", f.Release, enf.Hooks())
	return e
}

func (e *env) read(keepOthers bool) {
	defer close(e.readDone)
	var (
		rec  ringbuf.Record
		exec sensor.Exec
		exit sensor.Exit
		file sensor.File
	)
	for {
		if err := e.reader.ReadInto(&rec); err != nil {
			return
		}
		k, err := sensor.PeekKind(rec.RawSample)
		if err != nil {
			panic(err)
		}
		if k == sensor.KindExec {
			// The exec tracepoint's decisions travel in the exec record.
			if err := sensor.DecodeExec(rec.RawSample, &exec); err != nil {
				panic(err)
			}
			if ds := sensor.ExecDecisions(&exec); len(ds) > 0 {
				e.mu.Lock()
				e.records = append(e.records, ds...)
				e.mu.Unlock()
			}
		}
		if k != sensor.KindPolicy {
			if !keepOthers {
				continue
			}
			var r sensorRecord
			switch k {
			case sensor.KindExec:
				err = sensor.DecodeExec(rec.RawSample, &exec)
				r = sensorRecord{Header: exec.Header, Path: exec.Image.Executable}
			case sensor.KindExit:
				err = sensor.DecodeExit(rec.RawSample, &exit)
				r = sensorRecord{Header: exit.Header}
			case sensor.KindFile:
				err = sensor.DecodeFile(rec.RawSample, &file)
				r = sensorRecord{Header: file.Header, Path: file.Path}
			default:
				continue
			}
			if err != nil {
				panic(err)
			}
			e.mu.Lock()
			e.others = append(e.others, r)
			e.mu.Unlock()
			continue
		}
		var d sensor.Decision
		if err := sensor.DecodeDecision(rec.RawSample, &d); err != nil {
			panic(err)
		}
		e.mu.Lock()
		e.records = append(e.records, d)
		e.mu.Unlock()
	}
}

// wait returns the first decision that satisfies match, failing after recordWait.
func (e *env) wait(t *testing.T, match func(*sensor.Decision) bool) sensor.Decision {
	t.Helper()
	deadline := time.Now().Add(recordWait)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for i := range e.records {
			if match(&e.records[i]) {
				d := e.records[i]
				e.mu.Unlock()
				return d
			}
		}
		e.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Fatalf("no matching decision record within %s; have %+v", recordWait, e.records)
	return sensor.Decision{}
}

// none asserts that no decision matches after a short settling time.
func (e *env) none(t *testing.T, match func(*sensor.Decision) bool) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.records {
		require.False(t, match(&e.records[i]), "unexpected decision %+v", e.records[i])
	}
}

func rule(id uint32, name string, ev policy.Event, act policy.Action) policy.Rule {
	return policy.Rule{ID: id, Policy: "test", Name: name, Source: "enforce_test.go", Event: ev, Action: act, Mode: policy.ModeEnforce}
}

// copyTouch copies touch into dir: a binary only the test's rules name.
func copyTouch(t *testing.T, dir string) string {
	src, err := filepath.EvalSymlinks("/bin/touch")
	require.NoError(t, err)
	dst := filepath.Join(dir, "bin", "touch")
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	dst, err = filepath.EvalSymlinks(dst)
	require.NoError(t, err)
	return dst
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestKillOnExec(t *testing.T) {
	e := newEnv(t)
	if !e.enf.hooks[HookExecTP] && !e.enf.hooks[HookExecLSM] {
		t.Skip("this kernel has neither tp_btf nor BPF LSM: no exec backend")
	}
	dir := t.TempDir()
	touch := copyTouch(t, dir)
	r := rule(1, "kill-touch", policy.EventExec, policy.ActionKill)
	r.Signal = syscall.SIGKILL
	r.Binary.Exact = []string{touch}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 7, Rules: []policy.Rule{r}}))

	marker := filepath.Join(dir, "created")
	cmd := exec.Command(touch, marker)
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the denied binary must be killed")
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "status %v", ws)
	require.Equal(t, syscall.SIGKILL, ws.Signal())
	require.False(t, exists(marker), "the killed binary's side effect happened")

	pid := uint32(cmd.Process.Pid)
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == pid })
	wantHook := HookExecTP
	if !e.enf.hooks[HookExecTP] {
		wantHook = HookExecLSM
	}
	assert.Equal(t, sensor.KindPolicy, d.Kind)
	assert.Equal(t, uint64(7), d.Generation)
	assert.Equal(t, uint32(1), d.RuleID)
	assert.Equal(t, uint8(wantHook), d.Hook)
	assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_KILL), d.Action)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), d.Outcome)
	assert.True(t, d.HasPath)
	assert.Equal(t, touch, d.Path)
	assert.False(t, d.HasAddr)
	assert.Equal(t, uint32(os.Getuid()), d.UID)
	rr, rs, ok := e.enf.Decision(7, 1)
	require.True(t, ok)
	assert.Equal(t, "test/kill-touch", rr.SecurityRuleName())
	assert.Equal(t, wantHook, rs.Backend)

	// Another binary is untouched by the rule.
	other := filepath.Join(dir, "other")
	require.NoError(t, exec.Command("/bin/touch", other).Run())
	require.True(t, exists(other))

	// By suffix, with an exception: every .../touch but the system's.
	system, err := filepath.EvalSymlinks("/bin/touch")
	require.NoError(t, err)
	r.Binary = policy.Match{Suffix: []string{"/touch"}}
	r.ExceptBinary = policy.Match{Exact: []string{system}}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 8, Rules: []policy.Rule{r}}))
	cmd = exec.Command(touch, marker)
	require.Error(t, cmd.Run(), "a binary ending in /touch is killed")
	require.False(t, exists(marker))
	d = e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, uint64(8), d.Generation)
	assert.Equal(t, touch, d.Path)
	excepted := filepath.Join(dir, "excepted")
	require.NoError(t, exec.Command(system, excepted).Run(), "the excepted binary runs")
	require.True(t, exists(excepted))
}

func TestDenyExecFallbackKill(t *testing.T) {
	e := newEnv(t)
	if e.enf.hooks[HookExecLSM] {
		t.Skip("BPF LSM is active here: a deny is an LSM deny (TestLSM)")
	}
	if !e.enf.hooks[HookExecTP] {
		t.Skip("no tp_btf: no exec backend")
	}
	dir := t.TempDir()
	touch := copyTouch(t, dir)
	r := rule(1, "deny-touch", policy.EventExec, policy.ActionDeny)
	r.Binary.Prefix = []string{filepath.Dir(touch)}
	err := e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{r}})
	require.Error(t, err, "a deny no backend can honour is an error")
	assert.Contains(t, err.Error(), "test/deny-touch")
	assert.Contains(t, err.Error(), "fallback: kill")

	r.FallbackKill = true
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 2, Rules: []policy.Rule{r}}))
	marker := filepath.Join(dir, "created")
	cmd := exec.Command(touch, marker)
	require.Error(t, cmd.Run())
	require.False(t, exists(marker))
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), d.Outcome)
	assert.Equal(t, uint8(bpf.PolicyPolRuleFlagsPOL_KILL_FALLBACK), d.RuleFlags)
	assert.Equal(t, touch, d.Path)
}

// listener accepts and closes connections until the test ends.
func listener(t *testing.T, network, addr string) netip.AddrPort {
	l, err := net.Listen(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// connect connects from this process (the test's cgroup) with a raw socket: the errno.
func connect(ap netip.AddrPort) error {
	fam := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		fam = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, sa)
}

func networkHook(e *env) (Hook, bool) {
	if e.enf.hooks[HookConnectLSM] {
		return HookConnectLSM, true
	}
	return HookConnectCG, e.enf.hooks[HookConnectCG]
}

func TestConnectDeny(t *testing.T) {
	e := newEnv(t)
	loopbackUp(t)
	hook, ok := networkHook(e)
	if !ok {
		t.Skip("this kernel has neither BPF LSM nor cgroup sock_addr hooks")
	}
	denied := listener(t, "tcp4", "127.0.0.1:0")
	allowed := listener(t, "tcp4", "127.0.0.1:0")
	denied6 := listener(t, "tcp6", "[::1]:0")

	r := rule(1, "deny-local-port", policy.EventConnect, policy.ActionDeny)
	r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	r.Ports = []policy.PortRange{{First: denied.Port(), Last: denied.Port()}, {First: denied6.Port(), Last: denied6.Port()}}
	r.Protocol = "tcp"
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 3, Rules: []policy.Rule{r}}))
	rs := e.enf.Rules()
	require.Len(t, rs, 1)
	assert.Equal(t, hook, rs[0].Backend)

	require.ErrorIs(t, connect(denied), unix.EPERM)
	require.NoError(t, connect(allowed))
	require.ErrorIs(t, connect(denied6), unix.EPERM)

	pid := uint32(os.Getpid())
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == pid && d.Port == denied.Port() })
	assert.Equal(t, uint64(3), d.Generation)
	assert.Equal(t, uint32(1), d.RuleID)
	assert.Equal(t, uint8(hook), d.Hook)
	assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d.Outcome)
	assert.True(t, d.HasAddr)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Addr)
	assert.Equal(t, uint16(unix.IPPROTO_TCP), d.Protocol)
	assert.False(t, d.HasPath)
	d6 := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == pid && d.Port == denied6.Port() })
	assert.Equal(t, netip.MustParseAddr("::1"), d6.Addr)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d6.Outcome)
	e.none(t, func(d *sensor.Decision) bool { return d.Port == allowed.Port() })

	// CIDRs in another /16 and in another /24 of the address's /16 (the filter says no: the
	// trie is not searched) deny nothing here.
	other := r
	other.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.1.0.0/16"), netip.MustParsePrefix("127.0.1.0/24")}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 31, Rules: []policy.Rule{other}}))
	require.NoError(t, connect(denied))
	// Nor beside CIDRs that cover half of the /16's /24s.
	other.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.128.0/17"), netip.MustParsePrefix("127.0.1.0/24")}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 41, Rules: []policy.Rule{other}}))
	require.NoError(t, connect(denied))

	// The lookup is what keeps the trie out of it: a CIDR that only the active trie holds
	// (written here behind the compiler's back) denies nothing while the /16's entry answers
	// (gen 51: a CIDR in another /24 of the address's /16; gen 61: one in another /16), and
	// denies once the entry leaves the /16 to the trie.
	for _, c := range []struct {
		gen  uint64
		cidr string
	}{{51, "127.0.1.0/24"}, {61, "127.1.0.0/16"}} {
		other.CIDRs = []netip.Prefix{netip.MustParsePrefix(c.cidr)}
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: c.gen, Rules: []policy.Rule{other}}))
		e.enf.mu.Lock()
		slot := e.enf.active
		trie := e.enf.innerFDs[slot]["osec_pol_cidr4"]
		e.enf.mu.Unlock()
		// Within the budget the trie is empty (created with room for one entry).
		var lk bpf.PolicyPolLpm4
		require.ErrorIs(t, trie.NextKey(nil, &lk), ebpf.ErrKeyNotExist)
		require.NoError(t, trie.Put(bpf.PolicyPolLpm4{Prefixlen: 24, Addr: [4]byte{127, 0, 0, 0}}, bitsOf0(0)))
		require.NoError(t, connect(denied), "gen %d: the lookup skips the trie", c.gen)
		net4 := e.enf.coll.Maps["osec_pol_net4"]
		k := slot*65536 + 127<<8 // the /16 127.0
		var ent net16
		require.NoError(t, net4.Lookup(k, &ent))
		ent.Flags |= uint8(bpf.PolicyPolNetFlagsPOL_NET_TRIE)
		require.NoError(t, net4.Put(k, ent))
		require.ErrorIs(t, connect(denied), unix.EPERM, "gen %d: the trie, searched, denies", c.gen)
	}

	// A new set swaps in: now the other port is denied and the first works (a CIDR longer
	// than /16 this time, beside one in another /16).
	r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.1.0.0/16"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	r.Ports = []policy.PortRange{{First: allowed.Port(), Last: allowed.Port()}}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 4, Rules: []policy.Rule{r}}))
	require.NoError(t, connect(denied))
	require.ErrorIs(t, connect(allowed), unix.EPERM)
	d = e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 4 })
	assert.Equal(t, allowed.Port(), d.Port)
	e.none(t, func(d *sensor.Decision) bool { return d.Generation == 31 || d.Generation == 41 })

	// Monitor mode reports without blocking.
	r.Mode = policy.ModeMonitor
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 5, Rules: []policy.Rule{r}}))
	require.NoError(t, connect(allowed))
	d = e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 5 })
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_DENY), d.Outcome)
	assert.Equal(t, uint8(bpf.PolicyPolRuleFlagsPOL_MONITOR), d.RuleFlags)
	assert.Equal(t, allowed.Port(), d.Port)

	// An empty set enforces nothing.
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 6}))
	require.NoError(t, connect(allowed))
}

// TestConnectCIDRLookup checks the IPv4 CIDR lookup that replaces the trie (osec_pol_net4,
// osec_pol_netx, osec_pol_net4val): covering /16s, /24s, CIDRs of /25 to /32 inside a /24,
// the rules of a CIDR that covers a longer one, and the /16s over the hash's budget that the
// trie answers.
// An allowed connect to a loopback address nobody listens on is refused; a denied one is EPERM.
func TestConnectCIDRLookup(t *testing.T) {
	e := newEnv(t)
	loopbackUp(t)
	if _, ok := networkHook(e); !ok {
		t.Skip("this kernel has neither BPF LSM nor cgroup sock_addr hooks")
	}
	const p, q = 40001, 40002
	a := rule(1, "a", policy.EventConnect, policy.ActionDeny)
	a.Ports = []policy.PortRange{{First: p, Last: p}}
	for _, c := range []string{"127.16.0.0/12", "127.0.5.0/24", "127.0.6.128/25", "127.0.7.9/32", "127.0.8.0/21", "127.0.10.0/30", "127.0.70.0/25", "127.0.200.9/32"} {
		a.CIDRs = append(a.CIDRs, netip.MustParsePrefix(c))
	}
	b := rule(2, "b", policy.EventConnect, policy.ActionDeny)
	b.Ports = []policy.PortRange{{First: q, Last: q}}
	b.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.12.7/32")} // inside a's /21
	cases := []struct {
		addr string
		port uint16
		deny bool
	}{
		{"127.20.1.1", p, true},   // a /16 that a /12 covers
		{"127.32.0.1", p, false},  // beside it
		{"127.0.5.77", p, true},   // a /24
		{"127.0.6.200", p, true},  // a /25 in a /24 that no shorter CIDR covers
		{"127.0.6.100", p, false}, // the other half
		{"127.0.7.9", p, true},    // a /32
		{"127.0.7.10", p, false},
		{"127.0.10.3", p, true}, // a /30 inside the /21
		{"127.0.10.4", p, true}, // the /21 around it
		{"127.0.12.3", p, true},
		{"127.0.12.7", p, true},  // b's /32 carries a's rules (its /21 covers it)
		{"127.0.12.7", q, true},  // and b's
		{"127.0.12.8", q, false}, // b is that /32 only
		{"127.0.16.1", p, false},
		{"127.0.0.2", p, false},
		{"127.0.70.5", p, true}, // children of 127.0's node in each of its bitmap's words
		{"127.0.70.200", p, false},
		{"127.0.200.9", p, true},
		{"127.0.200.10", p, false},
	}
	check := func(gen uint64) {
		t.Helper()
		for _, c := range cases {
			err := connect(netip.AddrPortFrom(netip.MustParseAddr(c.addr), c.port))
			if c.deny {
				assert.ErrorIs(t, err, unix.EPERM, "gen %d: %s:%d", gen, c.addr, c.port)
			} else {
				assert.ErrorIs(t, err, unix.ECONNREFUSED, "gen %d: %s:%d", gen, c.addr, c.port)
			}
		}
	}
	set := &policy.Set{Generation: 71, Rules: []policy.Rule{a, b}}
	require.NoError(t, e.enf.Apply(set))
	e.enf.mu.Lock()
	st := e.enf.cur[e.enf.active]
	e.enf.mu.Unlock()
	require.NotEmpty(t, st.netx)
	for h, v := range st.net4 {
		require.Zero(t, v.Flags, "%#x: within the budget, no /16 is left to the trie", h)
	}
	check(71)
	// The nodes answer alone: the trie is empty (a missing entry would fall back to it).
	assert.Empty(t, st.trie4)
	e.enf.mu.Lock()
	trie := e.enf.innerFDs[e.enf.active]["osec_pol_cidr4"]
	e.enf.mu.Unlock()
	var k bpf.PolicyPolLpm4
	require.ErrorIs(t, trie.NextKey(nil, &k), ebpf.ErrKeyNotExist)

	// Over the nodes' budget, the /16s with the most nodes are left to the trie: the same
	// answers.
	defer func(n int) { netBudget = n }(netBudget)
	netBudget = 2
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 72, Rules: []policy.Rule{a, b}}))
	e.enf.mu.Lock()
	st = e.enf.cur[e.enf.active]
	e.enf.mu.Unlock()
	assert.Empty(t, st.netx, "127.0's 7 nodes are over the budget of 2")
	assert.Equal(t, net16{Flags: uint8(bpf.PolicyPolNetFlagsPOL_NET_TRIE)}, st.net4[127<<8], "127.0 is left to the trie")
	assert.ElementsMatch(t, []netip.Prefix{
		netip.MustParsePrefix("127.0.5.0/24"), netip.MustParsePrefix("127.0.6.128/25"), netip.MustParsePrefix("127.0.7.9/32"),
		netip.MustParsePrefix("127.0.8.0/21"), netip.MustParsePrefix("127.0.10.0/30"), netip.MustParsePrefix("127.0.12.7/32"),
		netip.MustParsePrefix("127.0.70.0/25"), netip.MustParsePrefix("127.0.200.9/32"),
	}, slices.Collect(maps.Keys(st.trie4)), "the trie holds 127.0's CIDRs, nothing else")
	assert.Zero(t, st.net4[127<<8|20].Flags, "127.20, covered by the /12, is not")
	check(72)
}

// TestConnectCIDRLookup6 checks the IPv6 CIDR lookup that replaces the trie (osec_pol_net6,
// osec_pol_netx, osec_pol_net6val): covering /16s, the nodes of longer CIDRs (a /48 with a
// /128 in it, a /64 with a /125, a lone /128 whose node skips nine bytes, a /80), the rules of a
// CIDR that covers a longer one, and a /16 over the nodes' budget that the trie answers.
// A denied connect is EPERM. An allowed one to ::1, where nobody listens, is refused; to any
// other address (not local: the connect is non-blocking, its error is the route's, the SYN's or
// none) it is anything but EPERM.
func TestConnectCIDRLookup6(t *testing.T) {
	e := newEnv(t)
	loopbackUp(t)
	if _, ok := networkHook(e); !ok {
		t.Skip("this kernel has neither BPF LSM nor cgroup sock_addr hooks")
	}
	const p, q = 40001, 40002
	a := rule(1, "a", policy.EventConnect, policy.ActionDeny)
	a.Ports = []policy.PortRange{{First: p, Last: p}}
	for _, c := range []string{"fd00::/8", "::/120", "2001:db8:1::/48", "2001:db8:2::/64", "2001:db8:3::1/128", "2001:db8:4:0:1::/80"} {
		a.CIDRs = append(a.CIDRs, netip.MustParsePrefix(c))
	}
	b := rule(2, "b", policy.EventConnect, policy.ActionDeny)
	b.Ports = []policy.PortRange{{First: q, Last: q}}
	b.CIDRs = []netip.Prefix{netip.MustParsePrefix("2001:db8:1::7/128"), netip.MustParsePrefix("2001:db8:2::8/125")}
	cases := []struct {
		addr string
		port uint16
		deny bool
	}{
		{"::1", p, true},          // ::/120
		{"::1", q, false},         // refused
		{"fd12:3456::1", p, true}, // a /16 that fd00::/8 covers
		{"fe00::1", p, false},
		{"2001:db8:1:5::9", p, true}, // the /48
		{"2001:db8:1::7", p, true},   // b's /128 carries a's rules (the /48 covers it)
		{"2001:db8:1::7", q, true},   // and b's
		{"2001:db8:1::8", q, false},
		{"2001:db8:2::1", p, true},  // the /64
		{"2001:db8:2::1", q, false}, // outside b's /125
		{"2001:db8:2::9", q, true},  // inside it
		{"2001:db8:2::9", p, true},
		{"2001:db8:2:1::9", p, false},
		{"2001:db8:3::1", p, true},          // the lone /128
		{"2001:db8:3::2", p, false},         // the same node, another slot
		{"2001:db8:3:1::1", p, false},       // a byte its node skips differs
		{"2001:db8:4:0:1:ffff::1", p, true}, // the /80
		{"2001:db8:4:0:2::1", p, false},
		{"2001:db8:5::1", p, false}, // the same /16, no CIDR
		{"2001:db9::1", p, false},
	}
	check := func(gen uint64) {
		t.Helper()
		for _, c := range cases {
			ap := netip.AddrPortFrom(netip.MustParseAddr(c.addr), c.port)
			if ap.Addr().IsLoopback() {
				want := unix.ECONNREFUSED
				if c.deny {
					want = unix.EPERM
				}
				assert.ErrorIs(t, connect(ap), want, "gen %d: %s", gen, ap)
				continue
			}
			err := connectNonblock(t, ap)
			if c.deny {
				assert.ErrorIs(t, err, unix.EPERM, "gen %d: %s", gen, ap)
			} else {
				assert.NotErrorIs(t, err, unix.EPERM, "gen %d: %s", gen, ap)
			}
		}
	}
	set := &policy.Set{Generation: 81, Rules: []policy.Rule{a, b}}
	require.NoError(t, e.enf.Apply(set))
	e.enf.mu.Lock()
	st := e.enf.cur[e.enf.active]
	e.enf.mu.Unlock()
	require.NotEmpty(t, st.netx)
	for h, v := range st.net6 {
		require.Zero(t, v.Flags, "%#x: within the budget, no /16 is left to the trie", h)
	}
	check(81)
	// The nodes answer alone: the trie is empty (a missing entry would fall back to it).
	assert.Empty(t, st.trie6)
	e.enf.mu.Lock()
	trie := e.enf.innerFDs[e.enf.active]["osec_pol_cidr6"]
	e.enf.mu.Unlock()
	var k bpf.PolicyPolLpm6
	require.ErrorIs(t, trie.NextKey(nil, &k), ebpf.ErrKeyNotExist)

	// Over the nodes' budget, the /16s with the most nodes are left to the trie: the same
	// answers.
	defer func(n int) { netBudget = n }(netBudget)
	netBudget = 2
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 82, Rules: []policy.Rule{a, b}}))
	e.enf.mu.Lock()
	st = e.enf.cur[e.enf.active]
	e.enf.mu.Unlock()
	assert.Equal(t, net16{Flags: uint8(bpf.PolicyPolNetFlagsPOL_NET_TRIE)}, st.net6[0x2001], "2001's nodes are over the budget of 2")
	assert.Equal(t, net16{Node: 1}, st.net6[0], "::/120's one node fits")
	assert.ElementsMatch(t, []netip.Prefix{
		netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParsePrefix("2001:db8:2::/64"), netip.MustParsePrefix("2001:db8:3::1/128"),
		netip.MustParsePrefix("2001:db8:4:0:1::/80"), netip.MustParsePrefix("2001:db8:1::7/128"), netip.MustParsePrefix("2001:db8:2::8/125"),
	}, slices.Collect(maps.Keys(st.trie6)), "the trie holds 2001's CIDRs, nothing else")
	assert.Len(t, st.netx, 1)
	check(82)
}

// connectNonblock connects a non-blocking TCP socket to ap: the error of the connect call
// (EINPROGRESS when it sent a SYN).
func connectNonblock(t *testing.T, ap netip.AddrPort) error {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	loopbackUp(t)
	if _, ok := networkHook(e); !ok {
		t.Skip("this kernel has neither BPF LSM nor cgroup sock_addr hooks")
	}
	target := listener(t, "tcp4", "127.0.0.1:0")
	r := rule(1, "audit-connect", policy.EventConnect, policy.ActionAudit)
	r.Ports = []policy.PortRange{{First: target.Port(), Last: target.Port()}}
	r.Rate = policy.Rate{PerSecond: 1, Burst: 2}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 9, Rules: []policy.Rule{r}}))
	for i := 0; i < 10; i++ {
		require.NoError(t, connect(target))
	}
	e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 9 })
	time.Sleep(200 * time.Millisecond)
	e.mu.Lock()
	n := 0
	for _, d := range e.records {
		if d.Generation == 9 {
			n++
			assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), d.Outcome)
		}
	}
	e.mu.Unlock()
	assert.Equal(t, 2, n, "a burst of 2 records, the rest rate-limited")
	st, err := e.enf.Stats()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, st.RateLimited, uint64(8))
}

// makeCgroup creates a cgroup directory under the cgroup2 root and returns its path from the
// root and an O_PATH fd for clone3's CLONE_INTO_CGROUP.
func makeCgroup(t *testing.T, root, name string) (string, int) {
	p := filepath.Join(root, name)
	require.NoError(t, os.Mkdir(p, 0o755))
	t.Cleanup(func() {
		for i := 0; i < 50 && os.Remove(p) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	return "/" + name, fd
}

func runIn(cgroupFD int, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
	return cmd
}

func TestWorkloadCgroup(t *testing.T) {
	e := newEnv(t)
	if !e.enf.hooks[HookExecTP] {
		t.Skip("no tp_btf: no kill backend for exec")
	}
	if e.caps.Cgroup2Path == "" {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	pid := os.Getpid()
	pathA, fdA := makeCgroup(t, e.caps.Cgroup2Path, fmt.Sprintf("otelsec-enf-a-%d", pid))
	_, fdB := makeCgroup(t, e.caps.Cgroup2Path, fmt.Sprintf("otelsec-enf-b-%d", pid))
	dir := t.TempDir()
	touch := copyTouch(t, dir)

	r := rule(1, "kill-touch-in-a", policy.EventExec, policy.ActionKill)
	r.Signal = syscall.SIGKILL
	r.Binary.Exact = []string{touch}
	r.Workload.CgroupPaths = []string{pathA}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 11, Rules: []policy.Rule{r}}))

	inA := filepath.Join(dir, "in-a")
	cmd := runIn(fdA, touch, inA)
	require.Error(t, cmd.Run())
	require.False(t, exists(inA), "killed in the selected cgroup")
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fdA, &st))
	assert.Equal(t, st.Ino, d.CgroupID)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), d.Outcome)

	inB := filepath.Join(dir, "in-b")
	cmdB := runIn(fdB, touch, inB)
	require.NoError(t, cmdB.Run(), "the same binary runs in another cgroup")
	require.True(t, exists(inB))
	e.none(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmdB.Process.Pid) })

	// A cgroup created below the selected one after the set was applied is selected at once.
	sub := filepath.Join(e.caps.Cgroup2Path, pathA, "child")
	require.NoError(t, os.Mkdir(sub, 0o755))
	t.Cleanup(func() { os.Remove(sub) })
	fdSub, err := unix.Open(sub, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fdSub)
	inSub := filepath.Join(dir, "in-sub")
	require.Error(t, runIn(fdSub, touch, inSub).Run())
	require.False(t, exists(inSub))

	// Host: every non-container cgroup, exactly.
	r.Workload = policy.Workload{Host: true}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 12, Rules: []policy.Rule{r}}))
	inB2 := filepath.Join(dir, "in-b2")
	require.Error(t, runIn(fdB, touch, inB2).Run(), "cgroup b is a host cgroup")
	require.False(t, exists(inB2))
}

// snapshot reads back every map a set writes: the active index, both generations' headers,
// rules and rate state, the ports in use, and the inner maps in each slot of every array of
// maps with their contents.
func snapshot(t *testing.T, e *Enforcer) map[string]string {
	t.Helper()
	out := map[string]string{}
	dump := func(name string, m *ebpf.Map) {
		if m.Type() == ebpf.Array { // in batches: the CIDR lookup's arrays have 131,072 entries
			vs, n := int(m.ValueSize()), int(m.MaxEntries())
			keys := make([]uint32, n)
			vals := reflect.MakeSlice(reflect.SliceOf(reflect.ArrayOf(vs, reflect.TypeFor[byte]())), n, n)
			var c ebpf.MapBatchCursor
			got := 0
			for got < n {
				k, err := m.BatchLookup(&c, keys[got:], vals.Slice(got, n).Interface(), nil)
				got += k
				if errors.Is(err, ebpf.ErrKeyNotExist) {
					break
				}
				require.NoError(t, err, name)
			}
			var sb strings.Builder
			nz := 0
			for i := range got {
				if v := vals.Index(i).Bytes(); slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) {
					fmt.Fprintf(&sb, "%d=%x;", keys[i], v)
					nz++
				}
			}
			out[name] = fmt.Sprintf("%d of %d entries non-zero: %s", nz, got, sb.String())
			return
		}
		it := m.Iterate()
		var k, v []byte
		var sb strings.Builder
		n := 0
		for it.Next(&k, &v) {
			if m.Type() == ebpf.Array && !slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) {
				continue // zero array entries: only the others are worth comparing
			}
			fmt.Fprintf(&sb, "%x=%x;", k, v)
			n++
		}
		require.NoError(t, it.Err(), name)
		out[name] = fmt.Sprintf("%d entries: %s", n, sb.String())
	}
	for _, name := range []string{"osec_pol_active", "osec_pol_hdr", "osec_pol_rules", "osec_pol_rate", "osec_pol_ports",
		"osec_pol_net4", "osec_pol_net6", "osec_pol_net4val", "osec_pol_net6val"} {
		dump(name, e.Map(name))
	}
	for _, name := range outerMaps {
		for slot := uint32(0); slot < 2; slot++ {
			var id uint32
			err := e.Map(name).Lookup(slot, &id)
			key := name + "[" + strconv.Itoa(int(slot)) + "]"
			if err != nil {
				out[key] = "empty"
				continue
			}
			m, err := ebpf.NewMapFromID(ebpf.MapID(id))
			require.NoError(t, err)
			dump(key, m)
			out[key] = fmt.Sprintf("id %d: %s", id, out[key])
			m.Close()
		}
	}
	return out
}

func TestApplyRefusesAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	good := rule(1, "audit-touch", policy.EventExec, policy.ActionAudit)
	good.Binary.Prefix = []string{dir}
	good.UIDs = []uint32{0, 1000}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 20, Rules: []policy.Rule{good}}))
	if _, ok := networkHook(e); ok {
		n := rule(2, "deny-net", policy.EventConnect, policy.ActionDeny)
		n.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		n.Ports = []policy.PortRange{{First: 22, Last: 22}}
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 21, Rules: []policy.Rule{good, n}}))
	}
	before := snapshot(t, e.enf)
	stateBefore := e.enf.Rules()

	tooMany := &policy.Set{Generation: 30}
	for i := 0; i < MaxRules+1; i++ {
		r := rule(uint32(i+1), "r"+strconv.Itoa(i), policy.EventExec, policy.ActionAudit)
		tooMany.Rules = append(tooMany.Rules, r)
	}
	bigPaths := rule(1, "big", policy.EventExec, policy.ActionAudit)
	for i := 0; i <= MaxPathEntries; i++ {
		bigPaths.Binary.Prefix = append(bigPaths.Binary.Prefix, "/p/"+strconv.Itoa(i))
	}
	bigCIDRs := rule(1, "bigcidr", policy.EventConnect, policy.ActionAudit)
	for i := 0; i <= MaxCIDREntries; i++ {
		bigCIDRs.CIDRs = append(bigCIDRs.CIDRs, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
	}
	fileDeny := rule(2, "deny-shadow", policy.EventFile, policy.ActionDeny)
	fileDeny.Paths.Exact = []string{"/etc/shadow"}
	listen := rule(2, "deny-listen", policy.EventListen, policy.ActionDeny)
	longPath := rule(2, "long", policy.EventExec, policy.ActionAudit)
	longPath.Binary.Exact = []string{"/" + strings.Repeat("a", 300)}
	args := rule(2, "args", policy.EventExec, policy.ActionAudit)
	args.ArgsContain = []string{"-c", "x"} // one byte: too short for the kernel's scan
	tooManyArgs := rule(2, "many-args", policy.EventExec, policy.ActionAudit)
	for i := range MaxArgStrings + 1 {
		tooManyArgs.ArgsContain = append(tooManyArgs.ArgsContain, fmt.Sprintf("--opt%d", i))
	}
	badID := rule(5, "bad-id", policy.EventExec, policy.ActionAudit)

	cases := map[string]*policy.Set{
		"too many rules":            tooMany,
		"too many path prefixes":    {Generation: 31, Rules: []policy.Rule{bigPaths}},
		"too many CIDRs":            {Generation: 32, Rules: []policy.Rule{bigCIDRs}},
		"path too long":             {Generation: 35, Rules: []policy.Rule{good, longPath}},
		"argument string too short": {Generation: 36, Rules: []policy.Rule{good, args}},
		"too many argument strings": {Generation: 38, Rules: []policy.Rule{good, tooManyArgs}},
		"rule ids not index plus 1": {Generation: 37, Rules: []policy.Rule{badID}},
	}
	if !e.enf.hooks[HookFileLSM] {
		cases["file deny without BPF LSM"] = &policy.Set{Generation: 33, Rules: []policy.Rule{good, fileDeny}}
	}
	if !e.enf.hooks[HookListenLSM] {
		cases["listen deny without BPF LSM or fallback"] = &policy.Set{Generation: 34, Rules: []policy.Rule{good, listen}}
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			err := e.enf.Apply(set)
			require.Error(t, err)
			t.Log(err)
			require.Equal(t, err, e.enf.LastError())
			assert.Equal(t, before, snapshot(t, e.enf), "maps changed by a refused set")
			assert.Equal(t, stateBefore, e.enf.Rules())
		})
	}

	// The set in force still works after the refusals.
	if len(stateBefore) == 2 {
		err := connect(netip.MustParseAddrPort("10.255.255.1:22"))
		require.ErrorIs(t, err, unix.EPERM)
	}
}

// TestCompileNeed checks the header's per-hook summary of the sets its rules use
// (struct pol_hdr's need): a program skips a set whose bit is clear, so a missing bit would
// make a selector or an action silently not apply.
func TestCompileNeed(t *testing.T) {
	plain := rule(1, "plain", policy.EventExec, policy.ActionAudit)
	parent := rule(2, "parent", policy.EventExec, policy.ActionKill)
	parent.ParentBinary.Exact = []string{"/usr/bin/bash"}
	args := rule(3, "args", policy.EventExec, policy.ActionSuppress)
	args.ArgsContain = []string{"--quiet"}
	args.UIDs = []uint32{0}
	conn := rule(4, "conn", policy.EventConnect, policy.ActionDeny)
	conn.EUIDs = []uint32{1000}
	conn.Capabilities = []string{"CAP_NET_RAW"}
	conn.Workload.Host = true
	sig := rule(5, "sig", policy.EventExec, policy.ActionSignal)
	sig.Signal = 10
	sig.Mode = policy.ModeMonitor // monitor: no signal sent, the signal set is not used
	hooks := map[Hook]bool{HookExecTP: true, HookConnectCG: true}

	st, err := compile(&policy.Set{Rules: []policy.Rule{plain}}, hooks)
	require.NoError(t, err)
	assert.Equal(t, [16]uint16{}, st.hdr.Need, "an audit rule with a binary-free, selector-free match uses no set")

	st, err = compile(&policy.Set{Rules: []policy.Rule{plain, parent, args, conn, sig}}, hooks)
	require.NoError(t, err)
	want := [16]uint16{}
	want[HookExecTP] = uint16(bpf.PolicyPolNeedPOL_NEED_PARENT | bpf.PolicyPolNeedPOL_NEED_KILL |
		bpf.PolicyPolNeedPOL_NEED_ARGS | bpf.PolicyPolNeedPOL_NEED_SUPPRESS | bpf.PolicyPolNeedPOL_NEED_UID)
	want[HookConnectCG] = uint16(bpf.PolicyPolNeedPOL_NEED_DENY | bpf.PolicyPolNeedPOL_NEED_EUID |
		bpf.PolicyPolNeedPOL_NEED_CAP | bpf.PolicyPolNeedPOL_NEED_WORKLOAD)
	assert.Equal(t, want, st.hdr.Need)
}

// TestCompileNetOverflow: a set whose CIDRs of a family carry more than 255 distinct sets of
// rules (the index of osec_pol_net4val and osec_pol_net6val is a byte) leaves every /16 of that
// family to the trie, and says so in the flags.
func TestCompileNetOverflow(t *testing.T) {
	var set policy.Set
	for i := range MaxRules {
		r := rule(uint32(i+1), fmt.Sprintf("r%d", i), policy.EventConnect, policy.ActionAudit)
		r.CIDRs = []netip.Prefix{
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 7, 0}), 24),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i)}), 48),
		}
		set.Rules = append(set.Rules, r)
	}
	st, err := compile(&set, map[Hook]bool{HookConnectCG: true})
	require.NoError(t, err)
	trie := net16{Flags: uint8(bpf.PolicyPolNetFlagsPOL_NET_TRIE)}
	assert.Empty(t, st.netx)
	assert.Equal(t, []bits{{}}, st.net4val)
	require.Len(t, st.net4, MaxRules)
	for h, v := range st.net4 {
		assert.Equal(t, trie, v, "%#x", h)
	}
	assert.Equal(t, map[uint16]net16{0x2001: trie}, st.net6)
	assert.Equal(t, []bits{{}}, st.net6val)
	// One rule fewer fits: per IPv4 /16 a node (at the mapped address's byte 14, 10.i.7's
	// slot); for IPv6 one node, at byte 5 of 2001:db8::/32, with a slot per rule.
	set.Rules = set.Rules[:MaxRules-1]
	st, err = compile(&set, map[Hook]bool{HookConnectCG: true})
	require.NoError(t, err)
	assert.Len(t, st.net4val, MaxRules)
	require.Len(t, st.net4, MaxRules-1)
	for h, v := range st.net4 {
		require.NotZero(t, v.Node, "%#x", h)
		n := st.netx[v.Node-1]
		assert.Equal(t, uint32(14), n.Lvl)
		assert.Equal(t, bitsOf0(int(h&0xff)), st.net4val[n.Val[7]], "%#x", h)
	}
	require.Len(t, st.net6, 1)
	require.Len(t, st.netx, MaxRules)
	n6 := st.netx[st.net6[0x2001].Node-1]
	assert.Equal(t, uint32(5), n6.Lvl)
	for x := range MaxRules - 1 {
		assert.Equal(t, bitsOf0(x), st.net6val[n6.Val[x]], "slot %d", x)
	}
	assert.Zero(t, n6.Val[MaxRules-1])
	assert.Len(t, st.net6val, MaxRules)
}

// bitsOf0 is the set of rule bits ids (from 0).
func bitsOf0(ids ...int) bits {
	var b bits
	for _, i := range ids {
		set(&b, i)
	}
	return b
}

// TestCompileNetLookup checks the compiled CIDR lookup against the CIDRs themselves: random sets
// of nested CIDRs of both families, and for addresses in, beside and between them, a walk of the
// nodes as policy.bpf.c's net_lookup walks them must give the rules of every CIDR covering the
// address (the kernel's walk itself is TestConnectCIDRLookup's and TestConnectCIDRLookup6's).
func TestCompileNetLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	mapped4 := netip.MustParsePrefix("::ffff:0:0/96")
	walk := func(st *state, a [16]byte) (bits, bool) {
		ent, vals := st.net6[uint16(a[0])<<8|uint16(a[1])], st.net6val
		if netip.AddrFrom16(a).Is4In6() {
			ent, vals = st.net4[uint16(a[12])<<8|uint16(a[13])], st.net4val
		}
		if ent.Flags != 0 {
			return bits{}, false
		}
		val, node := ent.Val, uint32(ent.Node)
		for node != 0 {
			n := st.netx[node-1]
			lo, hi := binary.NativeEndian.Uint64(a[:8]), binary.NativeEndian.Uint64(a[8:])
			if lo&n.Mask[0] != n.Addr[0] || hi&n.Mask[1] != n.Addr[1] {
				return vals[val], true
			}
			k := a[n.Lvl]
			val = n.Val[k]
			w := n.Has[k/64]
			if w>>(k%64)&1 == 0 {
				break
			}
			node = n.Kids + uint32(n.Rank[k/64]) + uint32(mbits.OnesCount64(w&(1<<(k%64)-1))) + 1
		}
		return vals[val], true
	}
	for round := range 40 {
		var ps policy.Set
		var seeds []netip.Prefix
		for r := range 1 + rng.IntN(6) {
			ru := rule(uint32(r+1), fmt.Sprintf("r%d", r), policy.EventConnect, policy.ActionAudit)
			for range 1 + rng.IntN(60) {
				var p netip.Prefix
				if len(seeds) > 0 && rng.IntN(3) > 0 { // nested in, or beside, an earlier one
					base := seeds[rng.IntN(len(seeds))]
					a := base.Addr().As16()
					a[rng.IntN(16)] ^= byte(1 << rng.IntN(8))
					p = netip.PrefixFrom(netip.AddrFrom16(a), base.Bits()+rng.IntN(129-base.Bits()))
				} else if rng.IntN(2) == 0 {
					a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(256)), byte(rng.IntN(256))})
					p = netip.PrefixFrom(netip.AddrFrom16(a.As16()), 96+8+rng.IntN(25))
				} else {
					var a [16]byte
					a[0], a[1], a[2], a[15] = 0x20, 0x01, byte(rng.IntN(3)), byte(rng.IntN(256))
					p = netip.PrefixFrom(netip.AddrFrom16(a), 8+rng.IntN(121))
				}
				p = p.Masked()
				if p.Bits() < 96 && p.Overlaps(mapped4) {
					continue // an IPv6 CIDR over IPv4-mapped addresses: IPv4 connects never see it
				}
				seeds = append(seeds, p)
				ru.CIDRs = append(ru.CIDRs, p)
			}
			ps.Rules = append(ps.Rules, ru)
		}
		st, err := compile(&ps, map[Hook]bool{HookConnectCG: true})
		require.NoError(t, err)
		for _, p := range seeds {
			for range 8 {
				a := p.Addr().As16()
				for i := p.Bits() / 8; i < 16; i++ { // inside p, or beside it
					a[i] = byte(rng.IntN(256))
				}
				if rng.IntN(4) == 0 {
					a[rng.IntN(16)] ^= 1
				}
				addr := netip.AddrFrom16(a)
				var want bits
				for r, ru := range ps.Rules {
					for _, c := range ru.CIDRs {
						if c.Contains(addr) || (addr.Is4In6() && c.Addr().Is4() && c.Contains(addr.Unmap())) {
							set(&want, r)
						}
					}
				}
				got, ok := walk(st, a)
				require.True(t, ok, "round %d: %s: left to the trie, within the budget", round, addr)
				require.Equal(t, want, got, "round %d: %s", round, addr)
			}
		}
	}
}

func TestCompileClosure(t *testing.T) {
	a := rule(1, "a", policy.EventExec, policy.ActionAudit)
	a.Binary.Prefix = []string{"/usr"}
	b := rule(2, "b", policy.EventExec, policy.ActionAudit)
	b.Binary.Prefix = []string{"/usr/bin/"}
	c := rule(3, "c", policy.EventConnect, policy.ActionAudit)
	c.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:10.1.0.0/112"), netip.MustParsePrefix("fd00::/8")}
	d := rule(4, "d", policy.EventConnect, policy.ActionAudit)
	d.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	root := rule(5, "root", policy.EventExec, policy.ActionAudit)
	root.Binary.Prefix = []string{"/"}
	st, err := compile(&policy.Set{Rules: []policy.Rule{a, b, c, d, root}}, map[Hook]bool{HookExecTP: true, HookConnectCG: true})
	require.NoError(t, err)
	bitsOf := func(ids ...int) bits {
		var b bits
		for _, i := range ids {
			set(&b, i-1)
		}
		return b
	}
	assert.Equal(t, map[string]binval{"/": {Match: bitsOf(5)}, "/usr/": {Match: bitsOf(1, 5)}, "/usr/bin/": {Match: bitsOf(1, 2, 5)}}, st.binPrefix)
	assert.Equal(t, map[netip.Prefix]bits{
		netip.MustParsePrefix("10.0.0.0/8"):  bitsOf(3),
		netip.MustParsePrefix("10.1.0.0/16"): bitsOf(3, 4),
	}, st.cidr4)
	assert.Equal(t, map[netip.Prefix]bits{netip.MustParsePrefix("fd00::/8"): bitsOf(3)}, st.cidr6)
	// Without the tries: the IPv4 /16s that 10.0.0.0/8 covers (10.0 to 10.255) each carry the
	// rules of the longest CIDR covering them (10.1: 10.1.0.0/16), by index, and no node; the
	// IPv6 /16s fd00::/8 covers (fd00 to fdff), nothing else.
	require.Len(t, st.net4val, 3, "none, {3}, {3, 4}")
	require.Len(t, st.net4, 256)
	for h := uint16(0x0a00); h <= 0x0aff; h++ {
		v := st.net4[h]
		assert.Zero(t, v.Node)
		assert.Zero(t, v.Flags)
		want := bitsOf(3)
		if h == 0x0a01 {
			want = bitsOf(3, 4)
		}
		assert.Equal(t, want, st.net4val[v.Val], "10.%d", h&0xff)
	}
	require.Len(t, st.net6, 256)
	for h := uint16(0xfd00); h <= 0xfdff; h++ {
		assert.Equal(t, net16{Val: 1}, st.net6[h], "%#x", h)
	}
	assert.Equal(t, []bits{{}, bitsOf(3)}, st.net6val)
	assert.Empty(t, st.netx)

	// CIDRs longer than /16: the nodes, depth first, each at the first byte where its CIDRs
	// part or one ends (IPv4 addresses mapped: byte 14 is an IPv4 address's third).
	n := rule(1, "n", policy.EventConnect, policy.ActionAudit)
	n.CIDRs = []netip.Prefix{
		netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("192.168.2.128/25"),
		netip.MustParsePrefix("192.168.4.0/22"), netip.MustParsePrefix("192.168.4.9/32"),
		netip.MustParsePrefix("192.168.200.7/32"), netip.MustParsePrefix("10.2.0.0/17"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("2002::/15"),
	}
	nst, err := compile(&policy.Set{Rules: []policy.Rule{n}}, map[Hook]bool{HookConnectCG: true})
	require.NoError(t, err)
	assert.Equal(t, map[uint16]net16{0x0a02: {Node: 1}, 0xc0a8: {Node: 2}}, nst.net4)
	assert.Equal(t, map[uint16]net16{0x2001: {Node: 6}, 0x2002: {Val: 1}, 0x2003: {Val: 1}}, nst.net6)
	// Per slot, the rules of the longest CIDR covering it (index 1: the rule's; 0: none).
	require.Equal(t, []bits{{}, bitsOf(1)}, nst.net4val)
	require.Equal(t, []bits{{}, bitsOf(1)}, nst.net6val)
	node := func(prefix []byte, lvl int, spans ...[2]int) (n bpf.PolicyPolNetn) {
		var addr, mask [16]byte
		copy(addr[:], prefix)
		for x := range prefix {
			mask[x] = 0xff
		}
		n.Addr = [2]uint64{binary.NativeEndian.Uint64(addr[:8]), binary.NativeEndian.Uint64(addr[8:])}
		n.Mask = [2]uint64{binary.NativeEndian.Uint64(mask[:8]), binary.NativeEndian.Uint64(mask[8:])}
		n.Lvl = uint32(lvl)
		for _, s := range spans {
			for x := s[0]; x <= s[1]; x++ {
				n.Val[x] = 1
			}
		}
		return n
	}
	v4 := func(b ...byte) []byte { return append([]byte{10: 0xff, 11: 0xff}, b...) }
	// 192.168's children: bytes 2, 4 and 200, at 2, 3 and 4.
	c0a8 := node(v4(192, 168), 14, [2]int{1, 1}, [2]int{4, 7}) // .1/24, the /22
	c0a8.Kids, c0a8.Has, c0a8.Rank = 2, [4]uint64{1<<2 | 1<<4, 0, 0, 1 << (200 - 192)}, [4]uint8{0, 2, 2, 2}
	assert.Equal(t, []bpf.PolicyPolNetn{
		node(v4(10, 2), 14, [2]int{0, 127}), // 10.2.0.0/17
		c0a8,
		node(v4(192, 168, 2), 15, [2]int{128, 255}),           // the /25
		node(v4(192, 168, 4), 15, [2]int{0, 255}),             // the /22, and the /32 in it
		node(v4(192, 168, 200), 15, [2]int{7, 7}),             // the /32
		node([]byte{0x20, 0x01, 0x0d}, 3, [2]int{0xb8, 0xb8}), // 2001:db8::/32
	}, nst.netx)
	assert.Equal(t, bitsOf(1, 2, 5), st.hdr.Hook[HookExecTP])
	assert.Equal(t, bitsOf(3, 4), st.hdr.Hook[HookConnectCG])
	assert.Equal(t, bitsOf(3, 4), st.hdr.AnyBinary)

	// Suffixes are stored reversed, each with the rules of the shorter suffixes it ends with;
	// exceptions alongside.
	sh := rule(1, "sh", policy.EventExec, policy.ActionAudit)
	sh.Binary.Suffix = []string{"sh", "/bash"}
	sh.ExceptBinary.Exact = []string{"/usr/bin/bash"}
	dash := rule(2, "dash", policy.EventExec, policy.ActionAudit)
	dash.Binary.Suffix = []string{"/dash"}
	dash.ExceptBinary.Suffix = []string{"ash"}
	st, err = compile(&policy.Set{Rules: []policy.Rule{sh, dash}}, map[Hook]bool{HookExecTP: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]binval{
		"hs":    {Match: bitsOf(1)},
		"hsab/": {Match: bitsOf(1), Except: bitsOf(2)},
		"hsad/": {Match: bitsOf(1, 2), Except: bitsOf(2)},
		"hsa":   {Match: bitsOf(1), Except: bitsOf(2)},
	}, st.binSuffix)
	assert.Equal(t, map[string]binval{"/usr/bin/bash": {Except: bitsOf(1)}}, st.binExact)
	assert.Equal(t, bitsOf(1, 2), st.hdr.BinSuffix)
	assert.Equal(t, bitsOf(1, 2), st.hdr.BinExcept)
}

// loopbackUp raises lo where nothing did (a guest's init): the allowed connections need it.
func loopbackUp(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	require.NoError(t, err)
	require.NoError(t, unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr))
	if ifr.Uint16()&unix.IFF_UP == 0 {
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		require.NoError(t, unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr))
	}
}

// TestLSM: deny with BPF LSM, where it is active (the qemu kernels of `make vmtest`).
func TestLSM(t *testing.T) {
	e := newEnv(t)
	if !e.enf.hooks[HookExecLSM] {
		t.Skip("BPF LSM is not active on this kernel (lsm= without bpf, or programs refused): run `make vmtest`")
	}
	dir := t.TempDir()
	touch := copyTouch(t, dir)

	t.Run("exec", func(t *testing.T) {
		r := rule(1, "deny-touch", policy.EventExec, policy.ActionDeny)
		r.Binary.Prefix = []string{filepath.Dir(touch)}
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 40, Rules: []policy.Rule{r}}))
		require.Equal(t, HookExecLSM, e.enf.Rules()[0].Backend)
		marker := filepath.Join(dir, "created")
		cmd := exec.Command(touch, marker)
		err := cmd.Start()
		require.ErrorIs(t, err, unix.EPERM, "execve must fail with EPERM")
		require.False(t, exists(marker))
		d := e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 40 })
		// The exec is denied before it happens: the process is still the test's forked child.
		assert.NotEqual(t, uint32(os.Getpid()), d.TGID)
		self, err := os.ReadFile("/proc/self/comm")
		require.NoError(t, err)
		assert.Equal(t, strings.TrimSpace(string(self)), d.Comm)
		assert.Equal(t, uint8(HookExecLSM), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d.Outcome)
		assert.Equal(t, touch, d.Path)
	})

	t.Run("file_open", func(t *testing.T) {
		secret := filepath.Join(dir, "secret")
		require.NoError(t, os.WriteFile(secret, []byte("x"), 0o600))
		r := rule(1, "deny-secret-write", policy.EventFile, policy.ActionDeny)
		r.Paths.Exact = []string{secret}
		r.FileOps = policy.FileWrite
		a := rule(2, "audit-dir", policy.EventFile, policy.ActionAudit)
		a.Paths.Prefix = []string{dir}
		a.FileOps = policy.FileRead
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 41, Rules: []policy.Rule{r, a}}))
		require.Equal(t, HookFileLSM, e.enf.Rules()[0].Backend)

		_, err := os.OpenFile(secret, os.O_WRONLY|os.O_TRUNC, 0)
		require.ErrorIs(t, err, unix.EPERM)
		b, err := os.ReadFile(secret)
		require.NoError(t, err, "reading stays allowed")
		require.Equal(t, "x", string(b), "the denied O_TRUNC did not truncate")

		pid := uint32(os.Getpid())
		d := e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 41 && d.RuleID == 1 })
		assert.Equal(t, pid, d.TGID)
		assert.Equal(t, uint8(HookFileLSM), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d.Outcome)
		assert.Equal(t, secret, d.Path)
		assert.Equal(t, uint32(policy.FileOpen|policy.FileWrite|policy.FileTruncate), d.FileOps)
		d = e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 41 && d.RuleID == 2 })
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), d.Outcome)
		assert.Equal(t, secret, d.Path)
		assert.Equal(t, uint32(policy.FileOpen|policy.FileRead), d.FileOps)
	})

	t.Run("connect", func(t *testing.T) {
		loopbackUp(t)
		denied := listener(t, "tcp4", "127.0.0.1:0")
		allowed := listener(t, "tcp4", "127.0.0.1:0")
		r := rule(1, "deny-port", policy.EventConnect, policy.ActionDeny)
		r.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		r.Ports = []policy.PortRange{{First: denied.Port(), Last: denied.Port()}}
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 42, Rules: []policy.Rule{r}}))
		require.Equal(t, HookConnectLSM, e.enf.Rules()[0].Backend)
		require.ErrorIs(t, connect(denied), unix.EPERM)
		require.NoError(t, connect(allowed))
		d := e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 42 })
		assert.Equal(t, uint8(HookConnectLSM), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d.Outcome)
		assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Addr)
		assert.Equal(t, denied.Port(), d.Port)
		assert.Equal(t, uint16(unix.IPPROTO_TCP), d.Protocol)
	})
}

// pods is a pod source the test fills (the node's pod cache in the collector).
type pods struct {
	mu      sync.Mutex
	list    []*k8s.Pod
	changed chan struct{}
}

func (p *pods) Pods(fn func(*k8s.Pod) bool) {
	p.mu.Lock()
	list := slices.Clone(p.list)
	p.mu.Unlock()
	for _, pod := range list {
		if !fn(pod) {
			return
		}
	}
}

func (p *pods) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *pods) add(pod *k8s.Pod) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pod)
	close(p.changed)
	p.changed = make(chan struct{})
}

// TestWorkloadKubernetes: pod selectors resolve to the cgroups of the pods' containers (found
// by container id under the cgroup2 mount), and again when the pod cache changes.
func TestWorkloadKubernetes(t *testing.T) {
	src := &pods{changed: make(chan struct{})}
	// A long interval: only the pod cache's change notification can resolve the new pod in time.
	e := newEnvWith(t, Options{Pods: src, ResolveInterval: time.Hour})
	if !e.enf.hooks[HookExecTP] {
		t.Skip("no tp_btf: no kill backend for exec")
	}
	if e.caps.Cgroup2Path == "" {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	parent, _ := makeCgroup(t, e.caps.Cgroup2Path, fmt.Sprintf("otelsec-enf-pods-%d", os.Getpid()))
	id := func(c byte) string { return strings.Repeat(string(c), 64) }
	_, fdWeb := makeCgroup(t, e.caps.Cgroup2Path, strings.TrimPrefix(parent, "/")+"/cri-containerd-"+id('a')+".scope")
	_, fdDB := makeCgroup(t, e.caps.Cgroup2Path, strings.TrimPrefix(parent, "/")+"/cri-containerd-"+id('b')+".scope")
	_, fdWeb2 := makeCgroup(t, e.caps.Cgroup2Path, strings.TrimPrefix(parent, "/")+"/cri-containerd-"+id('c')+".scope")
	src.add(&k8s.Pod{UID: "u1", Name: "web-1", Namespace: "prod", Labels: []k8s.KeyValue{{Key: "app", Value: "web"}},
		Containers: []k8s.Container{{ID: id('a'), Name: "app", ImageName: "registry.example/web", ImageTag: "1.0"}}})
	src.add(&k8s.Pod{UID: "u2", Name: "db-1", Namespace: "prod", Labels: []k8s.KeyValue{{Key: "app", Value: "db"}},
		Containers: []k8s.Container{{ID: id('b'), Name: "app"}}})

	dir := t.TempDir()
	touch := copyTouch(t, dir)
	r := rule(1, "kill-touch-in-web", policy.EventExec, policy.ActionKill)
	r.Signal = syscall.SIGKILL
	r.Binary.Exact = []string{touch}
	r.Workload = policy.Workload{Namespaces: []string{"prod"}, PodSelector: "app=web", ContainerNames: []string{"app"}, Images: []string{"registry.example/web"}}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 50, Rules: []policy.Rule{r}}))

	web := filepath.Join(dir, "web")
	require.Error(t, runIn(fdWeb, touch, web).Run())
	require.False(t, exists(web), "killed in the selected pod's container")
	db := filepath.Join(dir, "db")
	require.NoError(t, runIn(fdDB, touch, db).Run(), "another pod's container is not selected")
	require.True(t, exists(db))

	// A new pod of the selection: selected once the pod cache says it changed.
	src.add(&k8s.Pod{UID: "u3", Name: "web-2", Namespace: "prod", Labels: []k8s.KeyValue{{Key: "app", Value: "web"}},
		Containers: []k8s.Container{{ID: id('c'), Name: "app", ImageName: "registry.example/web", ImageTag: "1.1"}}})
	require.Eventually(t, func() bool {
		p := filepath.Join(dir, "web2-"+strconv.FormatInt(time.Now().UnixNano(), 10))
		err := runIn(fdWeb2, touch, p).Run()
		return err != nil && !exists(p)
	}, 5*time.Second, 50*time.Millisecond, "the new pod's container was not selected")

	// Without a pod source, pod selectors are refused.
	e2 := newEnv(t)
	err := e2.enf.Apply(&policy.Set{Generation: 51, Rules: []policy.Rule{r}})
	require.ErrorContains(t, err, "no pod cache")
}
