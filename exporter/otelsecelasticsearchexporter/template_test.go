package otelsecelasticsearchexporter

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/siem"
)

// leaves returns every leaf path of a JSON document with its value.
func leaves(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, c := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			leaves(p, c, out)
		}
		return
	}
	out[prefix] = v
}

// mappingOf returns the type the template's mappings give a dotted path.
func mappingOf(props map[string]any, path string) string {
	segs := strings.Split(path, ".")
	for i, s := range segs {
		f, ok := props[s].(map[string]any)
		if !ok {
			return ""
		}
		if i == len(segs)-1 {
			ty, _ := f["type"].(string)
			return ty
		}
		props, _ = f["properties"].(map[string]any)
	}
	return ""
}

// TestTemplateTypesEveryField: each field of a document carrying every attribute of the
// schema has a mapping in the index template, of a type that fits its JSON value.
func TestTemplateTypesEveryField(t *testing.T) {
	b, err := indexTemplate(200)
	require.NoError(t, err)
	var tmpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	require.NoError(t, json.Unmarshal(b, &tmpl))
	props := tmpl.Template.Mappings.Properties

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.Body().SetStr("body")
	for _, a := range schema.All {
		m := lr.Attributes()
		if slices.Contains(a.Events, "resource") {
			m = rl.Resource().Attributes()
		}
		switch a.Type {
		case schema.String:
			m.PutStr(a.Name, "/a/b")
		case schema.Int:
			m.PutInt(a.Name, 1)
		case schema.Bool:
			m.PutBool(a.Name, true)
		case schema.StringSlice:
			m.PutEmptySlice(a.Name).AppendEmpty().SetStr("x")
		case schema.IntSlice:
			m.PutEmptySlice(a.Name).AppendEmpty().SetInt(1)
		default:
			t.Fatalf("attribute %s: type %s is new: teach esType and this test about it", a.Name, a.Type)
		}
	}
	for _, name := range append(schema.EventNames(), "unknown.event") {
		lr.SetEventName(name)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(siem.NewECS("default").Append(nil, rl.Resource(), lr), &doc))
		fields := map[string]any{}
		leaves("", doc, fields)
		for path, v := range fields {
			ty := mappingOf(props, path)
			if !assert.NotEmpty(t, ty, "%s: field %s has no mapping", name, path) {
				continue
			}
			if arr, ok := v.([]any); ok && len(arr) > 0 {
				v = arr[0]
			}
			switch v.(type) {
			case float64:
				assert.Contains(t, []string{"long"}, ty, path)
			case bool:
				assert.Equal(t, "boolean", ty, path)
			case string:
				assert.Contains(t, []string{"keyword", "constant_keyword", "wildcard", "match_only_text", "date", "date_nanos"}, ty, path)
			}
		}
	}
	assert.Equal(t, "keyword", mappingOf(props, "user.id"))
	assert.Equal(t, "long", mappingOf(props, "process.pid"))
	assert.Equal(t, "date", mappingOf(props, "process.start"))
	assert.Equal(t, "keyword", mappingOf(props, "otelsec.process.linux.cgroup"))
}

func TestPutKeepsValueAndObject(t *testing.T) {
	props := map[string]any{}
	put(props, []string{"a", "b"}, "keyword")
	put(props, []string{"a", "b", "c"}, "long")
	assert.Equal(t, map[string]any{"a": map[string]any{"properties": map[string]any{"b": map[string]any{"properties": map[string]any{
		"value": map[string]any{"type": "keyword"}, "c": map[string]any{"type": "long"}}}}}}, props)
}
