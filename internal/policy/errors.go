package policy

import (
	"fmt"
	"strings"
)

// Error is one problem in one policy document.
type Error struct {
	// File is the file the document came from; for a CRD object "crd".
	File string
	// Document is the document's index in its file, counting from 1 (0: the whole file, or
	// a CRD object).
	Document int
	// Kind and Name name the policy when the document got that far ("" otherwise).
	Kind, Name string
	// Field is the path of the field in the document ("spec.rules[1].cidrs[0]"), "" for the
	// document as a whole.
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
	}
	if e.Kind != "" || e.Name != "" {
		if e.Document > 0 {
			b.WriteString(" (")
		} else {
			b.WriteString(": ")
		}
		kind := e.Kind
		if kind == "" {
			kind = "policy"
		}
		fmt.Fprintf(&b, "%s %q", kind, e.Name)
		if e.Document > 0 {
			b.WriteString(")")
		}
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a policy set, in file and document order. It is
// returned as an error only when it is not empty.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
