package otelsecelasticsearchexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelsec/otelsec/exporter/otelsecelasticsearchexporter/internal/metadata"
	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/siem"
	"github.com/otelsec/otelsec/internal/testserver"
)

// harness is the exporter built by its factory, started, with its logs and metrics observed.
type harness struct {
	t      *testing.T
	cfg    *Config
	exp    exporter.Logs
	logged *observer.ObservedLogs
	tel    *componenttest.Telemetry
}

// newHarness exports to endpoint (VictoriaLogs' Elasticsearch API, or a proxy to it), telling
// VictoriaLogs which fields hold the time and the message.
func newHarness(t *testing.T, endpoint string, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.ClientConfig.Headers = configopaque.MapList{
		{Name: "VL-Time-Field", Value: "@timestamp"},
		{Name: "VL-Msg-Field", Value: "message"},
	}
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = time.Minute
	cfg.QueueConfig.Get().Batch.Get().FlushTimeout = 50 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logged := observer.New(zap.DebugLevel)
	tel := componenttest.NewTelemetry()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return &harness{t: t, cfg: cfg, exp: exp, logged: logged, tel: tel}
}

// metric sums the data points of a counter whose attributes include attrs.
func (h *harness) metric(name string, attrs ...attribute.KeyValue) int64 {
	return testserver.CounterSum(h.tel, name, attrs...)
}

// sensorEvents runs `/usr/bin/printf %s <prefix>-<i>` n times under the real receiver and
// returns the n process.exec records, in order.
func sensorEvents(t *testing.T, prefix string, n int) []testserver.Event {
	t.Helper()
	s := testserver.StartSensor(t, nil)
	dir := t.TempDir()
	out := make([]testserver.Event, n)
	for i := range n {
		out[i], _ = s.Run(t, dir, "/usr/bin/printf", "%s", fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}

func marker(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

func byExecID(e testserver.Event) string {
	return fmt.Sprintf("process.entity_id:=%q", e.Attr(schema.ExecID).Str())
}

// vlString is a value as VictoriaLogs stores it: numbers in decimal, arrays as JSON.
func vlString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
		b, _ := json.Marshal(v.AsRaw())
		return string(b)
	}
	return v.AsString()
}

func rfc3339(ts pcommon.Timestamp) string {
	return time.Unix(0, int64(ts)).UTC().Format(time.RFC3339Nano)
}

// wantStored is what VictoriaLogs must hold for an ECS document of e in namespace ns,
// computed from the mapping table in internal/schema (not from the encoder).
func wantStored(e testserver.Event, ns string) map[string]string {
	family := schema.Family(e.Record.EventName())
	want := map[string]string{
		"_msg":                  e.Record.Body().Str(),
		"_time":                 rfc3339(e.Record.Timestamp()),
		"ecs.version":           siem.ECSVersion,
		"event.kind":            "event",
		"event.module":          "otelsec",
		"event.dataset":         "otelsec." + family,
		"event.created":         rfc3339(e.Record.ObservedTimestamp()),
		"event.severity":        strconv.Itoa(int(e.Record.SeverityNumber())),
		"data_stream.type":      "logs",
		"data_stream.dataset":   "otelsec." + family,
		"data_stream.namespace": ns,
		"otelsec.event.name":    e.Record.EventName(),
	}
	if ev, ok := schema.LookupEvent(e.Record.EventName()); ok {
		want["event.kind"] = ev.ECSKind
		want["event.action"] = ev.ECSAction
		cat, _ := json.Marshal(ev.ECSCategory)
		want["event.category"] = string(cat)
		ty, _ := json.Marshal(ev.ECSType)
		want["event.type"] = string(ty)
		if ev.ECSOutcome != "" {
			want["event.outcome"] = ev.ECSOutcome
		}
	}
	put := func(k string, v pcommon.Value) {
		a, ok := schema.Lookup(k)
		fields := a.ECSFields()
		if !ok || len(fields) == 0 {
			fields = []string{schema.Unmapped(k)}
		}
		for _, f := range fields {
			if s := vlString(v); s != "" {
				want[f] = s
			}
		}
		for _, d := range schema.DerivedFields {
			if d.From != k || d.ECS == "" {
				continue
			}
			for _, f := range strings.Split(d.ECS, ", ") {
				switch d.How {
				case schema.DeriveBaseName:
					want[f] = path.Base(v.Str())
				case schema.DeriveCount:
					want[f] = strconv.Itoa(v.Slice().Len())
				case schema.DeriveConstant:
					want[f] = d.Constant
				}
			}
		}
	}
	for k, v := range e.Resource.Attributes().All() {
		put(k, v)
	}
	for k, v := range e.Record.Attributes().All() {
		put(k, v)
	}
	return want
}

// assertStored checks a stored row field by field: every wanted field with its value, and no
// field that is not wanted.
func assertStored(t *testing.T, want, row map[string]string) {
	t.Helper()
	for k, w := range want {
		assert.Equal(t, w, row[k], "field %s", k)
	}
	var extra []string
	for k := range row {
		if _, ok := want[k]; !ok && k != "_stream" && k != "_stream_id" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	assert.Empty(t, extra, "stored fields that no attribute explains")
}

// bulkItems returns the action and document lines of a bulk request body.
func bulkItems(t *testing.T, body []byte) (actions, docs []map[string]any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	require.Zero(t, len(lines)%2, "action and document lines")
	for i := 0; i < len(lines); i += 2 {
		var a, d map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &a))
		require.NoError(t, json.Unmarshal([]byte(lines[i+1]), &d))
		actions, docs = append(actions, a), append(docs, d)
	}
	return actions, docs
}

// bulkRequests returns the bulk requests the proxy saw.
func bulkRequests(p *testserver.Proxy) []testserver.Request {
	var out []testserver.Request
	for _, r := range p.Requests() {
		if strings.HasSuffix(r.Path, "/_bulk") {
			out = append(out, r)
		}
	}
	return out
}

// ecs returns a fresh encoder with the harness's namespace.
func (h *harness) ecs() *siem.ECS { return siem.NewECS(h.cfg.Namespace) }
