package grafana

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Event families whose events this test does not cause (it runs programs, nothing else): their
// sensors are pending or off by default, and their panels may return no data. The issue that
// brings each one:
var pendingFamilies = map[string]string{
	"network": "issue 3 (network sensor)",
	"file":    "issue 3 (file sensor)",
	"policy":  "issue 4 (policy extension)",
}

// promQuery is one Prometheus query of a dashboard.
type promQuery struct {
	where string // dashboard file, panel or variable, refId
	expr  string // with the variables substituted
	names *names
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((?:(.+),\s*)?([A-Za-z_][A-Za-z0-9_]*)\)$`)

// prometheusQueries returns every Prometheus query of every dashboard: panel targets and query
// variables (label_values(metric, label)).
func prometheusQueries(t *testing.T) []promQuery {
	t.Helper()
	var qs []promQuery
	for _, d := range loadDashboards(t) {
		isProm := func(ds *datasource) bool { return ds != nil && ds.Type == "prometheus" }
		for _, p := range d.allPanels() {
			if !isProm(p.Datasource) {
				continue
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("%s: panel %d %q query %s", filepath.Base(d.file), p.ID, p.Title, tg.RefID)
				expr := d.expand(t, tg.Expr)
				n, err := promqlNames(expr)
				require.NoError(t, err, "%s: %s", where, expr)
				require.NotEmpty(t, n.metrics, "%s: queries no metric: %s", where, expr)
				qs = append(qs, promQuery{where: where, expr: expr, names: n})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" || !isProm(v.Datasource) {
				continue
			}
			where := fmt.Sprintf("%s: variable %s", filepath.Base(d.file), v.Name)
			m := labelValuesQuery.FindStringSubmatch(v.queryString())
			require.NotNil(t, m, "%s: only label_values(metric, label) is supported here: %s", where, v.queryString())
			require.NotEmpty(t, m[1], "%s: label_values without a metric scans every series", where)
			expr := d.expand(t, m[1])
			n, err := promqlNames(expr)
			require.NoError(t, err, "%s: %s", where, expr)
			n.labels[m[2]] = true
			qs = append(qs, promQuery{where: where, expr: expr, names: n})
		}
	}
	return append(qs, readmeMetrics(t)...)
}

// readmeMetrics returns the README's metric table as queries of each Prometheus name, reading
// the labels the table says the panels use.
func readmeMetrics(t *testing.T) []promQuery {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	s := string(b)
	i, j := strings.Index(s, "<!-- metrics:begin -->"), strings.Index(s, "<!-- metrics:end -->")
	require.True(t, i >= 0 && j > i, "README.md: no metrics table markers")
	var qs []promQuery
	code := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(s[i:j], "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 5 || !strings.Contains(cols[2], "`") {
			continue
		}
		name := code.FindStringSubmatch(cols[2])[1]
		n := newNames()
		n.metrics[name] = true
		for _, m := range code.FindAllStringSubmatch(cols[3], -1) {
			n.labels[m[1]] = true
		}
		qs = append(qs, promQuery{where: "README.md metric table: " + name, expr: name, names: n})
	}
	require.NotEmpty(t, qs, "README.md: empty metrics table")
	return qs
}

// waitsForSensor says whether a query selects only events of families whose sensor does not
// exist yet (by its otelsec_event_name matchers), and names the issue.
func waitsForSensor(n *names) (string, bool) {
	ms := n.matches["otelsec_event_name"]
	if len(ms) == 0 {
		return "", false
	}
	var issues []string
	for _, m := range ms {
		family := familyPrefix.FindString(m.val)
		issue, ok := pendingFamilies[family]
		if !ok {
			return "", false
		}
		issues = append(issues, issue)
	}
	return strings.Join(issues, ", "), true
}

// TestPanelsQueryExportedMetrics runs the real collector (_build/otelsec) with the metrics route
// distribution/prometheus.yaml and a logs route, and a real Prometheus scraping both of its
// endpoints (the prometheus exporter and the collector's own telemetry); it runs programs so
// that the receiver sees execs, and then requires of every Prometheus query of every dashboard:
// each metric it names exists in Prometheus, each label it reads is on that metric's series,
// every series carries the node's host_name (the dashboards' node filter), Prometheus accepts
// the query, and it returns data unless it selects events of a family whose sensor is pending.
func TestPanelsQueryExportedMetrics(t *testing.T) {
	requireRoot(t)
	queries := prometheusQueries(t)
	wanted := map[string][]string{} // metric -> where it is used
	for _, q := range queries {
		for m := range q.names.metrics {
			wanted[m] = append(wanted[m], q.where)
		}
	}
	promBin := prometheusBinary(t)
	colBin := collectorBinary(t)

	const node = "otelsec-grafana-test"
	metricsPort, telemetryPort, healthPort := freePort(t), freePort(t), freePort(t)
	env := []string{
		"NODE_NAME=" + node,
		fmt.Sprint("OTELSEC_METRICS_PORT=", metricsPort),
		fmt.Sprint("OTELSEC_TELEMETRY_PORT=", telemetryPort),
		fmt.Sprint("HEALTH_PORT=", healthPort),
		fmt.Sprint("SINK_PORT=", freePort(t)),
		fmt.Sprint("STALLED_PORT=", blackHole(t)),
	}
	col := startProcess(t, "otelsec", env, colBin,
		"--config", filepath.Join(repoRoot, "distribution", "prometheus.yaml"),
		"--config", filepath.Join("testdata", "logs-route.yaml"))
	col.waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), 60*time.Second)

	dir := t.TempDir()
	promPort := freePort(t)
	promCfg := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promCfg, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: otelsec
    static_configs:
      - targets: ["127.0.0.1:%d", "127.0.0.1:%d"]
`, metricsPort, telemetryPort))
	prom := startProcess(t, "prometheus", nil, promBin,
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprint("--web.listen-address=127.0.0.1:", promPort),
		"--log.level=warn")
	prom.waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", promPort), 30*time.Second)
	api := promAPI{base: fmt.Sprintf("http://127.0.0.1:%d", promPort)}

	// Programs run while the test waits: the receiver's exec and exit events, and log batches
	// that the stalled exporter fails to send and then cannot queue.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	execsDone := make(chan struct{})
	go func() {
		defer close(execsDone)
		for ctx.Err() == nil {
			_ = exec.Command("/bin/true").Run()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-execsDone }()

	// Wait until Prometheus holds every metric the dashboards query, then a few more scrapes
	// so that rates have samples.
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		have, err := api.metricNames(ctx)
		require.NoError(t, err)
		missing = missing[:0]
		for m := range wanted {
			if !have[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("metric %s is not exported by the collector (not in Prometheus after 60s), used by:\n  %s",
			m, strings.Join(wanted[m], "\n  "))
	}
	if len(missing) > 0 {
		up, err := api.get(ctx, "/api/v1/query", url.Values{"query": {"up"}})
		t.Logf("scrape targets (up): %s %v", up, err)
		t.FailNow()
	}
	time.Sleep(3 * time.Second)

	// Label names per metric, and the node label on every series.
	labels := map[string]map[string]bool{}
	for m := range wanted {
		series, err := api.series(ctx, m)
		require.NoError(t, err)
		labels[m] = map[string]bool{}
		for _, s := range series {
			for l := range s {
				labels[m][l] = true
			}
			require.Equal(t, node, s["host_name"], "series %v has no host_name %q: the dashboards' node filter would miss it", s, node)
		}
	}

	for _, q := range queries {
		for l := range q.names.labels {
			if q.names.created[l] {
				continue
			}
			found := false
			for m := range q.names.metrics {
				found = found || labels[m][l]
			}
			if !found {
				t.Errorf("%s: label %s is on no series of %v", q.where, l, sorted(q.names.metrics))
			}
		}
		typ, n, err := api.query(ctx, q.expr)
		if err != nil {
			t.Errorf("%s: Prometheus rejects %s: %v", q.where, q.expr, err)
			continue
		}
		if n > 0 {
			continue
		}
		if issue, ok := waitsForSensor(q.names); ok {
			t.Logf("%s: no data yet, waits for %s: %s", q.where, issue, q.expr)
			continue
		}
		t.Errorf("%s: %s result is empty: %s", q.where, typ, q.expr)
	}
	t.Logf("%d Prometheus queries over %d metrics checked", len(queries), len(wanted))
}

// TestPrometheusRouteConfigs validates the metrics route with the built collector (`otelsec
// validate`: every component known to this build, every setting valid) on its own and merged
// with each logs route it is documented with.
func TestPrometheusRouteConfigs(t *testing.T) {
	colBin := collectorBinary(t)
	route := filepath.Join(repoRoot, "distribution", "prometheus.yaml")
	for _, with := range [][]string{nil, {"config.yaml"}, {"loki.yaml"}} {
		args := []string{"validate"}
		for _, f := range with {
			args = append(args, "--config", filepath.Join(repoRoot, "distribution", f))
		}
		args = append(args, "--config", route)
		out, err := exec.Command(colBin, args...).CombinedOutput()
		require.NoError(t, err, "otelsec %s:\n%s", strings.Join(args, " "), out)
	}
}
