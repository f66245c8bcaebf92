package schema

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMappingGaps lists every attribute without an ECS or a Splunk CIM field (they are written
// under the otelsec object, see families.go) and every event name without a description, so
// that gaps are visible (go test -v -run TestMappingGaps ./internal/schema). It fails only on
// what would make documents wrong: malformed field names, attributes sharing a field, a field
// that is both a value and an object.
func TestMappingGaps(t *testing.T) {
	var noECS, noCIM []string
	for _, a := range All {
		if len(a.ECSFields()) == 0 {
			noECS = append(noECS, a.Name+" → "+Unmapped(a.Name))
		}
		if len(a.CIMFields()) == 0 {
			noCIM = append(noCIM, a.Name+" → "+Unmapped(a.Name))
		}
	}
	t.Logf("%d of %d attributes have no ECS field:\n  %s", len(noECS), len(All), strings.Join(noECS, "\n  "))
	t.Logf("%d of %d attributes have no Splunk CIM field:\n  %s", len(noCIM), len(All), strings.Join(noCIM, "\n  "))
	for _, name := range EventNames() {
		if _, ok := LookupEvent(name); !ok {
			t.Logf("event %s has no description in Events: ECS event.kind=event, no category, no CIM dataset", name)
		}
	}
}

var (
	ecsField = regexp.MustCompile(`^@?[a-z0-9_]+(\.[a-z0-9_]+)*$`)
	cimField = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// targets returns every field a schema mapping writes, with who writes it.
func targets(ecs bool) map[string][]string {
	out := map[string][]string{}
	for _, a := range All {
		fields := a.CIMFields()
		if ecs {
			fields = a.ECSFields()
		}
		if len(fields) == 0 {
			fields = []string{Unmapped(a.Name)}
		}
		for _, f := range fields {
			out[f] = append(out[f], a.Name)
		}
	}
	for _, d := range DerivedFields {
		f := d.CIM
		if ecs {
			f = d.ECS
		}
		for _, f := range splitFields(f) {
			out[f] = append(out[f], string(d.How)+"("+d.From+")")
		}
	}
	fixed := []string{ECSEventName}
	if ecs {
		fixed = append(fixed, "@timestamp", "message", "event.kind", "event.category", "event.type", "event.action",
			"event.outcome", "event.created", "event.module", "event.dataset", "data_stream.type", "data_stream.dataset",
			"data_stream.namespace", "ecs.version")
	} else {
		fixed = append(fixed, "message", "action", CIMVendorProduct)
	}
	for _, f := range fixed {
		out[f] = append(out[f], "(every event)")
	}
	return out
}

func TestMappingFieldsAreWellFormedAndUnique(t *testing.T) {
	for _, ecs := range []bool{true, false} {
		name, re := "CIM", cimField
		if ecs {
			name, re = "ECS", ecsField
		}
		all := targets(ecs)
		var fields []string
		for f, writers := range all {
			fields = append(fields, f)
			assert.Len(t, writers, 1, "%s field %s is written by %v", name, f, writers)
			if !strings.HasPrefix(f, Namespace+".") {
				assert.Regexp(t, re, f, "%s field of %v", name, writers)
			}
		}
		if !ecs {
			continue // Splunk events are flat: a.b and a.b.c are two keys.
		}
		sort.Strings(fields)
		for i := 1; i < len(fields); i++ {
			assert.False(t, strings.HasPrefix(fields[i], fields[i-1]+"."),
				"%s field %s (%v) would be both a value and the object holding %s (%v)",
				name, fields[i-1], all[fields[i-1]], fields[i], all[fields[i]])
		}
	}
	for _, d := range DerivedFields {
		_, ok := Lookup(d.From)
		assert.True(t, ok, "derived field from %s: no such attribute", d.From)
		assert.Contains(t, []Derivation{DeriveBaseName, DeriveCount, DeriveConstant}, d.How)
	}
}

// ECS allowed values (https://www.elastic.co/guide/en/ecs/current/ecs-allowed-values-event-category.html).
var (
	ecsKinds      = []string{"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}
	ecsCategories = []string{"api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam",
		"intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session", "threat",
		"vulnerability", "web"}
	ecsTypes = []string{"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end",
		"error", "group", "indicator", "info", "installation", "protocol", "start", "user"}
	ecsOutcomes = []string{"", "failure", "success", "unknown"}
)

func TestEventsUseECSAllowedValues(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Events {
		require.False(t, seen[e.Name], "event %s described twice", e.Name)
		seen[e.Name] = true
		assert.Contains(t, ecsKinds, e.ECSKind, e.Name)
		assert.NotEmpty(t, e.ECSCategory, e.Name)
		for _, c := range e.ECSCategory {
			assert.Contains(t, ecsCategories, c, e.Name)
		}
		for _, ty := range e.ECSType {
			assert.Contains(t, ecsTypes, ty, e.Name)
		}
		assert.Contains(t, ecsOutcomes, e.ECSOutcome, e.Name)
		assert.NotEmpty(t, e.ECSAction, e.Name)
		assert.Equal(t, e.CIMDataModel == "", len(e.CIMTags) == 0, "%s: a CIM dataset comes with its tags", e.Name)
		assert.NotEmpty(t, e.Meaning, e.Name)
	}
	assert.Equal(t, "process", Family(EventProcessExec))
	assert.Equal(t, "otelsec:process", Sourcetype(Family(EventProcessExit)))
	assert.Equal(t, "unknown", Family(""))
	assert.Equal(t, "otelsec.process.vpid", Unmapped(ProcessVPID))
	assert.Equal(t, "otelsec.process.exec.filename", Unmapped(ExecFilename))
}

func TestReplaceMappingTables(t *testing.T) {
	doc := []byte("# x\n<!-- events:begin -->\nold\n<!-- events:end -->\nmid\n<!-- mapping:begin -->\nold\n<!-- mapping:end -->\nafter\n")
	out, err := ReplaceMappingTables(doc)
	require.NoError(t, err)
	s := string(out)
	assert.NotContains(t, s, "old")
	assert.Contains(t, s, "| `process.exec` | event / process / start / exec / success | `logs-otelsec.process-<namespace>` | `otelsec:process` | Endpoint.Processes (`process`, `report`) | allowed |\n")
	assert.Contains(t, s, "| `process.user.id` | every event | `process.user.id`, `user.id` | `user_id` |\n")
	assert.Contains(t, s, "| `process.vpid` | process.exec, process.exit | `process.vpid` | — (`otelsec.process.vpid`) |\n")
	assert.Contains(t, s, "| `otelsec.process.parent.executable.path` | base name | `process.parent.name` | `parent_process_name`, `parent_process_exec` |\n")
	assert.Contains(t, s, "<!-- mapping:end -->\nafter\n")
	_, err = ReplaceMappingTables([]byte("<!-- events:begin -->\n<!-- events:end -->"))
	require.ErrorContains(t, err, "mapping:begin")
}

func TestSplunkConf(t *testing.T) {
	conf := SplunkConf()
	assert.Contains(t, conf, "[otelsec_process_exec]\nsearch = sourcetype=\"otelsec:process\" otelsec.event.name=\"process.exec\"\n")
	assert.Contains(t, conf, "[eventtype=otelsec_process_exec]\nprocess = enabled\nreport = enabled\n")
	assert.NotContains(t, conf, "process_exit", "an exit is in no CIM dataset")
	out, err := ReplaceMappingTables([]byte("<!-- splunk-conf:begin -->\nold\n<!-- splunk-conf:end -->\n<!-- events:begin -->\n<!-- events:end -->\n<!-- mapping:begin -->\n<!-- mapping:end -->\n"))
	require.NoError(t, err)
	assert.Contains(t, string(out), "<!-- splunk-conf:begin -->\n```ini\n# eventtypes.conf\n")
}
