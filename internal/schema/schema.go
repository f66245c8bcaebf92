// Package schema is the one description of every attribute otelsec puts on its events and
// resources: its name, type, where its value comes from and an example. The receiver builds
// records from these names, the documentation tables are generated from this list, and tests
// check that every attribute a record carries is described here.
package schema

import (
	"fmt"
	"slices"
	"strings"
)

// Type is an attribute's OTLP value type.
type Type string

const (
	String      Type = "string"
	Int         Type = "int"
	Bool        Type = "bool"
	StringSlice Type = "string[]"
	IntSlice    Type = "int[]"
)

// Attribute describes one attribute.
type Attribute struct {
	Name string
	Type Type
	// Events lists the event names that carry it; "resource" marks a resource attribute.
	Events []string
	// Presence: "always", or when the attribute is present only sometimes, the condition.
	Presence    string
	Source      string
	Example     string
	Description string
	// ECS is the Elastic Common Schema field the attribute becomes ("" when none).
	ECS string
	// CIM is the Splunk Common Information Model field the attribute becomes ("" when none).
	CIM string
}

// AllEvents in Attribute.Events marks an attribute that every event carries: the process
// context (who did it) that file, network and privilege events share with process events.
const AllEvents = "*"

// AppliesTo reports whether events named event carry the attribute.
func (a Attribute) AppliesTo(event string) bool {
	return slices.Contains(a.Events, event) || (event != resource && slices.Contains(a.Events, AllEvents))
}

// SemConv reports whether the name is an OpenTelemetry semantic convention (everything
// outside otelsec's own namespace).
func (a Attribute) SemConv() bool { return !strings.HasPrefix(a.Name, Namespace+".") }

// Namespace is otelsec's own attribute namespace.
const Namespace = "otelsec"

// shared holds attributes that more than one family's events carry (error.type). A family
// appends its use in its own init; this file's init, which runs after the families' (a
// package's files initialize in file name order, and schema.go sorts after them), merges each
// into the entry another family already described, or adds it when none did: the order in
// which families are added does not matter.
var shared []Attribute

func init() {
	for _, s := range shared {
		i := slices.IndexFunc(All, func(a Attribute) bool { return a.Name == s.Name })
		if i < 0 {
			All = append(All, s)
			continue
		}
		a := &All[i]
		if a.Type != s.Type {
			panic("schema: " + s.Name + " described with two types")
		}
		on := strings.Join(s.Events, ", ")
		a.Events = append(slices.Clone(a.Events), s.Events...)
		a.Presence += "; " + on + ": " + s.Presence
		a.Source += "; " + on + ": " + s.Source
		if s.Description != "" {
			a.Description += " " + on + ": " + s.Description
		}
	}
}

// Lookup returns the attribute called name.
func Lookup(name string) (Attribute, bool) {
	i := slices.IndexFunc(All, func(a Attribute) bool { return a.Name == name })
	if i < 0 {
		return Attribute{}, false
	}
	return All[i], true
}

// Markdown renders the attributes carried by any of events as a table.
func Markdown(events ...string) string {
	var b strings.Builder
	b.WriteString("| Attribute | Type | Events | Present | Source | Example | Description |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, a := range All {
		if !slices.ContainsFunc(events, a.AppliesTo) {
			continue
		}
		on := strings.Join(a.Events, ", ")
		if slices.Contains(a.Events, AllEvents) {
			on = "every event"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", a.Name, a.Type,
			on, a.Presence, a.Source, code(a.Example), a.Description)
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

const (
	tableBegin = "<!-- attributes:begin -->\n"
	tableEnd   = "<!-- attributes:end -->"
)

// ReplaceTable returns doc with the attribute table for events between its markers.
func ReplaceTable(doc []byte, events ...string) ([]byte, error) {
	s := string(doc)
	i := strings.Index(s, tableBegin)
	j := strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %q ... %q markers", strings.TrimSpace(tableBegin), tableEnd)
	}
	return []byte(s[:i+len(tableBegin)] + Markdown(events...) + s[j:]), nil
}
