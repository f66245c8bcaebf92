package grafana

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.yaml.in/yaml/v3"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/testserver"
)

// The Loki route: the collector configuration that sends the events to Loki's OTLP endpoint.
var lokiRoute = filepath.Join(repoRoot, "distribution", "loki.yaml")

// Fields the Loki route produces beyond the attributes internal/schema describes;
// TestLogQLFieldsInIngestedEvents requires them in the real route's output.
var lokiRouteFields = map[string]string{
	"service_name": "Loki's service_name, from the resource attribute service.name the route sets (the default stream selector)",
	"event_name":   "the event name: Loki does not keep the LogRecord's EventName, the route copies it into an attribute",
}

// Fields Loki itself adds to every OTLP log line.
var lokiBuiltinFields = []string{"severity_text", "severity_number", "observed_timestamp", "scope_name",
	"scope_version", "detected_level", "trace_id", "span_id", "flags"}

// pendingField is an attribute the dashboards use before the sensor that emits it exists.
type pendingField struct {
	otlp   string
	family string // the event family whose sensor brings it; "" for resource attributes
	issue  string
}

var pendingFields = []pendingField{
	{"network.transport", "network", "issue 3"},
	{"client.address", "network", "issue 3"},
	{"client.port", "network", "issue 3"},
	{"server.address", "network", "issue 3"},
	{"server.port", "network", "issue 3"},
	{"destination.port", "network", "issue 3"},
	{"error.type", "network", "issue 3"},
	{"otelsec.network.direction", "network", "issue 3"},
	{"otelsec.network.bytes_sent", "network", "issue 3"},
	{"file.path", "file", "issue 3"},
	{"file.mode", "file", "issue 3"},
	{"security_rule.name", "policy", "issue 4"},
	{"otelsec.policy.action", "policy", "issue 4"},
	{"otelsec.policy.mode", "policy", "issue 4"},
	{"otelsec.policy.backend", "policy", "issue 4"},
	{"k8s.namespace.name", "", "issue 5 (Kubernetes enrichment)"},
	{"k8s.pod.name", "", "issue 5 (Kubernetes enrichment)"},
}

var (
	notLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)
	// familyPrefix is the family an event name (or a regex of event names) starts with.
	familyPrefix = regexp.MustCompile(`^[a-z_]+`)
)

// lokiName is the label name Loki gives an OTLP attribute (Prometheus label normalization:
// every other character becomes "_", a leading digit gets "key_").
func lokiName(attr string) string {
	s := notLabelChar.ReplaceAllString(attr, "_")
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "key_" + s
	}
	return s
}

// family is the event name's part before the first dot.
func family(event string) string {
	f, _, _ := strings.Cut(event, ".")
	return f
}

// lokiQuery is one LogQL query of a dashboard.
type lokiQuery struct {
	where string
	expr  string
	names *names
}

func lokiQueries(t *testing.T) []lokiQuery {
	t.Helper()
	var qs []lokiQuery
	for _, d := range loadDashboards(t) {
		for _, p := range d.allPanels() {
			if p.Datasource == nil || p.Datasource.Type != "loki" {
				continue
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("%s: panel %d %q query %s", filepath.Base(d.file), p.ID, p.Title, tg.RefID)
				expr := d.expand(t, tg.Expr)
				n, err := logqlNames(expr)
				require.NoError(t, err, "%s: %s", where, expr)
				for _, l := range legendLabels(tg.LegendFormat) {
					n.labels[l] = true
				}
				qs = append(qs, lokiQuery{where: where, expr: expr, names: n})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource == nil || v.Datasource.Type != "loki" {
				continue
			}
			where := fmt.Sprintf("%s: variable %s", filepath.Base(d.file), v.Name)
			m := regexp.MustCompile(`^label_values\(([A-Za-z_][A-Za-z0-9_]*)\)$`).FindStringSubmatch(v.queryString())
			require.NotNil(t, m, "%s: only label_values(label) is supported here: %s", where, v.queryString())
			n := newNames()
			n.labels[m[1]] = true
			qs = append(qs, lokiQuery{where: where, expr: v.queryString(), names: n})
		}
	}
	return qs
}

var legendRef = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// legendLabels returns the labels a legend format ({{label}}) shows.
func legendLabels(f string) []string {
	var ls []string
	for _, m := range legendRef.FindAllStringSubmatch(f, -1) {
		ls = append(ls, m[1])
	}
	return ls
}

// schemaFields maps the Loki name of every attribute internal/schema describes to it.
func schemaFields() map[string]schema.Attribute {
	m := map[string]schema.Attribute{}
	for _, a := range schema.All {
		m[lokiName(a.Name)] = a
	}
	return m
}

// schemaFamilies returns the event families internal/schema describes attributes for.
func schemaFamilies() map[string]bool {
	fs := map[string]bool{}
	for _, a := range schema.All {
		for _, e := range a.Events {
			if strings.Contains(e, ".") {
				fs[family(e)] = true
			}
		}
	}
	return fs
}

// schemaEvents returns every event name internal/schema describes attributes for.
func schemaEvents() []string {
	var es []string
	for _, a := range schema.All {
		for _, e := range a.Events {
			if strings.Contains(e, ".") && !slices.Contains(es, e) {
				es = append(es, e)
			}
		}
	}
	slices.Sort(es)
	return es
}

// describedFor says whether a is on one of events (resource attributes and those of every
// event are on all).
func describedFor(a schema.Attribute, events []string) bool {
	for _, e := range a.Events {
		if e == "resource" || e == schema.AllEvents || slices.Contains(events, e) {
			return true
		}
	}
	return false
}

// TestLogQLFieldsAreProducedByTheLokiRoute requires every label and field a LogQL panel reads
// (stream selector, label filters, grouping, unwrap, line templates, legends) to be one the
// Loki route produces on the events the query selects (its event_name filters): an attribute
// internal/schema describes for one of those events, by its Loki name; a field the route adds
// (lokiRouteFields) or Loki adds; or an attribute of a sensor not there yet (pendingFields).
// Once a pending family is described in internal/schema, its fields must be described there
// too: the panels then follow the sensor's real names.
func TestLogQLFieldsAreProducedByTheLokiRoute(t *testing.T) {
	described := schemaFields()
	families := schemaFamilies()
	events := schemaEvents()
	pending := map[string]pendingField{}
	pendingFamily := map[string]string{}
	for _, p := range pendingFields {
		pending[lokiName(p.otlp)] = p
		if p.family != "" {
			pendingFamily[p.family] = p.issue
		}
	}
	waiting := map[string]bool{}
	for _, q := range lokiQueries(t) {
		// The events the query selects: those its event_name filters match.
		var selected []string
		for _, e := range events {
			if ok, constrained := q.names.selects("event_name", e); ok || !constrained {
				selected = append(selected, e)
			}
		}
		if len(selected) == 0 {
			// Allowed only when the query selects events of families whose sensor is pending.
			positive, pendingOnly := 0, true
			for _, m := range q.names.matches["event_name"] {
				if m.op != "=" && m.op != "=~" {
					continue
				}
				positive++
				f := familyPrefix.FindString(m.val)
				if _, p := pendingFamily[f]; !p || families[f] {
					pendingOnly = false
				}
			}
			if positive == 0 || !pendingOnly {
				t.Errorf("%s: its event_name filter %v selects no event internal/schema describes: %s", q.where, q.names.matches["event_name"], q.expr)
				continue
			}
		}
		for _, l := range sorted(q.names.labels) {
			a, inSchema := described[l]
			_, byRoute := lokiRouteFields[l]
			p, isPending := pending[l]
			switch {
			case q.names.created[l] || byRoute || slices.Contains(lokiBuiltinFields, l):
			case inSchema && len(selected) > 0 && !describedFor(a, selected):
				t.Errorf("%s: field %s (%s) is not on the events it selects %v (internal/schema: on %v): %s",
					q.where, l, a.Name, selected, a.Events, q.expr)
			case inSchema:
			case isPending && p.family != "" && families[p.family]:
				t.Errorf("%s: field %s (%s): the %s events are now described in internal/schema, without %s; use the sensor's attributes: %s",
					q.where, l, p.otlp, p.family, p.otlp, q.expr)
			case isPending:
				waiting[fmt.Sprintf("field %s (%s) waits for %s", l, p.otlp, p.issue)] = true
			default:
				t.Errorf("%s: field %s is produced by neither the Loki route nor internal/schema: %s", q.where, l, q.expr)
			}
		}
	}
	for _, w := range sorted(waiting) {
		t.Log(w)
	}
}

func toSet[V any](m map[string]V) map[string]bool {
	s := map[string]bool{}
	for k := range m {
		s[k] = true
	}
	return s
}

// lokiFields returns the fields Loki makes of one OTLP log record: its resource's and its own
// attributes by their Loki names (service.name becomes service_name). Loki drops EventName.
func lokiFields(res pcommon.Resource, attrs pcommon.Map) map[string]string {
	f := map[string]string{}
	for _, m := range []pcommon.Map{res.Attributes(), attrs} {
		m.Range(func(k string, v pcommon.Value) bool {
			f[lokiName(k)] = v.AsString()
			return true
		})
	}
	return f
}

// TestLogQLFieldsInIngestedEvents runs the real collector with the Loki route, its exporter
// pointed through a recording proxy at a real VictoriaLogs (which accepts OTLP logs as Loki's
// OTLP endpoint does), runs a program, and reads the process.exec record the route sent for it,
// as Loki would index it: the fields the route adds must be there (the default stream selector
// matches), and so must every field a panel reads that internal/schema says a process.exec
// carries whenever it is known.
func TestLogQLFieldsInIngestedEvents(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat(lokiRoute); err != nil {
		t.Fatalf("the Loki route %s: %v", lokiRoute, err)
	}
	colBin := collectorBinary(t)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.URL)

	const node = "otelsec-grafana-loki-test"
	healthPort := freePort(t)
	overlay := filepath.Join(t.TempDir(), "overlay.yaml")
	writeFile(t, overlay, lokiOverlay(t, proxy.URL+"/insert/opentelemetry/v1/logs", healthPort))
	col := startProcess(t, "otelsec", []string{"NODE_NAME=" + node}, colBin,
		"--config", lokiRoute, "--config", overlay)
	col.waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), 60*time.Second)

	// The marker is /bin/echo's argument: the exec record's body and command line hold it.
	marker := fmt.Sprintf("otelsec-grafana-%d", time.Now().UnixNano())
	require.NoError(t, exec.Command("/bin/echo", marker).Run())
	vl.Await(t, marker, 1)

	// The record as sent, from the proxy's recording.
	var fields map[string]string
	for _, r := range proxy.Requests() {
		req := plogotlp.NewExportRequest()
		if strings.Contains(r.Header.Get("Content-Type"), "json") {
			require.NoError(t, req.UnmarshalJSON(r.Body))
		} else {
			require.NoError(t, req.UnmarshalProto(r.Body), "OTLP request to %s", r.Path)
		}
		rls := req.Logs().ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() == schema.EventProcessExec && strings.Contains(lr.Body().AsString(), marker) {
						fields = lokiFields(rls.At(i).Resource(), lr.Attributes())
					}
				}
			}
		}
	}
	require.NotNil(t, fields, "no process.exec record with %s among the %d requests the route sent", marker, len(proxy.Requests()))

	for _, f := range sorted(toSet(lokiRouteFields)) {
		if _, ok := fields[f]; !ok {
			t.Errorf("the Loki route does not produce %s (%s); the record's fields: %v", f, lokiRouteFields[f], sorted(toSet(fields)))
		}
	}
	require.Equal(t, node, fields["host_name"])
	if _, ok := fields["event_name"]; ok {
		require.Equal(t, schema.EventProcessExec, fields["event_name"])
	}
	// The default stream selector of the dashboards matches the record.
	for _, d := range loadDashboards(t) {
		if v, ok := d.variable("stream"); ok {
			n := newNames()
			_, err := matchers(mustLex(t, "{"+v.queryString()+"}"), 0, n)
			require.NoError(t, err)
			for l := range n.labels {
				ok, _ := n.selects(l, fields[l])
				assert.True(t, ok, "%s: the default stream selector %s does not match the route's records (%s=%q)", d.file, v.queryString(), l, fields[l])
			}
		}
	}

	// Fields a process.exec carries whenever they are known must be in the record.
	always := []string{"always", "when known", "when the parent is known"}
	described := schemaFields()
	for _, q := range lokiQueries(t) {
		for l := range q.names.labels {
			a, ok := described[l]
			if !ok || !slices.Contains(always, a.Presence) || !(slices.Contains(a.Events, schema.EventProcessExec) || slices.Contains(a.Events, schema.AllEvents)) {
				continue
			}
			if _, ok := fields[l]; !ok {
				t.Errorf("%s: field %s (%s) is not in the process.exec record the Loki route sent", q.where, l, a.Name)
			}
		}
	}
}

func mustLex(t *testing.T, s string) []token {
	t.Helper()
	toks, err := lex(s)
	require.NoError(t, err)
	return toks
}

// lokiOverlay returns a configuration given after the Loki route: its otlp_http exporters send
// to endpoint, a health check on healthPort tells when it is ready, and the collector's own
// metrics are off (their port could be taken).
func lokiOverlay(t *testing.T, endpoint string, healthPort int) string {
	t.Helper()
	b, err := os.ReadFile(lokiRoute)
	require.NoError(t, err)
	var route struct {
		Exporters map[string]any `yaml:"exporters"`
		Service   struct {
			Extensions []string `yaml:"extensions"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(b, &route), lokiRoute)
	overlay := map[string]any{}
	exporters := map[string]any{}
	for id := range route.Exporters {
		typ, _, _ := strings.Cut(id, "/")
		if typ == "otlp_http" || typ == "otlphttp" {
			exporters[id] = map[string]any{"logs_endpoint": endpoint}
		}
	}
	require.NotEmpty(t, exporters, "%s has no otlp_http exporter", lokiRoute)
	overlay["exporters"] = exporters
	overlay["extensions"] = map[string]any{"health_check/grafanatest": map[string]any{"endpoint": fmt.Sprintf("127.0.0.1:%d", healthPort)}}
	var exts []string
	for _, e := range route.Service.Extensions {
		if !strings.HasPrefix(e, "health_check") { // its port could be taken
			exts = append(exts, e)
		}
	}
	overlay["service"] = map[string]any{
		"extensions": append(exts, "health_check/grafanatest"),
		"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	require.NoError(t, enc.Encode(overlay))
	return out.String()
}
