package otelsecsplunkhecexporter

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
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelsec/otelsec/exporter/otelsecsplunkhecexporter/internal/metadata"
	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/testserver"
)

const testToken = "3f1c0b6e-hec-token"

// harness is the exporter built by its factory, started, with its logs and metrics observed.
type harness struct {
	t      *testing.T
	cfg    *Config
	exp    exporter.Logs
	logged *observer.ObservedLogs
	tel    *componenttest.Telemetry
}

func newHarness(t *testing.T, endpoint string, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.Token = testToken
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
	h := &harness{t: t, cfg: cfg, exp: exp, logged: logged, tel: tel}
	t.Cleanup(func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return h
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

// vlString is a value as VictoriaLogs stores it: numbers in decimal, arrays as JSON.
func vlString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
		b, _ := json.Marshal(v.AsRaw())
		return string(b)
	}
	return v.AsString()
}

// wantStored is what VictoriaLogs must hold for an event sent through HEC with the default
// configuration, computed from the mapping table in internal/schema (not from the encoder):
// every attribute at its CIM field or under otelsec, the derived fields, the envelope.
func wantStored(e testserver.Event) map[string]string {
	want := map[string]string{
		"_msg":                     e.Record.Body().Str(),
		"_time":                    time.Unix(0, int64(e.Record.Timestamp())/1000*1000).UTC().Format(time.RFC3339Nano),
		"source":                   "otelsec",
		"sourcetype":               schema.Sourcetype(schema.Family(e.Record.EventName())),
		"event.vendor_product":     "otelsec",
		"event.otelsec.event.name": e.Record.EventName(),
	}
	if ev, ok := schema.LookupEvent(e.Record.EventName()); ok && ev.CIMAction != "" {
		want["event.action"] = ev.CIMAction
	}
	put := func(k string, v pcommon.Value) {
		a, ok := schema.Lookup(k)
		fields := a.CIMFields()
		if !ok || len(fields) == 0 {
			fields = []string{schema.Unmapped(k)}
		}
		for _, f := range fields {
			if s := vlString(v); s != "" { // VictoriaLogs does not store empty values
				want["event."+f] = s
			}
		}
		for _, d := range schema.DerivedFields {
			if d.From != k || d.CIM == "" {
				continue
			}
			for _, f := range strings.Split(d.CIM, ", ") {
				switch d.How {
				case schema.DeriveBaseName:
					want["event."+f] = path.Base(v.Str())
				case schema.DeriveCount:
					want["event."+f] = strconv.Itoa(v.Slice().Len())
				case schema.DeriveConstant:
					want["event."+f] = d.Constant
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
	if h, ok := e.Resource.Attributes().Get(schema.HostName); ok {
		want["host"] = h.Str()
	}
	return want
}

// assertStored checks a stored row field by field: every wanted field with its value, and no
// event field that is not wanted.
func assertStored(t *testing.T, want, row map[string]string) {
	t.Helper()
	for k, w := range want {
		assert.Equal(t, w, row[k], "field %s", k)
	}
	var extra []string
	for k := range row {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, "event.") {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	assert.Empty(t, extra, "stored fields that no attribute explains")
}

func exportertestSettings() exporter.Settings { return exportertest.NewNopSettings(metadata.Type) }
