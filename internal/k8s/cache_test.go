package k8s_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/k8s/k8stest"
)

const node = "node-a"

var idSeq atomic.Uint64

// newID returns a fresh 64-hex container id.
func newID() string { return fmt.Sprintf("%048x%016x", time.Now().UnixNano(), idSeq.Add(1)) }

func digest(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return "sha256:" + string(b)
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return c
}

// startCache runs a Cache for node as a user with the agent's rights only.
func startCache(t *testing.T, env *k8stest.Env, retention time.Duration, kubeconfig ...string) *k8s.Cache {
	t.Helper()
	kc := env.ReadOnlyPodsUser(t)
	if len(kubeconfig) > 0 {
		kc = kubeconfig[0]
	}
	c := k8s.New(clientFor(t, kc), k8s.Options{NodeName: node, Retention: retention, SyncTimeout: 30 * time.Second})
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Stop)
	require.True(t, c.Synced())
	return c
}

func simplePod(ns, name, nodeName string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{NodeName: nodeName},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "registry.example.com/team/" + c + ":1.0"})
	}
	return p
}

func awaitContainer(t *testing.T, c *k8s.Cache, id string) k8s.Match {
	t.Helper()
	var m k8s.Match
	require.Eventually(t, func() bool {
		var ok bool
		m, ok = c.Container(id)
		return ok
	}, 30*time.Second, 10*time.Millisecond, "container %s never resolved", id)
	return m
}

// TestPodAddUpdateDelete: a pod bound to the node resolves by container id and UID with every
// field; a label update shows; after deletion it resolves as deleted until the retention ends.
func TestPodAddUpdateDelete(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	c := startCache(t, env, 2*time.Second)

	id := newID()
	p := simplePod("shop", "web-1", node, "app")
	p.Labels = map[string]string{"app": "web", "tier": "front"}
	p.Annotations = map[string]string{"owner": "payments"}
	p = env.CreatePod(t, p, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "containerd://"+id, "registry.example.com/team/app@"+digest('d')),
	}})

	m := awaitContainer(t, c, id)
	require.NotNil(t, m.Container)
	assert.True(t, m.Deleted.IsZero())
	assert.Equal(t, &k8s.Pod{
		UID: string(p.UID), Name: "web-1", Namespace: "shop", NodeName: node,
		Labels:      []k8s.KeyValue{{Key: "app", Value: "web"}, {Key: "tier", Value: "front"}},
		Annotations: []k8s.KeyValue{{Key: "owner", Value: "payments"}},
		Containers: []k8s.Container{{ID: id, Name: "app", Kind: k8s.Regular, ImageName: "registry.example.com/team/app",
			ImageTag: "1.0", ImageRepoDigest: "registry.example.com/team/app@" + digest('d')}},
	}, m.Pod)
	assert.Equal(t, m.Pod.Containers[0], *m.Container)
	byUID, ok := c.Pod(string(p.UID))
	require.True(t, ok)
	assert.Same(t, m.Pod, byUID.Pod)
	assert.Nil(t, byUID.Container)
	// Any of the runtime's forms of the id resolves.
	_, ok = c.Container("containerd://" + id)
	assert.True(t, ok)

	// Update: a label changes.
	p.Labels["tier"] = "back"
	_, err := env.Client.CoreV1().Pods("shop").Update(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		m, _ := c.Container(id)
		return m.Pod != nil && m.Pod.Labels[1].Value == "back"
	}, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, c.Stats().Pods)

	// Delete: still resolvable, marked deleted, until the retention ends.
	env.DeletePod(t, "shop", "web-1")
	require.Eventually(t, func() bool {
		m, ok := c.Container(id)
		return ok && !m.Deleted.IsZero()
	}, 30*time.Second, 10*time.Millisecond)
	m, _ = c.Container(id)
	assert.Equal(t, "web-1", m.Pod.Name)
	assert.WithinDuration(t, time.Now(), m.Deleted, 5*time.Second)
	pm, ok := c.Pod(string(p.UID))
	require.True(t, ok)
	assert.False(t, pm.Deleted.IsZero())
	st := c.Stats()
	assert.Equal(t, 0, st.Pods)
	assert.Equal(t, 2, st.Deleted, "the pod and its container id")
	require.Eventually(t, func() bool {
		_, ok1 := c.Container(id)
		_, ok2 := c.Pod(string(p.UID))
		return !ok1 && !ok2
	}, 10*time.Second, 50*time.Millisecond, "retention over: gone")
	assert.Equal(t, 0, c.Stats().Deleted)
	assert.Zero(t, c.Stats().DeletedEvicted)
}

// TestOtherNodesPodsAreNotWatched: the field selector keeps the cache to its node.
func TestOtherNodesPodsAreNotWatched(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	c := startCache(t, env, time.Minute)
	other, mine := newID(), newID()
	env.CreatePod(t, simplePod("shop", "elsewhere", "node-b", "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "containerd://"+other, ""),
	}})
	env.CreatePod(t, simplePod("shop", "here", node, "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "containerd://"+mine, ""),
	}})
	awaitContainer(t, c, mine)
	_, ok := c.Container(other)
	assert.False(t, ok, "a pod of another node")
	assert.Equal(t, 1, c.Stats().Pods)
}

// TestContainerRestart: a restarted container has a new id; the previous one (the status's
// lastState) still resolves to the same container, and one restart later the id that drops out
// of the status stays resolvable, as deleted, for the retention.
func TestContainerRestart(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	c := startCache(t, env, 2*time.Second)
	first, second, third := newID(), newID(), newID()
	p := env.CreatePod(t, simplePod("shop", "crashy", node, "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "cri-o://"+first, ""),
	}})
	awaitContainer(t, c, first)

	restarted := func(id, prev string) corev1.PodStatus {
		s := k8stest.Running("app", "cri-o://"+id, "")
		s.RestartCount = 1
		s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "cri-o://" + prev, ExitCode: 137}
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{s}}
	}
	env.SetStatus(t, p, restarted(second, first))
	m := awaitContainer(t, c, second)
	assert.Equal(t, "app", m.Container.Name)
	assert.False(t, m.Container.Previous)
	prev, ok := c.Container(first)
	require.True(t, ok)
	assert.Equal(t, "app", prev.Container.Name)
	assert.True(t, prev.Container.Previous)
	assert.True(t, prev.Deleted.IsZero(), "the previous instance is still in the pod's status")

	env.SetStatus(t, p, restarted(third, second))
	awaitContainer(t, c, third)
	gone, ok := c.Container(first)
	require.True(t, ok, "the id that left the status stays resolvable")
	assert.False(t, gone.Deleted.IsZero())
	assert.Equal(t, "crashy", gone.Pod.Name)
	require.Eventually(t, func() bool { _, ok := c.Container(first); return !ok }, 10*time.Second, 50*time.Millisecond)
	_, ok = c.Container(second)
	assert.True(t, ok, "the previous instance of the running one")
}

// TestInitAndEphemeralContainers: init containers and an ephemeral (kubectl debug) container
// added through the pod's ephemeralcontainers subresource resolve with their kind.
func TestInitAndEphemeralContainers(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	c := startCache(t, env, time.Minute)
	initID, appID, debugID := newID(), newID(), newID()
	p := simplePod("shop", "with-init", node, "app")
	p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "registry.example.com/team/migrate:7"}}
	p = env.CreatePod(t, p, &corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", ContainerID: "containerd://" + initID, Image: "x",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://" + initID}}}},
		ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("app", "containerd://"+appID, "")},
	})
	m := awaitContainer(t, c, initID)
	assert.Equal(t, k8s.Container{ID: initID, Name: "migrate", Kind: k8s.Init, ImageName: "registry.example.com/team/migrate", ImageTag: "7"}, *m.Container)

	// kubectl debug: add an ephemeral container, then the kubelet reports it.
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent,
	}}}
	p, err := env.Client.CoreV1().Pods("shop").UpdateEphemeralContainers(context.Background(), "with-init", p, metav1.UpdateOptions{})
	require.NoError(t, err)
	status := p.Status
	status.EphemeralContainerStatuses = []corev1.ContainerStatus{k8stest.Running("debugger", "containerd://"+debugID, "docker.io/library/busybox@"+digest('b'))}
	env.SetStatus(t, p, status)
	m = awaitContainer(t, c, debugID)
	assert.Equal(t, k8s.Container{ID: debugID, Name: "debugger", Kind: k8s.Ephemeral, ImageName: "busybox", ImageTag: "latest",
		ImageRepoDigest: "docker.io/library/busybox@" + digest('b')}, *m.Container)
	m = awaitContainer(t, c, appID)
	assert.Equal(t, k8s.Regular, m.Container.Kind)
}

// TestOwners: Deployment → ReplicaSet → pod and CronJob → Job → pod resolve to their
// workloads with one lookup per ReplicaSet or Job, as a user with the agent's rights; a user
// who may not read ReplicaSets still gets the Deployment from the ReplicaSet's name.
func TestOwners(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	ctx := context.Background()
	yes := true
	ref := func(kind string, uid types.UID, name string) []metav1.OwnerReference {
		api := map[string]string{"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "CronJob": "batch/v1", "Job": "batch/v1"}[kind]
		return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: name, UID: uid, Controller: &yes}}
	}
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}

	dep, err := env.Client.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	rs, err := env.Client.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c8f6", OwnerReferences: ref("Deployment", dep.UID, "web")},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cj, err := env.Client.BatchV1().CronJobs("shop").Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: tmpl.Spec.Containers}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	job, err := env.Client.BatchV1().Jobs("shop").Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-29411520", OwnerReferences: ref("CronJob", cj.UID, "backup")},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: tmpl.Spec.Containers}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	c := startCache(t, env, time.Minute)
	var webIDs []string
	for i := range 3 {
		id := newID()
		webIDs = append(webIDs, id)
		p := simplePod("shop", fmt.Sprintf("web-7d4b9c8f6-%d", i), node, "app")
		p.Labels = map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6"}
		p.OwnerReferences = ref("ReplicaSet", rs.UID, rs.Name)
		env.CreatePod(t, p, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("app", "containerd://"+id, "")}})
	}
	jobID := newID()
	jp := simplePod("shop", "backup-29411520-x7k2p", node, "app")
	jp.OwnerReferences = ref("Job", job.UID, job.Name)
	env.CreatePod(t, jp, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("app", "containerd://"+jobID, "")}})
	stsID := newID()
	sp := simplePod("shop", "db-0", node, "app")
	sp.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "5f0c1b0e-0000-4000-8000-000000000001", Controller: &yes}}
	env.CreatePod(t, sp, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("app", "containerd://"+stsID, "")}})
	dsID := newID()
	dp := simplePod("shop", "agent-x2x9k", node, "app")
	dp.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "5f0c1b0e-0000-4000-8000-000000000002", Controller: &yes}}
	env.CreatePod(t, dp, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("app", "containerd://"+dsID, "")}})

	type owners struct{ rs, dep, sts, ds, job, cj string }
	get := func(id string) owners {
		p := awaitContainer(t, c, id).Pod
		return owners{p.ReplicaSet, p.Deployment, p.StatefulSet, p.DaemonSet, p.Job, p.CronJob}
	}
	for _, id := range webIDs {
		assert.Equal(t, owners{rs: "web-7d4b9c8f6", dep: "web"}, get(id))
	}
	assert.Equal(t, owners{job: "backup-29411520", cj: "backup"}, get(jobID))
	assert.Equal(t, owners{sts: "db"}, get(stsID))
	assert.Equal(t, owners{ds: "agent"}, get(dsID))
	st := c.Stats()
	assert.Equal(t, uint64(2), st.OwnerLookups, "one lookup for the ReplicaSet of three pods, one for the Job")
	assert.Zero(t, st.OwnerFailures)

	// A user who may read pods only: the ReplicaSet lookup is refused (counted), the
	// Deployment still comes from the ReplicaSet's name and the pod-template-hash label; the
	// CronJob stays unknown.
	podsOnly := env.User(t, "pods-only")
	_, err = env.Client.RbacV1().ClusterRoleBindings().Create(ctx, podsOnlyBinding(), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = env.Client.RbacV1().ClusterRoles().Create(ctx, podsOnlyRole(), metav1.CreateOptions{})
	require.NoError(t, err)
	limited := k8s.New(clientFor(t, podsOnly), k8s.Options{NodeName: node, Retention: time.Minute, SyncTimeout: 30 * time.Second})
	require.NoError(t, limited.Start(ctx))
	t.Cleanup(limited.Stop)
	p := awaitContainer(t, limited, webIDs[0]).Pod
	assert.Equal(t, "web", p.Deployment)
	p = awaitContainer(t, limited, jobID).Pod
	assert.Equal(t, "backup-29411520", p.Job)
	assert.Equal(t, "", p.CronJob)
	st = limited.Stats()
	assert.Equal(t, uint64(2), st.OwnerFailures)
	assert.Equal(t, uint64(2), st.OwnerLookups)
}

// TestAPIServerRestart: the informer survives kube-apiserver going away and coming back:
// what it knew stays resolvable meanwhile, and pods created after the restart arrive.
func TestAPIServerRestart(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "shop")
	core, logged := observer.New(zap.WarnLevel)
	c := k8s.New(clientFor(t, env.Kubeconfig), k8s.Options{NodeName: node, Retention: time.Minute, SyncTimeout: 30 * time.Second, Logger: zap.New(core)})
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Stop)
	before := newID()
	env.CreatePod(t, simplePod("shop", "before", node, "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "containerd://"+before, ""),
	}})
	awaitContainer(t, c, before)

	env.RestartAPIServer(t, func() {
		// While the API server is down (the informer retries its watch), what was known
		// still resolves.
		time.Sleep(2 * time.Second)
		m, ok := c.Container(before)
		assert.True(t, ok)
		assert.True(t, m.Deleted.IsZero())
	})
	restarted := time.Now()
	after := newID()
	env.CreatePod(t, simplePod("shop", "after", node, "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
		k8stest.Running("app", "containerd://"+after, ""),
	}})
	m := awaitContainer(t, c, after)
	assert.Equal(t, "after", m.Pod.Name)
	t.Logf("a pod created after the restart arrived %s after it", time.Since(restarted).Round(time.Millisecond))
	env.DeletePod(t, "shop", "before")
	require.Eventually(t, func() bool { m, ok := c.Container(before); return ok && !m.Deleted.IsZero() }, 60*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, c.Stats().Pods)
	t.Logf("watch errors reported: %d, warnings logged: %d", c.Stats().WatchErrors, logged.Len())
}

// TestMaxDeletedBoundsMemory: past MaxDeleted, the oldest deleted pods are dropped (counted)
// before their retention ends.
func TestMaxDeletedBoundsMemory(t *testing.T) {
	env := k8stest.Start(t)
	env.Namespace(t, "batch")
	c := k8s.New(clientFor(t, env.Kubeconfig), k8s.Options{NodeName: node, Retention: time.Hour, MaxDeleted: 4, SyncTimeout: 30 * time.Second})
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Stop)
	var ids []string
	for i := range 4 {
		id := newID()
		ids = append(ids, id)
		env.CreatePod(t, simplePod("batch", fmt.Sprintf("p%d", i), node, "app"), &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			k8stest.Running("app", "containerd://"+id, ""),
		}})
		awaitContainer(t, c, id)
	}
	for i := range 4 {
		env.DeletePod(t, "batch", fmt.Sprintf("p%d", i))
	}
	require.Eventually(t, func() bool { return c.Stats().Pods == 0 }, 30*time.Second, 10*time.Millisecond)
	st := c.Stats()
	assert.Equal(t, 4, st.Deleted, "two pods and their container ids")
	assert.Equal(t, uint64(4), st.DeletedEvicted, "the two oldest pods and their ids")
	for i, id := range ids {
		_, ok := c.Container(id)
		assert.Equal(t, i >= 2, ok, "pod %d", i)
	}
}

// TestSharedCache: components with the same key share one Cache (one informer); the last
// release stops it. Without a cluster Acquire says so once.
func TestSharedCache(t *testing.T) {
	env := k8stest.Start(t)
	key := k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthKubeConfig, Kubeconfig: env.Kubeconfig}, NodeName: node}
	a, err := k8s.Acquire(context.Background(), key, time.Second, zap.NewNop())
	require.NoError(t, err)
	b, err := k8s.Acquire(context.Background(), key, time.Minute, zap.NewNop())
	require.NoError(t, err)
	assert.Same(t, a.Cache, b.Cache)
	a.Release()
	a.Release() // twice is harmless
	c, err := k8s.Acquire(context.Background(), key, time.Second, zap.NewNop())
	require.NoError(t, err)
	assert.Same(t, b.Cache, c.Cache)
	b.Release()
	c.Release()
	d, err := k8s.Acquire(context.Background(), key, time.Second, zap.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, c.Cache, d.Cache, "the last release stopped the cache; a new one starts")
	d.Release()

	_, err = k8s.Acquire(context.Background(), k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthKubeConfig, Kubeconfig: env.Kubeconfig}}, 0, zap.NewNop())
	require.ErrorContains(t, err, "the node name is empty and $NODE_NAME is not set")
}

func TestNoCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	core, logged := observer.New(zap.InfoLevel)
	key := k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthAuto}, NodeName: "no-cluster-test"}
	for range 3 {
		_, err := k8s.Acquire(context.Background(), key, 0, zap.New(core))
		require.ErrorIs(t, err, k8s.ErrNoCluster)
	}
	lines := logged.FilterMessage("No Kubernetes cluster: telemetry passes through without Kubernetes metadata").All()
	require.Len(t, lines, 1, "said once")
	assert.Equal(t, "no Kubernetes cluster: not in a pod (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig configured", lines[0].ContextMap()["reason"])

	_, err := k8s.Acquire(context.Background(), k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthServiceAccount}, NodeName: "x"}, 0, zap.New(core))
	require.ErrorContains(t, err, "in-cluster service account: unable to load in-cluster configuration")
	require.NotErrorIs(t, err, k8s.ErrNoCluster, "a required cluster that is not there is an error")
	_, err = k8s.Acquire(context.Background(), k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthKubeConfig, Kubeconfig: "/nonexistent/kubeconfig"}, NodeName: "x"}, 0, zap.New(core))
	require.EqualError(t, err, "kubeconfig: stat /nonexistent/kubeconfig: no such file or directory")
}

func podsOnlyRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pods-only"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
	}}
}

func podsOnlyBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pods-only"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "pods-only"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "pods-only"}},
	}
}
