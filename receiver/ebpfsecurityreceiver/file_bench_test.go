package ebpfsecurityreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/sensor"
)

// fileLoadEnv makes the test binary, run as a child, open and close the file FILE N times at
// RATE opens per second (0: as fast as it can), then exit: the workload of
// BenchmarkFileEventsMatching, in a process of its own so that its CPU time is its own.
const fileLoadEnv = "OTELSEC_FILE_LOAD"

func init() {
	if v := os.Getenv(fileLoadEnv); v != "" {
		var (
			path    string
			n, rate int
		)
		if _, err := fmt.Sscanf(v, "%d %d %s", &n, &rate, &path); err != nil {
			fmt.Fprintln(os.Stderr, "file load:", err)
			os.Exit(2)
		}
		start := time.Now()
		const batch = 500
		for i := 0; i < n; i++ {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "file load:", err)
				os.Exit(2)
			}
			unix.Close(fd)
			if rate > 0 && i%batch == batch-1 {
				due := start.Add(time.Duration(i+1) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(due))
			}
		}
		os.Exit(0)
	}
}

// fileLoadRun is one run of the workload.
type fileLoadRun struct {
	wall          time.Duration
	workloadCPU   time.Duration // the child's utime+stime
	receiverCPU   time.Duration // this process's utime+stime during the run (the receiver's)
	sent, lost    uint64        // the kernel's file records
	emitted       uint64        // file.open log records the receiver built
	rate, perOpen float64
}

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFileEventsMatching measures the file sensor when every open is watched: each one is
// a record in the ring buffer and a log record built by the receiver (decoded, process context
// from the cache, OTLP attributes) handed to a consumer that drops it. Method (BENCHMARKS.md,
// "File sensor"): a child process opens and closes one watched file N times
// (OTELSEC_FILE_BENCH_EVENTS, default 500,000), paced at 100,000 opens/s, then unpaced;
// each run once without the receiver and once with it, alternating; the workload's CPU is the
// child's utime+stime, the receiver's this process's during the run, lost records the
// kernel's counter; two last, unmeasured runs with the kernel's BPF statistics on give the
// openat exit program's time per event. The figures are the reported metrics, not ns/op.
func BenchmarkFileEventsMatching(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	n := 500000
	if v, err := strconv.Atoi(os.Getenv("OTELSEC_FILE_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	dir, err := filepath.EvalSymlinks(b.TempDir())
	require.NoError(b, err)
	target := filepath.Join(dir, "watched")
	require.NoError(b, os.WriteFile(target, nil, 0o644))
	self, err := os.Executable()
	require.NoError(b, err)

	workload := func(rate int) (time.Duration, time.Duration) {
		cmd := exec.Command(self)
		cmd.Env = []string{fmt.Sprintf("%s=%d %d %s", fileLoadEnv, n, rate, target)}
		cmd.Stderr = os.Stderr
		start := time.Now()
		require.NoError(b, cmd.Run())
		wall := time.Since(start)
		ps := cmd.ProcessState
		return wall, ps.UserTime() + ps.SystemTime()
	}
	var progNs float64 // profile run: the openat exit program's mean run time per event
	withReceiver := func(rate int, profile bool) fileLoadRun {
		cfg := createDefaultConfig().(*Config)
		cfg.File.Enabled = true
		cfg.File.Watch = FileWatchConfig{Include: []FileRuleConfig{{Paths: []string{dir}, Operations: []string{"all"}}}}
		f := NewFactory()
		set := receiverSettings()
		lr, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
		require.NoError(b, err)
		mr, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
		require.NoError(b, err)
		for _, c := range []component.Component{lr, mr} {
			require.NoError(b, c.Start(context.Background(), componenttest.NewNopHost()))
		}
		receivers.mu.Lock()
		r := receivers.m[cfg]
		receivers.mu.Unlock()
		time.Sleep(time.Second) // settle after the /proc seeding
		var prog *ebpf.Program
		var ps0 *ebpf.ProgramStats
		if profile {
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			require.NoError(b, err)
			defer stats.Close()
			prog, err = ebpf.NewProgramFromID(r.sensors.ProgramIDs()["osec_openat"])
			require.NoError(b, err)
			defer prog.Close()
			ps0, err = prog.Stats()
			require.NoError(b, err)
		}
		st0, err := r.sensors.Stats()
		require.NoError(b, err)
		em0 := r.emitted.load("file.open")
		cpu0 := rusage(unix.RUSAGE_SELF)
		wall, wcpu := workload(rate)
		// Drain: the receiver has built a log record for every record the kernel sent.
		var st sensor.Stats
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err = r.sensors.Stats()
			require.NoError(b, err)
			if r.emitted.load("file.open")-em0 >= st.Sent[sensor.KindFile]-st0.Sent[sensor.KindFile] || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if profile {
			ps1, err := prog.Stats()
			require.NoError(b, err)
			progNs = float64((ps1.Runtime - ps0.Runtime).Nanoseconds()) / float64(ps1.RunCount-ps0.RunCount)
		}
		run := fileLoadRun{
			wall: wall, workloadCPU: wcpu, receiverCPU: rusage(unix.RUSAGE_SELF) - cpu0,
			sent: st.Sent[sensor.KindFile] - st0.Sent[sensor.KindFile], lost: st.Lost[sensor.KindFile] - st0.Lost[sensor.KindFile],
			emitted: r.emitted.load("file.open") - em0,
		}
		for _, c := range []component.Component{lr, mr} {
			require.NoError(b, c.Shutdown(context.Background()))
		}
		return run
	}

	workload(0) // warm-up
	for _, rate := range []int{100000, 0} {
		name := "paced-100k"
		if rate == 0 {
			name = "unpaced"
		}
		offWall, offCPU := workload(rate)
		on := withReceiver(rate, false)
		offWall2, offCPU2 := workload(rate)
		baseCPU := (offCPU + offCPU2) / 2
		baseWall := (offWall + offWall2) / 2
		on.rate = float64(n) / on.wall.Seconds()
		b.Logf("%s: without the receiver %d opens in %s (%.0f/s), CPU %.2f µs/open; with it %s (%.0f/s), CPU %.2f µs/open (%.2f×); receiver CPU %.2f µs/event; kernel sent %d, lost %d; log records %d",
			name, n, baseWall.Round(time.Millisecond), float64(n)/baseWall.Seconds(), us(baseCPU, n),
			on.wall.Round(time.Millisecond), on.rate, us(on.workloadCPU, n), float64(on.workloadCPU)/float64(baseCPU),
			us(on.receiverCPU, n), on.sent, on.lost, on.emitted)
		b.ReportMetric(on.rate, name+"-events/s")
		b.ReportMetric(float64(on.workloadCPU)/float64(baseCPU), name+"-workload-cpu-ratio")
		b.ReportMetric(us(on.receiverCPU, n), name+"-receiver-µs/event")
		b.ReportMetric(float64(on.lost), name+"-lost")
		require.EqualValues(b, n, on.sent+on.lost, "one record per open")
		require.Equal(b, on.sent, on.emitted, "every record sent became a log record")
	}
	// Separate, unmeasured runs (paced, unpaced) with the kernel's BPF statistics on: the exit
	// program's own time per event (path, filters, record, ring buffer), the statistics' clock
	// reads included.
	withReceiver(100000, true)
	paced := progNs
	withReceiver(0, true)
	b.Logf("profile runs: the openat exit program takes %.0f ns per open (every one an event) at 100,000/s, %.0f ns unpaced", paced, progNs)
	b.ReportMetric(paced, "paced-100k-bpf-ns/event")
	b.ReportMetric(progNs, "unpaced-bpf-ns/event")
	b.ReportMetric(0, "ns/op")
}

func us(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) / 1000 }
