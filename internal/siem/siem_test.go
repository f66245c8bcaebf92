package siem

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/schema"
)

// everyAttribute returns one record carrying every attribute of the schema (resource ones on
// its resource) with the value of its Example, typed.
func everyAttribute(t *testing.T, eventName string) (pcommon.Resource, plog.LogRecord) {
	t.Helper()
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName(eventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 25, 23, 10, 14, 123456789, time.UTC)))
	for _, a := range schema.All {
		m := lr.Attributes()
		if slices.Contains(a.Events, "resource") {
			m = rl.Resource().Attributes()
		}
		putExample(t, m, a)
	}
	return rl.Resource(), lr
}

func putExample(t *testing.T, m pcommon.Map, a schema.Attribute) {
	t.Helper()
	switch a.Type {
	case schema.String:
		m.PutStr(a.Name, a.Example)
	case schema.Int:
		i, err := strconv.ParseInt(a.Example, 10, 64)
		if err != nil {
			i = 7
		}
		m.PutInt(a.Name, i)
	case schema.Bool:
		m.PutBool(a.Name, a.Example != "false")
	case schema.StringSlice, schema.IntSlice:
		var raw []any
		if err := json.Unmarshal([]byte(a.Example), &raw); err != nil || len(raw) == 0 {
			raw = []any{"x"}
			if a.Type == schema.IntSlice {
				raw = []any{int64(7)}
			}
		}
		s := m.PutEmptySlice(a.Name)
		for _, v := range raw {
			if f, ok := v.(float64); ok {
				s.AppendEmpty().SetInt(int64(f))
			} else if a.Type == schema.IntSlice {
				s.AppendEmpty().SetInt(7)
			} else {
				s.AppendEmpty().SetStr(v.(string))
			}
		}
	default:
		t.Fatalf("attribute %s: type %s is new: teach putExample and the encoders about it", a.Name, a.Type)
	}
}

// lookup returns the value at a dotted path of a nested JSON object.
func lookup(doc map[string]any, path string) (any, bool) {
	cur := any(doc)
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// wantJSON is the JSON form of an attribute value; ECS ids are strings.
func wantJSON(v pcommon.Value, idAsString bool) any {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		if idAsString {
			return strconv.FormatInt(v.Int(), 10)
		}
		return float64(v.Int())
	case pcommon.ValueTypeSlice:
		out := []any{}
		for _, e := range v.Slice().All() {
			out = append(out, wantJSON(e, idAsString))
		}
		return out
	}
	return v.AsRaw()
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc), "%s", b)
	return doc
}

// TestECSEveryAttribute checks that every attribute of the schema, whoever added it, lands in
// the ECS document at the field(s) the schema names, or under otelsec when it names none.
func TestECSEveryAttribute(t *testing.T) {
	enc := NewECS("default")
	for _, name := range append(schema.EventNames(), "file.unknown_event") {
		res, lr := everyAttribute(t, name)
		doc := decode(t, enc.Append(nil, res, lr))
		for _, a := range schema.All {
			m := lr.Attributes()
			if slices.Contains(a.Events, "resource") {
				m = res.Attributes()
			}
			v, _ := m.Get(a.Name)
			fields := a.ECSFields()
			if len(fields) == 0 {
				fields = []string{schema.Unmapped(a.Name)}
			}
			for _, f := range fields {
				got, ok := lookup(doc, f)
				if !ok {
					got, ok = lookup(doc, f+".value")
				}
				require.True(t, ok, "%s: attribute %s is not at ECS field %s", name, a.Name, f)
				id := f == "id" || strings.HasSuffix(f, ".id")
				assert.Equal(t, wantJSON(v, id), got, "%s: attribute %s at ECS field %s", name, a.Name, f)
			}
		}
		assert.Equal(t, schema.Namespace+"."+Sanitize(schema.Family(name)), doc["data_stream"].(map[string]any)["dataset"])
	}
}

// TestCIMEveryAttribute is TestECSEveryAttribute for Splunk events (flat keys).
func TestCIMEveryAttribute(t *testing.T) {
	enc := NewCIM()
	for _, name := range schema.EventNames() {
		res, lr := everyAttribute(t, name)
		doc := decode(t, enc.Append(nil, res, lr))
		for _, a := range schema.All {
			m := lr.Attributes()
			if slices.Contains(a.Events, "resource") {
				m = res.Attributes()
			}
			v, _ := m.Get(a.Name)
			fields := a.CIMFields()
			if len(fields) == 0 {
				fields = []string{schema.Unmapped(a.Name)}
			}
			for _, f := range fields {
				require.Contains(t, doc, f, "%s: attribute %s is not at CIM field %s", name, a.Name, f)
				assert.Equal(t, wantJSON(v, false), doc[f], "%s: attribute %s at CIM field %s", name, a.Name, f)
			}
		}
	}
}

// captured returns the process.exec and process.exit records the real receiver emitted for
// `/usr/bin/ls -l --color=never /usr/share/doc` (testdata/capture).
func captured(t testing.TB) (pcommon.Resource, plog.LogRecord, plog.LogRecord) {
	b, err := os.ReadFile("testdata/process.json")
	require.NoError(t, err)
	logs, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	rl := logs.ResourceLogs().At(0)
	recs := rl.ScopeLogs().At(0).LogRecords()
	require.Equal(t, 2, recs.Len())
	require.Equal(t, schema.EventProcessExec, recs.At(0).EventName())
	require.Equal(t, schema.EventProcessExit, recs.At(1).EventName())
	return rl.Resource(), recs.At(0), recs.At(1)
}

func TestECSProcessExec(t *testing.T) {
	res, exec, exit := captured(t)
	enc := NewECS("prod")
	assert.Equal(t, "logs-otelsec.process-prod", enc.DataStream(schema.EventProcessExec))
	doc := decode(t, enc.Append(nil, res, exec))
	attr := func(k string) pcommon.Value { v, _ := exec.Attributes().Get(k); return v }
	pid := strconv.FormatInt(attr(schema.ProcessPID).Int(), 10)
	want := map[string]any{
		"@timestamp":                   time.Unix(0, int64(exec.Timestamp())).UTC().Format(time.RFC3339Nano),
		"message":                      "exec /usr/bin/ls (pid " + pid + "): /usr/bin/ls -l --color=never /usr/share/doc",
		"ecs.version":                  ECSVersion,
		"event.kind":                   "event",
		"event.category":               []any{"process"},
		"event.type":                   []any{"start"},
		"event.action":                 "exec",
		"event.outcome":                "success",
		"event.module":                 "otelsec",
		"event.dataset":                "otelsec.process",
		"event.severity":               float64(9),
		"data_stream.type":             "logs",
		"data_stream.dataset":          "otelsec.process",
		"data_stream.namespace":        "prod",
		"otelsec.event.name":           "process.exec",
		"host.name":                    "vm",
		"host.hostname":                "vm",
		"host.os.type":                 "linux",
		"process.pid":                  float64(attr(schema.ProcessPID).Int()),
		"process.parent.pid":           float64(attr(schema.ProcessParentPID).Int()),
		"process.executable":           "/usr/bin/ls",
		"process.name":                 "ls",
		"process.args":                 []any{"/usr/bin/ls", "-l", "--color=never", "/usr/share/doc"},
		"process.args_count":           float64(4),
		"process.command_line":         "/usr/bin/ls -l --color=never /usr/share/doc",
		"process.working_directory":    "/tmp",
		"process.user.id":              "0",
		"user.id":                      "0",
		"group.id":                     "0",
		"process.entity_id":            attr(schema.ExecID).Str(),
		"process.parent.entity_id":     attr(schema.ParentExecID).Str(),
		"process.parent.executable":    "/usr/bin/bash",
		"process.parent.name":          "bash",
		"process.start":                attr(schema.ProcessCreationTime).Str(),
		"process.vpid":                 float64(attr(schema.ProcessVPID).Int()),
		"otelsec.process.linux.cgroup": attr(schema.ProcessLinuxCgroup).Str(),
		"otelsec.host.id":              nil, // host.id is ECS host.id
	}
	delete(want, "otelsec.host.id")
	want["host.id"] = "3d1219c7c4c5404aaa1f6d2a48adfda4"
	for path, w := range want {
		got, ok := lookup(doc, path)
		if assert.True(t, ok, "no %s", path) {
			assert.Equal(t, w, got, path)
		}
	}
	// The parent's command line is bash's.
	pcl, _ := lookup(doc, "process.parent.command_line")
	assert.True(t, strings.HasPrefix(pcl.(string), "/bin/bash -c "), pcl)
	_, ok := lookup(doc, "process.exit_code")
	assert.False(t, ok)

	doc = decode(t, enc.Append(nil, res, exit))
	for path, w := range map[string]any{
		"event.type": []any{"end"}, "event.action": "end", "process.exit_code": float64(0),
		"otelsec.process.origin": "exec", "process.pid": float64(attr(schema.ProcessPID).Int()),
	} {
		got, ok := lookup(doc, path)
		if assert.True(t, ok, "no %s", path) {
			assert.Equal(t, w, got, path)
		}
	}
	_, ok = lookup(doc, "event.outcome")
	assert.False(t, ok, "an exit has no outcome")
}

func TestCIMProcessExec(t *testing.T) {
	res, exec, exit := captured(t)
	doc := decode(t, NewCIM().Append(nil, res, exec))
	attr := func(k string) pcommon.Value { v, _ := exec.Attributes().Get(k); return v }
	for k, w := range map[string]any{
		"vendor_product":               "otelsec",
		"action":                       "allowed",
		"otelsec.event.name":           "process.exec",
		"dest":                         "vm",
		"os":                           "linux",
		"process_id":                   float64(attr(schema.ProcessPID).Int()),
		"parent_process_id":            float64(attr(schema.ProcessParentPID).Int()),
		"process_name":                 "ls",
		"process_exec":                 "ls",
		"process_path":                 "/usr/bin/ls",
		"process":                      "/usr/bin/ls -l --color=never /usr/share/doc",
		"process_current_directory":    "/tmp",
		"process_guid":                 attr(schema.ExecID).Str(),
		"parent_process_guid":          attr(schema.ParentExecID).Str(),
		"parent_process_path":          "/usr/bin/bash",
		"parent_process_name":          "bash",
		"parent_process_exec":          "bash",
		"user_id":                      float64(0),
		"otelsec.process.command_args": []any{"/usr/bin/ls", "-l", "--color=never", "/usr/share/doc"},
		"otelsec.host.id":              "3d1219c7c4c5404aaa1f6d2a48adfda4",
	} {
		assert.Equal(t, w, doc[k], k)
	}
	doc = decode(t, NewCIM().Append(nil, res, exit))
	assert.NotContains(t, doc, "action", "an exit is in no CIM dataset")
	assert.Equal(t, float64(0), doc["otelsec.process.exit.code"])
}

func TestDocumentEdgeCases(t *testing.T) {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("host.name", "resource-host")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	lr.Body().SetEmptyMap().PutStr("k", "v")
	a := lr.Attributes()
	a.PutStr("host.name", "record-host") // the record's value wins
	a.PutStr("custom.a", "leaf")         // value and object at once: custom.a.value
	a.PutInt("custom.a.b", 1)
	a.PutStr("quote", "\"\\\n\t\x01 ünï \xff end")
	a.PutDouble("nan", math.NaN())
	a.PutDouble("pi", 3.25)
	a.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2})
	a.PutEmpty("nothing")
	a.PutEmptyMap("map").PutEmptySlice("list").AppendEmpty().SetBool(true)

	b := NewECS("default").Append(nil, rl.Resource(), lr)
	doc := decode(t, b)
	for path, w := range map[string]any{
		"@timestamp":             "2026-01-02T03:04:05Z", // no timestamp: the observed one
		"message":                `{"k":"v"}`,
		"event.kind":             "event",
		"event.action":           "", // no event name
		"host.name":              "record-host",
		"otelsec.custom.a.value": "leaf",
		"otelsec.custom.a.b":     float64(1),
		"otelsec.quote":          "\"\\\n\t\x01 ünï \ufffd end",
		"otelsec.nan":            "NaN",
		"otelsec.pi":             3.25,
		"otelsec.raw":            "AAEC",
		"otelsec.nothing":        nil,
		"otelsec.map":            map[string]any{"list": []any{true}},
		"data_stream.dataset":    "otelsec.unknown",
	} {
		got, ok := lookup(doc, path)
		if assert.True(t, ok, "no %s in %s", path, b) {
			assert.Equal(t, w, got, path)
		}
	}
	assert.Equal(t, 1, strings.Count(string(b), `"name":"record-host"`), "one host.name: %s", b)

	cim := decode(t, NewCIM("quote").Append(nil, rl.Resource(), lr))
	assert.Equal(t, "leaf", cim["otelsec.custom.a"])
	assert.Equal(t, float64(1), cim["otelsec.custom.a.b"])
	assert.Equal(t, "record-host", cim["dest"])
	assert.NotContains(t, cim, "otelsec.quote", "skipped attribute")
}

func TestSanitize(t *testing.T) {
	assert.Equal(t, "process", Sanitize("process"))
	assert.Equal(t, "my_ns_1", Sanitize("My-NS:1"))
	assert.Equal(t, "a_b_c", Sanitize("a b,c"))
	assert.Equal(t, "unknown", Sanitize(""))
}

func TestSubset(t *testing.T) {
	ld := plog.NewLogs()
	for r := range 2 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("r", int64(r))
		for s := range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("s" + strconv.Itoa(s))
			for n := range 2 {
				sl.LogRecords().AppendEmpty().Body().SetStr(strconv.Itoa(r*4 + s*2 + n))
			}
		}
	}
	out := Subset(ld, func(i int) bool { return i == 1 || i >= 6 })
	require.Equal(t, 3, out.LogRecordCount())
	require.Equal(t, 2, out.ResourceLogs().Len())
	first := out.ResourceLogs().At(0)
	r, _ := first.Resource().Attributes().Get("r")
	assert.Equal(t, int64(0), r.Int())
	require.Equal(t, 1, first.ScopeLogs().Len())
	assert.Equal(t, "s0", first.ScopeLogs().At(0).Scope().Name())
	assert.Equal(t, "1", first.ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	second := out.ResourceLogs().At(1)
	assert.Equal(t, "s1", second.ScopeLogs().At(0).Scope().Name())
	assert.Equal(t, "6", second.ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	assert.Equal(t, "7", second.ScopeLogs().At(0).LogRecords().At(1).Body().Str())
	assert.Equal(t, 0, Subset(ld, func(int) bool { return false }).LogRecordCount())
}

// FuzzAppendString: the output is valid JSON that decodes to the input, each invalid UTF-8
// byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t cr\r nul\x00 del\x7f", "ünïcødé ✓", "bad \xff\xfe end", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString(nil, s)
		var got string
		require.NoError(t, json.Unmarshal(out, &got), "%q", out)
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				want.WriteRune(utf8.RuneError)
			} else {
				want.WriteString(s[i : i+size])
			}
			i += size
		}
		require.Equal(t, want.String(), got)
	})
}
