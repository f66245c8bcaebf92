package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Targets from the issue.
const (
	targetCPUPerExec    = 450 * time.Microsecond
	targetKernelPerExec = 45 * time.Microsecond
	targetRSSMiB        = 80
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func perSec(d, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return ms(d) / window.Seconds()
}

func fmtUs(d time.Duration) string { return fmt.Sprintf("%.1f µs", us(d)) }

func met(ok bool, result, target float64) string {
	if ok {
		return "yes"
	}
	if target > 0 {
		return fmt.Sprintf("**no** (%.2f× the target)", result/target)
	}
	return "**no**"
}

// agg sums the collector runs of one kind.
type sustainedPair struct{ off, on *Run }

// sustainedPairs pairs each sustained run with the run without the collector just before it.
func sustainedPairs(runs []*Run) []sustainedPair {
	var out []sustainedPair
	var off *Run
	for _, r := range runs {
		switch r.Kind {
		case "sustained-off":
			off = r
		case "sustained":
			if off == nil {
				off = &Run{}
			}
			out = append(out, sustainedPair{off: off, on: r})
			off = nil
		}
	}
	return out
}

type agg struct {
	runs       int
	execs      int
	observed   uint64 // exec records the kernel sent: every exec on the machine
	ticks      uint64
	sysTicks   uint64
	schedNs    uint64
	window     time.Duration
	lost       uint64 // kernel lost[] over each collector's lifetime, summed
	accepted   uint64
	sentEmit   uint64 // exec + exit records sent
	hwmKiB     uint64
	progs      map[string]progStat
	foreign    int
	background time.Duration
	elapsed    time.Duration
}

func aggregate(runs []*Run, kind string) agg {
	var sel []*Run
	for _, r := range runs {
		if r.Kind == kind {
			sel = append(sel, r)
		}
	}
	return aggregateRuns(sel)
}

func aggregateRuns(runs []*Run) agg {
	a := agg{progs: map[string]progStat{}}
	for _, r := range runs {
		a.runs++
		a.execs += r.Execs
		a.observed += r.Kernel.Sent[kindExec]
		a.sentEmit += r.Kernel.Sent[kindExec] + r.Kernel.Sent[kindExit]
		a.accepted += r.Accepted
		a.ticks += r.CollectorTicks
		a.sysTicks += r.CollectorSysTicks
		a.schedNs += r.CollectorSchedNs
		a.window += r.CPUWindow
		a.lost += r.LostSinceStart
		a.background += r.BackgroundCPU
		a.elapsed += r.Elapsed
		if r.HWMKiB > a.hwmKiB {
			a.hwmKiB = r.HWMKiB
		}
		if r.ForeignProgs > a.foreign {
			a.foreign = r.ForeignProgs
		}
		for name, p := range r.Progs {
			s := a.progs[name]
			s.Runs += p.Runs
			s.Runtime += p.Runtime
			s.RecursionMisses += p.RecursionMisses
			a.progs[name] = s
		}
	}
	return a
}

func (a agg) cpu() time.Duration { return ticksToDuration(a.ticks) }

func (a agg) cpuPerExec() time.Duration {
	if a.execs == 0 {
		return 0
	}
	return a.cpu() / time.Duration(a.execs)
}

func (a agg) cpuPerObserved() time.Duration {
	if a.observed == 0 {
		return 0
	}
	return a.cpu() / time.Duration(a.observed)
}

// kernelPerForkExecExit sums each program's mean run time: the in-kernel cost of one
// fork + exec + exit, which runs each of the (fork, prepare_exec, exec, exit) programs once.
func (a agg) kernelPerForkExecExit() time.Duration {
	var sum time.Duration
	for _, p := range a.progs {
		if p.Runs > 0 {
			sum += p.Runtime / time.Duration(p.Runs)
		}
	}
	return sum
}

// kernelPerWorkloadExec divides all the programs' run time by the workload's execs (it
// includes the runs for every other process on the machine).
func (a agg) kernelPerWorkloadExec() time.Duration {
	var sum time.Duration
	for _, p := range a.progs {
		sum += p.Runtime
	}
	if a.execs == 0 {
		return 0
	}
	return sum / time.Duration(a.execs)
}

func pooled(runs []*Run, kind string) []time.Duration {
	var all []time.Duration
	for _, r := range runs {
		if r.Kind == kind {
			all = append(all, r.lat...)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func markdown(res *Results, o *options) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.Machine
	on := aggregate(res.Runs, "on")
	sus := aggregate(res.Runs, "sustained")
	offLat, onLat := pooled(res.Runs, "off"), pooled(res.Runs, "on")
	offP50, onP50 := quantile(offLat, 0.5), quantile(onLat, 0.5)
	slow := 0.0
	if offP50 > 0 {
		slow = float64(onP50) / float64(offP50)
	}
	var ratios []float64
	var offs []*Run
	for _, r := range res.Runs {
		if r.Kind == "off" {
			offs = append(offs, r)
		}
	}
	for _, r := range res.Runs {
		if r.Kind == "on" {
			for _, f := range offs {
				if f.Round == r.Round && f.P50 > 0 {
					ratios = append(ratios, float64(r.P50)/float64(f.P50))
				}
			}
		}
	}

	p("Measured %s on %d × %s, Linux %s, %s. Hooks: `%s`. ",
		res.Date.Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, res.Hooks)
	p("Workload: fork+exec+wait of `%s`; %d rounds of %d execs without / with the collector, alternating; "+
		"then %d execs/s for %v with %d workers. Load average at start: %s.\n\n",
		o.target, o.rounds, o.n, o.rate, o.duration, o.workers, m.LoadAvg)

	p("| Target (issue) | Goal | Result | Met |\n|---|---|---|---|\n")
	cpuX := on.cpuPerExec()
	p("| Collector CPU per workload exec (utime+stime, alternating runs) | ≤ %.2f ms | %.3f ms | %s |\n",
		ms(targetCPUPerExec), ms(cpuX), met(cpuX <= targetCPUPerExec, ms(cpuX), ms(targetCPUPerExec)))
	p("| Collector CPU per exec the kernel saw (every process on the machine) | — | %.3f ms (%d execs seen for %d of the workload) | |\n",
		ms(on.cpuPerObserved()), on.observed, on.execs)
	k := on.kernelPerForkExecExit()
	p("| In-kernel time per fork+exec+exit (sum of the programs' mean run time) | ≤ %.0f µs | %s | %s |\n",
		us(targetKernelPerExec), fmtUs(k), met(k <= targetKernelPerExec, us(k), us(targetKernelPerExec)))
	totalLost := on.lost + sus.lost + res.ProfileLost
	p("| Records lost (kernel `lost[]`, all CPUs and kinds, every collector run) | 0 | %d | %s |\n", totalLost, met(totalLost == 0, 0, 0))
	pairs := sustainedPairs(res.Runs)
	for _, sp := range pairs {
		r, so, a := sp.on, sp.off, aggregateRuns([]*Run{sp.on})
		rateOK := r.Rate >= 0.98*float64(o.rate)
		p("| Sustained %d execs/s of `%s` for %v: achieved rate | %d/s | %.1f/s (without the collector: %.1f/s) | %s |\n",
			o.rate, r.Target, o.duration, o.rate, r.Rate, so.Rate, met(rateOK, 0, 0))
		p("| ↳ records lost | 0 | %d | %s |\n", a.lost, met(a.lost == 0, 0, 0))
		sc := a.cpuPerExec()
		p("| ↳ collector CPU per workload exec | ≤ %.2f ms | %.3f ms | %s |\n",
			ms(targetCPUPerExec), ms(sc), met(sc <= targetCPUPerExec, ms(sc), ms(targetCPUPerExec)))
	}
	hwm := on.hwmKiB
	if sus.hwmKiB > hwm {
		hwm = sus.hwmKiB
	}
	hwmMiB := float64(hwm) / 1024
	p("| Collector peak RSS (VmHWM at the end of each run, max) | ≤ %d MiB | %.1f MiB | %s |\n",
		targetRSSMiB, hwmMiB, met(hwmMiB <= targetRSSMiB, hwmMiB, targetRSSMiB))
	p("| Workload slowdown: median per-exec wall time with / without | — | %.3f× (%s / %s; median of the rounds' ratios %.3f×) | |\n\n",
		slow, fmtUs(onP50), fmtUs(offP50), median(ratios))

	p("Collector CPU in the alternating runs: %.0f ms (%.0f ms of it in the kernel, stime) for %d workload execs (schedstat, ns resolution: %.0f ms). "+
		"It is read before the workload and again once the pipeline has accepted every exec and exit record "+
		"(%d of %d), so it includes ~1 s of drain; the idle collector uses %.1f ms of CPU per second (schedstat over %v); "+
		"net of that idle cost: %.3f ms per exec.\n\n",
		ms(on.cpu()), ms(ticksToDuration(on.sysTicks)), on.execs, float64(on.schedNs)/1e6, on.accepted, on.sentEmit, ms(res.IdleCPU), o.idle,
		ms(netOfIdle(on, res.IdleCPU)))

	p("**Alternating runs.** Wall time per fork+exec+wait; workload CPU = the harness and its children per exec; " +
		"background = machine CPU used by neither the harness, its children nor the collector (other work on the VM).\n\n")
	p("| Round | off p50 | on p50 | on/off | off p99 | on p99 | workload CPU/exec off / on | collector CPU | per exec | execs seen | lost | background CPU off / on | other osec progs |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var steal time.Duration
	for _, r := range res.Runs {
		if r.Kind != "on" {
			continue
		}
		f := &Run{}
		for _, x := range offs {
			if x.Round == r.Round {
				f = x
			}
		}
		steal += f.StealCPU + r.StealCPU
		ratio := 0.0
		if f.P50 > 0 {
			ratio = float64(r.P50) / float64(f.P50)
		}
		p("| %d | %s | %s | %.3f | %s | %s | %.2f / %.2f ms | %.0f ms | %.3f ms | %d | %d | %.0f / %.0f ms/s | %d |\n",
			r.Round, fmtUs(f.P50), fmtUs(r.P50), ratio, fmtUs(f.P99), fmtUs(r.P99),
			ms(f.WorkloadCPU)/float64(max(f.Execs, 1)), ms(r.WorkloadCPU)/float64(max(r.Execs, 1)),
			ms(ticksToDuration(r.CollectorTicks)), ms(ticksToDuration(r.CollectorTicks))/float64(max(r.Execs, 1)),
			r.Kernel.Sent[kindExec], r.LostSinceStart, perSec(f.BackgroundCPU, f.Elapsed), perSec(r.BackgroundCPU, r.Elapsed),
			max(f.ForeignProgs, r.ForeignProgs))
	}
	p("| all | %s | %s | **%.3f** | %s | %s | | %.0f ms | **%.3f ms** | %d | %d | | |\n\n",
		fmtUs(offP50), fmtUs(onP50), slow, fmtUs(quantile(offLat, 0.99)), fmtUs(quantile(onLat, 0.99)),
		ms(on.cpu()), ms(cpuX), on.observed, on.lost)
	p("CPU time stolen by the hypervisor during the alternating runs: %.0f ms.\n\n", ms(steal))

	p("**In-kernel run time** (bpf_stats, during the alternating runs):\n\n")
	writeProgs(&b, on)
	for _, sp := range pairs {
		r, so, a := sp.on, sp.off, aggregateRuns([]*Run{sp.on})
		p("**Sustained run, `%s`**: %d execs in %v = %.1f execs/s (target %d/s; latest start %v behind schedule), "+
			"p50 %s / p99 %s per exec, workload CPU %.2f ms per exec; the kernel saw %d execs; collector CPU %.0f ms "+
			"(%.0f ms of it in the kernel) = %.3f ms per workload exec, %.3f ms per exec seen (net of idle: %.3f ms); "+
			"lost %d; pipeline accepted %d of %d exec+exit records; VmHWM %.1f MiB; background CPU %.0f ms/s, steal %.0f ms. ",
			r.Target, r.Execs, r.Elapsed.Round(time.Millisecond), r.Rate, o.rate, r.MaxLag.Round(time.Millisecond),
			fmtUs(r.P50), fmtUs(r.P99), ms(r.WorkloadCPU)/float64(max(r.Execs, 1)), a.observed, ms(a.cpu()),
			ms(ticksToDuration(r.CollectorSysTicks)), ms(a.cpuPerExec()), ms(a.cpuPerObserved()),
			ms(netOfIdle(a, res.IdleCPU)), a.lost, a.accepted, a.sentEmit, float64(a.hwmKiB)/1024,
			perSec(r.BackgroundCPU, r.Elapsed), ms(r.StealCPU))
		p("The same paced workload without the collector, just before: %d execs in %v = %.1f execs/s, p50 %s / p99 %s, "+
			"workload CPU %.2f ms per exec, background CPU %.0f ms/s. In-kernel during the run with the collector:\n\n",
			so.Execs, so.Elapsed.Round(time.Millisecond), so.Rate, fmtUs(so.P50), fmtUs(so.P99),
			ms(so.WorkloadCPU)/float64(max(so.Execs, 1)), perSec(so.BackgroundCPU, so.Elapsed))
		writeProgs(&b, a)
	}
	if on.foreign > 0 || sus.foreign > 0 {
		p("Warning: osec_* programs of other processes (tests?) were loaded during some runs (column \"other osec progs\"): they add their own cost to every exec of the off and on runs alike.\n\n")
	}
	if res.ProfileTop != "" {
		p("**Collector CPU profile** (pprof extension, %v while `%s` runs at %d execs/s, a separate unmeasured run; `go tool pprof -top cpu.pprof`):\n\n",
			o.profile, res.ProfileTarget, o.rate)
		if res.ProfileSampled > 0 {
			p("The profile holds %.0f ms of samples; /proc/PID/stat counts %.0f ms of collector CPU over the same %.1f s "+
				"(Go's profiler only samples threads running goroutines: the difference is mostly the runtime's sysmon thread, see perf below). Where the sampled time goes "+
				"(cumulative time of each root frame):\n\n| Part | CPU | share of samples |\n|---|---|---|\n",
				ms(res.ProfileSampled), ms(res.ProfileProcCPU), res.ProfileWindow.Seconds())
			var top time.Duration
			row := func(name string, d time.Duration) {
				p("| %s | %.0f ms | %.0f%% |\n", name, ms(d), 100*float64(d)/float64(res.ProfileSampled))
			}
			for _, part := range res.ProfileParts {
				if strings.HasPrefix(part.Name, "(") {
					continue
				}
				if !strings.HasPrefix(part.Name, "↳") {
					top += part.Cum
				}
				row(part.Name, part.Cum)
			}
			if rest := res.ProfileSampled - top; rest > 0 {
				row("everything else (HTTP servers, timers, telemetry, ...)", rest)
			}
			for _, part := range res.ProfileParts {
				if strings.HasPrefix(part.Name, "(") {
					row(part.Name, part.Cum)
				}
			}
			p("\n")
		}
		if pf := res.Perf; pf != nil && pf.Samples > 0 {
			pct := func(n int) float64 { return 100 * float64(n) / float64(pf.Samples) }
			p("`perf record -e cpu-clock -F 999 -g` over the same window samples every thread of the collector, "+
				"kernel stacks included (pprof only samples threads running goroutines): %d samples, %.0f%% of them in the kernel.\n\n",
				pf.Samples, pct(pf.Kernel))
			p("| Thread / root frame (perf) | share of samples |\n|---|---|\n")
			for _, part := range pf.Parts {
				p("| %s | %.0f%% |\n", part.Name, pct(part.Samples))
			}
			p("\nKernel samples by entry: ")
			for i, e := range pf.Entries {
				if i == 8 {
					break
				}
				if i > 0 {
					p(", ")
				}
				p("%s %.0f%%", e.Name, pct(e.Samples))
			}
			p(" (of all samples).")
			if tc := pf.Stat["task-clock"]; tc > 0 {
				w := pf.Window.Seconds()
				p(" `perf stat`: %.1f ms of CPU per second", tc/w)
				for _, k := range []string{"context-switches", "page-faults", "syscalls:sys_enter_nanosleep", "syscalls:sys_enter_futex",
					"syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait", "syscalls:sys_enter_madvise"} {
					if v, ok := pf.Stat[k]; ok {
						p(", %.0f %s/s", v/w, strings.TrimPrefix(k, "syscalls:sys_enter_"))
					}
				}
				p(".")
			}
			p("\n\n")
		}
		p("```\n%s```\n\n", trimProfile(res.ProfileTop))
		p("Cumulative (`-top -cum`):\n\n```\n%s```\n", trimProfile(res.ProfileCum))
	}
	return b.String()
}

func netOfIdle(a agg, idle time.Duration) time.Duration {
	if a.execs == 0 {
		return 0
	}
	net := a.cpu() - time.Duration(float64(idle)*a.window.Seconds())
	if net < 0 {
		net = 0
	}
	return net / time.Duration(a.execs)
}

func runOf(runs []*Run, kind string) *Run {
	for _, r := range runs {
		if r.Kind == kind {
			return r
		}
	}
	return &Run{}
}

func writeProgs(b *strings.Builder, a agg) {
	fmt.Fprintf(b, "| Program | runs | per workload exec | mean run time | total |\n|---|---|---|---|---|\n")
	names := make([]string, 0, len(a.progs))
	for n := range a.progs {
		names = append(names, n)
	}
	sort.Strings(names)
	var total time.Duration
	for _, n := range names {
		s := a.progs[n]
		mean := time.Duration(0)
		if s.Runs > 0 {
			mean = s.Runtime / time.Duration(s.Runs)
		}
		total += s.Runtime
		miss := ""
		if s.RecursionMisses > 0 {
			miss = fmt.Sprintf(" (%d recursion misses)", s.RecursionMisses)
		}
		fmt.Fprintf(b, "| `%s` | %d%s | %.2f | %s | %.1f ms |\n", n, s.Runs, miss,
			float64(s.Runs)/float64(max(a.execs, 1)), fmtUs(mean), ms(s.Runtime))
	}
	fmt.Fprintf(b, "| sum | | | **%s** per fork+exec+exit | %.1f ms = %s per workload exec |\n\n",
		fmtUs(a.kernelPerForkExecExit()), ms(total), fmtUs(a.kernelPerWorkloadExec()))
}

// trimProfile drops pprof's header lines about the file and build.
func trimProfile(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimLeft(strings.Join(out, "\n"), "\n")
}
