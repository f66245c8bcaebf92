package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// perf complements the Go CPU profile: Go's profiler only samples threads that run goroutines,
// so the runtime's sysmon thread, and any kernel time it causes, never shows in pprof. `perf
// record -e cpu-clock` (a software event: it works in VMs without hardware counters) samples
// every thread of the collector, kernel stacks included; `perf stat` counts the syscalls and
// context switches behind that kernel time.

// perfRun is perf record and perf stat attached to the collector for a while.
type perfRun struct {
	record, stat *exec.Cmd
	data         string
	statOut      bytes.Buffer
}

func perfAvailable() bool {
	_, err := exec.LookPath("perf")
	return err == nil
}

// perfStatEvents: the syscall tracepoints need tracefs; without it perf stat fails and the
// harness retries with the generic events only.
var perfStatEvents = []string{"task-clock", "context-switches", "page-faults",
	"syscalls:sys_enter_nanosleep", "syscalls:sys_enter_futex", "syscalls:sys_enter_epoll_wait",
	"syscalls:sys_enter_epoll_pwait", "syscalls:sys_enter_madvise"}

func startPerf(ctx context.Context, pid int, d time.Duration, dir string) (*perfRun, error) {
	p := &perfRun{data: filepath.Join(dir, "perf.data")}
	secs := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
	p.record = exec.CommandContext(ctx, "perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g",
		"-p", strconv.Itoa(pid), "-o", p.data, "--", "sleep", secs)
	if err := p.record.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	events := perfStatEvents
	if exec.Command("perf", "stat", "-e", "syscalls:sys_enter_nanosleep", "--", "true").Run() != nil {
		events = events[:3]
	}
	p.stat = exec.CommandContext(ctx, "perf", "stat", "-x", ",", "-e", strings.Join(events, ","),
		"-p", strconv.Itoa(pid), "--", "sleep", secs)
	p.stat.Stderr = &p.statOut
	if err := p.stat.Start(); err != nil {
		p.record.Process.Kill()
		p.record.Wait()
		return nil, fmt.Errorf("perf stat: %w", err)
	}
	return p, nil
}

func (p *perfRun) wait() error {
	err1 := p.record.Wait()
	err2 := p.stat.Wait()
	if err1 != nil {
		return fmt.Errorf("perf record: %w", err1)
	}
	if err2 != nil {
		return fmt.Errorf("perf stat: %w: %s", err2, p.statOut.String())
	}
	return nil
}

// PerfSummary is what perf saw of the collector.
type PerfSummary struct {
	Window  time.Duration      `json:"window_ns"`
	Samples int                `json:"samples"`
	Kernel  int                `json:"kernel_samples"` // samples whose leaf frame is in the kernel
	Parts   []perfPart         `json:"parts"`
	Entries []perfPart         `json:"kernel_entries"` // kernel samples by how the kernel was entered
	Stat    map[string]float64 `json:"stat"`           // perf stat counters (task-clock in ms)
}

type perfPart struct {
	Name    string `json:"name"`
	Samples int    `json:"samples"`
}

// perfThreads classifies a sample by the first rule any of its frames matches.
var perfThreads = []struct{ frame, name string }{
	{"runtime.sysmon", "Go runtime sysmon thread (invisible to pprof)"},
	{"ebpfsecurityreceiver.(*ebpfReceiver).readLoop", "ebpfsecurity receiver read loop (decode, process cache, OTLP mapping, ConsumeLogs)"},
	{"batchprocessor.", "batch processor and nop exporter"},
	{"ebpfsecurityreceiver.(*ebpfReceiver).metricsLoop", "receiver's own metrics"},
	{"runtime.gcBgMarkWorker", "Go GC background mark workers"},
	{"runtime.bgsweep", "Go GC background sweeper"},
	{"runtime.bgscavenge", "Go scavenger (madvise)"},
	{"runtime.schedule", "Go scheduler (finding work, parking and waking threads)"},
	{"runtime.park_m", "Go scheduler (finding work, parking and waking threads)"},
}

func perfBreakdown(p *perfRun, bin string, window time.Duration) (*PerfSummary, error) {
	out, err := exec.Command("perf", "script", "-F", "ip,sym", "-i", p.data).Output()
	if err != nil {
		return nil, fmt.Errorf("perf script: %w", err)
	}
	type frame struct {
		kernel bool
		addr   uint64
		sym    string
	}
	var samples [][]frame
	var cur []frame
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			if len(cur) > 0 {
				samples = append(samples, cur)
				cur = nil
			}
			continue
		}
		a, sym, _ := strings.Cut(line, " ")
		v, err := strconv.ParseUint(a, 16, 64)
		if err != nil {
			continue
		}
		cur = append(cur, frame{kernel: v >= 0xffff800000000000, addr: v, sym: sym})
	}
	if len(cur) > 0 {
		samples = append(samples, cur)
	}

	// perf reports unresolved user frames of the (stripped) collector as file offsets; the
	// binary's program headers turn them into addresses, and `go tool addr2line` (pclntab
	// survives stripping) into function names.
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	toVaddr := func(off uint64) uint64 {
		for _, ph := range f.Progs {
			if ph.Type == elf.PT_LOAD && ph.Flags&elf.PF_X != 0 && off >= ph.Off && off < ph.Off+ph.Filesz {
				return off - ph.Off + ph.Vaddr
			}
		}
		return 0
	}
	uniq := map[uint64]bool{}
	for _, s := range samples {
		for _, fr := range s {
			if !fr.kernel {
				uniq[toVaddr(fr.addr)] = true
			}
		}
	}
	addrs := make([]uint64, 0, len(uniq))
	for a := range uniq {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i] < addrs[j] })
	var in strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&in, "%#x\n", a)
	}
	cmd := exec.Command("go", "tool", "addr2line", bin)
	cmd.Stdin = strings.NewReader(in.String())
	sym, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool addr2line: %w", err)
	}
	lines := strings.Split(string(sym), "\n")
	names := map[uint64]string{}
	for i, a := range addrs {
		if 2*i < len(lines) {
			names[a] = lines[2*i]
		}
	}

	s := &PerfSummary{Window: window, Samples: len(samples), Stat: parsePerfStat(p.statOut.String())}
	parts, entries := map[string]int{}, map[string]int{}
	for _, smp := range samples {
		fn := make([]string, len(smp))
		for i, fr := range smp {
			if fr.kernel {
				fn[i] = fr.sym
			} else {
				fn[i] = names[toVaddr(fr.addr)]
			}
		}
		name := "other"
	rules:
		for _, r := range perfThreads {
			for _, n := range fn {
				if strings.Contains(n, r.frame) {
					name = r.name
					break rules
				}
			}
		}
		parts[name]++
		if smp[0].kernel {
			s.Kernel++
			entries[kernelEntry(fn)]++
		}
	}
	s.Parts = sortedParts(parts)
	s.Entries = sortedParts(entries)
	return s, nil
}

// kernelEntry names how a kernel sample's stack entered the kernel: the syscall, a page fault,
// an interrupt, or the scheduler.
func kernelEntry(fn []string) string {
	for _, n := range fn {
		switch {
		case strings.HasPrefix(n, "__x64_sys_"):
			return "syscall " + strings.TrimPrefix(n, "__x64_sys_")
		case n == "exc_page_fault":
			return "page fault"
		case strings.HasPrefix(n, "asm_sysvec_") || strings.HasPrefix(n, "sysvec_"):
			return "interrupt (" + strings.TrimPrefix(strings.TrimPrefix(n, "asm_"), "sysvec_") + ")"
		}
	}
	for _, n := range fn {
		if n == "schedule" || n == "__schedule" {
			return "scheduler"
		}
	}
	return "other"
}

func sortedParts(m map[string]int) []perfPart {
	var out []perfPart
	for k, v := range m {
		out = append(out, perfPart{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Samples != out[j].Samples {
			return out[i].Samples > out[j].Samples
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// parsePerfStat reads `perf stat -x ,` output: value,unit,event,...
func parsePerfStat(out string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[f[2]] = v
	}
	return m
}
