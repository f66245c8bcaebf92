package ebpfsecurityreceiver

import (
	"context"
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

// handle is what the factory returns for each pipeline.
type handle struct {
	r    *ebpfReceiver
	once sync.Once
}

func (r *ebpfReceiver) handle() *handle { return &handle{r: r} }

func (h *handle) Start(ctx context.Context, host component.Host) error {
	return h.r.start(ctx, host)
}

func (h *handle) Shutdown(ctx context.Context) error {
	var err error
	h.once.Do(func() {
		if receivers.release(h.r) {
			err = h.r.shutdown(ctx)
		}
	})
	return err
}
