package main

// `bench network`: what the network sensor costs TCP connections to loopback. A workload opens
// and closes connections to a listener of its own (connect, accept, both closes: the four
// network events of a connection), alternately with the collector running without the network
// sensor ("off", the process sensor only) and with it ("on", network::enabled with its
// defaults), in rounds so that drift of a shared machine hits both alike. It reports:
//   - the slowdown: median time of one connect+close on the client, and the whole
//     connect+accept+close+close cycle (both ends) per connection, on / off;
//   - the collector's CPU per connection (utime+stime, read before the workload and after the
//     pipeline accepted every network record the kernel sent), on, off, and their difference;
//   - the network programs' in-kernel time per connection (bpf_stats run_time_ns / run_cnt);
//   - records lost (the kernel's osec_stats.lost[]);
//   - the cost of an unrelated syscall (getppid) on and off: where the sensor watches the accept
//     and connect syscalls through syscall tracepoints, every syscall on the machine takes the
//     tracing slow path.
//
//	sudo go run ./bench network -n 5000 -rounds 5
//
// It shares the harness's collector control, BPF statistics and /proc readers.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == "network" {
		os.Exit(networkMain(os.Args[2:]))
	}
}

type netOptions struct {
	bin, outDir, mdOut string
	n, rounds          int
	syscalls           int
	settle, quietWait  time.Duration
	quietCPU           float64
}

func networkMain(args []string) int {
	no := &netOptions{}
	fs := flag.NewFlagSet("bench network", flag.ExitOnError)
	fs.StringVar(&no.bin, "bin", "_build/otelsec", "collector binary (make build)")
	fs.IntVar(&no.n, "n", 5000, "connections per run")
	fs.IntVar(&no.rounds, "rounds", 5, "rounds of (network off, network on)")
	fs.IntVar(&no.syscalls, "syscalls", 2_000_000, "getppid calls per run, to measure the cost of an unrelated syscall (0: skip)")
	fs.DurationVar(&no.settle, "settle", time.Second, "wait after the collector is ready before measuring")
	fs.DurationVar(&no.quietWait, "quiet-wait", 30*time.Second, "before each run, wait up to this long for a quiet machine")
	fs.Float64Var(&no.quietCPU, "quiet-cpu", 0.25, "quiet: the machine uses fewer CPUs than this")
	fs.StringVar(&no.outDir, "out", "", "directory for collector configs, logs and results.json (default: a new temporary directory)")
	fs.StringVar(&no.mdOut, "md", "", "also write the Markdown summary to this file")
	fs.Parse(args)

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping", s)
		cancel()
		cleanup()
		os.Exit(130)
	}()
	err := runNetwork(ctx, no)
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench network: FAIL:", err)
		return 1
	}
	return 0
}

// netRun is one measured run.
type netRun struct {
	Arm     string        `json:"arm"`
	Round   int           `json:"round"`
	Conns   int           `json:"connections"`
	Elapsed time.Duration `json:"elapsed_ns"` // the whole workload, every server close included
	P50     time.Duration `json:"connect_close_p50_ns"`
	P99     time.Duration `json:"connect_close_p99_ns"`
	// ClientCPU is the client thread's CPU time for all its connect+close (the handshake's
	// softirq work runs on it too).
	ClientCPU time.Duration `json:"client_thread_cpu_ns"`
	lat       []time.Duration

	WorkloadCPU    time.Duration       `json:"workload_cpu_ns"`
	CollectorTicks uint64              `json:"collector_ticks"`
	CollectorNs    uint64              `json:"collector_sched_ns"`
	CPUWindow      time.Duration       `json:"cpu_window_ns"`
	Sent           uint64              `json:"network_records_sent"`
	Accepted       uint64              `json:"accepted_log_records"`
	Lost           uint64              `json:"lost_since_start"`
	Progs          map[string]progStat `json:"network_progs,omitempty"`
	Syscall        time.Duration       `json:"getppid_ns"`
	TCPWrite       time.Duration       `json:"tcp_write_ns"`
	UDPSend        time.Duration       `json:"udp_sendto_ns"`
	Hooks          string              `json:"hooks"`
	ForeignProgs   int                 `json:"foreign_osec_programs"` // of other processes (tests), before the run
	BusyBefore     float64             `json:"cpus_busy_before"`
}

const kindNetwork = 5

// The arms of the benchmark: the collector without the network sensor, with it (its
// defaults), and with it filtering out loopback peers (every event of the workload is then
// dropped in the kernel: what filtered traffic still costs).
const (
	armOff      = "off"
	armOn       = "on"
	armFiltered = "on, loopback filtered"
)

var netArms = []string{armOff, armOn, armFiltered}

// netConfig is distribution/bench.yaml's pipeline for an arm, with the file and privilege
// sensors off in every arm: the difference is the network sensor's alone, including the
// syscall tracepoints it attaches where fexit is refused (the privilege sensor, on by default,
// attaches syscall tracepoints too and would hide their system-wide cost).
func netConfig(arm string) string {
	return fmt.Sprintf(`receivers:
  ebpfsecurity:
    network:
      enabled: %v
      loopback: %v
    file:
      enabled: false
    privilege:
      enabled: false
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch: {}
exporters:
  nop: {}
extensions:
  health_check:
    endpoint: 127.0.0.1:13133
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [ebpfsecurity]
      processors: [memory_limiter, batch]
      exporters: [nop]
    metrics:
      receivers: [ebpfsecurity]
      processors: [memory_limiter, batch]
      exporters: [nop]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: 8888
`, arm != armOff, arm != armFiltered)
}

func runNetwork(ctx context.Context, no *netOptions) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: the collector loads BPF programs")
	}
	if no.outDir == "" {
		d, err := os.MkdirTemp("", "otelsec-bench-network.")
		if err != nil {
			return err
		}
		no.outDir = d
	}
	statsAtRun = readTrim(bpfStatsSysctl)
	cfgs := map[string]string{}
	for i, arm := range netArms {
		p := filepath.Join(no.outDir, fmt.Sprintf("network-%d.yaml", i))
		if err := os.WriteFile(p, []byte(netConfig(arm)), 0o644); err != nil {
			return err
		}
		cfgs[arm] = p
	}
	w, err := newConnWorkload()
	if err != nil {
		return err
	}
	defer w.Close()
	logf("network: workload listens on %s; warm-up", w.server)
	if _, _, _, err := w.run(500); err != nil {
		return err
	}
	var runs []*netRun
	for r := 1; r <= no.rounds; r++ {
		for _, arm := range netArms {
			o := &options{bin: no.bin, config: cfgs[arm], readyTimeout: 60 * time.Second, outDir: no.outDir,
				healthURL: "http://127.0.0.1:13133/", metricsURL: "http://127.0.0.1:8888/metrics", quietWait: no.quietWait, quietCPU: no.quietCPU}
			run, err := netMeasure(ctx, o, no, w, arm, r)
			if err != nil {
				return err
			}
			runs = append(runs, run)
			logf("round %d/%d network %s: connect+close p50 %v, client CPU %v per connection, collector %.3f ms per connection, %d network records, lost %d, getppid %v",
				r, no.rounds, arm, run.P50, run.ClientCPU/time.Duration(run.Conns), ms(ticksToDuration(run.CollectorTicks))/float64(run.Conns), run.Sent, run.Lost, run.Syscall)
		}
	}
	b, _ := json.MarshalIndent(runs, "", "  ")
	os.WriteFile(filepath.Join(no.outDir, "network-results.json"), b, 0o644)
	md := netMarkdown(runs, no)
	fmt.Print(md)
	if no.mdOut != "" {
		return os.WriteFile(no.mdOut, []byte(md), 0o644)
	}
	return nil
}

// netMeasure starts the collector with or without the network sensor and measures one run.
func netMeasure(ctx context.Context, o *options, no *netOptions, w *connWorkload, arm string, round int) (*netRun, error) {
	c, err := startCollector(ctx, o, filepath.Join(no.outDir, fmt.Sprintf("collector-network-%d-%d.log", slices.Index(netArms, arm), round)))
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
	time.Sleep(no.settle)
	foreign, busy := waitQuiet(ctx, o, bo)

	r := &netRun{Arm: arm, Round: round, Conns: no.n, Hooks: c.hooks(), ForeignProgs: foreign, BusyBefore: busy}
	acc0, err := acceptedLogRecords(o.metricsURL)
	if err != nil {
		return nil, err
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
	self0, _ := selfCPU()
	t0, err := procCPU(c.pid)
	if err != nil {
		return nil, err
	}
	ns0, w0 := procSchedNs(c.pid), time.Now()

	r.lat, r.Elapsed, r.ClientCPU, err = w.run(no.n)
	if err != nil {
		return nil, err
	}
	self1, _ := selfCPU()
	r.WorkloadCPU = self1 - self0
	p1, err := bo.readProgs()
	if err != nil {
		return nil, err
	}
	setStats(nil)
	if err := st.Close(); err != nil {
		return nil, err
	}
	k1, err := bo.readStats()
	if err != nil {
		return nil, err
	}
	r.Sent = k1.Sent[kindNetwork] - k0.Sent[kindNetwork]
	// Drain: every network record the kernel sent is in the pipeline, plus the batch timeout.
	deadline := time.Now().Add(10 * time.Second)
	for {
		acc, err := acceptedLogRecords(o.metricsURL)
		if err != nil {
			return nil, err
		}
		r.Accepted = acc - acc0
		if r.Accepted >= r.Sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Accepted < r.Sent {
		logf("warning: the pipeline accepted %d log records, the kernel sent %d network records", r.Accepted, r.Sent)
	}
	time.Sleep(300 * time.Millisecond)
	t1, err := procCPU(c.pid)
	if err != nil {
		return nil, err
	}
	r.CollectorTicks, r.CollectorNs, r.CPUWindow = t1-t0, procSchedNs(c.pid)-ns0, time.Since(w0)
	kEnd, err := bo.readStats()
	if err != nil {
		return nil, err
	}
	r.Lost = kEnd.lost()
	r.Progs = map[string]progStat{}
	for name, v1 := range p1 {
		if !isNetworkProg(name) {
			continue
		}
		v0 := p0[name]
		r.Progs[name] = progStat{Runs: v1.Runs - v0.Runs, Runtime: v1.Runtime - v0.Runtime, RecursionMisses: v1.RecursionMisses - v0.RecursionMisses}
	}
	if no.syscalls > 0 {
		r.Syscall = getppidCost(no.syscalls)
		if r.TCPWrite, r.UDPSend, err = sendCosts(no.syscalls / 10); err != nil {
			return nil, err
		}
	}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.P50, r.P99 = quantile(r.lat, 0.5), quantile(r.lat, 0.99)

	ids := bo.ids
	bo.Close()
	if err := c.stop(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && anyLoaded(ids); time.Sleep(50 * time.Millisecond) {
	}
	return r, nil
}

func isNetworkProg(name string) bool {
	for _, p := range []string{"osec_ns_", "osec_ac", "osec_cn_", "osec_u4_", "osec_u6_", "osec_usl_", "osec_uc"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// threadCPU is the calling thread's CPU time: unlike wall time, other jobs of a shared machine
// barely move it (cache and frequency effects only).
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// bestOf3 runs f n times, three times over, on the calling (locked) thread, and returns the
// smallest CPU time per call.
func bestOf3(n int, f func() error) (time.Duration, error) {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := threadCPU()
		for range n {
			if err := f(); err != nil {
				return 0, err
			}
		}
		if d := (threadCPU() - start) / time.Duration(n); d < best {
			best = d
		}
	}
	return best, nil
}

// getppidCost is the CPU time of a getppid(2): a syscall no sensor watches, which only shows
// what every syscall pays.
func getppidCost(n int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d, _ := bestOf3(n, func() error {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		return nil
	})
	return d
}

// sendCosts is the CPU time of a 1-byte write(2) on a connected loopback TCP socket and of a
// 1-byte sendto(2) on an unconnected UDP socket to one loopback destination: the sends every
// sensor send hook sees (sock_send_length sees every socket send; cgroup/sendmsg4 every
// unconnected UDP send), and which it must let through cheaply once the destination is known.
func sendCosts(n int) (tcp, udp time.Duration, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(lfd)
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(lfd, lo); err != nil {
		return 0, 0, err
	}
	if err := unix.Listen(lfd, 1); err != nil {
		return 0, 0, err
	}
	sa, _ := unix.Getsockname(lfd)
	cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(cfd)
	if err := unix.Connect(cfd, sa); err != nil {
		return 0, 0, err
	}
	afd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(afd)
	done := make(chan struct{})
	go func() { // drain the server side
		buf := make([]byte, 65536)
		for {
			if r, err := unix.Read(afd, buf); err != nil || r == 0 {
				close(done)
				return
			}
		}
	}()
	one := []byte{1}
	if tcp, err = bestOf3(n, func() error { _, err := unix.Write(cfd, one); return err }); err != nil {
		return 0, 0, err
	}
	unix.Shutdown(cfd, unix.SHUT_WR)
	<-done
	ufd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(ufd)
	sink, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(sink)
	if err := unix.Bind(sink, lo); err != nil {
		return 0, 0, err
	}
	to, _ := unix.Getsockname(sink)
	udp, err = bestOf3(n, func() error {
		// A full receive buffer drops the datagram, which sendto does not report: no draining.
		return unix.Sendto(ufd, one, 0, to)
	})
	return tcp, udp, err
}

// connWorkload is a loopback listener whose connections a server thread accepts, reads to
// EOF and closes, and a client that opens and closes them one at a time.
type connWorkload struct {
	lfd    int
	server netip.AddrPort
	served chan error
}

func newConnWorkload() (*connWorkload, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(lfd)
		return nil, err
	}
	if err := unix.Listen(lfd, 1024); err != nil {
		unix.Close(lfd)
		return nil, err
	}
	sa, _ := unix.Getsockname(lfd)
	in := sa.(*unix.SockaddrInet4)
	return &connWorkload{lfd: lfd, server: netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)), served: make(chan error, 1)}, nil
}

func (w *connWorkload) Close() error { return unix.Close(w.lfd) }

// run opens and closes n connections: the client connects and closes (it closes first, as a
// client of a request/response protocol does), the server accepts, reads the EOF and closes.
// It returns each connect+close's time on the client, the time until the server closed the
// last one, and the client thread's CPU time.
func (w *connWorkload) run(n int) ([]time.Duration, time.Duration, time.Duration, error) {
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 64)
		for range n {
			fd, _, err := unix.Accept4(w.lfd, unix.SOCK_CLOEXEC)
			if err != nil {
				w.served <- err
				return
			}
			if _, err := unix.Read(fd, buf); err != nil {
				w.served <- err
				return
			}
			unix.Close(fd)
		}
		w.served <- nil
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sa := &unix.SockaddrInet4{Addr: w.server.Addr().As4(), Port: int(w.server.Port())}
	lat := make([]time.Duration, 0, n)
	start, cpu0 := time.Now(), threadCPU()
	for range n {
		t := time.Now()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, 0, 0, err
		}
		if err := unix.Connect(fd, sa); err != nil {
			unix.Close(fd)
			return nil, 0, 0, fmt.Errorf("connect %s: %w", w.server, err)
		}
		unix.Close(fd)
		lat = append(lat, time.Since(t))
	}
	cpu := threadCPU() - cpu0
	err := <-w.served
	return lat, time.Since(start), cpu, err
}

func netMarkdown(runs []*netRun, no *netOptions) string {
	type side struct {
		lat                                     []time.Duration
		workCPU, clientCPU                      time.Duration
		conns                                   int
		ticks, ns, sent, acc, lost              uint64
		syscalls, tcpWrites, udpSends, p50, cyc []time.Duration
		busy                                    []float64
		foreign                                 []int
		progs                                   map[string]progStat
	}
	sides := map[string]*side{}
	hooks := ""
	for _, arm := range netArms {
		sides[arm] = &side{progs: map[string]progStat{}}
	}
	for _, r := range runs {
		x := sides[r.Arm]
		if r.Arm == armOn {
			hooks = r.Hooks
		}
		for name, p := range r.Progs {
			q := x.progs[name]
			q.Runs += p.Runs
			q.Runtime += p.Runtime
			x.progs[name] = q
		}
		x.lat = append(x.lat, r.lat...)
		x.workCPU += r.WorkloadCPU
		x.clientCPU += r.ClientCPU
		x.conns += r.Conns
		x.ticks += r.CollectorTicks
		x.ns += r.CollectorNs
		x.sent += r.Sent
		x.acc += r.Accepted
		x.lost = max(x.lost, r.Lost)
		x.syscalls = append(x.syscalls, r.Syscall)
		x.tcpWrites = append(x.tcpWrites, r.TCPWrite)
		x.udpSends = append(x.udpSends, r.UDPSend)
		x.p50 = append(x.p50, r.P50)
		x.cyc = append(x.cyc, r.Elapsed/time.Duration(r.Conns))
		x.busy = append(x.busy, r.BusyBefore)
		x.foreign = append(x.foreign, r.ForeignProgs)
	}
	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return quantile(d, 0.5)
	}
	medf := func(f []float64) float64 {
		f = slices.Clone(f)
		slices.Sort(f)
		if len(f) == 0 {
			return 0
		}
		if len(f)%2 == 0 {
			return (f[len(f)/2-1] + f[len(f)/2]) / 2
		}
		return f[len(f)/2]
	}
	perConn := func(d time.Duration, n int) time.Duration { return d / time.Duration(max(n, 1)) }
	// Micro-benchmarks: the fastest of all runs (each the best of 3), the usual estimate of a
	// CPU-bound cost on a machine whose other load only ever adds to it.
	fastest := func(d []time.Duration) time.Duration { return slices.Min(d) }
	inKernel := func(x *side) time.Duration {
		var t time.Duration
		for _, p := range x.progs {
			t += p.Runtime
		}
		return perConn(t, x.conns)
	}
	off, on, filt := sides[armOff], sides[armOn], sides[armFiltered]
	var b strings.Builder
	host, _ := os.Hostname()
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Fprintf(&b, "Measured %s on %s (%d × %s, Linux %s, %s). %d rounds of %d loopback TCP connections, each round with the collector without the network sensor, with it, and with it filtering loopback peers out; hooks with it on: `%s`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), cpuModel(), unix.ByteSliceToString(uts.Release[:]), runtime.Version(), no.rounds, no.n, hooks)
	b.WriteString("| Figure | network off | network on | on − off | on, loopback filtered | filtered − off |\n|---|---|---|---|---|---|\n")
	row := func(name string, f func(x *side) time.Duration) {
		v0, v1, v2 := f(off), f(on), f(filt)
		x := ""
		if v0 > 0 {
			x = fmt.Sprintf(" (×%.2f)", float64(v1)/float64(v0))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %+.1f µs%s | %s | %+.1f µs |\n", name, fmtUs(v0), fmtUs(v1), us(v1-v0), x, fmtUs(v2), us(v2-v0))
	}
	row("connect+close on the client, median of all connections", func(x *side) time.Duration { return med(x.lat) })
	ratio := func(x *side) float64 {
		var r []float64
		for i := range min(len(off.p50), len(x.p50)) {
			r = append(r, float64(x.p50[i])/float64(off.p50[i]))
		}
		return medf(r)
	}
	fmt.Fprintf(&b, "| ↳ median of the rounds' ratios to off (each round's arms ran back to back) | | | ×%.3f | | ×%.3f |\n", ratio(on), ratio(filt))
	row("client thread CPU per connect+close (its softirq work included)", func(x *side) time.Duration { return perConn(x.clientCPU, x.conns) })
	row("workload CPU per connection (client and server threads)", func(x *side) time.Duration { return perConn(x.workCPU, x.conns) })
	row("whole connection, wall time per connection (median of the rounds)", func(x *side) time.Duration { return med(x.cyc) })
	row("collector CPU per connection (schedstat, run + drain)", func(x *side) time.Duration { return perConn(time.Duration(x.ns), x.conns) })
	row("collector CPU per connection (utime+stime ticks)", func(x *side) time.Duration { return perConn(ticksToDuration(x.ticks), x.conns) })
	row("network programs' in-kernel time per connection (bpf_stats)", inKernel)
	fmt.Fprintf(&b, "| network records sent per connection (accepted by the pipeline / sent) | %.2f | %.2f (%d / %d) | | %.2f | |\n",
		float64(off.sent)/float64(max(off.conns, 1)), float64(on.sent)/float64(max(on.conns, 1)), on.acc, on.sent, float64(filt.sent)/float64(max(filt.conns, 1)))
	fmt.Fprintf(&b, "| records lost (kernel, every run) | %d | %d | | %d | |\n", off.lost, on.lost, filt.lost)
	row("getppid(2), a syscall nobody watches: thread CPU time (fastest run)", func(x *side) time.Duration { return fastest(x.syscalls) })
	row("1-byte write(2), connected loopback TCP socket: thread CPU time (fastest run)", func(x *side) time.Duration { return fastest(x.tcpWrites) })
	row("1-byte sendto(2), unconnected UDP, destination already reported: thread CPU time (fastest run)", func(x *side) time.Duration { return fastest(x.udpSends) })

	b.WriteString("\nPer round: the client's median connect+close; machine CPUs busy and other processes' osec_* programs just before each run:\n\n| Round | off | on | filtered | busy off / on / filtered | other osec programs |\n|---|---|---|---|---|---|\n")
	for i := range min(len(off.p50), len(on.p50), len(filt.p50)) {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.2f / %.2f / %.2f | %d / %d / %d |\n", i+1, fmtUs(off.p50[i]), fmtUs(on.p50[i]), fmtUs(filt.p50[i]),
			off.busy[i], on.busy[i], filt.busy[i], off.foreign[i], on.foreign[i], filt.foreign[i])
	}
	b.WriteString("\nIn-kernel time of the network programs (all rounds):\n\n| Program | runs per connection (on) | mean run time on | mean run time filtered |\n|---|---|---|---|\n")
	names := make([]string, 0, len(on.progs))
	for name, p := range on.progs {
		if p.Runs > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		p, f := on.progs[name], filt.progs[name]
		fmt.Fprintf(&b, "| `%s` | %.2f | %s | %s |\n", name, float64(p.Runs)/float64(max(on.conns, 1)),
			fmtUs(p.Runtime/time.Duration(max(p.Runs, 1))), fmtUs(f.Runtime/time.Duration(max(f.Runs, 1))))
	}
	return b.String()
}
