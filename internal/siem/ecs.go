package siem

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/schema"
)

// ECS encodes log records as Elastic Common Schema documents for the data streams
// logs-otelsec.<family>-<namespace>. It is safe for concurrent use.
type ECS struct {
	m         *mapping
	namespace string
	pool      sync.Pool
}

// NewECS returns an encoder for documents of the data stream namespace (already valid: see
// Sanitize).
func NewECS(namespace string) *ECS {
	e := &ECS{m: compile(), namespace: namespace}
	e.pool.New = func() any { return newBuilder() }
	return e
}

// DataStream returns the data stream of events called eventName.
func (e *ECS) DataStream(eventName string) string {
	return "logs-" + e.m.event(eventName).dataset + "-" + e.namespace
}

// Append appends the ECS document of lr, whose resource is res, to buf.
func (e *ECS) Append(buf []byte, res pcommon.Resource, lr plog.LogRecord) []byte {
	b := e.pool.Get().(*builder)
	b.reset()
	ev := e.m.event(lr.EventName())

	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	b.time("@timestamp", int64(ts))
	b.str("ecs.version", ECSVersion)
	b.str("event.kind", ev.kind)
	if len(ev.category) > 0 {
		b.strs("event.category", ev.category)
	}
	if len(ev.types) > 0 {
		b.strs("event.type", ev.types)
	}
	b.str("event.action", ev.action)
	if ev.outcome != "" {
		b.str("event.outcome", ev.outcome)
	}
	b.str("event.module", schema.Namespace)
	b.str("event.dataset", ev.dataset)
	if obs := lr.ObservedTimestamp(); obs != 0 {
		b.time("event.created", int64(obs))
	}
	if sev := lr.SeverityNumber(); sev != plog.SeverityNumberUnspecified {
		b.int("event.severity", int64(sev))
	}
	b.str("data_stream.type", "logs")
	b.str("data_stream.dataset", ev.dataset)
	b.str("data_stream.namespace", e.namespace)
	b.str(schema.ECSEventName, ev.name)
	putMessage(b, lr.Body())

	for k, v := range res.Attributes().All() {
		e.put(b, k, v)
	}
	for k, v := range lr.Attributes().All() {
		e.put(b, k, v)
	}
	buf = b.appendNested(buf)
	e.pool.Put(b)
	return buf
}

func (e *ECS) put(b *builder, name string, v pcommon.Value) {
	t := e.m.target(name)
	for i, f := range t.ecs {
		b.value(f, v, t.ecsID[i])
	}
	for i := range t.derived {
		putDerived(b, &t.derived[i], t.derived[i].ecs, v)
	}
}

func putMessage(b *builder, body pcommon.Value) {
	switch body.Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeStr:
		b.str("message", body.Str())
	default:
		b.str("message", body.AsString())
	}
}
