package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
)

// One receiver instance serves both pipelines (logs and metrics) of one configuration: the BPF
// programs, the ring buffer and the process cache exist once per configured receiver.
type registry struct {
	mu sync.Mutex
	m  map[*Config]*ebpfReceiver
}

var receivers = &registry{m: make(map[*Config]*ebpfReceiver)}

func (g *registry) get(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.m[cfg]
	if !ok {
		var err error
		if r, err = newReceiver(cfg, set); err != nil {
			return nil, err
		}
		g.m[cfg] = r
	}
	r.handles++
	return r, nil
}

// release drops one handle; the last one stops the receiver and forgets it.
func (g *registry) release(r *ebpfReceiver) (last bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.handles--
	if r.handles > 0 {
		return false
	}
	delete(g.m, r.cfg)
	return true
}

// signal is the pipeline a handle serves.
type signal int

const (
	signalLogs signal = iota
	signalMetrics
)

// handle is what the factory returns for each pipeline.
type handle struct {
	r      *ebpfReceiver
	signal signal
	once   sync.Once
}

func (r *ebpfReceiver) handle(s signal) *handle { return &handle{r: r, signal: s} }

func (h *handle) Start(ctx context.Context, host component.Host) error {
	return h.r.start(ctx, host)
}

// Shutdown stops what feeds this handle's pipeline at once, whether or not the other pipeline
// still holds the receiver (its processors shut down right after this), and closes the
// receiver when this was the last handle.
func (h *handle) Shutdown(ctx context.Context) error {
	var err error
	h.once.Do(func() {
		switch h.signal {
		case signalLogs:
			err = h.r.stopReading(ctx)
		case signalMetrics:
			h.r.stopMetricsLoop()
		}
		if receivers.release(h.r) {
			err = errors.Join(err, h.r.shutdown(ctx))
		}
	})
	return err
}
