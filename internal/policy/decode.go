package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Policy is one decoded document and where it came from.
type Policy struct {
	Document
	// File is the file the document came from, "crd" for a Kubernetes object.
	File string
	// Index is the document's index in File counting from 1; 0 for a Kubernetes object.
	Index int
}

// Name is the policy's name as rules carry it: "namespace/name" for a
// RuntimePolicyNamespaced, the name for a RuntimePolicy.
func (p *Policy) Name() string {
	if p.Kind == KindNamespaced {
		return p.Metadata.Namespace + "/" + p.Metadata.Name
	}
	return p.Metadata.Name
}

// errorf returns an Error about the policy's field.
func (p *Policy) errorf(field, format string, args ...any) *Error {
	return &Error{File: p.File, Document: p.Index, Kind: p.Kind, Name: p.Name(), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// SourceCRD is Policy.File and Rule.Source for policies read from the Kubernetes API.
const SourceCRD = "crd"

var (
	// typeError is encoding/json's message for a value of the wrong type; the field path has
	// no list indexes.
	typeError    = regexp.MustCompile(`cannot unmarshal (\w+) into Go struct field \w+\.(\S+) of type (\S+)`)
	docSeparator = regexp.MustCompile(`^---(\s.*)?$`)
	yamlLine     = regexp.MustCompile(`line (\d+)`)
)

// Parse decodes the YAML documents of a file (separated by "---" lines) strictly: malformed
// YAML, an unknown or duplicate field, a value of the wrong type is an error naming the file,
// the document and the field. Documents holding only comments are skipped and not counted.
// It returns the documents that decoded; they are validated by Compile.
func Parse(file string, data []byte) ([]*Policy, Errors) {
	var out []*Policy
	var errs Errors
	index := 0
	for _, chunk := range splitDocuments(data) {
		if blank(chunk.data) {
			continue
		}
		index++
		p, es := decode(file, index, chunk.line, chunk.data)
		errs = append(errs, es...)
		if p != nil {
			out = append(out, p)
		}
	}
	return out, errs
}

type chunk struct {
	line int // the document's first line in the file, from 1
	data []byte
}

func splitDocuments(data []byte) []chunk {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out []chunk
	cur := chunk{line: 1}
	for i, l := range lines {
		if docSeparator.Match(bytes.TrimRight(l, "\r\n")) {
			out = append(out, cur)
			cur = chunk{line: i + 2}
			continue
		}
		cur.data = append(cur.data, l...)
	}
	return append(out, cur)
}

// blank reports whether a document holds only comments and blank lines.
func blank(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// decode decodes one document; firstLine is its first line in the file, so that YAML errors
// give the file's line numbers.
func decode(file string, index, firstLine int, doc []byte) (*Policy, Errors) {
	p := &Policy{File: file, Index: index}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
			return "line " + strconv.Itoa(n+firstLine-1)
		})
		return nil, Errors{{File: file, Document: index, Msg: "malformed YAML: " + msg}}
	}
	if errs := p.decodeJSON(js); len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// decodeJSON decodes a document's JSON form strictly into p.
func (p *Policy) decodeJSON(js []byte) Errors {
	// The kind and name first, leniently, so that every later error names the policy.
	var head struct {
		Kind     any `json:"kind"`
		Metadata struct {
			Name      any `json:"name"`
			Namespace any `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) || te.Field == "" {
			return Errors{{File: p.File, Document: p.Index, Msg: "not a mapping (a policy document is an object with apiVersion, kind, metadata and spec)"}}
		}
	}
	p.Kind, _ = head.Kind.(string)
	p.Metadata.Name, _ = head.Metadata.Name.(string)
	p.Metadata.Namespace, _ = head.Metadata.Namespace.(string)

	var doc Document
	strict, err := kjson.UnmarshalStrict(js, &doc)
	if err != nil {
		if m := typeError.FindStringSubmatch(err.Error()); m != nil {
			return Errors{p.errorf(m[2], "must be %s; got %s", goTypeName(m[3]), jsonTypeName(m[1]))}
		}
		return Errors{p.errorf("", "%s", strings.TrimPrefix(err.Error(), "json: "))}
	}
	var errs Errors
	for _, s := range strict {
		var fe kjson.FieldError
		if errors.As(s, &fe) {
			msg := strings.TrimSuffix(strings.TrimPrefix(s.Error(), "json: "), fmt.Sprintf(" %q", fe.FieldPath()))
			errs = append(errs, p.errorf(fe.FieldPath(), "%s", msg))
			continue
		}
		errs = append(errs, p.errorf("", "%s", s.Error()))
	}
	if len(errs) > 0 {
		return errs
	}
	p.Document = doc
	return nil
}

// FromJSON decodes a policy object of the Kubernetes API (its JSON form, as a dynamic
// informer's unstructured object marshals) strictly. Its errors name it as
// `crd: RuntimePolicy "name"`.
func FromJSON(js []byte) (*Policy, Errors) {
	p := &Policy{File: SourceCRD}
	if errs := p.decodeJSON(js); len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func goTypeName(t string) string {
	if elem, ok := strings.CutPrefix(t, "[]"); ok {
		name := goTypeName(elem)
		name = strings.TrimPrefix(strings.TrimPrefix(name, "an "), "a ")
		return "a list of " + name + "s"
	}
	switch t {
	case "string":
		return "a string"
	case "bool":
		return "a boolean (true or false)"
	case "int64", "int32", "int", "uint32":
		return "an integer"
	case "map[string]string":
		return "a map of strings"
	}
	return "an object"
}

func jsonTypeName(t string) string {
	switch t {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "number":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return "a " + t
}
