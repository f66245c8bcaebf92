package otelsecelasticsearchexporter

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/siem"
)

// fixedFields are the fields every document carries, with their Elasticsearch types.
var fixedFields = map[string]string{
	"@timestamp":            "date_nanos",
	"message":               "match_only_text",
	"ecs.version":           "keyword",
	"event.kind":            "keyword",
	"event.category":        "keyword",
	"event.type":            "keyword",
	"event.action":          "keyword",
	"event.outcome":         "keyword",
	"event.module":          "keyword",
	"event.dataset":         "keyword",
	"event.created":         "date_nanos",
	"event.severity":        "long",
	"data_stream.type":      "constant_keyword",
	"data_stream.dataset":   "constant_keyword",
	"data_stream.namespace": "constant_keyword",
	schema.ECSEventName:     "keyword",
}

// fieldTypes returns the Elasticsearch type of every field the ECS documents can hold, read
// from the mapping in internal/schema.
func fieldTypes() map[string]string {
	types := map[string]string{}
	for f, ty := range fixedFields {
		types[f] = ty
	}
	for _, a := range schema.All {
		fields := a.ECSFields()
		if len(fields) == 0 {
			fields = []string{schema.Unmapped(a.Name)}
		}
		for _, f := range fields {
			types[f] = esType(f, a.Type)
		}
	}
	for _, d := range schema.DerivedFields {
		for _, f := range strings.Split(d.ECS, ", ") {
			if f == "" {
				continue
			}
			types[f] = "keyword"
			if d.How == schema.DeriveCount {
				types[f] = "long"
			}
		}
	}
	return types
}

func esType(field string, t schema.Type) string {
	if ty, ok := schema.ECSFieldTypes[field]; ok {
		return ty
	}
	switch t {
	case schema.Int, schema.IntSlice:
		if field == "id" || strings.HasSuffix(field, ".id") {
			return "keyword" // ECS ids are keywords; the documents write them as strings
		}
		return "long"
	case schema.Bool:
		return "boolean"
	}
	return "keyword"
}

// indexTemplate is the composable index template for logs-otelsec.*-*: data streams, every
// known field typed, and strings of fields nobody described as keywords.
func indexTemplate(priority int) ([]byte, error) {
	props := map[string]any{}
	types := fieldTypes()
	names := make([]string, 0, len(types))
	for f := range types {
		names = append(names, f)
	}
	slices.Sort(names)
	for _, f := range names {
		put(props, strings.Split(f, "."), types[f])
	}
	return json.Marshal(map[string]any{
		"index_patterns": []string{"logs-" + schema.Namespace + ".*-*"},
		"data_stream":    map[string]any{},
		"priority":       priority,
		"_meta":          map[string]any{"managed_by": "otelsec", "ecs_version": siem.ECSVersion},
		"template": map[string]any{
			"settings": map[string]any{"index": map[string]any{"mapping": map[string]any{"total_fields": map[string]any{"limit": 2000}}}},
			"mappings": map[string]any{
				"dynamic_templates": []any{
					map[string]any{"strings_as_keyword": map[string]any{
						"match_mapping_type": "string",
						"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
					}},
				},
				"properties": props,
			},
		},
	})
}

// put sets a field's type in nested properties; a field that is also an object keeps its
// type under .value, as the documents do.
func put(props map[string]any, path []string, ty string) {
	if len(path) == 1 {
		if obj, ok := props[path[0]].(map[string]any); ok && obj["properties"] != nil {
			put(obj["properties"].(map[string]any), []string{"value"}, ty)
			return
		}
		props[path[0]] = map[string]any{"type": ty}
		return
	}
	obj, ok := props[path[0]].(map[string]any)
	if !ok || obj["properties"] == nil {
		leaf := obj
		obj = map[string]any{"properties": map[string]any{}}
		props[path[0]] = obj
		if leaf != nil {
			obj["properties"].(map[string]any)["value"] = leaf
		}
	}
	put(obj["properties"].(map[string]any), path[1:], ty)
}

// dataStreams returns the data stream of every event family the schema describes.
func dataStreams(enc *siem.ECS) []string {
	var out []string
	for _, name := range schema.EventNames() {
		if ds := enc.DataStream(name); !slices.Contains(out, ds) {
			out = append(out, ds)
		}
	}
	return out
}
