package siem

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/schema"
)

// CIM encodes log records as the flat JSON events Splunk's Common Information Model expects:
// CIM field names (process_id, parent_process_name, dest, user_id, ...) at the top level, so
// that Splunk's automatic JSON extraction yields them with no props or transforms. It is safe
// for concurrent use.
type CIM struct {
	m    *mapping
	skip map[string]bool
	pool sync.Pool
}

// NewCIM returns an encoder. Attributes named in skip are left out of events (the HEC
// exporter reads index, source and sourcetype overrides from them).
func NewCIM(skip ...string) *CIM {
	c := &CIM{m: compile(), skip: make(map[string]bool, len(skip))}
	for _, s := range skip {
		c.skip[s] = true
	}
	c.pool.New = func() any { return newBuilder() }
	return c
}

// Family returns the event family of events called eventName (process.exec → process).
func (c *CIM) Family(eventName string) string { return c.m.event(eventName).family }

// Append appends the CIM event object of lr, whose resource is res, to buf.
func (c *CIM) Append(buf []byte, res pcommon.Resource, lr plog.LogRecord) []byte {
	b := c.pool.Get().(*builder)
	b.reset()
	ev := c.m.event(lr.EventName())
	putMessage(b, lr.Body())
	b.str(schema.CIMVendorProduct, VendorProduct)
	if ev.cimAction != "" {
		b.str("action", ev.cimAction)
	}
	b.str(schema.CIMEventName, ev.name)
	for k, v := range res.Attributes().All() {
		c.put(b, k, v)
	}
	for k, v := range lr.Attributes().All() {
		c.put(b, k, v)
	}
	buf = b.appendFlat(buf)
	c.pool.Put(b)
	return buf
}

func (c *CIM) put(b *builder, name string, v pcommon.Value) {
	if c.skip[name] {
		return
	}
	t := c.m.target(name)
	for _, f := range t.cim {
		b.value(f, v, false)
	}
	for i := range t.derived {
		putDerived(b, &t.derived[i], t.derived[i].cim, v)
	}
}
