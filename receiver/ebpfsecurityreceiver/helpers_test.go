package ebpfsecurityreceiver

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs (run the tests with `make test` as root)")
	}
}

// harness runs the real receiver, built by its factory, into in-memory sinks.
type harness struct {
	t       *testing.T
	cfg     *Config
	logs    *consumertest.LogsSink
	metrics *consumertest.MetricsSink
	logged  *observer.ObservedLogs
	comps   []component.Component
	stopped bool
}

func startHarness(t *testing.T, mutate func(*Config), logsConsumer ...consumer.Logs) *harness {
	t.Helper()
	requireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.RingBuffer.FlushInterval = 20 * time.Millisecond
	cfg.CollectionInterval = 50 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())

	core, logged := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	h := &harness{t: t, cfg: cfg, logs: new(consumertest.LogsSink), metrics: new(consumertest.MetricsSink), logged: logged}
	var next consumer.Logs = h.logs
	if len(logsConsumer) > 0 {
		next = logsConsumer[0]
	}
	f := NewFactory()
	lr, err := f.CreateLogs(context.Background(), set, cfg, next)
	require.NoError(t, err)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, h.metrics)
	require.NoError(t, err)
	h.comps = []component.Component{lr, mr}
	for _, c := range h.comps {
		require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) receiver() *ebpfReceiver {
	receivers.mu.Lock()
	defer receivers.mu.Unlock()
	return receivers.m[h.cfg]
}

func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	for _, c := range h.comps {
		require.NoError(h.t, c.Shutdown(context.Background()))
	}
}

// event is one log record with its resource.
type event struct {
	res   pcommon.Map
	rec   plog.LogRecord
	attrs pcommon.Map
}

func (e event) str(key string) string {
	v, ok := e.attrs.Get(key)
	if !ok {
		return ""
	}
	return v.Str()
}

func (e event) int(key string) int64 {
	v, ok := e.attrs.Get(key)
	if !ok {
		return -1
	}
	return v.Int()
}

func (e event) strs(key string) []string {
	v, ok := e.attrs.Get(key)
	if !ok {
		return nil
	}
	var out []string
	for _, x := range v.Slice().All() {
		out = append(out, x.Str())
	}
	return out
}

func (e event) ints(key string) []int64 {
	v, ok := e.attrs.Get(key)
	if !ok {
		return nil
	}
	var out []int64
	for _, x := range v.Slice().All() {
		out = append(out, x.Int())
	}
	return out
}

func (h *harness) events() []event {
	var out []event
	for _, l := range h.logs.AllLogs() {
		for _, rl := range l.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, event{res: rl.Resource().Attributes(), rec: lr, attrs: lr.Attributes()})
				}
			}
		}
	}
	return out
}

// find returns the events named name of pid.
func (h *harness) find(name string, pid int) []event {
	var out []event
	for _, e := range h.events() {
		if e.rec.EventName() == name && e.int(schema.ProcessPID) == int64(pid) {
			out = append(out, e)
		}
	}
	return out
}

// await waits until one event named name of pid arrived, and returns it.
func (h *harness) await(name string, pid int) event {
	h.t.Helper()
	var got []event
	require.Eventually(h.t, func() bool {
		got = h.find(name, pid)
		return len(got) > 0
	}, 10*time.Second, 10*time.Millisecond, "no %s event for pid %d", name, pid)
	return got[0]
}

// checkSchema fails when an attribute is not described in the schema or has another type.
func checkSchema(t *testing.T, e event) {
	t.Helper()
	for _, m := range []pcommon.Map{e.res, e.attrs} {
		for k, v := range m.All() {
			a, ok := schema.Lookup(k)
			require.True(t, ok, "attribute %s is not in internal/schema", k)
			require.Equal(t, a.Type, typeOf(v), "attribute %s", k)
			require.True(t, a.AppliesTo(e.rec.EventName()) || slices.Contains(a.Events, "resource"),
				"attribute %s is not documented for %s", k, e.rec.EventName())
		}
	}
}

func typeOf(v pcommon.Value) schema.Type {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return schema.String
	case pcommon.ValueTypeInt:
		return schema.Int
	case pcommon.ValueTypeBool:
		return schema.Bool
	case pcommon.ValueTypeSlice:
		if v.Slice().Len() > 0 && v.Slice().At(0).Type() == pcommon.ValueTypeInt {
			return schema.IntSlice
		}
		return schema.StringSlice
	}
	return schema.Type(fmt.Sprint(v.Type()))
}

// loaded returns the programs of ids that are still loaded.
func loaded(ids map[string]ebpf.ProgramID) []string {
	var names []string
	for name, id := range ids {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			names = append(names, fmt.Sprintf("%s(%d)", name, id))
		}
	}
	return names
}

var _ receiver.Logs = (*handle)(nil)

func receiverSettings() receiver.Settings { return receivertest.NewNopSettings(metadata.Type) }

func confmapFrom(t *testing.T, m map[string]any) *confmap.Conf {
	t.Helper()
	return confmap.NewFromStringMap(m)
}
