package k8senrichprocessor

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// pending is one resource's data held until its container's metadata arrives.
type pending struct {
	key      string // the container id, or the pod UID for data without one
	deadline time.Time
	n        int         // records
	res      pcommon.Map // the held resource's attributes
	send     func(context.Context) error
}

// holder keeps held data in arrival order, bounded by a number of records.
type holder struct {
	max int

	mu    sync.Mutex
	q     []*pending
	n     int
	byKey map[string]int // pending entries per key
	// armed is the deadline the release loop waits for (zero: none); kick wakes the loop
	// when data with an earlier deadline arrives.
	armed time.Time
	kick  chan struct{}
}

func newHolder(maxRecords int) *holder {
	return &holder{max: maxRecords, byKey: map[string]int{}, kick: make(chan struct{}, 1)}
}

// reserve claims room for n records; false when the hold is full.
func (h *holder) reserve(n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n+n > h.max {
		return false
	}
	h.n += n
	return true
}

// add queues data whose room reserve claimed.
func (h *holder) add(p *pending) {
	h.mu.Lock()
	h.q = append(h.q, p)
	h.byKey[p.key]++
	wake := h.armed.IsZero() || p.deadline.Before(h.armed)
	if wake {
		h.armed = p.deadline
	}
	h.mu.Unlock()
	if wake {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
}

// holds reports whether data of key is held.
func (h *holder) holds(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byKey[key] > 0
}

func (h *holder) records() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// nextDeadline returns the earliest deadline of the held data, which the release loop then
// waits for.
func (h *holder) nextDeadline() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = time.Time{}
	if len(h.q) == 0 {
		return time.Time{}, false
	}
	d := h.q[0].deadline
	for _, p := range h.q[1:] {
		if p.deadline.Before(d) {
			d = p.deadline
		}
	}
	h.armed = d
	return d, true
}

// take removes, in order, the entries done reports as done. Entries of a key after one that
// stays also stay, so that a container's data keeps its order.
func (h *holder) take(done func(*pending) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.q[:0]
	blocked := map[string]bool{}
	for _, p := range h.q {
		if !blocked[p.key] && done(p) {
			h.n -= p.n
			if h.byKey[p.key]--; h.byKey[p.key] == 0 {
				delete(h.byKey, p.key)
			}
			continue
		}
		blocked[p.key] = true
		kept = append(kept, p)
	}
	clear(h.q[len(kept):])
	h.q = kept
}
