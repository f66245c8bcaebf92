package runtimepolicyextension

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/policy/policytest"
)

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(js))
	return u
}

const imdsCRD = `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: imds}
spec:
  rules:
    - {name: deny, event: network.connect, action: deny, selectors: {cidrs: [%s], ports: [%d]}}
`

const shopCRD = `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicyNamespaced
metadata: {name: web, namespace: shop}
spec:
  mode: monitor
  rules:
    - name: no-shells
      event: process.exec
      workloads: {podSelector: {matchLabels: {app: web}}}
      selectors: {binary: {suffix: [/sh]}}
      action: kill
`

// TestCRDs runs the extension against a real API server with the policy CRDs installed:
// objects join the set as they are created, updated and deleted; an invalid object keeps
// the previous set in force.
func TestCRDs(t *testing.T) {
	env := k8stest.Start(t)
	policytest.InstallCRDs(t, env.Config, "../../distribution/kubernetes/crds")
	env.Namespace(t, "shop")
	hc, err := rest.HTTPClientFor(env.Config)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	client, err := dynamic.NewForConfigAndClient(env.Config, hc)
	require.NoError(t, err)
	cluster := client.Resource(clusterGVR)
	namespaced := client.Resource(namespacedGVR).Namespace("shop")
	ctx := context.Background()

	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), policyA)
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{dir}
	cfg.ReloadDelay = 100 * time.Millisecond
	cfg.Kubernetes = KubernetesConfig{Enabled: true, AuthType: k8s.AuthKubeConfig, Kubeconfig: env.Kubeconfig, SyncTimeout: 30 * time.Second}
	h := start(t, cfg)
	var rec recorder
	defer h.ext.Subscribe(rec.apply)()
	require.Equal(t, []uint64{1}, rec.generations())
	assert.Equal(t, []string{"miners/xmrig"}, names(rec.last()))

	_, err = cluster.Create(ctx, object(t, fmt.Sprintf(imdsCRD, "169.254.169.254/32", 80)), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rec.generations()) == 2 }, 10*time.Second, 10*time.Millisecond)
	imds := policy.Rule{ID: 1, Policy: "imds", Name: "deny", Source: "crd", Event: policy.EventConnect, Action: policy.ActionDeny, Mode: policy.ModeEnforce,
		CIDRs: rec.last().Rules[0].CIDRs, Ports: []policy.PortRange{{First: 80, Last: 80}}}
	assert.Equal(t, "169.254.169.254/32", imds.CIDRs[0].String())
	assert.Equal(t, imds, rec.last().Rules[0])
	assert.Equal(t, []string{"imds/deny", "miners/xmrig"}, names(rec.last()))

	_, err = namespaced.Create(ctx, object(t, shopCRD), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rec.generations()) == 3 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"imds/deny", "miners/xmrig", "shop/web/no-shells"}, names(rec.last()))
	assert.Equal(t, policy.Rule{ID: 3, Policy: "shop/web", Name: "no-shells", Source: "crd", Event: policy.EventExec, Action: policy.ActionKill,
		Signal: 9, Mode: policy.ModeMonitor, Workload: policy.Workload{Namespaces: []string{"shop"}, PodSelector: "app=web"},
		Binary: policy.Match{Suffix: []string{"/sh"}}}, rec.last().Rules[2])

	// Update: the new port.
	update := func(cidr string, port int) {
		cur, err := cluster.Get(ctx, "imds", metav1.GetOptions{})
		require.NoError(t, err)
		u := object(t, fmt.Sprintf(imdsCRD, cidr, port))
		u.SetResourceVersion(cur.GetResourceVersion())
		_, err = cluster.Update(ctx, u, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	update("169.254.169.254/32", 8080)
	require.Eventually(t, func() bool { return len(rec.generations()) == 4 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []policy.PortRange{{First: 8080, Last: 8080}}, rec.last().Rules[0].Ports)
	assert.Equal(t, uint64(4), rec.last().Generation)

	// Invalid: the previous set stays, the reason is logged.
	update("169.254.169/32", 80)
	require.Eventually(t, func() bool {
		return len(h.logs.FilterMessage("Policy set invalid: the previous set stays in force").All()) == 1
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []any{`crd: RuntimePolicy "imds": spec.rules[0].selectors.cidrs[0]: invalid CIDR "169.254.169/32"`},
		h.logs.FilterMessage("Policy set invalid: the previous set stays in force").All()[0].ContextMap()["reasons"])
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, []uint64{1, 2, 3, 4}, rec.generations())

	// Deleted: the set is valid again, without it.
	require.NoError(t, cluster.Delete(ctx, "imds", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return len(rec.generations()) == 5 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"miners/xmrig", "shop/web/no-shells"}, names(rec.last()))
}

// TestUnreachableAPIServer: Start gives up waiting after sync_timeout and publishes the file
// policies; Shutdown stops the retrying informers (goleak checks it in TestMain).
func TestUnreachableAPIServer(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), policyA)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.Paths = []string{dir}
	cfg.Kubernetes = KubernetesConfig{Enabled: true, AuthType: k8s.AuthKubeConfig, Kubeconfig: kubeconfig, SyncTimeout: 500 * time.Millisecond}
	begin := time.Now()
	h := start(t, cfg)
	assert.Less(t, time.Since(begin), 3*time.Second)
	var rec recorder
	defer h.ext.Subscribe(rec.apply)()
	assert.Equal(t, []string{"miners/xmrig"}, names(rec.last()))
	require.Len(t, h.logs.FilterMessage("Policy CRDs not listed yet: starting with the file policies; the CRDs join the set when the API server answers").All(), 1)
	applied := h.logs.FilterMessage("Policy set applied").All()
	require.Len(t, applied, 1)
	assert.Equal(t, false, applied[0].ContextMap()["kubernetes_synced"])
}

// TestKubernetesConfigErrors: an unusable Kubernetes configuration fails Start.
func TestKubernetesConfigErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Kubernetes = KubernetesConfig{Enabled: true, AuthType: k8s.AuthKubeConfig, Kubeconfig: filepath.Join(t.TempDir(), "none"), SyncTimeout: time.Second}
	e, err := newExtension(metadatatestSettings(t), cfg)
	require.NoError(t, err)
	err = e.Start(context.Background(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubernetes: ")
	require.NoError(t, e.Shutdown(context.Background()))
}
