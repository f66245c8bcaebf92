// Package k8stest starts a real Kubernetes API server (kube-apiserver and etcd, through
// controller-runtime's envtest) for tests, and creates the objects a kubelet and the
// controllers would: pods bound to a node, their container statuses, owner chains.
//
// The binaries come from KUBEBUILDER_ASSETS, or from the cache scripts/kube-test-env.sh fills
// ($HOME/.cache/otelsec/kube/v1.35.4/bin); `make test` runs that script first and sets
// OTELSEC_REQUIRE_KUBE=1, which turns a missing API server into a failure instead of a skip.
package k8stest

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Version is the kube-apiserver version scripts/kube-test-env.sh builds.
const Version = "1.35.4"

// Env is a running API server.
type Env struct {
	env *envtest.Environment
	// Config is the administrator's client configuration.
	Config *rest.Config
	// Client is the administrator's clientset.
	Client kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file for the administrator.
	Kubeconfig string

	out *syncBuffer
}

// Assets returns the directory holding kube-apiserver and etcd, or "" with the reason.
func Assets() (string, string) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
			return "", "KUBEBUILDER_ASSETS=" + dir + " has no kube-apiserver"
		}
		return dir, ""
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("OTELSEC_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "otelsec")
	}
	dir := filepath.Join(cache, "kube", "v"+Version, "bin")
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", "no kube-apiserver and etcd: set KUBEBUILDER_ASSETS or run scripts/kube-test-env.sh (make test does)"
		}
	}
	return dir, ""
}

// Start starts an API server for the test and stops it at the test's end. Without the
// binaries the test is skipped, naming what is missing, unless OTELSEC_REQUIRE_KUBE is set
// (make test), where it fails.
func Start(t testing.TB) *Env {
	t.Helper()
	dir, why := Assets()
	if dir == "" {
		if os.Getenv("OTELSEC_REQUIRE_KUBE") != "" {
			t.Fatalf("OTELSEC_REQUIRE_KUBE is set but %s", why)
		}
		t.Skip(why)
	}
	out := &syncBuffer{}
	certs := t.TempDir()
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		ControlPlane: envtest.ControlPlane{
			// A fixed certificate directory keeps the serving certificate across a restart
			// (RestartAPIServer), so clients keep trusting the server.
			APIServer: &envtest.APIServer{CertDir: certs, Out: out, Err: out},
			Etcd:      &envtest.Etcd{Out: out, Err: out},
		},
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Logf("control plane output:\n%s", out.String())
	}
	require.NoError(t, err, "start kube-apiserver and etcd from %s", dir)
	t.Logf("kube-apiserver and etcd started in %s", time.Since(start).Round(time.Millisecond))
	e := &Env{env: env, Config: cfg, out: out}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
		if t.Failed() {
			t.Logf("control plane output (last 8 KiB):\n%s", out.Tail(8<<10))
		}
	})
	// The client's connections are closed at the end, so goleak finds no transport goroutines.
	httpClient, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	t.Cleanup(httpClient.CloseIdleConnections)
	e.Client, err = kubernetes.NewForConfigAndClient(cfg, httpClient)
	require.NoError(t, err)
	e.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(e.Kubeconfig, env.KubeConfig, 0o600))
	return e
}

// User provisions a client-certificate user and returns the path of its kubeconfig. A user
// named system:serviceaccount:NS:NAME is what RBAC bindings to that service account match.
func (e *Env) User(t testing.TB, name string, groups ...string) string {
	t.Helper()
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	require.NoError(t, err)
	kc, err := u.KubeConfig()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, kc, 0o600))
	return path
}

// ReadOnlyPodsUser provisions a user that may only get, list and watch pods, replicasets and
// jobs (what the agent's ClusterRole grants), and returns its kubeconfig path.
func (e *Env) ReadOnlyPodsUser(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := "otelsec-test-reader"
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch"}},
	}
	_, err := e.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	_, err = e.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: name}},
	}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	return e.User(t, name)
}

// RestartAPIServer stops kube-apiserver (etcd keeps running), runs during while it is down,
// and starts it again on the same address with the same certificates. kube-apiserver drains
// open watches for up to a minute on SIGTERM; after 5 s it is killed, as in a crash.
func (e *Env) RestartAPIServer(t testing.TB, during func()) {
	t.Helper()
	api := e.env.ControlPlane.APIServer
	api.StopTimeout = 5 * time.Second
	if err := api.Stop(); err != nil {
		require.ErrorContains(t, err, "timeout waiting for process kube-apiserver to stop")
		t.Logf("kube-apiserver still draining 5s after SIGTERM: killed")
	}
	addr := net.JoinHostPort(api.SecureServing.Address, api.SecureServing.Port)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 30*time.Second, 50*time.Millisecond, "kube-apiserver still listening on %s", addr)
	if during != nil {
		during()
	}
	require.NoError(t, api.Start(), "start kube-apiserver again")
}

// Namespace creates a namespace.
func (e *Env) Namespace(t testing.TB, name string) {
	t.Helper()
	_, err := e.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// CreatePod creates a pod (bound to its spec.nodeName: there is no scheduler) and, when
// status is not nil, sets its status as a kubelet would.
func (e *Env) CreatePod(t testing.TB, pod *corev1.Pod, status *corev1.PodStatus) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	got, err := e.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err, "create pod %s/%s", pod.Namespace, pod.Name)
	if status != nil {
		got = e.SetStatus(t, got, *status)
	}
	return got
}

// SetStatus replaces a pod's status through the status subresource.
func (e *Env) SetStatus(t testing.TB, pod *corev1.Pod, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	cur, err := e.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	cur.Status = status
	got, err := e.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err, "update status of pod %s/%s", pod.Namespace, pod.Name)
	return got
}

// DeletePod deletes a pod at once (grace period 0: there is no kubelet to confirm).
func (e *Env) DeletePod(t testing.TB, namespace, name string) {
	t.Helper()
	zero := int64(0)
	require.NoError(t, e.Client.CoreV1().Pods(namespace).Delete(context.Background(), name,
		metav1.DeleteOptions{GracePeriodSeconds: &zero}))
}

// Running is a container status of a running container.
func Running(name, containerID, imageID string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: name, ContainerID: containerID, ImageID: imageID, Ready: true,
		Image: "unused", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}
}

// syncBuffer collects the control plane's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Tail(n int) string {
	str := s.String()
	if len(str) > n {
		return str[len(str)-n:]
	}
	return str
}
