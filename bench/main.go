// Command bench measures what the otelsec collector costs the machine it watches: a workload
// forks and execs /bin/true, alternately without the collector and with it running the full
// pipeline of distribution/bench.yaml (ebpfsecurity receiver -> memory_limiter -> batch -> nop
// exporter, logs and metrics), then at a sustained paced rate. It reports the workload's
// slowdown, the collector's CPU time per exec, the BPF programs' in-kernel run time (bpf_stats),
// the collector's peak RSS and the records the kernel lost, and prints a Markdown summary.
//
// Run it as root from the repository root, normally through scripts/bench.sh:
//
//	go run ./bench -n 2000 -rounds 5 -rate 500 -duration 10s
//
// The harness never leaves a collector running or BPF run time statistics enabled: the collector
// is stopped (SIGTERM, then SIGKILL) on every exit path including SIGINT/SIGTERM, carries
// Pdeathsig=SIGKILL, and its pid is written to <out>/collector.pid for the calling script's trap;
// statistics are enabled with BPF_ENABLE_STATS, whose file descriptor the kernel closes, and so
// disables them, even when this process is killed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	bin, config, target     string
	sustainedTargets        string
	n, rounds, rate         int
	workers                 int
	duration, profile       time.Duration
	settle, idle            time.Duration
	readyTimeout, quietWait time.Duration
	quietCPU                float64
	perf                    bool
	warmup                  int
	outDir, mdOut           string
	healthURL, metricsURL   string
	pprofURL                string
}

func init() {
	// Collectors are started from the main goroutine, hence from this thread: Pdeathsig fires
	// when the thread that started the child ends, so it must not be a thread Go may retire.
	runtime.LockOSThread()
}

func main() {
	o := &options{}
	flag.StringVar(&o.bin, "bin", "_build/otelsec", "collector binary (make build)")
	flag.StringVar(&o.config, "config", "distribution/bench.yaml", "collector configuration")
	flag.StringVar(&o.target, "target", "/bin/true", "program the workload forks and execs (tiny: a 129-byte static ELF that exits 0)")
	flag.StringVar(&o.sustainedTargets, "sustained-targets", "", "programs of the sustained runs, comma-separated: a pair of runs (without, with the collector) each (default: -target); the profile run uses the last")
	flag.IntVar(&o.n, "n", 2000, "fork+execs per alternating run")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of (without collector, with collector)")
	flag.IntVar(&o.rate, "rate", 500, "execs per second of the sustained run (0: no sustained run)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of the sustained run")
	flag.IntVar(&o.workers, "workers", 4, "workers of the paced runs")
	flag.DurationVar(&o.profile, "profile", 10*time.Second, "CPU profile of the collector under the sustained rate, in a run of its own (0: none)")
	flag.BoolVar(&o.perf, "perf", true, "during the profile run, also sample every thread of the collector with perf (when installed)")
	flag.DurationVar(&o.settle, "settle", time.Second, "wait after the collector is ready before measuring")
	flag.DurationVar(&o.idle, "idle", 3*time.Second, "measure the idle collector's CPU over this long, once (0: skip)")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "longest wait for the collector's health check")
	flag.DurationVar(&o.quietWait, "quiet-wait", 30*time.Second, "before each run, wait up to this long for osec_* programs of other processes (tests) to go away")
	flag.Float64Var(&o.quietCPU, "quiet-cpu", 0.25, "before each run, wait (up to -quiet-wait) until the machine uses less than this many CPUs")
	flag.IntVar(&o.warmup, "warmup", 300, "unmeasured execs before the first run")
	flag.StringVar(&o.outDir, "out", "", "directory for collector logs, the profile and results.json (default: a new temporary directory)")
	flag.StringVar(&o.mdOut, "md", "", "also write the Markdown summary to this file")
	flag.StringVar(&o.healthURL, "health", "http://127.0.0.1:13133/", "collector health check (bench.yaml)")
	flag.StringVar(&o.metricsURL, "metrics", "http://127.0.0.1:8888/metrics", "collector telemetry (bench.yaml)")
	flag.StringVar(&o.pprofURL, "pprof", "http://127.0.0.1:1777", "collector pprof extension (bench.yaml)")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping", s)
		cancel()
		select {
		case <-sigs:
		case <-time.After(20 * time.Second):
		}
		cleanup()
		os.Exit(130)
	}()

	err := run(ctx, o)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAIL:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// The collector and the statistics switch that cleanup must undo, whatever the exit path.
var (
	cleanupMu  sync.Mutex
	curColl    *collector
	curStats   *statsEnabler
	statsAtRun string // the sysctl's value before the harness started
)

func setCurrent(c *collector) {
	cleanupMu.Lock()
	curColl = c
	cleanupMu.Unlock()
}

func setStats(s *statsEnabler) {
	cleanupMu.Lock()
	curStats = s
	cleanupMu.Unlock()
}

func cleanup() {
	cleanupMu.Lock()
	c, s := curColl, curStats
	curColl, curStats = nil, nil
	cleanupMu.Unlock()
	if s != nil {
		if err := s.Close(); err != nil {
			logf("cleanup: disable bpf stats: %v", err)
		}
	}
	if c != nil && c.alive() {
		logf("cleanup: stopping collector pid %d", c.pid)
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.kill()
		}
		if c.pidFile != "" {
			os.Remove(c.pidFile)
		}
	}
	if now := readTrim(bpfStatsSysctl); statsAtRun != "" && now != statsAtRun {
		logf("warning: %s is %s, was %s before the benchmark (changed by someone else?)", bpfStatsSysctl, now, statsAtRun)
	}
}

// Run is one measured run.
type Run struct {
	Kind    string        `json:"kind"` // off, on, sustained-off, sustained
	Target  string        `json:"target,omitempty"`
	Round   int           `json:"round"`
	Execs   int           `json:"execs"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"rate"` // execs per second achieved
	MaxLag  time.Duration `json:"max_lag_ns,omitempty"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	P99     time.Duration `json:"p99_ns"`
	Mean    time.Duration `json:"mean_ns"`
	lat     []time.Duration

	// Machine-wide CPU during the run, and the part of it neither this harness, its
	// children (the workload) nor the collector used: other activity on the machine.
	BusyCPU       time.Duration `json:"busy_cpu_ns"`
	StealCPU      time.Duration `json:"steal_cpu_ns"`
	WorkloadCPU   time.Duration `json:"workload_cpu_ns"` // harness + its children
	BackgroundCPU time.Duration `json:"background_cpu_ns"`
	ForeignProgs  int           `json:"foreign_osec_programs"`
	BusyBefore    float64       `json:"cpus_busy_before"` // machine CPU use just before the run

	// With the collector only.
	CollectorTicks    uint64              `json:"collector_ticks,omitempty"`     // utime+stime
	CollectorSysTicks uint64              `json:"collector_sys_ticks,omitempty"` // of which stime
	CollectorSchedNs  uint64              `json:"collector_sched_ns,omitempty"`
	CPUWindow         time.Duration       `json:"cpu_window_ns,omitempty"` // between the two CPU reads: run + drain
	Kernel            sensorStats         `json:"kernel_delta"`
	LostSinceStart    uint64              `json:"lost_since_start"`
	Progs             map[string]progStat `json:"progs_delta,omitempty"`
	Accepted          uint64              `json:"accepted_log_records,omitempty"`
	HWMKiB, RSSKiB    uint64              `json:"-"`
	VmHWMKiB          uint64              `json:"vmhwm_kib,omitempty"`
}

// Results is everything the summary is made of (also written as results.json).
type Results struct {
	Date          time.Time      `json:"date"`
	Machine       Machine        `json:"machine"`
	Options       map[string]any `json:"options"`
	Hooks         string         `json:"hooks"`
	IdleCPU       time.Duration  `json:"idle_cpu_ns_per_s"` // collector CPU per second with no workload
	Runs          []*Run         `json:"runs"`
	ProfileFile   string         `json:"profile_file,omitempty"`
	ProfileTarget string         `json:"profile_target,omitempty"`
	ProfileTop    string         `json:"profile_top,omitempty"`
	ProfileCum    string         `json:"profile_cum,omitempty"`
	ProfileLost   uint64         `json:"profile_run_lost"`
	// The profile's total samples, the collector's CPU time from /proc over the same window,
	// and the share of the main consumers (cumulative time of their root frames).
	ProfileSampled time.Duration `json:"profile_sampled_ns"`
	ProfileProcCPU time.Duration `json:"profile_proc_cpu_ns"`
	ProfileWindow  time.Duration `json:"profile_window_ns"`
	ProfileParts   []profilePart `json:"profile_parts,omitempty"`
	Perf           *PerfSummary  `json:"perf,omitempty"`
	OutDir         string        `json:"out_dir"`
}

// Machine describes where it ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	LoadAvg   string `json:"loadavg_at_start"`
	StatsPrev string `json:"bpf_stats_enabled_before"`
}

func run(ctx context.Context, o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: the collector loads BPF programs and the harness reads their statistics")
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("%s: %w (run 'make build')", o.bin, err)
	}
	if _, err := os.Stat(o.config); err != nil {
		return err
	}
	for _, u := range []string{o.healthURL, o.metricsURL} {
		if httpOK(u) {
			return fmt.Errorf("something already answers on %s: stop the other collector first", u)
		}
	}
	if o.outDir == "" {
		d, err := os.MkdirTemp("", "otelsec-bench.")
		if err != nil {
			return err
		}
		o.outDir = d
	} else if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	statsAtRun = readTrim(bpfStatsSysctl)
	if o.sustainedTargets == "" {
		o.sustainedTargets = o.target
	}
	var err error
	if o.target, err = resolveTarget(o.target, o.outDir); err != nil {
		return err
	}
	w, err := newWorkload(o.target)
	if err != nil {
		return err
	}
	defer w.Close()
	var sustained []*workload // one per sustained target, in order
	for _, t := range strings.Split(o.sustainedTargets, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		name := t
		if t, err = resolveTarget(t, o.outDir); err != nil {
			return err
		}
		sw, err := newWorkload(t)
		if err != nil {
			return err
		}
		if name == "tiny" {
			sw.label = "tiny-true (129-byte static ELF: exit(0))"
		}
		defer sw.Close()
		sustained = append(sustained, sw)
	}

	res := &Results{
		Date: time.Now().UTC(),
		Machine: Machine{
			CPUs: runtime.NumCPU(), CPUModel: cpuModel(), Kernel: readTrim("/proc/sys/kernel/osrelease"),
			GoVersion: runtime.Version(), LoadAvg: readTrim("/proc/loadavg"), StatsPrev: statsAtRun,
		},
		Options: map[string]any{
			"n": o.n, "rounds": o.rounds, "rate": o.rate, "duration": o.duration.String(),
			"workers": o.workers, "profile": o.profile.String(), "target": o.target, "config": o.config,
			"sustained_targets": o.sustainedTargets,
		},
		OutDir: o.outDir,
	}
	logf("output in %s; %d rounds of %d execs off/on, then %d/s for %v", o.outDir, o.rounds, o.n, o.rate, o.duration)

	if o.warmup > 0 {
		if _, err := w.sequential(ctx, o.warmup); err != nil {
			return err
		}
	}

	seq := func() (pacedResult, error) {
		t0 := time.Now()
		lat, err := w.sequential(ctx, o.n)
		return pacedResult{lat: lat, elapsed: time.Since(t0)}, err
	}
	paced := func(sw *workload) func() (pacedResult, error) {
		return func() (pacedResult, error) { return sw.paced(ctx, o.rate, o.duration, o.workers) }
	}
	for r := 1; r <= o.rounds; r++ {
		off, err := offRun(ctx, o, "off", r, seq)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, off)
		logf("round %d/%d off: p50 %v, %.0f execs/s, background CPU %.0f ms/s", r, o.rounds, off.P50, off.Rate, perSec(off.BackgroundCPU, off.Elapsed))

		on, err := withCollector(ctx, o, fmt.Sprintf("on-%d", r), res, func(c *collector, bo *bpfObjects) (*Run, error) {
			if r == 1 && o.idle > 0 {
				// schedstat (ns) rather than ticks: an idle collector uses a tick or two in 3 s.
				t0, s0 := time.Now(), procSchedNs(c.pid)
				time.Sleep(o.idle)
				res.IdleCPU = time.Duration(float64(procSchedNs(c.pid)-s0) / time.Since(t0).Seconds())
				logf("collector idle: %v CPU per second", res.IdleCPU)
			}
			return onRun(ctx, o, c, bo, "on", r, seq)
		})
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, on)
		logf("round %d/%d on:  p50 %v (x%.3f), collector %v CPU = %.3f ms/exec, lost %d",
			r, o.rounds, on.P50, float64(on.P50)/float64(off.P50), ticksToDuration(on.CollectorTicks),
			ms(ticksToDuration(on.CollectorTicks))/float64(on.Execs), on.LostSinceStart)
	}

	for _, sw := range sustained {
		if o.rate <= 0 || o.duration <= 0 {
			break
		}
		// The same paced workload without the collector first: can this machine run it at all?
		so, err := offRun(ctx, o, "sustained-off", 0, paced(sw))
		if err != nil {
			return err
		}
		so.Target = sw.label
		res.Runs = append(res.Runs, so)
		logf("sustained %s without collector: %.1f execs/s (target %d) for %v", sw.path, so.Rate, o.rate, so.Elapsed.Round(time.Millisecond))
		s, err := withCollector(ctx, o, "sustained-"+filepath.Base(sw.path), res, func(c *collector, bo *bpfObjects) (*Run, error) {
			return onRun(ctx, o, c, bo, "sustained", 0, paced(sw))
		})
		if err != nil {
			return err
		}
		s.Target = sw.label
		res.Runs = append(res.Runs, s)
		logf("sustained %s: %.1f execs/s (target %d) for %v, lost %d, collector %.3f ms/exec",
			sw.path, s.Rate, o.rate, s.Elapsed.Round(time.Millisecond), s.Kernel.lost(), ms(ticksToDuration(s.CollectorTicks))/float64(max(s.Execs, 1)))
	}

	if o.profile > 0 && o.rate > 0 {
		pw := w
		if len(sustained) > 0 {
			pw = sustained[len(sustained)-1]
		}
		res.ProfileTarget = pw.label
		if err := profileRun(ctx, o, pw, res); err != nil {
			return err
		}
	}

	b, _ := json.MarshalIndent(res, "", "  ")
	os.WriteFile(filepath.Join(o.outDir, "results.json"), b, 0o644)
	md := markdown(res, o)
	fmt.Print(md)
	if o.mdOut != "" {
		if err := os.WriteFile(o.mdOut, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func mustCPU(pid int) uint64 {
	t, _ := procCPU(pid)
	return t
}

// waitQuiet waits until the machine is quiet: no other process has osec_* programs loaded (a
// test suite running at the same time, which would add its own cost to every exec) and the
// machine's CPU use, sampled over half a second, is below quietCPU. It waits at most quietWait
// and returns how many foreign programs are still loaded and the last CPU sample (CPUs busy).
func waitQuiet(ctx context.Context, o *options, mine *bpfObjects) (int, float64) {
	var ids map[ebpfProgramID]bool
	if mine != nil {
		ids = mine.ids
	}
	deadline := time.Now().Add(o.quietWait)
	warned := false
	for {
		n := foreignOsecPrograms(ids)
		a, t0 := snapCPU(), time.Now()
		time.Sleep(500 * time.Millisecond)
		b := snapCPU()
		busy := max(0, float64(ticksToDuration(b.sys.busy-a.sys.busy)-(b.self-a.self))/float64(time.Since(t0)))
		if (n == 0 && busy <= o.quietCPU) || time.Now().After(deadline) || ctx.Err() != nil {
			if n > 0 || busy > o.quietCPU {
				logf("warning: machine not quiet after %v (%d osec_* programs of other processes, %.2f CPUs busy); measuring anyway (see the run's columns)", o.quietWait, n, busy)
			}
			return n, busy
		}
		if !warned {
			logf("machine busy (%d osec_* programs of other processes, %.2f CPUs busy): waiting up to %v", n, busy, o.quietWait)
			warned = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type cpuSnap struct {
	sys         sysCPU
	self, child time.Duration
}

func snapCPU() cpuSnap {
	s, _ := readSysCPU()
	self, child := selfCPU()
	return cpuSnap{sys: s, self: self, child: child}
}

// fillCPU sets the machine-wide CPU fields of r from two snapshots and the collector's ticks.
func fillCPU(r *Run, a, b cpuSnap, collectorTicks uint64) {
	r.BusyCPU = ticksToDuration(b.sys.busy - a.sys.busy)
	r.StealCPU = ticksToDuration(b.sys.steal - a.sys.steal)
	r.WorkloadCPU = (b.self - a.self) + (b.child - a.child)
	bg := r.BusyCPU - r.WorkloadCPU - ticksToDuration(collectorTicks)
	if bg < 0 {
		bg = 0
	}
	r.BackgroundCPU = bg
}

func fillLatency(r *Run, lat []time.Duration, elapsed time.Duration) {
	r.lat = lat
	r.Execs = len(lat)
	r.Elapsed = elapsed
	if elapsed > 0 {
		r.Rate = float64(len(lat)) / elapsed.Seconds()
	}
	s := append([]time.Duration(nil), lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r.P50, r.P90, r.P99 = quantile(s, 0.5), quantile(s, 0.9), quantile(s, 0.99)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	if len(s) > 0 {
		r.Mean = sum / time.Duration(len(s))
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

func offRun(ctx context.Context, o *options, kind string, round int, work func() (pacedResult, error)) (*Run, error) {
	r := &Run{Kind: kind, Round: round}
	r.ForeignProgs, r.BusyBefore = waitQuiet(ctx, o, nil)
	a := snapCPU()
	pr, err := work()
	if err != nil {
		return nil, err
	}
	fillCPU(r, a, snapCPU(), 0)
	fillLatency(r, pr.lat, pr.elapsed)
	r.MaxLag = pr.maxLag
	if n := foreignOsecPrograms(nil); n > r.ForeignProgs {
		r.ForeignProgs = n
	}
	return r, nil
}

// withCollector starts the collector, opens its BPF objects, runs f, then stops the collector
// (and requires a clean stop).
func withCollector(ctx context.Context, o *options, name string, res *Results, f func(*collector, *bpfObjects) (*Run, error)) (*Run, error) {
	c, err := startCollector(ctx, o, filepath.Join(o.outDir, "collector-"+name+".log"))
	if err != nil {
		return nil, err
	}
	defer c.kill()
	bo, err := openCollectorBPF(c.pid)
	if err != nil {
		c.stop()
		return nil, err
	}
	defer bo.Close()
	if res.Hooks == "" {
		res.Hooks = c.hooks()
	}
	time.Sleep(o.settle)
	r, err := f(c, bo)
	if err != nil {
		c.stop()
		return nil, err
	}
	if !c.alive() {
		return nil, fmt.Errorf("collector exited during the run (%v); last lines:\n%s", c.waitErr, tail(c.logPath, 15))
	}
	// Let go of the programs before the collector exits, so that the kernel unloads them, and
	// wait until it has: the next run must not see them.
	ids := bo.ids
	bo.Close()
	if err := c.stop(); err != nil {
		return nil, err
	}
	if c.waitErr != nil {
		return nil, fmt.Errorf("collector exit after SIGTERM: %v (want status 0); last lines:\n%s", c.waitErr, tail(c.logPath, 15))
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !anyLoaded(ids) {
			break
		}
	}
	return r, nil
}

// onRun measures one workload run with the collector running: its CPU time, the BPF programs'
// run time (statistics on for the run only), the kernel's sent/lost counters, and waits for
// the pipeline to take every record before it reads the collector's CPU time the second time.
func onRun(ctx context.Context, o *options, c *collector, bo *bpfObjects, kind string, round int, work func() (pacedResult, error)) (*Run, error) {
	r := &Run{Kind: kind, Round: round}
	r.ForeignProgs, r.BusyBefore = waitQuiet(ctx, o, bo)
	acc0, err := acceptedLogRecords(o.metricsURL)
	if err != nil {
		return nil, fmt.Errorf("collector telemetry %s: %w", o.metricsURL, err)
	}
	st, err := enableBPFStats()
	if err != nil {
		return nil, err
	}
	setStats(st)
	p0, err := bo.readProgs()
	if err != nil {
		return nil, err
	}
	k0, err := bo.readStats()
	if err != nil {
		return nil, err
	}
	a := snapCPU()
	ut0, st0, err := procUserSys(c.pid)
	if err != nil {
		return nil, err
	}
	sched0 := procSchedNs(c.pid)
	tw0 := time.Now()

	pr, err := work()
	if err != nil {
		return nil, err
	}
	kw, err := bo.readStats()
	if err != nil {
		return nil, err
	}
	p1, err := bo.readProgs()
	if err != nil {
		return nil, err
	}
	setStats(nil)
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("disable bpf stats: %w", err)
	}

	// Drain: every exec and exit record sent during the run must reach the pipeline (forks
	// only feed the process cache). The reader flushes every 200 ms, the batch processor too.
	d := kw.sub(k0)
	want := d.Sent[kindExec] + d.Sent[kindExit]
	time.Sleep(500 * time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	var acc uint64
	for {
		acc1, err := acceptedLogRecords(o.metricsURL)
		if err != nil {
			return nil, fmt.Errorf("collector telemetry: %w", err)
		}
		acc = acc1 - acc0
		if acc >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if acc < want {
		logf("warning: %s run: the pipeline accepted %d log records, the kernel sent %d exec+exit records", kind, acc, want)
	}
	time.Sleep(300 * time.Millisecond) // batch processor timeout (200 ms): the batch reaches nop

	ut1, st1, err := procUserSys(c.pid)
	if err != nil {
		return nil, err
	}
	r.CollectorSchedNs = procSchedNs(c.pid) - sched0
	r.CPUWindow = time.Since(tw0)
	b := snapCPU()
	k1, err := bo.readStats()
	if err != nil {
		return nil, err
	}
	r.CollectorTicks = (ut1 + st1) - (ut0 + st0)
	r.CollectorSysTicks = st1 - st0
	r.Kernel = d
	r.LostSinceStart = k1.lost()
	r.Accepted = acc
	r.Progs = map[string]progStat{}
	for name, v1 := range p1 {
		v0 := p0[name]
		r.Progs[name] = progStat{Runs: v1.Runs - v0.Runs, Runtime: v1.Runtime - v0.Runtime, RecursionMisses: v1.RecursionMisses - v0.RecursionMisses}
	}
	r.HWMKiB, r.RSSKiB, _ = procMem(c.pid)
	r.VmHWMKiB = r.HWMKiB
	fillCPU(r, a, b, r.CollectorTicks)
	fillLatency(r, pr.lat, pr.elapsed)
	r.MaxLag = pr.maxLag
	if n := foreignOsecPrograms(bo.ids); n > r.ForeignProgs {
		r.ForeignProgs = n
	}
	return r, nil
}

// profileRun takes a CPU profile of the collector from its pprof extension while the workload
// runs at the sustained rate, in a run of its own: profiling costs CPU, so no measured run has it.
func profileRun(ctx context.Context, o *options, w *workload, res *Results) error {
	_, err := withCollector(ctx, o, "profile", res, func(c *collector, bo *bpfObjects) (*Run, error) {
		k0, err := bo.readStats()
		if err != nil {
			return nil, err
		}
		var (
			wg   sync.WaitGroup
			werr error
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, werr = w.paced(ctx, o.rate, o.profile+2*time.Second, o.workers)
		}()
		time.Sleep(time.Second)
		path := filepath.Join(o.outDir, "cpu.pprof")
		var pf *perfRun
		if o.perf && perfAvailable() {
			if pf, err = startPerf(ctx, c.pid, o.profile, o.outDir); err != nil {
				logf("warning: %v; no perf breakdown", err)
			}
		}
		t0, c0 := time.Now(), mustCPU(c.pid)
		perr := fetchProfile(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", o.pprofURL, int(o.profile.Seconds())), path)
		res.ProfileProcCPU, res.ProfileWindow = ticksToDuration(mustCPU(c.pid)-c0), time.Since(t0)
		if pf != nil {
			if err := pf.wait(); err != nil {
				logf("warning: %v; no perf breakdown", err)
			} else if res.Perf, err = perfBreakdown(pf, o.bin, o.profile); err != nil {
				logf("warning: %v; no perf breakdown", err)
			}
		}
		wg.Wait()
		if werr != nil {
			return nil, werr
		}
		if perr != nil {
			return nil, perr
		}
		k1, err := bo.readStats()
		if err != nil {
			return nil, err
		}
		res.ProfileLost = k1.sub(k0).lost()
		res.ProfileFile = path
		res.ProfileTop = pprofTop(path, false)
		res.ProfileCum = pprofTop(path, true)
		res.ProfileSampled, res.ProfileParts = profileBreakdown(path)
		logf("profile: %s", path)
		return nil, nil
	})
	return err
}

func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type profilePart struct {
	Name string        `json:"name"`
	Cum  time.Duration `json:"cum_ns"`
}

// profileParts are the roots the collector's CPU time goes to: each a substring of a frame
// whose cumulative time is taken (the largest match). The top-level ones do not nest.
var profileParts = []struct{ name, frame string }{
	{"ebpfsecurity receiver read loop: ring buffer, decoding, process cache, OTLP mapping, ConsumeLogs (memory_limiter → batch)", "ebpfsecurityreceiver.(*ebpfReceiver).readLoop"},
	{"↳ of which OTLP mapping (mapper.process: attributes into pdata)", "ebpfsecurityreceiver.(*mapper).process"},
	{"↳ of which the process cache (proctree)", "proctree.(*Cache)."},
	{"↳ of which ConsumeLogs (the pipeline, synchronously)", "ebpfsecurityreceiver.(*ebpfReceiver).send"},
	{"batch processor and nop exporter", "batchprocessor."},
	{"receiver's own metrics (collection_interval)", "ebpfsecurityreceiver.(*ebpfReceiver).metricsLoop"},
	{"Go GC background mark workers", "runtime.gcBgMarkWorker"},
	{"Go GC background sweeper", "runtime.bgsweep"},
	{"Go scavenger returning heap to the OS (madvise)", "runtime.bgscavenge"},
	{"Go scheduler (finding work, parking threads)", "runtime.schedule"},
	{"(across all of the above) memory allocation: runtime.mallocgc, incl. GC assists", "runtime.mallocgc"},
}

// profileBreakdown reads the profile's total samples and the cumulative time of each of
// profileParts from `go tool pprof -top -cum`.
func profileBreakdown(path string) (time.Duration, []profilePart) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-unit=ms", "-nodecount=100000", path).Output()
	if err != nil {
		return 0, nil
	}
	var total time.Duration
	cum := map[string]time.Duration{}
	parseMs := func(s string) time.Duration {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "ms"), 64)
		if err != nil {
			return -1
		}
		return time.Duration(v * float64(time.Millisecond))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "Total samples = "); i >= 0 {
			f := strings.Fields(line[i+len("Total samples = "):])
			if len(f) > 0 {
				total = parseMs(f[0])
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if c := parseMs(f[3]); c >= 0 && strings.HasSuffix(f[3], "ms") {
			cum[f[5]] = c
		}
	}
	var parts []profilePart
	for _, p := range profileParts {
		var best time.Duration
		for name, c := range cum {
			if strings.Contains(name, p.frame) && c > best {
				best = c
			}
		}
		parts = append(parts, profilePart{Name: p.name, Cum: best})
	}
	return total, parts
}

// pprofTop runs `go tool pprof -top` on the profile (the profile carries its symbols).
func pprofTop(path string, cum bool) string {
	args := []string{"tool", "pprof", "-top", "-nodecount=25"}
	if cum {
		args = append(args, "-cum")
	}
	out, err := exec.Command("go", append(args, path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof: %v)\n%s", err, out)
	}
	return string(out)
}
