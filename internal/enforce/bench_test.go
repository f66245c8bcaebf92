package enforce

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/policy"
)

// BenchmarkPolicyEnforcement measures the in-kernel cost of the policy programs per operation
// with a one-entry policy and with 10,000 path prefixes and 10,000 CIDRs, and the cost of a
// decision (a matching rule: the record written) per exec. Method (BENCHMARKS.md, "Policy
// enforcement"):
//
//   - the sensors and the enforcer are loaded once; the scenarios are policy sets applied in
//     turn (Apply's atomic swap), in rotating order, OTELSEC_POLICY_BENCH_ROUNDS rounds
//     (default 15):
//     off     an empty set: the programs run and return at the active-set check;
//     one     an exec audit rule with one binary prefix and a connect deny rule with one
//     CIDR, neither matching the operations (every lookup is done, nothing is decided);
//     10k     the same rules with 10,000 binary prefixes (under the binary's own first
//     component, so the trie is searched deep) and 10,000 CIDRs (in 127.0.0.0/8 and
//     10.0.0.0/8 around the connected address, none in its /16: the /16's entry, with a
//     bit per /24, answers);
//     10k/16  the same, with the 10,000 CIDRs in the connected address's own /16
//     (127.0.1.0 to 127.0.40.255, not its /24): the /16's entry still answers;
//     match   the exec rule's prefix matches the binary: one audit decision per exec;
//     except  the same rule with the binary as an exception: the same lookups, no decision
//     (match - except is what the decision adds) (exec only);
//     parent  the binary matches, a parent binary suffix does not: the parent's path walked
//     and looked up, no decision (exec only);
//     args    the binary matches, an args.contain string does not: the whole command line
//     (1,000 bytes, see below) read and scanned, no decision (exec only);
//     one/16  "one" with its CIDR in the connected address's /16 (127.0.1.0/24): the
//     baseline of 10k/16;
//     hit     "one" with its CIDR covering the connected address (127.0.0.0/24), its ports
//     not: the address's /24 entry is read and matches, no decision;
//     10k/hit the CIDRs of 10k/16 and that one: the same reads among 10,001 CIDRs;
//     nested  a CIDR of each length /25 to /32 in the address's /24, none covering it;
//     10k/nested  those and the CIDRs of 10k/16;
//     inner, 10k/inner  the same with 127.0.0.1/32, which covers the address;
//     one6, 10k6, hit6, 10k6/hit  IPv6, connect only, to ::1 (cgroup/connect6 or the LSM
//     program): one CIDR or 10,000 in another /16, a CIDR covering the address alone or
//     with 10,000 around it; deep6, that CIDR with 13 /128s that make the address's path in
//     the lookup as deep as it goes (a node per byte);
//   - each block: OTELSEC_POLICY_BENCH_EXECS (default 200) fork+exec+wait of a copy of true
//     with one 1,000-byte argument (50 × "--some-option=value "),
//     and OTELSEC_POLICY_BENCH_CONNECTS (default 5,000) TCP connects to a closed loopback
//     port, with BPF_ENABLE_STATS on: the mean run time of tp_btf/sched_process_exec's and
//     cgroup/connect4's (or lsm/socket_connect's) policy program over the block;
//   - the ring buffer batches wakeups as the receiver does by default (wakeup_every 64);
//   - the medians over the rounds are reported (ns per run); the statistics' own clock reads
//     are in the figures.
func BenchmarkPolicyEnforcement(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	// The receiver's default wakeup batching (64): a decision's record does not wake the reader.
	e := newEnvWith(b, Options{ResolveInterval: time.Hour}, 64)
	if !e.enf.hooks[HookExecTP] {
		b.Skip("needs tp_btf")
	}
	connHook, connProg, conn6Prog := HookConnectCG, "osec_pol_c4", "osec_pol_c6"
	if e.enf.hooks[HookConnectLSM] {
		connHook, connProg, conn6Prog = HookConnectLSM, "osec_pol_connect_lsm", "osec_pol_connect_lsm"
	}
	if !e.enf.hooks[connHook] {
		b.Skip("needs a connect hook")
	}
	rounds := envInt("OTELSEC_POLICY_BENCH_ROUNDS", 15)
	execs := envInt("OTELSEC_POLICY_BENCH_EXECS", 200)
	connects := envInt("OTELSEC_POLICY_BENCH_CONNECTS", 5000)

	dir := b.TempDir()
	truePath := copyBin(b, "/bin/true", dir)
	first := "/" + strings.Split(strings.TrimPrefix(truePath, "/"), "/")[0]

	// A closed loopback port: connect fails at once with ECONNREFUSED.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	require.NoError(b, err)
	require.NoError(b, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := unix.Getsockname(fd)
	require.NoError(b, err)
	unix.Close(fd)
	port := sa.(*unix.SockaddrInet4).Port
	fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
	require.NoError(b, err)
	require.NoError(b, unix.Bind(fd, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}))
	sa, err = unix.Getsockname(fd)
	require.NoError(b, err)
	unix.Close(fd)
	port6 := sa.(*unix.SockaddrInet6).Port

	execRule := func(prefixes []string) policy.Rule {
		r := rule(1, "exec", policy.EventExec, policy.ActionAudit)
		r.Binary.Prefix = prefixes
		return r
	}
	connRule := func(cidrs []netip.Prefix) policy.Rule {
		r := rule(2, "connect", policy.EventConnect, policy.ActionDeny)
		r.CIDRs = cidrs
		r.Ports = []policy.PortRange{{First: 1, Last: 1023}}
		return r
	}
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprintf("%s/bench-%d/tenant-%05d/bin", first, i%97, i)
	}
	cidrs := make([]netip.Prefix, 10000)
	for i := range cidrs {
		a := [4]byte{10, byte(i >> 8), byte(i), 1}
		if i%2 == 0 {
			a = [4]byte{127, 1 + byte(i>>8), byte(i), 1}
		}
		cidrs[i] = netip.PrefixFrom(netip.AddrFrom4(a), 24+i%9).Masked()
	}
	// The same number of CIDRs in the connected address's own /16 (127.0.1.0 to 127.0.40.255,
	// not 127.0.0.1): the first-level filter lets the address through, the trie is searched.
	near := make([]netip.Prefix, 10000)
	for i := range near {
		near[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 1 + byte(i>>8), byte(i)}), 24+i%9).Masked()
	}
	parentRule := execRule([]string{filepath.Dir(truePath)})
	parentRule.ParentBinary.Suffix = []string{"/no-such-parent"}
	exceptRule := execRule([]string{filepath.Dir(truePath)})
	exceptRule.ExceptBinary.Exact = []string{truePath}
	argsRule := execRule([]string{filepath.Dir(truePath)})
	argsRule.ArgsContain = []string{"stratum+tcp://"}
	longArg := strings.Repeat("--some-option=value ", 50)
	// A CIDR of each length /25 to /32 in the connected address's /24, none covering it: the
	// most exact-match reads an IPv4 lookup makes (8, then the /24's entry).
	var nested []netip.Prefix
	for l := 25; l <= 32; l++ {
		last := 0 // 127.0.0.0/32
		if l < 32 {
			last = 1 << (32 - l) // 127.0.0.128/25, .64/26, ..., .2/31
		}
		nested = append(nested, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(last)}), l))
	}
	scenarios := []struct {
		name     string
		set      *policy.Set
		execOnly bool
	}{
		{"off", &policy.Set{}, false},
		{"one", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")})}}, false},
		{"10k", &policy.Set{Rules: []policy.Rule{execRule(many), connRule(cidrs)}}, false},
		{"10k/16", &policy.Set{Rules: []policy.Rule{execRule(many), connRule(near)}}, false},
		{"match", &policy.Set{Rules: []policy.Rule{execRule([]string{filepath.Dir(truePath)}), connRule([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")})}}, false},
		{"except", &policy.Set{Rules: []policy.Rule{exceptRule}}, true},
		{"parent", &policy.Set{Rules: []policy.Rule{parentRule}}, true},
		{"args", &policy.Set{Rules: []policy.Rule{argsRule}}, true},
		{"one/16", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule([]netip.Prefix{netip.MustParsePrefix("127.0.1.0/24")})}}, false},
		{"hit", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/24")})}}, false},
		{"10k/hit", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(append(slices.Clone(near), netip.MustParsePrefix("127.0.0.0/24")))}}, false},
		{"nested", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(nested)}}, false},
		{"10k/nested", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(append(slices.Clone(near), nested...))}}, false},
		{"inner", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(append(slices.Clone(nested), netip.MustParsePrefix("127.0.0.1/32")))}}, false},
		{"10k/inner", &policy.Set{Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(append(append(slices.Clone(near), nested...), netip.MustParsePrefix("127.0.0.1/32")))}}, false},
	}
	// IPv6, connect only, to ::1 (the IPv6 lookup is an entry per /16, then a node per level
	// where the CIDRs part or end): one6 and 10k6, one CIDR or 10,000 (/112 to /128) in another
	// /16 (fd00::/16); hit6 and 10k6/hit, a CIDR covering the address (::/120) alone or with
	// 10,000 in its /16 around it (::1:0 to ::28:ffff): one node more.
	near6 := make([]netip.Prefix, 10000)
	far6 := make([]netip.Prefix, 10000)
	for i := range near6 {
		var a [16]byte
		a[13], a[14], a[15] = byte(1+i>>8), byte(i), 1
		near6[i] = netip.PrefixFrom(netip.AddrFrom16(a), 112+i%17).Masked()
		a[0] = 0xfd
		far6[i] = netip.PrefixFrom(netip.AddrFrom16(a), 112+i%17).Masked()
	}
	hit6 := netip.MustParsePrefix("::/120")
	// deep6: the address's path at its deepest, a node per byte (2 to 14): a /128 parting from
	// ::1 at each of those bytes, and hit6 (13 CIDRs: depth, not number).
	deep6 := []netip.Prefix{hit6}
	for l := 2; l < 15; l++ {
		var a [16]byte
		a[l], a[15] = 1, 1
		deep6 = append(deep6, netip.PrefixFrom(netip.AddrFrom16(a), 128))
	}
	scenarios6 := []struct {
		name  string
		cidrs []netip.Prefix
	}{
		{"one6", []netip.Prefix{netip.MustParsePrefix("fd00::/64")}},
		{"10k6", far6},
		{"hit6", []netip.Prefix{hit6}},
		{"10k6/hit", append(slices.Clone(near6), hit6)},
		{"deep6", deep6},
	}
	conn6Ns := make([][]float64, len(scenarios6))
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	require.NoError(b, err)
	defer stats.Close()
	execNs := make([][]float64, len(scenarios))
	totalNs := make([][]float64, len(scenarios))
	connNs := make([][]float64, len(scenarios))
	progs := e.enf.coll.Programs
	// The process sensor's exec program runs at the same tracepoint, after the policy's: what
	// the policy program warms (the task, its credentials, the ring buffer) the sensor's finds
	// warm, so the cost of a decision to an exec is the change of the sum of both.
	var sensorExec *ebpf.Program
	for name, id := range e.sensors.ProgramIDs() {
		if name == "osec_exec_btf" || name == "osec_exec_raw" {
			sensorExec, err = ebpf.NewProgramFromID(id)
			require.NoError(b, err)
			defer sensorExec.Close()
		}
	}
	require.NotNil(b, sensorExec, "the process sensor's exec program")
	means := func(ps []*ebpf.Program, run func()) []float64 {
		before := make([]*ebpf.ProgramStats, len(ps))
		for i, p := range ps {
			before[i], err = p.Stats()
			require.NoError(b, err)
		}
		run()
		out := make([]float64, len(ps))
		for i, p := range ps {
			after, err := p.Stats()
			require.NoError(b, err)
			if n := after.RunCount - before[i].RunCount; n > 0 {
				out[i] = float64(after.Runtime-before[i].Runtime) / float64(n)
			}
		}
		return out
	}
	mean := func(p *ebpf.Program, run func()) float64 { return means([]*ebpf.Program{p}, run)[0] }
	gen := uint64(0)
	for r := 0; r < rounds; r++ {
		for k := range scenarios {
			i := (k + r) % len(scenarios)
			gen++
			s := *scenarios[i].set
			s.Generation = gen
			require.NoError(b, e.enf.Apply(&s))
			m := means([]*ebpf.Program{progs["osec_pol_exec_tp"], sensorExec}, func() {
				for j := 0; j < execs; j++ {
					require.NoError(b, exec.Command(truePath, longArg).Run())
				}
			})
			execNs[i] = append(execNs[i], m[0])
			totalNs[i] = append(totalNs[i], m[0]+m[1])
			if scenarios[i].execOnly {
				continue
			}
			connNs[i] = append(connNs[i], mean(progs[connProg], func() {
				for j := 0; j < connects; j++ {
					fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					_ = unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
					unix.Close(fd)
				}
			}))
		}
		for k := range scenarios6 {
			i := (k + r) % len(scenarios6)
			gen++
			require.NoError(b, e.enf.Apply(&policy.Set{Generation: gen, Rules: []policy.Rule{execRule([]string{first + "/bench-0/tenant-00000/bin"}), connRule(scenarios6[i].cidrs)}}))
			conn6Ns[i] = append(conn6Ns[i], mean(progs[conn6Prog], func() {
				for j := 0; j < connects; j++ {
					fd, _ := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
					_ = unix.Connect(fd, &unix.SockaddrInet6{Port: port6, Addr: netip.IPv6Loopback().As16()})
					unix.Close(fd)
				}
			}))
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "policy programs, median ns per run over %d rounds (exec: %d per block, connect: %d per block, %s);\n"+
		"exec+sensor: the policy's and the process sensor's exec programs together, per exec:\n", rounds, execs, connects, connHook)
	for i, s := range scenarios {
		fmt.Fprintf(&out, "  %-6s exec %6.0f  exec+sensor %6.0f  connect %6.0f   (exec per round %v; exec+sensor %v; connect %v)\n",
			s.name, median(execNs[i]), median(totalNs[i]), median(connNs[i]), rounded(execNs[i]), rounded(totalNs[i]), rounded(connNs[i]))
		b.ReportMetric(median(execNs[i]), s.name+"-exec-ns")
		b.ReportMetric(median(totalNs[i]), s.name+"-exec+sensor-ns")
		b.ReportMetric(median(connNs[i]), s.name+"-connect-ns")
	}
	for i, s := range scenarios {
		if i == 0 || s.name == "one" {
			continue
		}
		// paired per round: the scenario's blocks minus "one"'s blocks of the same round
		var d, dt, dc []float64
		for r := range execNs[i] {
			d = append(d, execNs[i][r]-execNs[1][r])
			dt = append(dt, totalNs[i][r]-totalNs[1][r])
		}
		for r := range connNs[i] {
			dc = append(dc, connNs[i][r]-connNs[1][r])
		}
		fmt.Fprintf(&out, "  %-6s - one, paired per round, median: exec %+6.0f  exec+sensor %+6.0f", s.name, median(d), median(dt))
		if len(dc) > 0 {
			fmt.Fprintf(&out, "  connect %+5.0f", median(dc))
		}
		out.WriteString("\n")
	}
	// The filter, paired: 10k/16 and one/16 take the same path (the connected address's /16
	// has CIDRs, its /24 none).
	idx := func(name string) int {
		return slices.IndexFunc(scenarios, func(s struct {
			name     string
			set      *policy.Set
			execOnly bool
		}) bool {
			return s.name == name
		})
	}
	// paired prints the median over the rounds of a's connect minus b's.
	paired := func(a, b string) {
		var d []float64
		for r, v := range connNs[idx(a)] {
			d = append(d, v-connNs[idx(b)][r])
		}
		fmt.Fprintf(&out, "  %s - %s, paired per round, median: connect %+5.0f\n", a, b, median(d))
	}
	paired("10k/16", "one/16")
	// A CIDR covers the address (its port does not match: no decision): with one CIDR, and
	// among the 10,000 of 10k/16.
	paired("10k/hit", "hit")
	// The address's /24 holds a CIDR of every length /25 to /32, none covering it.
	paired("10k/nested", "nested")
	// And a /32 among them covers it.
	paired("10k/inner", "inner")
	for i, s := range scenarios6 {
		fmt.Fprintf(&out, "  %-8s connect6 %6.0f   (per round %v)\n", s.name, median(conn6Ns[i]), rounded(conn6Ns[i]))
		b.ReportMetric(median(conn6Ns[i]), s.name+"-connect6-ns")
	}
	for _, pair := range [][2]int{{1, 0}, {3, 2}, {4, 2}} {
		var dc []float64
		for r, v := range conn6Ns[pair[0]] {
			dc = append(dc, v-conn6Ns[pair[1]][r])
		}
		fmt.Fprintf(&out, "  %s - %s, paired per round, median: connect6 %+5.0f\n", scenarios6[pair[0]].name, scenarios6[pair[1]].name, median(dc))
	}
	// The decision alone: match and except evaluate the same selectors (the binary's path
	// walked and looked up); in except the rule's exception removes it, in match it decides.
	var d, dt []float64
	for r := range execNs[4] {
		d = append(d, execNs[4][r]-execNs[5][r])
		dt = append(dt, totalNs[4][r]-totalNs[5][r])
	}
	fmt.Fprintf(&out, "  match - except (the decision), paired per round, median: exec %+6.0f  exec+sensor %+6.0f\n", median(d), median(dt))
	b.Log(out.String())
	if p := os.Getenv("OTELSEC_POLICY_BENCH_OUT"); p != "" {
		require.NoError(b, os.WriteFile(p, []byte(out.String()), 0o644))
	}
}

func copyBin(tb testing.TB, src, dir string) string {
	src, err := filepath.EvalSymlinks(src)
	require.NoError(tb, err)
	data, err := os.ReadFile(src)
	require.NoError(tb, err)
	dst := filepath.Join(dir, filepath.Base(src))
	require.NoError(tb, os.WriteFile(dst, data, 0o755))
	dst, err = filepath.EvalSymlinks(dst)
	require.NoError(tb, err)
	return dst
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
