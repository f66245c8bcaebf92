package otelsecelasticsearchexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/testserver"
)

// TestReceiverEventsReachElasticsearch runs a command under the real receiver, exports its
// events through the bulk API to VictoriaLogs and reads them back field by field.
func TestReceiverEventsReachElasticsearch(t *testing.T) {
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.ElasticsearchEndpoint())
	h := newHarness(t, proxy.URL, func(c *Config) { c.Namespace = "prod" })
	sensor := testserver.StartSensor(t, h.exp)
	m := marker("es-route")
	exec, exit := sensor.Run(t, t.TempDir(), "/usr/bin/printf", "%s", m)

	rows := vl.Await(t, byExecID(exec), 2)
	require.Len(t, rows, 2)
	byName := map[string]map[string]string{}
	for _, r := range rows {
		byName[r["otelsec.event.name"]] = r
	}
	for _, e := range []testserver.Event{exec, exit} {
		t.Run(e.Record.EventName(), func(t *testing.T) {
			row := byName[e.Record.EventName()]
			require.NotNil(t, row, "%v", rows)
			assertStored(t, wantStored(e, "prod"), row)
		})
	}
	// What Elastic Security's Linux rules query, spelled out for the exec.
	row := byName[schema.EventProcessExec]
	for k, want := range map[string]string{
		"event.category":            `["process"]`,
		"event.type":                `["start"]`,
		"event.action":              "exec",
		"host.os.type":              "linux",
		"process.pid":               fmt.Sprint(exec.Attr(schema.ProcessPID).Int()),
		"process.name":              "printf",
		"process.executable":        "/usr/bin/printf",
		"process.args":              `["/usr/bin/printf","%s","` + m + `"]`,
		"process.args_count":        "3",
		"process.command_line":      "/usr/bin/printf %s " + m,
		"process.parent.name":       "dash",
		"process.parent.executable": "/usr/bin/dash",
		"process.entity_id":         exec.Attr(schema.ExecID).Str(),
		"process.parent.entity_id":  exec.Attr(schema.ParentExecID).Str(),
		"user.id":                   "0",
		"process.user.id":           "0",
	} {
		assert.Equal(t, want, row[k], k)
	}
	assert.Equal(t, "end", byName[schema.EventProcessExit]["event.action"])
	assert.Equal(t, "0", byName[schema.EventProcessExit]["process.exit_code"])

	// On the wire: gzip, create into the family's data stream, ECS ids as strings.
	var found bool
	for _, r := range bulkRequests(proxy) {
		assert.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
		actions, docs := bulkItems(t, r.Body)
		for i, d := range docs {
			p, _ := d["process"].(map[string]any)
			if p["entity_id"] != exec.Attr(schema.ExecID).Str() {
				continue // another process's event (other tests load BPF programs meanwhile: bpf.program_load)
			}
			assert.Equal(t, map[string]any{"create": map[string]any{"_index": "logs-otelsec.process-prod"}}, actions[i])
			if d["event"].(map[string]any)["action"] == "exec" {
				found = true
				assert.Equal(t, map[string]any{"id": "0"}, d["user"])
				assert.Equal(t, float64(exec.Attr(schema.ProcessPID).Int()), p["pid"])
			}
		}
	}
	assert.True(t, found, "the exec's document on the wire")
}

// TestPartialBulkFailure: of four documents in one bulk request, one gets 429 (retried alone
// and indexed), one a mapping error (dropped, logged with the reason, counted), two are
// indexed at once.
func TestPartialBulkFailure(t *testing.T) {
	prefix := marker("es-partial")
	events := sensorEvents(t, prefix, 4)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.ElasticsearchEndpoint())
	var mu sync.Mutex
	rejected429 := false
	proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
		if !strings.HasSuffix(r.Path, "/_bulk") {
			return nil
		}
		return &testserver.Fault{BulkItem: func(_ int, _, doc []byte) (int, string, string) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case strings.Contains(string(doc), prefix+"-001") && !rejected429:
				rejected429 = true
				return http.StatusTooManyRequests, "es_rejected_execution_exception", "rejected execution of coordinating operation"
			case strings.Contains(string(doc), prefix+"-002"):
				return http.StatusBadRequest, "document_parsing_exception", "[1:340] failed to parse field [process.pid] of type [keyword]"
			}
			return 0, "", ""
		}}
	})
	h := newHarness(t, proxy.URL, nil)
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events...)))

	vl.AwaitFor(t, prefix, 3, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	var got []string
	for _, r := range vl.Query(t, prefix) {
		got = append(got, r["_msg"][strings.Index(r["_msg"], prefix):])
	}
	assert.ElementsMatch(t, []string{prefix + "-000", prefix + "-001", prefix + "-003"}, got, "once each, the 400 one never")

	reqs := bulkRequests(proxy)
	require.Len(t, reqs, 2)
	_, first := bulkItems(t, reqs[0].Body)
	_, retried := bulkItems(t, reqs[1].Body)
	assert.Len(t, first, 4)
	require.Len(t, retried, 1, "only the 429 document is sent again")
	assert.Contains(t, retried[0]["message"], prefix+"-001")

	assert.Equal(t, int64(1), h.metric("otelcol_otelsec_exporter_dropped_log_records",
		attribute.Int("http.response.status_code", 400), attribute.String("error.type", "document_parsing_exception")))
	lines := h.logged.FilterMessage("Elasticsearch rejected documents; they are dropped (not retried)").All()
	require.Len(t, lines, 1)
	f := lines[0].ContextMap()
	assert.Equal(t, int64(1), f["documents"])
	assert.Equal(t, int64(400), f["status"])
	assert.Equal(t, "document_parsing_exception", f["error.type"])
	assert.Equal(t, "[1:340] failed to parse field [process.pid] of type [keyword]", f["reason"])
	assert.Equal(t, "logs-otelsec.process-default", f["index"])
	assert.Zero(t, h.metric("otelcol_exporter_send_failed_log_records"))
}

// TestWholeRequestAnswers: a whole bulk request answered 429, 503 or too slowly is retried;
// 400, 401 and 403 drop the documents (logged, counted); a slow answer in time is fine.
func TestWholeRequestAnswers(t *testing.T) {
	events := sensorEvents(t, marker("es-whole"), 7)
	vl := testserver.Start(t)
	for i, tt := range []struct {
		name     string
		fault    *testserver.Fault
		failures int
		dropped  bool
	}{
		{"429", testserver.ElasticsearchError(http.StatusTooManyRequests, "es_rejected_execution_exception", "queue full"), 2, false},
		{"503", testserver.ElasticsearchError(http.StatusServiceUnavailable, "unavailable_shards_exception", "primary shard is not active"), 2, false},
		{"timeout", &testserver.Fault{Delay: 3 * time.Second, Status: http.StatusOK}, 2, false},
		{"slow but in time", nil, 0, false},
		{"400", testserver.ElasticsearchError(http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line [1]"), 1, true},
		{"401", testserver.ElasticsearchError(http.StatusUnauthorized, "security_exception", "unable to authenticate user [otelsec]"), 1, true},
		{"403", testserver.ElasticsearchError(http.StatusForbidden, "security_exception", "action [indices:data/write/bulk[s]] is unauthorized"), 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := testserver.NewProxy(t, vl.ElasticsearchEndpoint())
			var mu sync.Mutex
			attempts := 0
			proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
				if !strings.HasSuffix(r.Path, "/_bulk") {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				attempts++
				if attempts <= tt.failures {
					return tt.fault
				}
				return &testserver.Fault{Delay: 300 * time.Millisecond}
			})
			h := newHarness(t, proxy.URL, func(c *Config) { c.ClientConfig.Timeout = 2 * time.Second })
			require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events[i])))
			if tt.dropped {
				require.Eventually(t, func() bool { return h.metric("otelcol_otelsec_exporter_dropped_log_records") == 1 },
					10*time.Second, 10*time.Millisecond)
				time.Sleep(300 * time.Millisecond)
				assert.Empty(t, vl.Query(t, byExecID(events[i])))
				mu.Lock()
				assert.Equal(t, 1, attempts, "not retried")
				mu.Unlock()
				lines := h.logged.FilterMessage("Elasticsearch rejected documents; they are dropped (not retried)").All()
				require.Len(t, lines, 1)
				assert.Equal(t, hints[int(lines[0].ContextMap()["status"].(int64))], lines[0].ContextMap()["hint"])
				assert.Equal(t, int64(1), h.metric("otelcol_exporter_send_failed_log_records"))
				return
			}
			vl.Await(t, byExecID(events[i]), 1)
			time.Sleep(500 * time.Millisecond)
			assert.Len(t, vl.Query(t, byExecID(events[i])), 1, "indexed once")
			mu.Lock()
			assert.Equal(t, tt.failures+1, attempts)
			mu.Unlock()
			assert.Zero(t, h.metric("otelcol_otelsec_exporter_dropped_log_records"))
		})
	}
}

// TestServerDownQueuedThenDeliveredInOrder stops VictoriaLogs, exports 10 events one request
// each, restarts it and checks that each was indexed once, in the order it was exported.
func TestServerDownQueuedThenDeliveredInOrder(t *testing.T) {
	prefix := marker("es-down")
	events := sensorEvents(t, prefix, 10)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.ElasticsearchEndpoint())
	h := newHarness(t, proxy.URL, func(c *Config) {
		c.QueueConfig.Get().NumConsumers = 1
		c.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	})
	vl.Stop()
	for _, e := range events {
		require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(e)))
	}
	require.Eventually(t, func() bool { return len(bulkRequests(proxy)) >= 5 }, 10*time.Second, 10*time.Millisecond, "retries while down")
	vl.Restart()
	vl.AwaitFor(t, prefix, 10, 60*time.Second)
	time.Sleep(time.Second)
	require.Len(t, vl.Query(t, prefix), 10, "each event exactly once")

	var delivered []string
	for _, r := range bulkRequests(proxy) {
		if r.Status != http.StatusOK {
			continue
		}
		_, docs := bulkItems(t, r.Body)
		for _, d := range docs {
			msg := d["message"].(string)
			delivered = append(delivered, msg[strings.Index(msg, prefix):])
		}
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("%s-%03d", prefix, i))
	}
	assert.Equal(t, want, delivered)
}

// TestSetupOnStart puts the index template (VictoriaLogs accepts it) and creates the data
// streams, which VictoriaLogs does not implement: the proxy answers as Elasticsearch does.
func TestSetupOnStart(t *testing.T) {
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.ElasticsearchEndpoint())
	var mu sync.Mutex
	dsAnswer := &testserver.Fault{Status: 200, Body: `{"acknowledged":true}`, Header: map[string]string{"X-Elastic-Product": "Elasticsearch"}}
	proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(r.Path, "/_data_stream/") {
			return dsAnswer
		}
		return nil
	})
	setup := func(c *Config) { c.Setup.IndexTemplate = true; c.Setup.DataStreams = true }

	h := newHarness(t, proxy.URL, setup)
	families := dataStreams(h.ecs())
	require.Contains(t, families, "logs-otelsec.process-default")
	assert.Len(t, h.logged.FilterMessage("Elasticsearch index template set").All(), 1)
	assert.Len(t, h.logged.FilterMessage("Elasticsearch data stream ready").All(), len(families))
	var tmpl map[string]any
	var created []string
	for _, r := range proxy.Requests() {
		if r.Path == "/_index_template/logs-otelsec" {
			assert.Equal(t, http.MethodPut, r.Method)
			require.NoError(t, json.Unmarshal(r.Body, &tmpl))
		}
		if ds, ok := strings.CutPrefix(r.Path, "/_data_stream/"); ok {
			assert.Equal(t, http.MethodPut, r.Method)
			created = append(created, ds)
		}
	}
	assert.Equal(t, families, created, "one data stream per event family")
	require.NotNil(t, tmpl)
	assert.Equal(t, []any{"logs-otelsec.*-*"}, tmpl["index_patterns"])
	assert.Equal(t, float64(200), tmpl["priority"])

	// Already there: fine. Forbidden: logged, and the exporter still starts.
	mu.Lock()
	dsAnswer = testserver.ElasticsearchError(400, "resource_already_exists_exception", "data_stream already exists")
	mu.Unlock()
	again := newHarness(t, proxy.URL, setup)
	assert.Len(t, again.logged.FilterMessage("Elasticsearch data stream ready").All(), len(families))
	mu.Lock()
	dsAnswer = testserver.ElasticsearchError(403, "security_exception", "action [indices:admin/data_stream/create] is unauthorized")
	mu.Unlock()
	denied := newHarness(t, proxy.URL, setup)
	lines := denied.logged.FilterMessage("Elasticsearch data stream setup failed").All()
	require.Len(t, lines, len(families))
	var failed []string
	for _, l := range lines {
		failed = append(failed, l.ContextMap()["data_stream"].(string))
	}
	assert.Equal(t, families, failed)
	assert.Contains(t, lines[0].ContextMap()["error"], "403 Forbidden")
	assert.Contains(t, lines[0].ContextMap()["error"], "is unauthorized")
}
