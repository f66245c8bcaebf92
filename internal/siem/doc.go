// Package siem turns otelsec's log records into the documents SIEMs index: Elastic Common
// Schema documents for Elasticsearch and Splunk CIM events for the HTTP Event Collector. Both
// follow the one mapping in internal/schema (Attribute.ECS / Attribute.CIM, schema.Events,
// schema.DerivedFields); nothing here names an attribute.
package siem

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

type kind uint8

const (
	kindValue kind = iota // v
	kindStr               // s
	kindInt               // i
	kindStrs              // ss
	kindTime              // i, nanoseconds since the epoch, written as RFC 3339
)

// field is one value of a document, at a dotted path.
type field struct {
	path string
	kind kind
	s    string
	i    int64
	ss   []string
	v    pcommon.Value
	// idAsString writes integers as strings (ECS types *.id as keyword).
	idAsString bool
}

// builder collects the fields of one document. A later value for the same path replaces the
// earlier one (record attributes come after resource attributes and constant fields).
type builder struct {
	fields []field
	index  map[string]int
	segs   map[string][]string // path → its segments, for nested output
	order  []int32             // nested output: field indexes sorted by path
	open   []string            // nested output: the objects open, outermost first
	member []bool              // nested output: whether each open object has a member yet
}

func newBuilder() *builder {
	return &builder{index: make(map[string]int, 128), segs: make(map[string][]string, 256)}
}

func (b *builder) reset() {
	b.fields = b.fields[:0]
	clear(b.index)
}

func (b *builder) add(f field) {
	if i, ok := b.index[f.path]; ok {
		b.fields[i] = f
		return
	}
	b.index[f.path] = len(b.fields)
	b.fields = append(b.fields, f)
}

func (b *builder) str(path, s string) { b.add(field{path: path, kind: kindStr, s: s}) }
func (b *builder) int(path string, i int64) {
	b.add(field{path: path, kind: kindInt, i: i})
}
func (b *builder) strs(path string, ss []string) { b.add(field{path: path, kind: kindStrs, ss: ss}) }
func (b *builder) time(path string, ns int64)    { b.add(field{path: path, kind: kindTime, i: ns}) }
func (b *builder) value(path string, v pcommon.Value, idAsString bool) {
	b.add(field{path: path, kind: kindValue, v: v, idAsString: idAsString})
}

// appendFlat writes the fields as one JSON object whose keys are the dotted paths, in the
// order they were added.
func (b *builder) appendFlat(buf []byte) []byte {
	buf = append(buf, '{')
	for i := range b.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, b.fields[i].path)
		buf = append(buf, ':')
		buf = b.fields[i].appendValue(buf)
	}
	return append(buf, '}')
}

// appendNested writes the fields as nested JSON objects (process.pid → {"process":{"pid":…}}).
// A path that is also the prefix of another keeps its value under "<path>.value".
func (b *builder) appendNested(buf []byte) []byte {
	b.sortPaths()
	for i := 0; i+1 < len(b.order); i++ {
		f := &b.fields[b.order[i]]
		if isParent(f.path, b.fields[b.order[i+1]].path) {
			f.path += ".value"
			b.sortPaths()
			i = -1
		}
	}
	b.open = b.open[:0]
	b.member = append(b.member[:0], false)
	buf = append(buf, '{')
	for _, fi := range b.order {
		f := &b.fields[fi]
		segs := b.segments(f.path)
		parents := segs[:len(segs)-1]
		d := 0
		for d < len(b.open) && d < len(parents) && b.open[d] == parents[d] {
			d++
		}
		for len(b.open) > d {
			buf = append(buf, '}')
			b.open = b.open[:len(b.open)-1]
			b.member = b.member[:len(b.member)-1]
		}
		for _, p := range parents[d:] {
			buf = b.key(buf, p)
			buf = append(buf, '{')
			b.open = append(b.open, p)
			b.member = append(b.member, false)
		}
		buf = b.key(buf, segs[len(segs)-1])
		buf = f.appendValue(buf)
	}
	for range b.open {
		buf = append(buf, '}')
	}
	return append(buf, '}')
}

// key writes a member name in the innermost open object.
func (b *builder) key(buf []byte, name string) []byte {
	last := len(b.member) - 1
	if b.member[last] {
		buf = append(buf, ',')
	}
	b.member[last] = true
	buf = appendString(buf, name)
	return append(buf, ':')
}

// sortPaths orders the fields by path (indexes only: fields are large to move).
func (b *builder) sortPaths() {
	b.order = b.order[:0]
	for i := range b.fields {
		b.order = append(b.order, int32(i))
	}
	slices.SortFunc(b.order, func(i, j int32) int { return strings.Compare(b.fields[i].path, b.fields[j].path) })
}

func (b *builder) segments(path string) []string {
	if s, ok := b.segs[path]; ok {
		return s
	}
	s := strings.Split(path, ".")
	if len(b.segs) < 4096 { // attribute names not in the schema must not grow it forever
		b.segs[path] = s
	}
	return s
}

// isParent reports whether child lies inside the object parent (a.b and a.b.c).
func isParent(parent, child string) bool {
	return len(child) > len(parent) && child[len(parent)] == '.' && strings.HasPrefix(child, parent)
}

func (f *field) appendValue(buf []byte) []byte {
	switch f.kind {
	case kindStr:
		return appendString(buf, f.s)
	case kindInt:
		return appendInt(buf, f.i, f.idAsString)
	case kindTime:
		buf = append(buf, '"')
		buf = time.Unix(0, f.i).UTC().AppendFormat(buf, time.RFC3339Nano)
		return append(buf, '"')
	case kindStrs:
		buf = append(buf, '[')
		for i, s := range f.ss {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		return append(buf, ']')
	}
	return appendValue(buf, f.v, f.idAsString)
}

func appendInt(buf []byte, i int64, asString bool) []byte {
	if asString {
		buf = append(buf, '"')
		buf = strconv.AppendInt(buf, i, 10)
		return append(buf, '"')
	}
	return strconv.AppendInt(buf, i, 10)
}

// appendValue writes an OTLP value as JSON: arrays and maps as JSON arrays and objects, bytes
// as base64, non-finite doubles as strings, an empty value as null.
func appendValue(buf []byte, v pcommon.Value, idAsString bool) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(buf, v.Str())
	case pcommon.ValueTypeInt:
		return appendInt(buf, v.Int(), idAsString)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(buf, v.Bool())
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return appendString(buf, strconv.FormatFloat(d, 'g', -1, 64))
		}
		return strconv.AppendFloat(buf, d, 'g', -1, 64)
	case pcommon.ValueTypeBytes:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
		return append(buf, '"')
	case pcommon.ValueTypeSlice:
		buf = append(buf, '[')
		for i, e := range v.Slice().All() {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendValue(buf, e, idAsString)
		}
		return append(buf, ']')
	case pcommon.ValueTypeMap:
		buf = append(buf, '{')
		first := true
		for k, e := range v.Map().All() {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendValue(buf, e, false)
		}
		return append(buf, '}')
	}
	return append(buf, "null"...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(buf []byte, s string) []byte { return appendString(buf, s) }

// safeASCII marks the bytes a JSON string holds as they are.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if safeASCII[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
