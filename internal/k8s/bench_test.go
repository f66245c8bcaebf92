package k8s_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/k8s/k8stest"
)

// BenchmarkPodCacheMemory measures the heap the pod cache holds for 1,000 pods on its node
// (informer store of stripped pods, indexes, owner lookups), listed from a real API server.
// Each pod: 2 containers (one restarted: 3 container ids), 6 labels, 2 annotations, owned by
// one of 20 ReplicaSets of 20 Deployments. Reported as bytes per 1,000 pods.
func BenchmarkPodCacheMemory(b *testing.B) {
	const pods = 1000
	env := k8stest.Start(b)
	env.Namespace(b, "bench")
	ctx := context.Background()
	yes := true
	var rss []*appsv1.ReplicaSet
	for i := range 20 {
		labels := map[string]string{"app": fmt.Sprintf("svc-%d", i)}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
		dep, err := env.Client.AppsV1().Deployments("bench").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
		require.NoError(b, err)
		rs, err := env.Client.AppsV1().ReplicaSets("bench").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-6d5f7c9b8",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: &yes}}},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
		require.NoError(b, err)
		rss = append(rss, rs)
	}
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				rs := rss[i%len(rss)]
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("%s-%05d", rs.Name, i),
						Labels: map[string]string{"app": rs.Spec.Selector.MatchLabels["app"], "pod-template-hash": "6d5f7c9b8",
							"app.kubernetes.io/name": "svc", "app.kubernetes.io/part-of": "shop", "team": "payments", "tier": "backend"},
						Annotations:     map[string]string{"prometheus.io/scrape": "true", "owner": "payments@example.com"},
						OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
					Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{
						{Name: "app", Image: "registry.example.com/shop/app:1.4.2", Env: []corev1.EnvVar{{Name: "MODE", Value: "production"}}},
						{Name: "sidecar", Image: "registry.example.com/mesh/proxy:2.0"},
					}},
				}
				app := k8stest.Running("app", "containerd://"+newID(), "registry.example.com/shop/app@"+digest('a'))
				app.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "containerd://" + newID()}
				env.CreatePod(b, p, &corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
					app, k8stest.Running("sidecar", "containerd://"+newID(), "registry.example.com/mesh/proxy@"+digest('b')),
				}})
			}
		})
	}
	for i := range pods {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("created %d pods in %s", pods, time.Since(start).Round(time.Millisecond))

	var total uint64
	b.ResetTimer()
	for range b.N {
		before := heap()
		c := k8s.New(env.Client, k8s.Options{NodeName: node, Retention: time.Minute, SyncTimeout: time.Minute})
		require.NoError(b, c.Start(ctx))
		require.Eventually(b, func() bool { return c.Stats().Pods == pods }, time.Minute, 10*time.Millisecond)
		after := heap()
		runtime.KeepAlive(c)
		total += after - before
		c.Stop()
	}
	b.ReportMetric(float64(total)/float64(b.N), "bytes/1000pods")
	b.ReportMetric(0, "ns/op")
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
