package runtimepolicyextension

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelsec/otelsec/extension/runtimepolicyextension/internal/metadatatest"
	"github.com/otelsec/otelsec/internal/policy"
)

const policyA = `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: miners}
spec:
  rules:
    - {name: xmrig, event: process.exec, action: kill, selectors: {binary: {suffix: [/xmrig]}}}
`

const policyB = `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: imds}
spec:
  mode: monitor
  rules:
    - {name: deny, event: network.connect, action: deny, selectors: {cidrs: [169.254.169.254/32], ports: [80]}}
`

const invalidB = `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: imds}
spec:
  rules:
    - {name: deny, event: network.connect, action: deny, selectors: {cidrs: [169.254.169/32], ports: ["80-"]}}
`

// recorder is a subscriber that keeps every set it is given.
type recorder struct {
	mu   sync.Mutex
	sets []*policy.Set
	fail error
}

func (r *recorder) apply(s *policy.Set) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, s)
	return r.fail
}

func (r *recorder) generations() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, s := range r.sets {
		out = append(out, s.Generation)
	}
	return out
}

func (r *recorder) last() *policy.Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sets[len(r.sets)-1]
}

func names(s *policy.Set) []string {
	var out []string
	for _, r := range s.Rules {
		out = append(out, r.SecurityRuleName())
	}
	return out
}

type harness struct {
	ext  *runtimePolicy
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
}

func start(t *testing.T, cfg *Config) *harness {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	core, logs := observer.New(zapcore.InfoLevel)
	set.Logger = zap.New(core)
	e, err := newExtension(set, cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %s %v", e.Level, e.Message, e.ContextMap())
			}
		}
	})
	return &harness{ext: e, tel: tel, logs: logs}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func (h *harness) messages(level zapcore.Level) []string {
	var out []string
	for _, e := range h.logs.All() {
		if e.Level == level {
			out = append(out, e.Message)
		}
	}
	return out
}

func reloads(applied, unchanged, invalid, rejected int64) []metricdata.DataPoint[int64] {
	var dps []metricdata.DataPoint[int64]
	for _, r := range []struct {
		result string
		n      int64
	}{{resultApplied, applied}, {resultUnchanged, unchanged}, {resultInvalid, invalid}, {resultRejected, rejected}} {
		if r.n > 0 {
			dps = append(dps, metricdata.DataPoint[int64]{Value: r.n, Attributes: attribute.NewSet(attribute.String("result", r.result))})
		}
	}
	return dps
}

// TestFilesHotReload: the first set is published in Start; a change is published once after
// the quiet period; an invalid change keeps the set in force and is logged once with every
// reason; fixing it publishes again.
func TestFilesHotReload(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), policyA)
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{dir}
	cfg.ReloadDelay = 100 * time.Millisecond
	h := start(t, cfg)

	var rec recorder
	unsubscribe := h.ext.Subscribe(rec.apply)
	defer unsubscribe()
	require.Equal(t, []uint64{1}, rec.generations(), "the set in force at once")
	assert.Equal(t, []policy.Rule{{ID: 1, Policy: "miners", Name: "xmrig", Source: filepath.Join(dir, "a.yaml") + "#1", Event: policy.EventExec,
		Action: policy.ActionKill, Signal: 9, Mode: policy.ModeEnforce, Binary: policy.Match{Suffix: []string{"/xmrig"}}}}, rec.last().Rules)
	metadatatest.AssertEqualOtelsecPolicyRules(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtelsecPolicyGeneration(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// An editor's several writes: one new set.
	b := filepath.Join(dir, "b.yaml")
	for i := range 5 {
		write(t, b, policyB[:len(policyB)*(i+1)/5])
		time.Sleep(10 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(rec.generations()) == 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, []uint64{1, 2}, rec.generations(), "one set for the burst of writes")
	assert.Equal(t, []string{"imds/deny", "miners/xmrig"}, names(rec.last()))
	assert.Equal(t, policy.ModeMonitor, rec.last().Rules[0].Mode)

	// Invalid: the previous set stays, the errors are logged once.
	write(t, b, invalidB)
	require.Eventually(t, func() bool { return len(h.messages(zapcore.ErrorLevel)) > 0 }, 5*time.Second, 10*time.Millisecond)
	write(t, b, invalidB) // the same errors: not logged again
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, []uint64{1, 2}, rec.generations())
	assert.Equal(t, []string{"Policy set invalid: the previous set stays in force", "Policy failed"}, h.messages(zapcore.ErrorLevel))
	entry := h.logs.FilterMessage("Policy set invalid: the previous set stays in force").All()[0]
	assert.Equal(t, map[string]any{
		"errors": int64(2),
		"reasons": []any{
			b + `: document 1 (RuntimePolicy "imds"): spec.rules[0].selectors.cidrs[0]: invalid CIDR "169.254.169/32"`,
			b + `: document 1 (RuntimePolicy "imds"): spec.rules[0].selectors.ports[0]: invalid ports "80-" (a port 1 to 65535 or a range such as "8000-8080")`,
		},
		"generation_in_force": uint64(2),
	}, entry.ContextMap())
	failed := h.logs.FilterMessage("Policy failed").All()[0].ContextMap()
	assert.Equal(t, "imds", failed["policy"])
	assert.Equal(t, b+"#1", failed["source"])
	metadatatest.AssertEqualOtelsecPolicyPolicies(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("policy", "miners"), attribute.String("source", filepath.Join(dir, "a.yaml")+"#1"), attribute.String("status", "blocked"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("policy", "imds"), attribute.String("source", b+"#1"), attribute.String("status", "failed"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtelsecPolicyRules(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())

	// Fixed (now in enforce mode): published.
	write(t, b, strings.Replace(policyB, "mode: monitor", "mode: enforce", 1))
	require.Eventually(t, func() bool { return len(rec.generations()) == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, uint64(3), rec.last().Generation)
	assert.Equal(t, []string{"imds/deny", "miners/xmrig"}, names(rec.last()))
	assert.Equal(t, policy.ModeEnforce, rec.last().Rules[0].Mode)
	metadatatest.AssertEqualOtelsecPolicyReloads(t, h.tel, reloads(3, 0, 2, 0), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtelsecPolicyPolicies(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("policy", "miners"), attribute.String("source", filepath.Join(dir, "a.yaml")+"#1"), attribute.String("status", "loaded"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("policy", "imds"), attribute.String("source", b+"#1"), attribute.String("status", "loaded"))},
	}, metricdatatest.IgnoreTimestamp())

	// Unsubscribed: no more sets.
	unsubscribe()
	require.NoError(t, os.Remove(b))
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, []uint64{1, 2, 3}, rec.generations())
}

// TestSubscriberRejects: a set one subscriber refuses is taken back from the others, the
// previous set stays, and it is not offered again until the policies change.
func TestSubscriberRejects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	write(t, file, policyA)
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{file}
	cfg.ReloadDelay = 50 * time.Millisecond
	h := start(t, cfg)

	var first, second recorder
	defer h.ext.Subscribe(first.apply)()
	defer h.ext.Subscribe(second.apply)()
	second.fail = errors.New(`rule imds/deny: deny on network.connect: no backend on this kernel`)
	write(t, file, policyA+"---\n"+policyB)
	require.Eventually(t, func() bool { return len(first.generations()) == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []uint64{1, 2, 1}, first.generations(), "given back the set in force")
	assert.Equal(t, []uint64{1, 2}, second.generations())
	assert.Equal(t, []string{"miners/xmrig"}, names(first.last()))

	// The same content again: not offered again.
	write(t, file, policyA+"---\n"+policyB)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, []uint64{1, 2}, second.generations())
	assert.Len(t, h.logs.FilterMessage("Policy set rejected by a subscriber: the previous set stays in force").All(), 1)
	metadatatest.AssertEqualOtelsecPolicyGeneration(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// Accepted after a change.
	second.mu.Lock()
	second.fail = nil
	second.mu.Unlock()
	write(t, file, policyA+"---\n"+policyB+"    - {name: listen, event: network.listen, action: audit}\n")
	require.Eventually(t, func() bool { return len(second.generations()) == 3 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, uint64(3), second.last().Generation)
	assert.Equal(t, []string{"imds/deny", "imds/listen", "miners/xmrig"}, names(second.last()))
	assert.Equal(t, second.last(), first.last())
}

// TestStartWithInvalidPolicies: Start succeeds, nothing is published until the files are
// fixed; a missing path is an error of the set.
func TestStartWithInvalidPolicies(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	write(t, file, invalidB)
	missing := filepath.Join(dir, "later.yaml")
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{file, missing}
	cfg.ReloadDelay = 50 * time.Millisecond
	h := start(t, cfg)
	var rec recorder
	defer h.ext.Subscribe(rec.apply)()
	assert.Empty(t, rec.generations())
	entry := h.logs.FilterMessage("Policy set invalid: the previous set stays in force").All()
	require.Len(t, entry, 1)
	assert.Equal(t, []any{
		missing + `: cannot stat: no such file or directory`,
		file + `: document 1 (RuntimePolicy "imds"): spec.rules[0].selectors.cidrs[0]: invalid CIDR "169.254.169/32"`,
		file + `: document 1 (RuntimePolicy "imds"): spec.rules[0].selectors.ports[0]: invalid ports "80-" (a port 1 to 65535 or a range such as "8000-8080")`,
	}, entry[0].ContextMap()["reasons"])
	metadatatest.AssertEqualOtelsecPolicyRules(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())

	// Both files right: the watch of their directory sees the new file too.
	write(t, file, policyB)
	write(t, missing, policyA)
	require.Eventually(t, func() bool { return len(rec.generations()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"imds/deny", "miners/xmrig"}, names(rec.last()))
}

// TestConfigMapSwap: a Kubernetes ConfigMap volume replaces its files by swapping the ..data
// symbolic link; the new content is published.
func TestConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, content string) {
		d := filepath.Join(dir, name)
		require.NoError(t, os.Mkdir(d, 0o700))
		write(t, filepath.Join(d, "p.yaml"), content)
	}
	mk("..v1", policyA)
	require.NoError(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink("..data/p.yaml", filepath.Join(dir, "p.yaml")))
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{dir}
	cfg.ReloadDelay = 50 * time.Millisecond
	h := start(t, cfg)
	var rec recorder
	defer h.ext.Subscribe(rec.apply)()
	require.Equal(t, []string{"miners/xmrig"}, names(rec.last()))

	// What the kubelet does: a new directory, a new link, renamed over ..data.
	mk("..v2", policyB)
	require.NoError(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	require.Eventually(t, func() bool { return len(rec.generations()) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"imds/deny"}, names(rec.last()))
}

// TestWatchOff: without watch, changes are not applied.
func TestWatchOff(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), policyA)
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{dir}
	cfg.Watch = false
	cfg.ReloadDelay = 10 * time.Millisecond
	h := start(t, cfg)
	var rec recorder
	defer h.ext.Subscribe(rec.apply)()
	write(t, filepath.Join(dir, "b.yaml"), policyB)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, []uint64{1}, rec.generations())
}

func metadatatestSettings(t *testing.T) extension.Settings {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return metadatatest.NewSettings(tel)
}
