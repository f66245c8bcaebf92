package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/container"
	"github.com/otelsec/otelsec/internal/proctree"
	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// readLoop reads the ring buffer until it is flushed at shutdown or closed. Records are batched:
// a batch goes to the next consumer when it is full or flush_interval old. The kernel wakes
// the reader only every wakeup_every records, so the read deadline is what bounds the latency
// of a quiet node.
func (r *ebpfReceiver) readLoop(ctx context.Context) {
	defer close(r.readDone)
	var (
		rec      ringbuf.Record
		exec     sensor.Exec
		fork     sensor.Fork
		exit     sensor.Exit
		b        = newBatch(r.node, r.set.BuildInfo.Version)
		m        = mapper{clock: &r.clock, ancestryDepth: r.cfg.Process.AncestryDepth}
		flush    = r.cfg.RingBuffer.FlushInterval
		lastReap = time.Now()
	)
	r.reader.SetDeadline(time.Now().Add(flush))
	for {
		err := r.reader.ReadInto(&rec)
		switch {
		case err == nil:
			r.handle1(rec.RawSample, b, &m, &exec, &fork, &exit)
			if b.n >= r.cfg.MaxBatchSize || (b.n > 0 && time.Since(b.started) >= flush) {
				r.send(ctx, b)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			r.send(ctx, b)
			if time.Since(lastReap) >= r.cfg.ProcessCache.ReapInterval {
				r.reap()
				lastReap = time.Now()
			}
			r.reader.SetDeadline(time.Now().Add(flush))
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, os.ErrClosed):
			r.send(ctx, b)
			return
		default:
			r.logger.Error("Reading the ring buffer failed; the receiver stops reading", zap.Error(err))
			r.send(ctx, b)
			return
		}
	}
}

// handle1 decodes one record, updates the process cache, and appends the record's event.
func (r *ebpfReceiver) handle1(raw []byte, b *batch, m *mapper, exec *sensor.Exec, fork *sensor.Fork, exit *sensor.Exit) {
	kind, err := sensor.PeekKind(raw)
	if err == nil {
		switch kind {
		case sensor.KindExec:
			if err = sensor.DecodeExec(raw, exec); err == nil {
				if len(exec.Decisions) > 0 {
					// The enforcer's exec tracepoint decisions travel in the exec record; they
					// describe the process as it was before the exec.
					before := r.cache.Get(exec.TGID)
					for _, d := range sensor.ExecDecisions(exec) {
						if derr := r.emitDecision(&d, before, b, m); derr != nil {
							r.invalid.Add(1)
							r.logger.Error("Dropped a policy decision of an exec record", zap.Uint32("pid", exec.TGID), zap.Error(derr))
						}
					}
				}
				img := new(proctree.Image)
				*img = exec.Image
				img.Container = container.FromCgroupPath(img.Cgroup)
				p := r.cache.Exec(exec.TGID, exec.PPID, exec.VPID, exec.KTime, exec.StartBoottime, img)
				if exec.Suppressed { // muted by a suppress rule: the cache only (the kernel counts it)
					return
				}
				m.exec(b.record(img.Container), exec, p)
				r.emitted.inc(schemaExec)
			}
		case sensor.KindFork:
			if err = sensor.DecodeFork(raw, fork); err == nil {
				r.cache.Fork(fork.TGID, fork.PPID, fork.StartBoottime)
			}
		case sensor.KindExit:
			if err = sensor.DecodeExit(raw, exit); err == nil {
				p, dup := r.cache.Exit(exit.TGID, exit.StartBoottime)
				if dup || exit.Suppressed {
					return
				}
				var c container.Info
				if p != nil && p.Image != nil {
					c = p.Image.Container
				}
				m.exit(b.record(c), exit, p)
				r.emitted.inc(schemaExit)
			}
		case sensor.KindFile:
			err = r.handleFile(raw, b, m)
		case sensor.KindNetwork:
			err = r.handleNetwork(raw, b, m)
		case sensor.KindPrivilege, sensor.KindSecurity:
			err = r.handlePrivilege(raw, b, m)
		case sensor.KindPolicy:
			err = r.handlePolicy(raw, b, m)
		default:
			err = errUnknownKind
		}
	}
	if err != nil {
		r.invalid.Add(1)
		r.logger.Error("Dropped a record that could not be decoded", zap.Uint8("kind", uint8(kind)), zap.Int("bytes", len(raw)), zap.Error(err))
	}
}

// reap ends the processes the cache holds as running that /proc no longer has. It runs in the
// reader's goroutine, which owns the cache, when the ring buffer is idle.
func (r *ebpfReceiver) reap() {
	n := r.cache.Reap(func(pid uint32) bool {
		return unix.Access(r.cfg.ProcPath+"/"+strconv.FormatUint(uint64(pid), 10), unix.F_OK) == nil
	})
	if n > 0 {
		r.reaped.Add(uint64(n))
		r.logger.Debug("Ended processes whose exit was not seen", zap.Int("processes", n))
	}
}

const (
	schemaExec = schema.EventProcessExec
	schemaExit = schema.EventProcessExit
)

var errUnknownKind = errors.New("unknown record kind")

// eventCounts counts log records by event name; the reader increments, the metrics loop reads.
type eventCounts struct{ m sync.Map } // event name -> *atomic.Uint64

func (c *eventCounts) inc(name string) {
	v, ok := c.m.Load(name)
	if !ok {
		v, _ = c.m.LoadOrStore(name, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (c *eventCounts) load(name string) uint64 {
	if v, ok := c.m.Load(name); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

func (c *eventCounts) each(f func(name string, n uint64)) {
	c.m.Range(func(k, v any) bool {
		f(k.(string), v.(*atomic.Uint64).Load())
		return true
	})
}

// send hands the batch to the next consumer. A receiver cannot retry: what the pipeline
// refuses is counted by the collector's receiver metrics (refused log records) and logged.
func (r *ebpfReceiver) send(ctx context.Context, b *batch) {
	r.clock.sync()
	if b.n == 0 || r.logs == nil {
		b.take()
		return
	}
	n := b.n
	logs := b.take()
	ctx = r.obs.StartLogsOp(ctx)
	err := r.logs.ConsumeLogs(ctx, logs)
	r.obs.EndLogsOp(ctx, "ebpf", n, err)
	if err != nil {
		r.logger.Warn("The pipeline refused process events", zap.Int("records", n), zap.Error(err))
	}
}

// kinds are the record kinds of the enabled sensors.
func (r *ebpfReceiver) kinds() []sensor.Kind {
	kinds := []sensor.Kind{sensor.KindExec, sensor.KindFork, sensor.KindExit}
	if r.cfg.File.Enabled {
		kinds = append(kinds, sensor.KindFile)
	}
	if r.cfg.Network.Enabled {
		kinds = append(kinds, sensor.KindNetwork)
	}
	if r.cfg.Privilege.Enabled {
		kinds = append(kinds, sensor.KindPrivilege, sensor.KindSecurity)
	}
	if r.cfg.Policy.Extension != nil {
		kinds = append(kinds, sensor.KindPolicy)
	}
	return kinds
}

// metricsLoop emits the receiver's metrics every collection_interval.
func (r *ebpfReceiver) metricsLoop(ctx context.Context) {
	defer r.metricsWG.Done()
	mb := metadata.NewMetricsBuilder(r.cfg.MetricsBuilderConfig, r.set)
	t := time.NewTicker(r.cfg.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.emitMetrics(ctx, mb)
		}
	}
}

func (r *ebpfReceiver) emitMetrics(ctx context.Context, mb *metadata.MetricsBuilder) {
	now := pcommon.NewTimestampFromTime(time.Now())
	r.emitted.each(func(name string, n uint64) {
		mb.RecordOtelsecEventsDataPoint(now, int64(n), name)
	})
	if st, err := r.sensors.Stats(); err == nil {
		for _, k := range r.kinds() {
			mb.RecordOtelsecKernelRecordsDataPoint(now, int64(st.Sent[k]), k.String())
			mb.RecordOtelsecKernelRecordsLostDataPoint(now, int64(st.Lost[k]), k.String())
			mb.RecordOtelsecKernelRecordsFilteredDataPoint(now, int64(st.Filtered[k]), k.String())
			mb.RecordOtelsecKernelRecordsSuppressedDataPoint(now, int64(st.Suppressed[k]), k.String())
		}
	} else {
		r.logger.Warn("Reading the kernel's counters failed", zap.Error(err))
	}
	bySensor, _, merr := r.sensors.MissedRuns()
	if merr == nil && r.enforcer != nil {
		var byProgram map[string]uint64
		if byProgram, merr = r.enforcer.MissedRuns(); merr == nil {
			bySensor["policy"] = 0
			for _, n := range byProgram {
				bySensor["policy"] += n
			}
		}
	}
	if merr != nil {
		r.logger.Warn("Reading the BPF programs' statistics failed", zap.Error(merr))
	}
	for name, n := range bySensor {
		if a, ok := metadata.MapAttributeSensor[name]; ok {
			mb.RecordOtelsecKernelProgramRunsMissedDataPoint(now, int64(n), a)
		}
	}
	mb.RecordOtelsecRecordsInvalidDataPoint(now, int64(r.invalid.Load()))
	size, evictions := r.cache.Stats()
	mb.RecordOtelsecProcessCacheSizeDataPoint(now, size)
	mb.RecordOtelsecProcessCacheEvictionsDataPoint(now, int64(evictions))
	mb.RecordOtelsecProcessCacheReapedDataPoint(now, int64(r.reaped.Load()))
	for _, a := range r.sensors.Attachments() {
		mb.RecordOtelsecSensorHooksDataPoint(now, 1, a.Event, a.String())
	}
	r.emitPolicyMetrics(mb, now)
	rb := mb.NewResourceBuilder()
	rb.SetHostName(r.node.name)
	if r.node.machineID != "" {
		rb.SetHostID(r.node.machineID)
	}
	rb.SetOsType("linux")
	metrics := mb.Emit(metadata.WithResource(rb.Emit()))
	ctx = r.obs.StartMetricsOp(ctx)
	err := r.metrics.ConsumeMetrics(ctx, metrics)
	r.obs.EndMetricsOp(ctx, "ebpf", metrics.DataPointCount(), err)
	if err != nil {
		r.logger.Warn("The pipeline refused the receiver's metrics", zap.Error(err))
	}
}
