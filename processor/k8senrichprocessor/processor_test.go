package k8senrichprocessor

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/metadatatest"
)

const testNode = "node-a"

var idSeq atomic.Uint64

func newID() string { return fmt.Sprintf("%048x%016x", time.Now().UnixNano(), idSeq.Add(1)) }

const imageDigest = "registry.example.com/shop/web@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// harness runs the logs and metrics processors, built by the factory, against a real API
// server as a user with the agent's rights, into sinks.
type harness struct {
	t       *testing.T
	env     *k8stest.Env
	tel     *componenttest.Telemetry // the logs processor's
	telM    *componenttest.Telemetry // the metrics processor's
	logs    *consumertest.LogsSink
	metrics *consumertest.MetricsSink
	lp      processor.Logs
	mp      processor.Metrics
	logged  *observer.ObservedLogs
	stopped bool
}

func startHarness(t *testing.T, env *k8stest.Env, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.AuthType = "kubeConfig"
	cfg.NodeName = testNode
	if env != nil {
		cfg.Kubeconfig = env.ReadOnlyPodsUser(t)
	}
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, env: env, tel: componenttest.NewTelemetry(), telM: componenttest.NewTelemetry(),
		logs: new(consumertest.LogsSink), metrics: new(consumertest.MetricsSink)}
	t.Cleanup(func() {
		require.NoError(t, h.tel.Shutdown(context.Background()))
		require.NoError(t, h.telM.Shutdown(context.Background()))
	})
	core, logged := observer.New(zap.InfoLevel)
	h.logged = logged
	set := metadatatest.NewSettings(h.tel)
	set.Logger = zap.New(core)
	f := NewFactory()
	var err error
	h.lp, err = f.CreateLogs(context.Background(), set, cfg, h.logs)
	require.NoError(t, err)
	setM := metadatatest.NewSettings(h.telM)
	setM.Logger = set.Logger
	h.mp, err = f.CreateMetrics(context.Background(), setM, cfg, h.metrics)
	require.NoError(t, err)
	require.NoError(t, h.lp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, h.mp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	require.NoError(h.t, h.lp.Shutdown(context.Background()))
	require.NoError(h.t, h.mp.Shutdown(context.Background()))
}

// logsOf builds logs with one resource per attribute map and one record per resource, whose
// body names the resource's index.
func logsOf(resources ...map[string]any) plog.Logs {
	ld := plog.NewLogs()
	for i, r := range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		if err := rl.Resource().Attributes().FromRaw(r); err != nil {
			panic(err)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName(s.EventProcessExec)
		lr.Body().SetStr(fmt.Sprintf("record %d", i))
	}
	return ld
}

// received returns each resource the logs sink got, by its record's body.
func (h *harness) received() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, ld := range h.logs.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out[lr.Body().Str()] = rl.Resource().Attributes().AsRaw()
				}
			}
		}
	}
	return out
}

func (h *harness) await(body string) map[string]any {
	h.t.Helper()
	var got map[string]any
	require.Eventually(h.t, func() bool {
		var ok bool
		got, ok = h.received()[body]
		return ok
	}, 30*time.Second, 5*time.Millisecond, "%s never passed the processor", body)
	return got
}

func outcomePoints(kv ...any) []metricdata.DataPoint[int64] {
	var dps []metricdata.DataPoint[int64]
	for i := 0; i < len(kv); i += 2 {
		dps = append(dps, metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.String("otelsec.k8senrich.outcome", kv[i].(string))),
			Value:      int64(kv[i+1].(int)),
		})
	}
	return dps
}

func (h *harness) assertOutcomes(kv ...any) {
	h.t.Helper()
	metadatatest.AssertEqualOtelsecK8senrichRecords(h.t, h.tel, outcomePoints(kv...), metricdatatest.IgnoreTimestamp())
}

func running(name, id, imageID string) *corev1.PodStatus {
	return &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running(name, "containerd://"+id, imageID)}}
}

func webPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			Labels:      map[string]string{"app": "web", "team.example.com/owner": "payments", "pod-template-hash": "7d4b9c8f6"},
			Annotations: map[string]string{"owner": "alice", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
		},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/shop/web:1.4.2"}}},
	}
}

// TestEnrichLogsAndMetrics: a Deployment's pod: every attribute of the list on its
// container's resource, exactly, on logs and metrics; a host resource gets the node and
// cluster only.
func TestEnrichLogsAndMetrics(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	ctx := context.Background()
	yes := true
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}}}
	dep, err := env.Client.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	require.NoError(t, err)
	rs, err := env.Client.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c8f6",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	require.NoError(t, err)

	h := startHarness(t, env, func(c *Config) {
		c.ClusterName = "prod-eu-1"
		c.PodLabels = KeyFilter{Keys: []string{"app"}, KeyRegex: []string{`team\..*`}}
		c.PodAnnotations = KeyFilter{Keys: []string{"owner"}}
	})
	id := newID()
	p := webPod("web-7d4b9c8f6-x2x9k")
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}
	p = env.CreatePod(t, p, running("web", id, imageDigest))

	want := map[string]any{
		s.ContainerID: id, s.K8sPodUID: string(p.UID), "host.name": testNode,
		s.K8sPodName: "web-7d4b9c8f6-x2x9k", s.K8sNamespaceName: "shop", s.K8sNodeName: testNode,
		s.K8sContainerName: "web", s.ContainerImageName: "registry.example.com/shop/web",
		s.ContainerImageTags: []any{"1.4.2"}, s.ContainerImageDigests: []any{imageDigest},
		s.K8sReplicaSetName: "web-7d4b9c8f6", s.K8sDeploymentName: "web", s.K8sClusterName: "prod-eu-1",
		"k8s.pod.label.app": "web", "k8s.pod.label.team.example.com/owner": "payments", "k8s.pod.annotation.owner": "alice",
	}
	container := map[string]any{s.ContainerID: id, s.K8sPodUID: string(p.UID), "host.name": testNode}
	host := map[string]any{"host.name": testNode}
	require.NoError(t, h.lp.ConsumeLogs(ctx, logsOf(container, host)))
	assert.Equal(t, want, h.await("record 0"))
	assert.Equal(t, map[string]any{"host.name": testNode, s.K8sNodeName: testNode, s.K8sClusterName: "prod-eu-1"}, h.await("record 1"))
	h.assertOutcomes(outcomeEnriched, 1, outcomeNoPod, 1)
	for k, v := range want {
		a, ok := s.LookupK8s(k)
		if k == s.ContainerID || k == "host.name" || k == s.K8sPodUID {
			continue
		}
		require.True(t, ok, "%s is in internal/schema", k)
		assert.Equal(t, a.Type == s.StringSlice, fmt.Sprint(v)[0] == '[', "type of %s", k)
		assert.Equal(t, []string{"resource"}, a.Events)
	}

	// Metrics: a sum with two data points.
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	require.NoError(t, rm.Resource().Attributes().FromRaw(container))
	sum := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptySum()
	sum.DataPoints().AppendEmpty().SetIntValue(1)
	sum.DataPoints().AppendEmpty().SetIntValue(2)
	require.NoError(t, h.mp.ConsumeMetrics(ctx, md))
	require.Len(t, h.metrics.AllMetrics(), 1)
	assert.Equal(t, want, h.metrics.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw())
	metadatatest.AssertEqualOtelsecK8senrichRecords(t, h.telM, outcomePoints(outcomeEnriched, 2), metricdatatest.IgnoreTimestamp())
	h.assertOutcomes(outcomeEnriched, 1, outcomeNoPod, 1)
	// The shared cache's numbers are reported once, by the first processor that started.
	metadatatest.AssertEqualOtelsecK8senrichPods(t, h.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("otelsec.k8senrich.pod.state", "live")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("otelsec.k8senrich.pod.state", "deleted")), Value: 0},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtelsecK8senrichOwnerLookups(t, h.tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("otelsec.k8senrich.result", "ok")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("otelsec.k8senrich.result", "failed")), Value: 0},
	}, metricdatatest.IgnoreTimestamp())
	_, err = h.telM.GetMetric("otelcol_otelsec_k8senrich_pods")
	require.ErrorContains(t, err, "not found")
}

// TestHeldUntilTheContainerIsKnown: the kubelet reports a container's id after its first
// processes ran. Their data waits for it, then passes enriched, long before the wait ends.
func TestHeldUntilTheContainerIsKnown(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	h := startHarness(t, env, func(c *Config) { c.WaitForMetadata = time.Minute })
	p := env.CreatePod(t, webPod("web-1"), nil) // scheduled, no container status yet
	id := newID()
	ctx := context.Background()
	res := map[string]any{s.ContainerID: id, s.K8sPodUID: string(p.UID)}
	require.NoError(t, h.lp.ConsumeLogs(ctx, logsOf(res)))
	// A second batch of the same container queues behind the first.
	second := logsOf(res)
	second.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetStr("record 1")
	require.NoError(t, h.lp.ConsumeLogs(ctx, second))
	assert.Empty(t, h.logs.AllLogs(), "held")
	metadatatest.AssertEqualOtelsecK8senrichHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())

	start := time.Now()
	env.SetStatus(t, p, *running("web", id, imageDigest))
	got := h.await("record 1")
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, "web", got[s.K8sContainerName])
	assert.Equal(t, "web-1", got[s.K8sPodName])
	require.Len(t, h.logs.AllLogs(), 2)
	assert.Equal(t, "record 0", h.logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(), "order kept")
	h.assertOutcomes(outcomeEnriched, 2)
	metadatatest.AssertEqualOtelsecK8senrichRecordsHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualOtelsecK8senrichHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

// TestUnknownContainer: data of a container id the API server never reports waits
// wait_for_metadata, then passes: with its pod's attributes when the pod is known, without
// when not; both counted.
func TestUnknownContainer(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	wait := 500 * time.Millisecond
	h := startHarness(t, env, func(c *Config) { c.WaitForMetadata = wait })
	p := env.CreatePod(t, webPod("web-1"), running("web", newID(), ""))
	unknownPod := map[string]any{s.ContainerID: newID(), s.K8sPodUID: "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f"}
	knownPod := map[string]any{s.ContainerID: newID(), s.K8sPodUID: string(p.UID)}
	notAPod := map[string]any{s.ContainerID: newID()} // docker run on the node: no pod cgroup
	start := time.Now()
	require.NoError(t, h.lp.ConsumeLogs(context.Background(), logsOf(unknownPod, knownPod, notAPod)))
	assert.Equal(t, map[string]any{s.ContainerID: notAPod[s.ContainerID], s.K8sNodeName: testNode}, h.await("record 2"), "not held")
	assert.Less(t, time.Since(start), wait)
	assert.Equal(t, map[string]any{s.ContainerID: unknownPod[s.ContainerID], s.K8sPodUID: unknownPod[s.K8sPodUID], s.K8sNodeName: testNode}, h.await("record 0"))
	assert.GreaterOrEqual(t, time.Since(start), wait)
	assert.Equal(t, map[string]any{
		s.ContainerID: knownPod[s.ContainerID], s.K8sPodUID: string(p.UID), s.K8sNodeName: testNode, s.K8sPodName: "web-1", s.K8sNamespaceName: "shop",
		"k8s.pod.label.app": "web", "k8s.pod.label.team.example.com/owner": "payments", "k8s.pod.label.pod-template-hash": "7d4b9c8f6",
	}, h.await("record 1"), "pod attributes, no container attributes")
	h.assertOutcomes(outcomeNotFound, 2, outcomePodOnly, 1)
	metadatatest.AssertEqualOtelsecK8senrichRecordsHeld(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
}

// TestDeletedPodGrace: data arriving after its pod was deleted is enriched within
// deleted_pod_grace, and passes without after it.
func TestDeletedPodGrace(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	grace := 3 * time.Second
	h := startHarness(t, env, func(c *Config) { c.DeletedPodGrace = grace; c.WaitForMetadata = 100 * time.Millisecond })
	id := newID()
	p := env.CreatePod(t, webPod("short-lived"), running("web", id, ""))
	res := map[string]any{s.ContainerID: id, s.K8sPodUID: string(p.UID)}
	ctx := context.Background()
	require.NoError(t, h.lp.ConsumeLogs(ctx, logsOf(res)))
	assert.Equal(t, "short-lived", h.await("record 0")[s.K8sPodName])

	env.DeletePod(t, "shop", "short-lived")
	h2 := h.lp.(*logsProcessor).handle.Load()
	require.Eventually(t, func() bool { return h2.Stats().Pods == 0 }, 30*time.Second, 5*time.Millisecond)
	deleted := time.Now()
	after := logsOf(res)
	after.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetStr("after delete")
	require.NoError(t, h.lp.ConsumeLogs(ctx, after))
	got := h.await("after delete")
	assert.Equal(t, "short-lived", got[s.K8sPodName])
	assert.Equal(t, "web", got[s.K8sContainerName])
	h.assertOutcomes(outcomeEnriched, 1, outcomeDeletedPod, 1)

	time.Sleep(time.Until(deleted.Add(grace + 500*time.Millisecond)))
	late := logsOf(res)
	late.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().SetStr("after grace")
	require.NoError(t, h.lp.ConsumeLogs(ctx, late))
	assert.Equal(t, map[string]any{s.ContainerID: id, s.K8sPodUID: string(p.UID), s.K8sNodeName: testNode}, h.await("after grace"))
	h.assertOutcomes(outcomeEnriched, 1, outcomeDeletedPod, 1, outcomeNotFound, 1)
}

// TestHoldIsBounded: past max_held_records data passes at once, counted as overflow; at
// shutdown what is held passes on, counted.
func TestHoldIsBounded(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	h := startHarness(t, env, func(c *Config) { c.WaitForMetadata = time.Hour; c.MaxHeldRecords = 2 })
	var res []map[string]any
	for range 3 {
		res = append(res, map[string]any{s.ContainerID: newID(), s.K8sPodUID: "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f"})
	}
	require.NoError(t, h.lp.ConsumeLogs(context.Background(), logsOf(res...)))
	assert.Equal(t, []string{"record 2"}, keys(h.received()))
	h.assertOutcomes(outcomeOverflow, 1)
	h.stop()
	assert.Equal(t, []string{"record 0", "record 1", "record 2"}, keys(h.received()))
	h.assertOutcomes(outcomeOverflow, 1, outcomeShutdown, 2)
}

// TestNoClusterPassesThrough: with no cluster the data leaves unchanged, and the collector
// says so once however many processors there are.
func TestNoClusterPassesThrough(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	h := startHarness(t, nil, func(c *Config) { c.AuthType = "auto"; c.NodeName = "no-cluster-processor-test" })
	in := logsOf(map[string]any{s.ContainerID: newID(), s.K8sPodUID: "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f"}, map[string]any{"host.name": "h"})
	want := plog.NewLogs()
	in.CopyTo(want)
	require.NoError(t, h.lp.ConsumeLogs(context.Background(), in))
	require.Len(t, h.logs.AllLogs(), 1)
	assert.Equal(t, want, h.logs.AllLogs()[0])
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr(s.ContainerID, "x")
	require.NoError(t, h.mp.ConsumeMetrics(context.Background(), md))
	assert.Equal(t, map[string]any{s.ContainerID: "x"}, h.metrics.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw())
	assert.Len(t, h.logged.FilterMessage("No Kubernetes cluster: telemetry passes through without Kubernetes metadata").All(), 1)
	_, err := h.tel.GetMetric("otelcol_otelsec_k8senrich_records")
	require.ErrorContains(t, err, "not found", "nothing counted: the processor is not in the way")
}

// TestStartFailsOnAConfiguredClusterItCannotUse: a configured cluster that cannot be used is
// an error at start, naming the cause.
func TestStartFailsOnAConfiguredClusterItCannotUse(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.AuthType, cfg.Kubeconfig, cfg.NodeName = "kubeConfig", "/nonexistent/kubeconfig", "n"
	p, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.EqualError(t, p.Start(context.Background(), componenttest.NewNopHost()), "k8senrich: kubeconfig: stat /nonexistent/kubeconfig: no such file or directory")
	require.NoError(t, p.Shutdown(context.Background()))

	env := k8stest.Start(t)
	t.Setenv("NODE_NAME", "")
	cfg.Kubeconfig, cfg.NodeName = env.Kubeconfig, ""
	p, err = NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), "k8senrich: the node name is empty and $NODE_NAME is not set")
	require.NoError(t, p.Shutdown(context.Background()))
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
