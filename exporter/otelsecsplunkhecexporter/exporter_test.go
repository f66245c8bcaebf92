package otelsecsplunkhecexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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

// TestReceiverEventsReachHEC runs a command under the real receiver, exports its events
// through HEC to VictoriaLogs and reads them back field by field.
func TestReceiverEventsReachHEC(t *testing.T) {
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	h := newHarness(t, proxy.URL, nil)
	sensor := testserver.StartSensor(t, h.exp)
	m := marker("hec-route")
	exec, exit := sensor.Run(t, t.TempDir(), "/usr/bin/printf", "%s", m)

	execID := exec.Attr(schema.ExecID).Str()
	rows := vl.Await(t, fmt.Sprintf("event.process_guid:=%q", execID), 2)
	require.Len(t, rows, 2)
	byName := map[string]map[string]string{}
	for _, r := range rows {
		byName[r["event.otelsec.event.name"]] = r
	}
	for _, e := range []testserver.Event{exec, exit} {
		t.Run(e.Record.EventName(), func(t *testing.T) {
			row := byName[e.Record.EventName()]
			require.NotNil(t, row, "%v", rows)
			assertStored(t, wantStored(e), row)
		})
	}
	// What a Splunk search sees, spelled out for the exec.
	row := byName[schema.EventProcessExec]
	host, _ := os.Hostname()
	for k, want := range map[string]string{
		"host":                               host,
		"sourcetype":                         "otelsec:process",
		"event.dest":                         host,
		"event.os":                           "linux",
		"event.action":                       "allowed",
		"event.process_id":                   fmt.Sprint(exec.Attr(schema.ProcessPID).Int()),
		"event.process_name":                 "printf",
		"event.process_exec":                 "printf",
		"event.process_path":                 "/usr/bin/printf",
		"event.process":                      "/usr/bin/printf %s " + m,
		"event.parent_process_path":          "/usr/bin/dash",
		"event.parent_process_name":          "dash",
		"event.process_guid":                 execID,
		"event.user_id":                      "0",
		"event.otelsec.process.command_args": `["/usr/bin/printf","%s","` + m + `"]`,
	} {
		assert.Equal(t, want, row[k], k)
	}

	// On the wire: gzip, JSON, the token.
	var sawEvent bool
	for _, r := range proxy.Requests() {
		if r.Path != "/services/collector/event" {
			continue
		}
		sawEvent = true
		assert.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.Equal(t, "Splunk "+testToken, r.Header.Get("Authorization"))
		assert.Less(t, r.WireBytes, len(r.Body))
	}
	assert.True(t, sawEvent)
	assert.NotEmpty(t, h.logged.FilterMessage("Splunk HEC is healthy").All())
}

// TestMetadataFromConfigAndAttributes: index, source and sourcetype come from the
// configuration, and per event from attributes, which are not repeated in the event.
func TestMetadataFromConfigAndAttributes(t *testing.T) {
	events := sensorEvents(t, marker("hec-meta"), 2)
	vl := testserver.Start(t)
	h := newHarness(t, vl.HECEndpoint(), func(c *Config) {
		c.Index = "security"
		c.Source = "node-7"
	})
	ld := testserver.Logs(events...)
	override := ld.ResourceLogs().At(1).ScopeLogs().At(0).LogRecords().At(0).Attributes()
	override.PutStr("com.splunk.index", "audit")
	override.PutStr("com.splunk.sourcetype", "linux:exec")
	ld.ResourceLogs().At(1).Resource().Attributes().PutStr("com.splunk.source", "from-resource")
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), ld))

	for i, want := range []map[string]string{
		{"index": "security", "source": "node-7", "sourcetype": "otelsec:process"},
		{"index": "audit", "source": "from-resource", "sourcetype": "linux:exec"},
	} {
		id := events[i].Attr(schema.ExecID).Str()
		row := vl.Await(t, fmt.Sprintf("event.process_guid:=%q", id), 1)[0]
		for k, v := range want {
			assert.Equal(t, v, row[k], "event %d: %s", i, k)
		}
		for k := range row {
			assert.NotContains(t, k, "com.splunk", "metadata attributes are not repeated in the event")
		}
	}
}

// TestServerDownQueuedThenDeliveredInOrder stops VictoriaLogs, exports 20 events one request
// each, restarts it, and checks that each was delivered once, in the order it was exported.
func TestServerDownQueuedThenDeliveredInOrder(t *testing.T) {
	prefix := marker("hec-down")
	events := sensorEvents(t, prefix, 20)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	h := newHarness(t, proxy.URL, func(c *Config) {
		c.QueueConfig.Get().NumConsumers = 1
		c.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	})
	vl.Stop()
	for _, e := range events {
		require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(e)))
	}
	require.Eventually(t, func() bool { return len(proxy.Requests()) >= 5 }, 10*time.Second, 10*time.Millisecond, "retries while down")
	time.Sleep(500 * time.Millisecond)
	vl.Restart()

	rows := vl.AwaitFor(t, prefix, 20, 60*time.Second)
	time.Sleep(time.Second) // nothing more may arrive
	rows = vl.Query(t, prefix)
	require.Len(t, rows, 20, "each event exactly once")

	var delivered []string
	for _, r := range proxy.Requests() {
		if r.Status == http.StatusOK {
			delivered = append(delivered, markersIn(r.Body, prefix)...)
		}
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("%s-%03d", prefix, i))
	}
	assert.Equal(t, want, delivered, "delivered in order, once each")
	assert.Zero(t, h.metric("otelcol_otelsec_exporter_dropped_log_records"))
}

// markersIn returns the markers (prefix-NNN) in the HEC events of a request body, in order.
func markersIn(body []byte, prefix string) []string {
	var out []string
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for dec.More() {
		var ev struct {
			Event map[string]any `json:"event"`
		}
		if dec.Decode(&ev) != nil {
			break
		}
		if cl, _ := ev.Event["process"].(string); strings.Contains(cl, prefix) {
			out = append(out, cl[strings.Index(cl, prefix):])
		}
	}
	return out
}

// TestQueueFullRejectsAndCounts: with the server down, the queue takes queue_size requests
// (the one being retried included) and refuses the rest, counted; the ones it took are
// delivered when the server is back.
func TestQueueFullRejectsAndCounts(t *testing.T) {
	prefix := marker("hec-full")
	events := sensorEvents(t, prefix, 8)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	h := newHarness(t, proxy.URL, func(c *Config) {
		q := c.QueueConfig.Get()
		q.NumConsumers = 1
		q.QueueSize = 5
		q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	})
	vl.Stop()
	var refused []int
	for i, e := range events {
		if err := h.exp.ConsumeLogs(context.Background(), testserver.Logs(e)); err != nil {
			assert.ErrorIs(t, err, exporterhelper.ErrQueueIsFull)
			refused = append(refused, i)
		}
	}
	assert.Equal(t, []int{5, 6, 7}, refused)
	assert.Equal(t, int64(3), h.metric("otelcol_exporter_enqueue_failed_log_records"))

	vl.Restart()
	vl.AwaitFor(t, prefix, 5, 30*time.Second)
	time.Sleep(time.Second)
	var got []string
	for _, r := range vl.Query(t, prefix) {
		got = append(got, r["event.process"][strings.Index(r["event.process"], prefix):])
	}
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("%s-%03d", prefix, i))
	}
	assert.ElementsMatch(t, want, got, "every accepted event, once")
}

// TestRetryableAnswers: 429, 503, 500 and timeouts are retried until the server takes the
// events; a slow answer within the timeout is not a failure.
func TestRetryableAnswers(t *testing.T) {
	events := sensorEvents(t, marker("hec-retry"), 5)
	vl := testserver.Start(t)
	for i, tt := range []struct {
		name     string
		fault    *testserver.Fault
		failures int
	}{
		{"429 with Retry-After", withHeader(testserver.HECError(http.StatusTooManyRequests), "Retry-After", "1"), 2},
		{"503 server busy", testserver.HECError(http.StatusServiceUnavailable), 2},
		{"500 internal error", testserver.HECError(http.StatusInternalServerError), 2},
		{"timeout", &testserver.Fault{Delay: 3 * time.Second, Status: http.StatusOK}, 2},
		{"slow but in time", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := testserver.NewProxy(t, vl.HECEndpoint())
			var mu sync.Mutex
			attempts := 0
			proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
				if r.Path != "/services/collector/event" {
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
			start := time.Now()
			require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events[i])))
			id := events[i].Attr(schema.ExecID).Str()
			vl.Await(t, fmt.Sprintf("event.process_guid:=%q", id), 1)
			time.Sleep(500 * time.Millisecond)
			assert.Len(t, vl.Query(t, fmt.Sprintf("event.process_guid:=%q", id)), 1, "delivered once")
			mu.Lock()
			assert.Equal(t, tt.failures+1, attempts)
			mu.Unlock()
			assert.Zero(t, h.metric("otelcol_otelsec_exporter_dropped_log_records"))
			assert.Zero(t, h.metric("otelcol_exporter_send_failed_log_records"))
			if tt.name == "429 with Retry-After" {
				assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "Retry-After: 1 honoured twice")
			}
		})
	}
}

func withHeader(f *testserver.Fault, k, v string) *testserver.Fault {
	f.Header[k] = v
	return f
}

// TestBadRequestDroppedCountedLogged: a 400 drops the request's events at once, with a log
// line giving the reason and the dropped-records metric; later events are delivered.
func TestBadRequestDroppedCountedLogged(t *testing.T) {
	events := sensorEvents(t, marker("hec-400"), 3)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	bad := events[0].Attr(schema.ExecID).Str()
	proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
		if strings.Contains(string(r.Body), bad) {
			return testserver.HECError(http.StatusBadRequest)
		}
		return nil
	})
	h := newHarness(t, proxy.URL, nil)
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events[0], events[1])))
	require.Eventually(t, func() bool {
		return h.metric("otelcol_otelsec_exporter_dropped_log_records") == 2
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(2), h.metric("otelcol_otelsec_exporter_dropped_log_records",
		attribute.Int("http.response.status_code", 400), attribute.String("error.type", "Invalid data format")))
	assert.Equal(t, int64(2), h.metric("otelcol_exporter_send_failed_log_records"))
	lines := h.logged.FilterMessage("Splunk HEC rejected events; they are dropped (not retried)").All()
	require.Len(t, lines, 1)
	fields := lines[0].ContextMap()
	assert.Equal(t, int64(2), fields["events"])
	assert.Equal(t, int64(400), fields["status"])
	assert.Equal(t, "Invalid data format", fields["reason"])
	assert.Equal(t, int64(6), fields["hec_code"])
	assert.Equal(t, "Splunk could not parse the events", fields["hint"])
	assert.Equal(t, 1, eventRequests(proxy), "not retried")

	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events[2])))
	vl.Await(t, fmt.Sprintf("event.process_guid:=%q", events[2].Attr(schema.ExecID).Str()), 1)
	assert.Empty(t, vl.Query(t, fmt.Sprintf("event.process_guid:=%q", bad)))
}

// TestInvalidToken: HEC answers 403 to a wrong token; the events are dropped with a log line
// pointing at the token, and the right token gets them in.
func TestInvalidToken(t *testing.T) {
	events := sensorEvents(t, marker("hec-token"), 2)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
		if r.Path == "/services/collector/event" && r.Header.Get("Authorization") != "Splunk "+testToken {
			return testserver.HECError(http.StatusForbidden)
		}
		return nil
	})
	wrong := newHarness(t, proxy.URL, func(c *Config) { c.Token = "wrong-token" })
	require.NoError(t, wrong.exp.ConsumeLogs(context.Background(), testserver.Logs(events[0])))
	require.Eventually(t, func() bool {
		return wrong.metric("otelcol_otelsec_exporter_dropped_log_records", attribute.Int("http.response.status_code", 403),
			attribute.String("error.type", "Invalid token")) == 1
	}, 10*time.Second, 10*time.Millisecond)
	lines := wrong.logged.FilterMessage("Splunk HEC rejected events; they are dropped (not retried)").All()
	require.Len(t, lines, 1)
	assert.Equal(t, "the token is invalid or disabled: check token", lines[0].ContextMap()["hint"])
	assert.NotContains(t, fmt.Sprint(lines[0].ContextMap()), "wrong-token", "the token is not logged")

	right := newHarness(t, proxy.URL, nil)
	require.NoError(t, right.exp.ConsumeLogs(context.Background(), testserver.Logs(events[1])))
	vl.Await(t, fmt.Sprintf("event.process_guid:=%q", events[1].Attr(schema.ExecID).Str()), 1)
	assert.Empty(t, vl.Query(t, fmt.Sprintf("event.process_guid:=%q", events[0].Attr(schema.ExecID).Str())))
}

// TestLargeBatchSplitAndPartialRetry: a batch larger than max_content_length goes in several
// requests; when one fails, only it and the ones after it are sent again.
func TestLargeBatchSplitAndPartialRetry(t *testing.T) {
	prefix := marker("hec-split")
	events := sensorEvents(t, prefix, 6)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.HECEndpoint())
	size := len(newEncoded(t, events[0]))
	var mu sync.Mutex
	failed := false
	proxy.SetFault(func(r *testserver.Request) *testserver.Fault {
		mu.Lock()
		defer mu.Unlock()
		if !failed && strings.Contains(string(r.Body), fmt.Sprintf("%s-%03d", prefix, 2)) {
			failed = true
			return testserver.HECError(http.StatusServiceUnavailable)
		}
		return nil
	})
	h := newHarness(t, proxy.URL, func(c *Config) { c.MaxContentLength = 2*size + size/2 })
	require.NoError(t, h.exp.ConsumeLogs(context.Background(), testserver.Logs(events...)))
	vl.AwaitFor(t, prefix, 6, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	assert.Len(t, vl.Query(t, prefix), 6, "each once")

	var sent [][]string
	for _, r := range proxy.Requests() {
		if r.Path == "/services/collector/event" {
			sent = append(sent, markersIn(r.Body, prefix))
			assert.LessOrEqual(t, len(r.Body), h.cfg.MaxContentLength)
		}
	}
	m := func(i int) string { return fmt.Sprintf("%s-%03d", prefix, i) }
	assert.Equal(t, [][]string{{m(0), m(1)}, {m(2), m(3)}, {m(2), m(3)}, {m(4), m(5)}}, sent)
}

// newEncoded is one event as the exporter encodes it.
func newEncoded(t *testing.T, e testserver.Event) []byte {
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://unused"
	exp, err := newExporter(cfg, exportertestSettings())
	require.NoError(t, err)
	return exp.appendEvent(nil, e.Resource, e.Record)
}

// TestHealthCheckOnStart logs whether HEC answers its health check.
func TestHealthCheckOnStart(t *testing.T) {
	vl := testserver.Start(t)
	ok := newHarness(t, vl.HECEndpoint(), nil)
	require.Eventually(t, func() bool { return len(ok.logged.FilterMessage("Splunk HEC is healthy").All()) == 1 },
		10*time.Second, 10*time.Millisecond)
	vl.Stop()
	down := newHarness(t, vl.HECEndpoint(), nil)
	require.Eventually(t, func() bool {
		return len(down.logged.FilterMessage("Splunk HEC health check failed; events are queued and retried until it answers").All()) == 1
	}, 10*time.Second, 10*time.Millisecond)
}

// eventRequests counts the requests that posted events.
func eventRequests(p *testserver.Proxy) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Path == "/services/collector/event" {
			n++
		}
	}
	return n
}

// TestTLS: HEC over HTTPS, trusted through tls::ca_file; without the CA the certificate is
// refused and the events wait for a retry.
func TestTLS(t *testing.T) {
	events := sensorEvents(t, marker("hec-tls"), 2)
	vl := testserver.Start(t)
	proxy, ca := testserver.NewTLSProxy(t, vl.HECEndpoint())
	require.True(t, strings.HasPrefix(proxy.URL, "https://"))

	untrusted := newHarness(t, proxy.URL, nil)
	require.NoError(t, untrusted.exp.ConsumeLogs(context.Background(), testserver.Logs(events[0])))
	require.Eventually(t, func() bool {
		for _, l := range untrusted.logged.FilterMessage("Exporting failed. Will retry the request after interval.").All() {
			if strings.Contains(fmt.Sprint(l.ContextMap()["error"]), "certificate signed by unknown authority") {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "the certificate is refused and the request retried")

	trusted := newHarness(t, proxy.URL, func(c *Config) { c.ClientConfig.TLS.CAFile = ca })
	require.NoError(t, trusted.exp.ConsumeLogs(context.Background(), testserver.Logs(events[1])))
	vl.Await(t, fmt.Sprintf("event.process_guid:=%q", events[1].Attr(schema.ExecID).Str()), 1)
	assert.Empty(t, vl.Query(t, fmt.Sprintf("event.process_guid:=%q", events[0].Attr(schema.ExecID).Str())))
}
