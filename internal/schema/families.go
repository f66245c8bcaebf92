package schema

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// This file describes how events leave otelsec for a SIEM: for each event name, the Elastic
// Common Schema (ECS) event.* categorization and the Splunk sourcetype and Common Information
// Model (CIM) data model; for each attribute, Attribute.ECS and Attribute.CIM name the fields it
// becomes. The Splunk HEC and Elasticsearch exporters, their READMEs' tables and the tests read
// only this: a new event or attribute is mapped here, once.
//
// Rules the exporters apply to every attribute, described or not:
//   - Attribute.ECS / Attribute.CIM may name several fields, separated by ", "; the value is
//     written to each (process.user.id is both ECS process.user.id and user.id).
//   - An attribute without an ECS (or CIM) field is never dropped: it is written under the
//     otelsec object with its OpenTelemetry name, less a leading "otelsec." (process.vpid →
//     otelsec.process.vpid, otelsec.process.exec.filename → otelsec.process.exec.filename).
//     Attributes that are not in the table at all (added by other processors) go there too.
//   - In ECS documents an integer written to a field whose last part is "id" (user.id,
//     process.user.id) is written as a string: ECS types every *.id as keyword.
//   - Splunk events are flat: every field is a top-level key of the HEC event, dotted names
//     included (Splunk's JSON extraction names nested and dotted keys alike).
//   - ECS documents are nested objects; a field that would be both a value and an object (a.b
//     and a.b.c) keeps its value as a.b.value.

// Event describes one event name: how SIEMs should file it.
type Event struct {
	// Name is the LogRecord's EventName, e.g. process.exec.
	Name string
	// Meaning is one line for the documentation.
	Meaning string

	// ECS event categorization (https://www.elastic.co/guide/en/ecs/current/ecs-category-field-values-reference.html).
	ECSKind     string
	ECSCategory []string
	ECSType     []string
	ECSAction   string
	// ECSOutcome is success, failure, unknown, or "" when the event has no outcome.
	ECSOutcome string

	// CIMDataModel is the Splunk CIM dataset whose constraints the event meets once tagged
	// (CIMTags), e.g. Endpoint.Processes; "" when no CIM dataset fits.
	CIMDataModel string
	// CIMTags are the tags of CIMDataModel's constraint (Splunk eventtypes/tags.conf).
	CIMTags []string
	// CIMAction is the CIM action field (allowed, blocked, ...); "" for none.
	CIMAction string
}

// Family is the part of the event name before the first dot: process.exec → process. It names
// the Elasticsearch data stream (logs-otelsec.<family>-<namespace>) and the Splunk sourcetype
// (otelsec:<family>).
func Family(eventName string) string {
	if i := strings.IndexByte(eventName, '.'); i > 0 {
		return eventName[:i]
	}
	if eventName == "" {
		return "unknown"
	}
	return eventName
}

// Sourcetype is the Splunk sourcetype of an event family.
func Sourcetype(family string) string { return Namespace + ":" + family }

// Events describes every event name otelsec emits. Event families add their entries in their
// own files with `func init() { Events = append(Events, ...) }`.
var Events = []Event{
	{
		Name:    EventProcessExec,
		Meaning: "a program image started",
		ECSKind: "event", ECSCategory: []string{"process"}, ECSType: []string{"start"}, ECSAction: "exec", ECSOutcome: "success",
		CIMDataModel: "Endpoint.Processes", CIMTags: []string{"process", "report"}, CIMAction: "allowed",
	},
	{
		Name:    EventProcessExit,
		Meaning: "a process ended",
		ECSKind: "event", ECSCategory: []string{"process"}, ECSType: []string{"end"}, ECSAction: "end",
		// CIM's Endpoint.Processes records launches only: an exit has no CIM dataset.
	},
}

// LookupEvent returns the description of the event called name.
func LookupEvent(name string) (Event, bool) {
	i := slices.IndexFunc(Events, func(e Event) bool { return e.Name == name })
	if i < 0 {
		return Event{}, false
	}
	return Events[i], true
}

// EventNames returns every event name some attribute is documented for, sorted.
func EventNames() []string {
	var names []string
	for _, a := range All {
		for _, e := range a.Events {
			if e != resource && e != AllEvents && !slices.Contains(names, e) {
				names = append(names, e)
			}
		}
	}
	sort.Strings(names)
	return names
}

// Derivation says how a Derived field is computed from its attribute.
type Derivation string

const (
	// DeriveBaseName is the last element of a path.
	DeriveBaseName Derivation = "base name"
	// DeriveCount is the number of elements of an array.
	DeriveCount Derivation = "number of elements"
	// DeriveConstant is Derived.Constant, written when the attribute is present.
	DeriveConstant Derivation = "constant"
)

// Derived is an ECS or CIM field computed from an attribute rather than copied from it.
type Derived struct {
	From     string
	How      Derivation
	Constant string
	ECS      string
	CIM      string
}

// DerivedFields lists the fields computed from attributes. Families may append to it.
var DerivedFields = []Derived{
	{From: ParentExecutablePath, How: DeriveBaseName, ECS: "process.parent.name", CIM: "parent_process_name, parent_process_exec"},
	{From: ProcessCommandArgs, How: DeriveCount, ECS: "process.args_count"},
	{From: K8sPodUID, How: DeriveConstant, Constant: "kubernetes", ECS: "orchestrator.type"},
	{From: K8sPodUID, How: DeriveConstant, Constant: "pod", ECS: "orchestrator.resource.type"},
}

// ECSFieldTypes are the Elasticsearch types of ECS fields whose type is not the one the
// attribute's OTLP type suggests (strings are keyword, ints long, bools boolean).
var ECSFieldTypes = map[string]string{
	"process.start":               "date",
	"process.end":                 "date",
	"process.command_line":        "wildcard",
	"process.parent.command_line": "wildcard",
}

// Fields that every document gets from the record itself rather than from an attribute.
const (
	// ECSEventName and CIMEventName carry the LogRecord's EventName.
	ECSEventName = Namespace + ".event.name"
	CIMEventName = Namespace + ".event.name"
	// CIMVendorProduct is CIM's vendor_product, always "otelsec".
	CIMVendorProduct = "vendor_product"
)

// ECSFields returns the ECS fields the attribute becomes (none when it has no ECS field).
func (a Attribute) ECSFields() []string { return splitFields(a.ECS) }

// CIMFields returns the CIM fields the attribute becomes (none when it has no CIM field).
func (a Attribute) CIMFields() []string { return splitFields(a.CIM) }

// Unmapped is where an attribute without an ECS or CIM field goes: the otelsec object, under
// its name less a leading "otelsec.".
func Unmapped(name string) string {
	return Namespace + "." + strings.TrimPrefix(name, Namespace+".")
}

func splitFields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ", ")
}

// MappingMarkdown renders the table of every attribute (resource attributes first) with its
// ECS and Splunk CIM fields, then the derived fields.
func MappingMarkdown() string {
	var b strings.Builder
	b.WriteString("| Attribute | Events | ECS field | Splunk CIM field |\n")
	b.WriteString("|---|---|---|---|\n")
	row := func(a Attribute) {
		on := strings.Join(a.Events, ", ")
		if slices.Contains(a.Events, AllEvents) {
			on = "every event"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.Name, on,
			fieldsOrUnmapped(a.ECSFields(), a.Name), fieldsOrUnmapped(a.CIMFields(), a.Name))
	}
	for _, a := range All {
		if slices.Contains(a.Events, resource) {
			row(a)
		}
	}
	for _, a := range All {
		if !slices.Contains(a.Events, resource) {
			row(a)
		}
	}
	b.WriteString("\nDerived fields (computed from an attribute when it is present):\n\n")
	b.WriteString("| From | How | ECS field | Splunk CIM field |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, d := range DerivedFields {
		how := string(d.How)
		if d.How == DeriveConstant {
			how = "constant `" + d.Constant + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.From, how, fieldsOrDash(splitFields(d.ECS)), fieldsOrDash(splitFields(d.CIM)))
	}
	return b.String()
}

// EventsMarkdown renders the table of every event name with its ECS categorization, Splunk
// sourcetype and CIM dataset.
func EventsMarkdown() string {
	var b strings.Builder
	b.WriteString("| EventName | ECS event.kind / category / type / action / outcome | Elasticsearch data stream | Splunk sourcetype | CIM dataset (tags) | CIM action |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, e := range Events {
		f := Family(e.Name)
		cim := "—"
		if e.CIMDataModel != "" {
			cim = e.CIMDataModel + " (`" + strings.Join(e.CIMTags, "`, `") + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s / %s / %s / %s / %s | `logs-otelsec.%s-<namespace>` | `%s` | %s | %s |\n",
			e.Name, e.ECSKind, strings.Join(e.ECSCategory, ","), strings.Join(e.ECSType, ","), e.ECSAction,
			orDash(e.ECSOutcome), f, Sourcetype(f), cim, orDash(e.CIMAction))
	}
	return b.String()
}

func fieldsOrUnmapped(fields []string, name string) string {
	if len(fields) == 0 {
		return "— (`" + Unmapped(name) + "`)"
	}
	return "`" + strings.Join(fields, "`, `") + "`"
}

func fieldsOrDash(fields []string) string {
	if len(fields) == 0 {
		return "—"
	}
	return "`" + strings.Join(fields, "`, `") + "`"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// SplunkConf renders the Splunk eventtypes.conf and tags.conf stanzas that put each event
// with a CIM dataset into it (CIM datasets select events by tag).
func SplunkConf() string {
	var ev, tags strings.Builder
	ev.WriteString("# eventtypes.conf\n")
	tags.WriteString("# tags.conf\n")
	for _, e := range Events {
		if e.CIMDataModel == "" {
			continue
		}
		name := "otelsec_" + strings.NewReplacer(".", "_", "-", "_").Replace(e.Name)
		fmt.Fprintf(&ev, "[%s]\nsearch = sourcetype=\"%s\" %s=\"%s\"\n", name, Sourcetype(Family(e.Name)), CIMEventName, e.Name)
		fmt.Fprintf(&tags, "[eventtype=%s]\n", name)
		for _, t := range e.CIMTags {
			fmt.Fprintf(&tags, "%s = enabled\n", t)
		}
	}
	return "```ini\n" + ev.String() + "\n" + tags.String() + "```\n"
}

// Markers around the generated tables in the exporters' READMEs.
const (
	splunkBegin  = "<!-- splunk-conf:begin -->\n"
	splunkEnd    = "<!-- splunk-conf:end -->"
	mappingBegin = "<!-- mapping:begin -->\n"
	mappingEnd   = "<!-- mapping:end -->"
	eventsBegin  = "<!-- events:begin -->\n"
	eventsEnd    = "<!-- events:end -->"
)

// ReplaceMappingTables returns doc with the event table and the attribute mapping table
// between their markers, and the Splunk configuration between its markers when it has them.
func ReplaceMappingTables(doc []byte) ([]byte, error) {
	s := string(doc)
	if strings.Contains(s, splunkBegin) {
		var err error
		if s, err = replaceBetween(s, splunkBegin, splunkEnd, SplunkConf()); err != nil {
			return nil, err
		}
	}
	s, err := replaceBetween(s, eventsBegin, eventsEnd, EventsMarkdown())
	if err != nil {
		return nil, err
	}
	s, err = replaceBetween(s, mappingBegin, mappingEnd, MappingMarkdown())
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func replaceBetween(s, begin, end, table string) (string, error) {
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q ... %q markers", strings.TrimSpace(begin), end)
	}
	return s[:i+len(begin)] + table + s[j:], nil
}
