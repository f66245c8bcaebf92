package siem

import (
	"path"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelsec/otelsec/internal/schema"
)

// ECSVersion is the ECS version whose field names the documents use (process.vpid and
// process.thread.capabilities.* need 8.x).
const ECSVersion = "8.11.0"

// VendorProduct is CIM's vendor_product.
const VendorProduct = "otelsec"

// target is where one attribute goes.
type target struct {
	ecs     []string
	ecsID   []bool // ECS field is an id: integers are written as strings
	cim     []string
	derived []derived
}

type derived struct {
	how      schema.Derivation
	constant string
	ecs, cim []string
}

// event is what every document of one event name carries.
type event struct {
	name      string
	family    string
	dataset   string // otelsec.<family>, sanitized for a data stream name
	kind      string
	category  []string
	types     []string
	action    string
	outcome   string
	cimAction string
}

// mapping is the schema's mapping, compiled for lookups. It is built when an encoder is
// created, after every schema file has registered its attributes.
type mapping struct {
	attrs map[string]*target

	mu     sync.RWMutex
	events map[string]*event
}

func compile() *mapping {
	m := &mapping{attrs: make(map[string]*target, len(schema.All)), events: make(map[string]*event)}
	for _, a := range schema.All {
		t := &target{ecs: a.ECSFields(), cim: a.CIMFields()}
		if len(t.ecs) == 0 {
			t.ecs = []string{schema.Unmapped(a.Name)}
		}
		if len(t.cim) == 0 {
			t.cim = []string{schema.Unmapped(a.Name)}
		}
		for _, f := range t.ecs {
			t.ecsID = append(t.ecsID, f == "id" || strings.HasSuffix(f, ".id"))
		}
		m.attrs[a.Name] = t
	}
	for _, d := range schema.DerivedFields {
		t := m.attrs[d.From]
		if t == nil {
			continue // the schema test reports it
		}
		t.derived = append(t.derived, derived{how: d.How, constant: d.Constant,
			ecs: strings.Split(d.ECS, ", "), cim: strings.Split(d.CIM, ", ")})
	}
	for _, e := range schema.Events {
		m.events[e.Name] = newEvent(e)
	}
	return m
}

func newEvent(e schema.Event) *event {
	f := schema.Family(e.Name)
	return &event{
		name: e.Name, family: f, dataset: schema.Namespace + "." + Sanitize(f),
		kind: e.ECSKind, category: e.ECSCategory, types: e.ECSType, action: e.ECSAction, outcome: e.ECSOutcome,
		cimAction: e.CIMAction,
	}
}

// event returns the description of an event name; an event without one is an ECS event
// whose action is its name.
func (m *mapping) event(name string) *event {
	m.mu.RLock()
	e := m.events[name]
	m.mu.RUnlock()
	if e != nil {
		return e
	}
	e = newEvent(schema.Event{Name: name, ECSKind: "event", ECSAction: name})
	m.mu.Lock()
	if len(m.events) < 1024 { // event names come from the receivers: a small set
		m.events[name] = e
	}
	m.mu.Unlock()
	return e
}

// unknown is the target of an attribute the schema does not describe.
func unknown(name string) *target {
	u := []string{schema.Unmapped(name)}
	return &target{ecs: u, ecsID: []bool{false}, cim: u}
}

func (m *mapping) target(name string) *target {
	if t := m.attrs[name]; t != nil {
		return t
	}
	return unknown(name)
}

// putDerived adds the fields derived from an attribute's value.
func putDerived(b *builder, d *derived, fields []string, v pcommon.Value) {
	for _, f := range fields {
		if f == "" {
			continue
		}
		switch d.how {
		case schema.DeriveBaseName:
			if v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
				b.str(f, path.Base(v.Str()))
			}
		case schema.DeriveCount:
			if v.Type() == pcommon.ValueTypeSlice {
				b.int(f, int64(v.Slice().Len()))
			}
		case schema.DeriveConstant:
			b.str(f, d.constant)
		}
	}
}

// Sanitize makes s usable in an Elasticsearch data stream name: lower case, and '_' for every
// character a dataset or namespace may not contain (\ / * ? " < > | , # : - and space).
func Sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !datasetChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !datasetChar(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func datasetChar(c byte) bool {
	if c >= 'A' && c <= 'Z' {
		return false
	}
	return c > ' ' && !strings.ContainsRune(`\/*?"<>|,#:-`, rune(c)) && c < 0x80
}
