package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/internal/container"
	"github.com/otelsec/otelsec/internal/enforce"
	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/procfs"
	"github.com/otelsec/otelsec/internal/proctree"
	"github.com/otelsec/otelsec/internal/sensor"
)

type ebpfReceiver struct {
	cfg     *Config
	set     receiver.Settings
	logger  *zap.Logger
	obs     *receiverhelper.ObsReport
	logs    consumer.Logs
	metrics consumer.Metrics
	handles int // guarded by the registry

	mu          sync.Mutex
	running     bool
	readStopped bool // the programs are detached and the reader drained (stopReading)
	features    kernel.Features
	sensors     *sensor.Sensors
	reader      *ringbuf.Reader
	cache       *proctree.Cache
	node        nodeInfo
	clock       bootClock
	cancel      context.CancelFunc // ends the consumers' context
	readDone    chan struct{}      // closed when readLoop returns
	stopMetrics context.CancelFunc
	metricsWG   sync.WaitGroup

	emitted eventCounts // log records by event name
	invalid atomic.Uint64
	reaped  atomic.Uint64

	netOwners networkOwners // the reader's: images of open connections (network.go)

	enforcer    *enforce.Enforcer // policy enforcement (policy.go); nil without policy::extension
	unsubscribe func()
	pods        *k8s.Handle // the pod cache of policy workload selectors; nil without a cluster
}

type nodeInfo struct {
	name      string
	machineID string
	bootID    string
}

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "ebpf",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	return &ebpfReceiver{cfg: cfg, set: set, logger: set.Logger, obs: obs}, nil
}

func (r *ebpfReceiver) start(_ context.Context, host component.Host) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil
	}
	if r.cfg.MountTracefs {
		mounted, err := kernel.EnsureTracefs()
		if err != nil {
			r.logger.Warn("Could not mount tracefs: classic tracepoints are unavailable", zap.Error(err))
		} else if mounted {
			r.logger.Info("Mounted tracefs (it was not mounted)", zap.String("path", kernel.TracefsPath))
		}
	}
	if r.features, err = kernel.Probe(); err != nil {
		return fmt.Errorf("ebpfsecurity: %w", err)
	}
	if err := r.features.Require(); err != nil {
		r.logger.Error("This kernel cannot run otelsec", r.features.ZapFields()...)
		return fmt.Errorf("ebpfsecurity: %w", err)
	}
	if r.node, err = readNode(r.cfg); err != nil {
		return fmt.Errorf("ebpfsecurity: %w", err)
	}

	// The policy enforcer loads and attaches before the sensors attach: its exec program must
	// run before the process sensor's (sensor.Options.BeforeAttach).
	policyStarted := false
	r.sensors, err = sensor.Load(sensor.Options{
		ProcessHook:    sensor.Hook(r.cfg.Process.Hook),
		RingBufferSize: uint32(r.cfg.RingBuffer.Size),
		WakeupEvery:    uint32(r.cfg.RingBuffer.WakeupEvery),
		ArgsMaxBytes:   uint32(r.cfg.Process.ArgsMaxBytes),
		File:           r.cfg.File.options(),
		Network:        r.cfg.Network.options(),
		Privilege:      r.cfg.Privilege.options(),
		BeforeAttach: func(s *sensor.Sensors) error {
			r.sensors = s
			if err := r.startPolicy(host); err != nil {
				return err
			}
			policyStarted = true
			return nil
		},
	}, sensor.CapabilitiesOf(r.features))
	defer func() {
		if err != nil && policyStarted {
			_ = r.stopPolicy()
			_ = r.closePolicy()
		}
	}()
	if err != nil {
		return fmt.Errorf("ebpfsecurity: %w", err)
	}
	defer func() {
		if err != nil {
			r.sensors.Close()
		}
	}()
	r.logger.Info("Kernel probed, sensors attached",
		append(r.features.ZapFields(), zap.Strings("hooks", r.hookNames()))...)
	for _, f := range r.sensors.NetworkFallbacks() {
		r.logger.Warn("The kernel refused a preferred network hook; the sensor uses a fallback", zap.String("reason", f))
	}

	if r.reader, err = ringbuf.NewReader(r.sensors.Events()); err != nil {
		return fmt.Errorf("ebpfsecurity: open ring buffer: %w", err)
	}

	// Seed the cache after the programs are attached: a process that starts meanwhile is then
	// both in /proc and in the ring buffer, and the exec record wins; none is missed.
	r.cache = proctree.New(r.node.name, r.node.bootID, r.cfg.ProcessCache.Size)
	procs, err := procfs.All(r.cfg.ProcPath)
	if err != nil {
		r.logger.Warn("Some processes could not be read from procfs", zap.String("proc_path", r.cfg.ProcPath), zap.Error(err))
	}
	if len(procs) == 0 {
		r.reader.Close()
		return fmt.Errorf("ebpfsecurity: proc_path %q: no process could be read", r.cfg.ProcPath)
	}
	seedCache(r.cache, procs)
	r.logger.Info("Process cache seeded from procfs", zap.Int("processes", len(procs)))

	r.clock = newBootClock()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.readDone = make(chan struct{})
	go r.readLoop(ctx)
	if r.metrics != nil {
		mctx, stop := context.WithCancel(ctx)
		r.stopMetrics = stop
		r.metricsWG.Add(1)
		go r.metricsLoop(mctx)
	}
	r.running = true
	r.readStopped = false
	return nil
}

func (r *ebpfReceiver) hookNames() []string {
	var hooks []string
	for _, a := range r.sensors.Attachments() {
		hooks = append(hooks, a.Event+"="+a.String())
	}
	return hooks
}

// stopReading detaches the programs first, so no new record is written, then lets the reader
// drain what the ring buffer holds into the logs pipeline, unless ctx ends first. It runs when
// the logs pipeline's receiver shuts down: the collector stops each pipeline's processors right
// after its receiver, so the reader must not hand anything on after that, even though the
// metrics pipeline still holds the receiver.
func (r *ebpfReceiver) stopReading(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running || r.readStopped {
		return nil
	}
	r.readStopped = true
	errPolicy := r.stopPolicy()
	errDetach := r.sensors.Detach()
	_ = r.reader.Flush()
	select {
	case <-r.readDone:
	case <-ctx.Done():
		r.cancel()
		r.reader.Close()
		<-r.readDone
	}
	return errors.Join(errPolicy, errDetach)
}

// stopMetricsLoop stops emitting metrics: the metrics pipeline's receiver shut down.
func (r *ebpfReceiver) stopMetricsLoop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopMetrics != nil {
		r.stopMetrics()
		r.metricsWG.Wait()
		r.stopMetrics = nil
	}
}

// shutdown stops reading and emitting, then closes the programs and maps: the last pipeline
// let the receiver go.
func (r *ebpfReceiver) shutdown(ctx context.Context) error {
	errRead := r.stopReading(ctx)
	r.stopMetricsLoop()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return errRead
	}
	r.running = false
	r.cancel()
	return errors.Join(errRead, r.reader.Close(), r.closePolicy(), r.sensors.Close())
}

func readNode(cfg *Config) (nodeInfo, error) {
	n := nodeInfo{name: cfg.NodeName}
	if n.name == "" {
		n.name = os.Getenv("NODE_NAME")
	}
	if n.name == "" {
		h, err := os.Hostname()
		if err != nil {
			return n, fmt.Errorf("node_name is not set and the host name is unknown: %w", err)
		}
		n.name = h
	}
	bootID, err := procfs.BootID(cfg.ProcPath)
	if err != nil {
		return n, fmt.Errorf("proc_path %q: %w", cfg.ProcPath, err)
	}
	n.bootID = strings.ReplaceAll(bootID, "-", "")
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		n.machineID = strings.TrimSpace(string(b))
	}
	return n, nil
}

// seedCache adds processes read from /proc, parents before children.
func seedCache(c *proctree.Cache, procs []procfs.Process) {
	for i := range procs {
		p := &procs[i]
		if p.KernelThread {
			continue
		}
		img := &proctree.Image{
			Executable:        p.Executable,
			ExecutableDeleted: p.ExecutableDeleted,
			Args:              p.Args,
			Cwd:               p.Cwd,
			Creds: proctree.Creds{
				UID: p.UID, GID: p.GID, EUID: p.EUID, EGID: p.EGID, SUID: p.SUID, SGID: p.SGID,
				FSUID: p.FSUID, FSGID: p.FSGID, CapEffective: p.CapEffective, CapPermitted: p.CapPermitted,
			},
			LoginUID:  p.LoginUID,
			SessionID: p.SessionID,
			NS: proctree.Namespaces{Mnt: p.NS.Mnt, PID: p.NS.PID, Net: p.NS.Net, UTS: p.NS.UTS,
				IPC: p.NS.IPC, User: p.NS.User, Cgroup: p.NS.Cgroup},
			Cgroup:    p.Cgroup,
			Container: container.FromCgroupPath(p.Cgroup),
			Comm:      p.Comm,
		}
		c.Seed(p.PID, p.PPID, p.StartBootNS, img)
	}
}
