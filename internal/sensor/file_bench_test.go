package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/kernel"
)

// BenchmarkFileOpenOverhead measures what the file sensor adds to an open+close of a file
// outside the watch set (every open is resolved and looked up, none is sent), with 1 and with
// 10,000 watched prefixes. Method (BENCHMARKS.md, "File sensor"):
//
//   - five sensors are loaded once (tracepoint backend): "floor" (no open watched: the exit
//     tracepoint fires and its program returns at once), "1" and "10k" (every operation
//     watched under 1 or 10,000 prefixes whose first component differs from the file's: the
//     first-component filter drops the open before the tries), "1same" and "10ksame" (under
//     the file's first component, /tmp: the tries are searched); at most one is attached at a
//     time;
//   - rounds of six blocks in rotating order: nothing attached, then each sensor attached;
//     each block is OTELSEC_FILE_BENCH_OPENS (default 50,000) open+close pairs of one file on
//     one locked thread, timed by the thread's own CPU time (CLOCK_THREAD_CPUTIME_ID: the
//     machine is shared, wall time is not the cost);
//   - per-open cost = block CPU time / opens; "extra" = with - without in the same round; the
//     medians over OTELSEC_FILE_BENCH_ROUNDS rounds (default 40) are reported;
//   - OTELSEC_FILE_BENCH_OUT names a file for the per-round figures;
//   - every 4th round, a further block per sensor with the kernel's BPF statistics on
//     (BPF_ENABLE_STATS) gives the openat exit program's mean run time: the in-kernel cost of
//     one open (the statistics' own clock reads are in that figure, not in the timed blocks).
//
// The plan runs once whatever b.N is (it takes longer than -benchtime); the figures are the
// reported metrics, not ns/op.
func BenchmarkFileOpenOverhead(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(b, err)
	caps := CapabilitiesOf(f)
	if !caps.SyscallTracepoints {
		b.Skip("needs the syscall tracepoints")
	}
	opens := envInt("OTELSEC_FILE_BENCH_OPENS", 50000)
	rounds := envInt("OTELSEC_FILE_BENCH_ROUNDS", 40)
	dir := b.TempDir()
	target := filepath.Join(dir, "f")
	require.NoError(b, os.WriteFile(target, nil, 0o644))

	// Prefixes under other first components than the file's (/srv, /data, ...: the
	// first-component filter drops the open before any trie lookup), or under the same one
	// (/tmp: the tries are searched).
	prefixes := func(n int, ops FileOps, under string) []FileRule {
		rules := make([]FileRule, n)
		roots := []string{"srv", "data", "opt", "var/lib", "home", "etc/app", "mnt", "usr/share"}
		for i := range rules {
			root := roots[i%len(roots)]
			if under != "" {
				root = under + "/" + root
			}
			rules[i] = FileRule{Prefix: fmt.Sprintf("/%s/bench-%d/tenant-%05d/conf", root, i%97, i), Ops: ops}
		}
		return rules
	}
	tmpRoot := strings.Split(strings.TrimPrefix(dir, "/"), "/")[0]
	configs := []struct {
		name  string
		rules []FileRule
	}{
		{"floor", prefixes(1, FileChown, "")},
		{"1", prefixes(1, FileOpsAll, "")}, {"10k", prefixes(10000, FileOpsAll, "")},
		{"1same", prefixes(1, FileOpsAll, tmpRoot)}, {"10ksame", prefixes(10000, FileOpsAll, tmpRoot)},
	}
	sensors := make([]*Sensors, len(configs))
	colls := make([]*ebpf.Collection, len(configs))
	for i, c := range configs {
		t0 := time.Now()
		s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 22, WakeupEvery: 64, ArgsMaxBytes: 1024,
			File: FileOptions{Enabled: true, Backend: FileBackendTracepoint, Include: c.rules}}, caps)
		require.NoError(b, err)
		b.Logf("sensor %s: loaded and attached in %s", c.name, time.Since(t0).Round(time.Millisecond))
		defer s.Close()
		require.NoError(b, s.Detach())
		sensors[i] = s
		for _, coll := range s.colls {
			if _, ok := coll.Programs["osec_openat"]; ok {
				colls[i] = coll
			}
		}
	}

	block := func(n int) float64 {
		done := make(chan float64)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU()
			for i := 0; i < n; i++ {
				fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					panic(err)
				}
				unix.Close(fd)
			}
			done <- float64(threadCPU()-start) / float64(n)
		}()
		return <-done
	}
	bpfNs := make([][]float64, len(configs))
	sentOther := make([]uint64, len(configs))
	attached := func(c int, f func()) {
		s := sensors[c]
		require.NoError(b, attachFile(s, colls[c], true, nil))
		before, err := s.Stats()
		require.NoError(b, err)
		f()
		after, err := s.Stats()
		require.NoError(b, err)
		require.NoError(b, s.Detach())
		// The sensor watches the whole node: other processes' successful calls with paths it
		// cannot match are sent (flagged); none of the benchmark's opens is.
		sent := after.Sent[KindFile] - before.Sent[KindFile]
		require.Less(b, sent, uint64(opens/1000), "the benchmark's opens match nothing")
		sentOther[c] += sent
		require.GreaterOrEqual(b, after.Filtered[KindFile]-before.Filtered[KindFile], uint64(opens/2), "the opens were examined and filtered")
	}
	inKernel := func(c int) {
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		require.NoError(b, err)
		defer stats.Close()
		attached(c, func() {
			p := colls[c].Programs["osec_openat"]
			st0, err := p.Stats()
			require.NoError(b, err)
			block(opens)
			st1, err := p.Stats()
			require.NoError(b, err)
			if n := st1.RunCount - st0.RunCount; n > 0 {
				bpfNs[c] = append(bpfNs[c], float64((st1.Runtime-st0.Runtime).Nanoseconds())/float64(n))
			}
		})
	}

	type sample struct {
		off float64
		on  [5]float64
	}
	samples := make([]sample, rounds)
	block(opens) // warm-up: page cache, dentry cache
	for r := 0; r < rounds; r++ {
		order := []int{0, 1, 2, 3, 4, 5} // nothing, then each configuration
		for i := 0; i < r%len(order); i++ {
			order = append(order[1:], order[0])
		}
		var sm sample
		for _, o := range order {
			if o == 0 {
				sm.off = block(opens)
				continue
			}
			attached(o-1, func() { sm.on[o-1] = block(opens) })
		}
		samples[r] = sm
		if r%4 == 0 {
			for c := range configs {
				inKernel(c)
			}
		}
	}
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		return median(v)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(med(func(s sample) float64 { return s.off }), "off-ns/open")
	for c, cfg := range configs {
		b.ReportMetric(med(func(s sample) float64 { return s.on[c] }), "on"+cfg.name+"-ns/open")
		b.ReportMetric(med(func(s sample) float64 { return s.on[c] - s.off }), "extra"+cfg.name+"-ns/open")
		b.ReportMetric(median(bpfNs[c]), "bpf"+cfg.name+"-ns/open")
	}
	b.ReportMetric(med(func(s sample) float64 { return s.on[2] - s.on[1] }), "10k-minus-1-ns/open")
	b.ReportMetric(med(func(s sample) float64 { return s.on[4] - s.on[3] }), "10ksame-minus-1same-ns/open")
	var out strings.Builder
	fmt.Fprintf(&out, "per round, ns of thread CPU per open+close: without / floor / 1 / 10k / 1same / 10ksame\n")
	for r, sm := range samples {
		fmt.Fprintf(&out, "%2d: %.0f / %.0f / %.0f / %.0f / %.0f / %.0f\n", r+1, sm.off, sm.on[0], sm.on[1], sm.on[2], sm.on[3], sm.on[4])
	}
	for c, cfg := range configs {
		fmt.Fprintf(&out, "in-kernel (openat exit program, ns per run, each stats block), %s: %v\n", cfg.name, rounded(bpfNs[c]))
	}
	fmt.Fprintf(&out, "records other processes sent meanwhile (unmatchable paths of successful calls): %v\n", sentOther)
	b.Log(out.String())
	if p := os.Getenv("OTELSEC_FILE_BENCH_OUT"); p != "" {
		require.NoError(b, os.WriteFile(p, []byte(out.String()), 0o644))
	}
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

// threadCPU is the calling thread's CPU time in ns (user and system): what the work costs,
// whatever else the machine runs.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

type progStat struct {
	runtime time.Duration
	count   uint64
}

// fileBenchPrograms are the programs that run for an openat: its exit program.
func fileBenchPrograms(s *Sensors) map[string]*ebpf.Program {
	out := map[string]*ebpf.Program{}
	for _, coll := range s.colls {
		for _, name := range []string{"osec_openat"} {
			if p, ok := coll.Programs[name]; ok {
				out[name] = p
			}
		}
	}
	return out
}

func progStats(tb testing.TB, progs map[string]*ebpf.Program) map[string]progStat {
	out := map[string]progStat{}
	for name, p := range progs {
		st, err := p.Stats()
		require.NoError(tb, err)
		out[name] = progStat{runtime: st.Runtime, count: st.RunCount}
	}
	return out
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

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
