package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/procfs"
	"github.com/otelsec/otelsec/internal/proctree"
	"github.com/otelsec/otelsec/internal/sensor"
)

// captureFileRecords loads the file sensor (every operation watched under a new directory),
// opens and closes a file there n times from this process, and returns the kernel's records,
// copied out of the ring buffer.
func captureFileRecords(tb testing.TB, n int) [][]byte {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(tb, err)
	dir, err := filepath.EvalSymlinks(tb.TempDir())
	require.NoError(tb, err)
	target := filepath.Join(dir, "watched")
	require.NoError(tb, os.WriteFile(target, nil, 0o644))
	s, err := sensor.Load(sensor.Options{ProcessHook: sensor.HookAuto, RingBufferSize: 64 << 20, WakeupEvery: 64, ArgsMaxBytes: 1024,
		File: sensor.FileOptions{Enabled: true, Backend: sensor.FileBackendAuto,
			Include: []sensor.FileRule{{Prefix: dir, Ops: sensor.FileOpsAll}}}}, sensor.CapabilitiesOf(f))
	require.NoError(tb, err)
	defer s.Close()
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(tb, err)
	defer rd.Close()
	for i := 0; i < n; i++ {
		fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		require.NoError(tb, err)
		unix.Close(fd)
	}
	var recs [][]byte
	rd.SetDeadline(time.Now().Add(time.Second))
	for len(recs) < n {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		require.NoError(tb, err)
		if k, _ := sensor.PeekKind(rec.RawSample); k == sensor.KindFile {
			recs = append(recs, rec.RawSample)
		}
	}
	require.Len(tb, recs, n, "one file record per open")
	return recs
}

// mappingReceiver is a receiver as start builds it (process cache seeded from this node's
// /proc, boot clock, node) without BPF programs or reader: handle1 and send run on it as in
// readLoop.
func mappingReceiver(tb testing.TB) *ebpfReceiver {
	tb.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.File.Enabled = true
	r, err := newReceiver(cfg, receiverSettings())
	require.NoError(tb, err)
	r.logs = consumertest.NewNop()
	r.node, err = readNode(cfg)
	require.NoError(tb, err)
	r.cache = proctree.New(r.node.name, r.node.bootID, cfg.ProcessCache.Size)
	procs, err := procfs.All(cfg.ProcPath)
	require.NoError(tb, err)
	seedCache(r.cache, procs)
	r.clock = newBootClock()
	return r
}

// BenchmarkFileRecordMapping is the receiver's user-space work per file event, without the
// kernel: real file records (opens by this process, so with its real process context from the
// cache: executable, command line, parent, ancestry) decoded and turned into log records,
// batched and handed to a consumer that drops them, exactly as readLoop does. ns/op is per
// event; cpu-ns/event is the process's CPU time (garbage collection included) per event.
func BenchmarkFileRecordMapping(b *testing.B) {
	recs := captureFileRecords(b, 4096)
	r := mappingReceiver(b)
	var (
		exec sensor.Exec
		fork sensor.Fork
		exit sensor.Exit
		bt   = newBatch(r.node, r.set.BuildInfo.Version)
		m    = mapper{clock: &r.clock, ancestryDepth: r.cfg.Process.AncestryDepth}
		ctx  = context.Background()
	)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := rusage(unix.RUSAGE_SELF)
	for i := 0; i < b.N; i++ {
		r.handle1(recs[i%len(recs)], bt, &m, &exec, &fork, &exit)
		if bt.n >= r.cfg.MaxBatchSize {
			r.send(ctx, bt)
		}
	}
	r.send(ctx, bt)
	b.ReportMetric(float64((rusage(unix.RUSAGE_SELF)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.StopTimer()
	require.Zero(b, r.invalid.Load())
}
