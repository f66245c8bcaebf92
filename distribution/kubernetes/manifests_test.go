// Package kubernetes holds the plain Kubernetes manifests of the otelsec agent; its tests
// check them and every rendering of the Helm chart (distribution/helm/otelsec).
package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/xconfmap"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/processor/k8senrichprocessor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver"
)

const chartDir = "../helm/otelsec"

// decodeStrict decodes every document of a multi-document YAML stream into its Kubernetes
// API type; an unknown kind, an unknown or duplicate field is an error naming the document.
func decodeStrict(t *testing.T, where string, data []byte) []client.Object {
	t.Helper()
	ser := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	r := utilyaml.NewYAMLReader(bufioReader(data))
	var out []client.Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, where)
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := ser.Decode(doc, nil, nil)
		require.NoError(t, err, "%s: document %d", where, i)
		out = append(out, obj.(client.Object))
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			b.Write(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// manifests decodes every file of distribution/kubernetes.
func manifests(t *testing.T) []client.Object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out []client.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, decodeStrict(t, f, data)...)
	}
	return out
}

// render runs the pinned helm CLI (tools/go.mod) on the chart.
func render(t *testing.T, namespace string, args ...string) []client.Object {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=../../tools/go.mod", "helm", "template", "otelsec", chartDir,
		"--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "helm template %v: %s", args, stderr.String())
	return decodeStrict(t, "helm template "+strings.Join(args, " "), out)
}

func find[T client.Object](t *testing.T, objs []client.Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if x, ok := o.(T); ok && o.GetName() == name {
			return x
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

func kinds(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		gvk, _, _ := scheme.Scheme.ObjectKinds(o)
		out = append(out, gvk[0].Kind+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	ser := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	_, _, err := ser.Decode([]byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\nautomountToken: true\n"), nil, nil)
	require.ErrorContains(t, err, `unknown field "automountToken"`)
}

// agent describes what a rendering must contain.
type agent struct {
	namespace, name, serviceAccount, image string
	capabilities                           []corev1.Capability
	exporters                              []string
	healthPort, metricsPort                int32
}

// checkAgent checks the objects every rendering has, field by field.
func checkAgent(t *testing.T, objs []client.Object, a agent) {
	t.Helper()
	sa := find[*corev1.ServiceAccount](t, objs, a.serviceAccount)
	assert.Equal(t, a.namespace, sa.Namespace)

	role := find[*rbacv1.ClusterRole](t, objs, a.name)
	read := []string{"get", "list", "watch"}
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: read},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: read},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: read},
		{APIGroups: []string{"otelsec.io"}, Resources: []string{"runtimepolicies", "runtimepolicynamespaceds"}, Verbs: read},
	}, role.Rules, "least rights: read pods, replicasets, jobs and the policies")
	binding := find[*rbacv1.ClusterRoleBinding](t, objs, a.name)
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: a.name}, binding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: a.serviceAccount, Namespace: a.namespace}}, binding.Subjects)

	ds := find[*appsv1.DaemonSet](t, objs, a.name)
	assert.Equal(t, a.namespace, ds.Namespace)
	spec := ds.Spec.Template.Spec
	assert.True(t, spec.HostPID)
	assert.Equal(t, a.serviceAccount, spec.ServiceAccountName)
	assert.NotEmpty(t, spec.PriorityClassName)
	assert.NotEmpty(t, spec.Tolerations)
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	assert.Equal(t, a.image, c.Image)
	assert.Equal(t, []string{"--config=/conf/config.yaml"}, c.Args)
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, ptr(false), sc.Privileged, "capabilities, not privileged")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, a.capabilities, sc.Capabilities.Add)
	assert.Equal(t, ptr(int64(0)), sc.RunAsUser)
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem)
	// NODE_NAME from the downward API.
	env := map[string]string{}
	for _, e := range c.Env {
		require.NotNil(t, e.ValueFrom, e.Name)
		if e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	assert.Equal(t, map[string]string{"NODE_NAME": "spec.nodeName", "POD_IP": "status.podIP"}, env)
	// Probes on the health_check extension's port.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	assert.Equal(t, map[string]int32{"health": a.healthPort, "metrics": a.metricsPort}, ports)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		assert.Equal(t, "health", p.HTTPGet.Port.StrVal)
	}
	require.NotNil(t, c.Resources.Requests.Cpu())
	assert.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit")
	assert.False(t, c.Resources.Requests.Memory().IsZero(), "memory request")
	// The host mounts the sensors need.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	assert.Equal(t, map[string]string{"proc": "/proc", "btf": "/sys/kernel/btf", "bpffs": "/sys/fs/bpf", "cgroup": "/sys/fs/cgroup",
		"tracefs": "/sys/kernel/tracing", "securityfs": "/sys/kernel/security"}, hostPaths)
	assert.Equal(t, map[string]string{"config": "/conf", "policies": "/etc/otelsec/policies", "proc": "/host/proc", "btf": "/sys/kernel/btf",
		"bpffs": "/sys/fs/bpf", "cgroup": "/sys/fs/cgroup", "tracefs": "/sys/kernel/tracing", "securityfs": "/sys/kernel/security"}, mounts)

	// The collector configuration: receiver → memory_limiter → k8senrich → batch → exporters.
	cm := find[*corev1.ConfigMap](t, objs, a.name)
	conf := collectorConfig(t, cm)
	for _, p := range []string{"logs", "metrics"} {
		assert.Equal(t, []any{"ebpfsecurity"}, conf.Get("service::pipelines::"+p+"::receivers"))
		assert.Equal(t, []any{"memory_limiter", "k8senrich", "batch"}, conf.Get("service::pipelines::"+p+"::processors"))
		var exporters []string
		for _, e := range conf.Get("service::pipelines::" + p + "::exporters").([]any) {
			exporters = append(exporters, e.(string))
		}
		assert.Equal(t, a.exporters, exporters)
	}
	assert.Equal(t, "${env:NODE_NAME}", conf.Get("processors::k8senrich::node_name"))
	assert.Equal(t, "/host/proc", conf.Get("receivers::ebpfsecurity::proc_path"))
}

// collectorConfig parses the collector configuration of the ConfigMap and validates the
// settings of otelsec's own components with their real config types (the other components
// are validated by the built collector in TestBuiltCollectorValidatesTheConfig).
func collectorConfig(t *testing.T, cm *corev1.ConfigMap) *confmap.Conf {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	conf, err := confmap.NewRetrievedFromYAML(raw)
	require.NoError(t, err)
	m, err := conf.AsConf()
	require.NoError(t, err)

	rcfg := ebpfsecurityreceiver.NewFactory().CreateDefaultConfig()
	sub, err := m.Sub("receivers::ebpfsecurity")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(rcfg))
	require.NoError(t, xconfmap.Validate(rcfg))
	pcfg := k8senrichprocessor.NewFactory().CreateDefaultConfig()
	sub, err = m.Sub("processors::k8senrich")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(pcfg))
	require.NoError(t, xconfmap.Validate(pcfg))
	return m
}

// TestManifests: the plain manifests decode strictly and carry the agent.
func TestManifests(t *testing.T) {
	objs := manifests(t)
	assert.Equal(t, []string{"ClusterRole/otelsec", "ClusterRoleBinding/otelsec", "ConfigMap/otelsec", "ConfigMap/otelsec-policies",
		"DaemonSet/otelsec", "Namespace/otelsec", "ServiceAccount/otelsec"}, kinds(objs))
	checkAgent(t, objs, agent{
		namespace: "otelsec", name: "otelsec", serviceAccount: "otelsec", image: "ghcr.io/otelsec/otelsec:0.1.0",
		capabilities: []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"},
		exporters:    []string{"debug"}, healthPort: 13133, metricsPort: 8888,
	})
}

// TestChartDefaultIsTheManifests: the chart with its default values renders the plain
// manifests' objects (less Helm's labels and the configuration checksum).
func TestChartDefaultIsTheManifests(t *testing.T) {
	rendered := render(t, "otelsec")
	assert.Equal(t, []string{"ClusterRole/otelsec", "ClusterRoleBinding/otelsec", "ConfigMap/otelsec", "DaemonSet/otelsec", "ServiceAccount/otelsec"}, kinds(rendered))
	plain := map[string]map[string]any{}
	for _, o := range manifests(t) {
		if k := kinds([]client.Object{o})[0]; k != "Namespace/otelsec" && k != "ConfigMap/otelsec-policies" {
			plain[k] = normalize(t, o)
		}
	}
	got := map[string]map[string]any{}
	for _, o := range rendered {
		got[kinds([]client.Object{o})[0]] = normalize(t, o)
	}
	assert.Equal(t, plain, got)
}

func normalize(t *testing.T, o client.Object) map[string]any {
	t.Helper()
	o = o.DeepCopyObject().(client.Object)
	labels := o.GetLabels()
	delete(labels, "helm.sh/chart")
	delete(labels, "app.kubernetes.io/managed-by")
	o.SetLabels(labels)
	if ds, ok := o.(*appsv1.DaemonSet); ok {
		delete(ds.Spec.Template.Annotations, "checksum/config")
		if len(ds.Spec.Template.Annotations) == 0 {
			ds.Spec.Template.Annotations = nil
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	require.NoError(t, err)
	return m
}

// TestChartFullValues: every value of ci/full-values.yaml shows in the rendering.
func TestChartFullValues(t *testing.T) {
	objs := render(t, "security", "-f", filepath.Join(chartDir, "ci", "full-values.yaml"))
	assert.Equal(t, []string{"ClusterRole/otelsec", "ClusterRoleBinding/otelsec", "ConfigMap/otelsec", "ConfigMap/otelsec-policies",
		"DaemonSet/otelsec", "ServiceAccount/otelsec-agent"}, kinds(objs))
	checkAgent(t, objs, agent{
		namespace: "security", name: "otelsec", serviceAccount: "otelsec-agent", image: "registry.example.com/security/otelsec:0.1.0-rc1",
		// NET_ADMIN: runtimePolicy.enabled (the cgroup socket deny backend needs it).
		capabilities: []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN", "NET_ADMIN"},
		exporters:    []string{"otlp_grpc", "otlp_http/siem"}, healthPort: 13134, metricsPort: 8889,
	})
	ds := find[*appsv1.DaemonSet](t, objs, "otelsec")
	spec := ds.Spec.Template.Spec
	assert.Equal(t, "otelsec-critical", spec.PriorityClassName)
	assert.Equal(t, []corev1.LocalObjectReference{{Name: "registry-credentials"}}, spec.ImagePullSecrets)
	assert.Equal(t, "security", ds.Spec.Template.Labels["team"])
	assert.Equal(t, "true", ds.Spec.Template.Annotations["example.com/scrape"])
	assert.Equal(t, "2", spec.Containers[0].Resources.Limits.Cpu().String())
	assert.Equal(t, corev1.PullAlways, spec.Containers[0].ImagePullPolicy)
	assert.Equal(t, "true", spec.NodeSelector["node-role.example.com/worker"])
	require.NotNil(t, spec.Affinity.NodeAffinity)
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "security", Effect: "NoSchedule"}}, spec.Tolerations)
	assert.Equal(t, "10%", ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String())
	assert.Equal(t, "security-agent", find[*corev1.ServiceAccount](t, objs, "otelsec-agent").Annotations["example.com/role"])
	policies := find[*corev1.ConfigMap](t, objs, "otelsec-policies")
	docs, errs := policy.Parse("deny-shells.yaml", []byte(policies.Data["deny-shells.yaml"]))
	require.Empty(t, errs)
	set, err := policy.Compile(docs)
	require.NoError(t, err)
	require.Len(t, set.Rules, 1)
	assert.Equal(t, "deny-shells/shells-in-containers", set.Rules[0].SecurityRuleName())

	conf := collectorConfig(t, find[*corev1.ConfigMap](t, objs, "otelsec"))
	assert.Equal(t, "prod-eu-1", conf.Get("processors::k8senrich::cluster_name"))
	assert.Equal(t, "5m", conf.Get("processors::k8senrich::deleted_pod_grace"))
	assert.Equal(t, []any{"app", "team"}, conf.Get("processors::k8senrich::pod_labels::keys"))
	assert.Equal(t, 8, conf.Get("receivers::ebpfsecurity::process::ancestry_depth"))
	assert.Equal(t, 2048, conf.Get("processors::batch::send_batch_size"), "extraConfig merged")
	assert.Equal(t, "collector.observability:4317", conf.Get("exporters::otlp_grpc::endpoint"))
	assert.Equal(t, "${env:POD_IP}:13134", conf.Get("extensions::health_check::endpoint"))
	reader := conf.Get("service::telemetry::metrics::readers").([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": "${env:POD_IP}", "port": 8889}}}, reader["pull"])
	// runtimePolicy.enabled: the extension reads the mounted policies and the CRDs, the receiver
	// enforces what it publishes.
	assert.Equal(t, []any{"/etc/otelsec/policies"}, conf.Get("extensions::runtimepolicy::paths"))
	assert.Equal(t, true, conf.Get("extensions::runtimepolicy::kubernetes::enabled"))
	assert.Equal(t, "serviceAccount", conf.Get("extensions::runtimepolicy::kubernetes::auth_type"))
	assert.Equal(t, []any{"health_check", "runtimepolicy"}, conf.Get("service::extensions"))
	assert.Equal(t, "runtimepolicy", conf.Get("receivers::ebpfsecurity::policy::extension"))
}

// TestAPIServerAcceptsThem creates every object of the plain manifests and of the full-values
// rendering in a real API server, which validates them with unknown fields refused; then runs
// the pod cache as the agent's service account: its RBAC is enough to list the node's pods and
// name their Deployment, and no more.
func TestAPIServerAcceptsThem(t *testing.T) {
	env := k8stest.Start(t)
	c, err := client.New(env.Config, client.Options{})
	require.NoError(t, err)
	c = client.WithFieldValidation(c, metav1.FieldValidationStrict)
	ctx := context.Background()
	full := render(t, "security", "-f", filepath.Join(chartDir, "ci", "full-values.yaml"))
	env.Namespace(t, "security")
	for i, objs := range [][]client.Object{manifests(t), full} {
		for _, o := range objs {
			// Both sets have the cluster-wide ClusterRole and ClusterRoleBinding "otelsec".
			if i == 1 && o.GetNamespace() == "" {
				o.SetName("otelsec-full")
				if b, ok := o.(*rbacv1.ClusterRoleBinding); ok {
					b.RoleRef.Name = "otelsec-full"
				}
			}
		}
		// Namespaces first.
		slices.SortStableFunc(objs, func(a, b client.Object) int {
			_, na := a.(*corev1.Namespace)
			_, nb := b.(*corev1.Namespace)
			switch {
			case na && !nb:
				return -1
			case nb && !na:
				return 1
			}
			return 0
		})
		for _, o := range objs {
			require.NoError(t, c.Create(ctx, o), "create %s %s/%s", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
		}
	}

	// The agent's identity: a user named as its service account is what RBAC matches.
	kc := env.User(t, "system:serviceaccount:otelsec:otelsec", "system:serviceaccounts", "system:serviceaccounts:otelsec")
	for _, tt := range []struct {
		verb, group, resource string
		allowed               bool
	}{
		{"list", "", "pods", true}, {"watch", "", "pods", true}, {"get", "apps", "replicasets", true}, {"get", "batch", "jobs", true},
		{"list", "otelsec.io", "runtimepolicies", true}, {"watch", "otelsec.io", "runtimepolicynamespaceds", true},
		{"create", "otelsec.io", "runtimepolicies", false}, {"update", "otelsec.io", "runtimepolicynamespaceds", false},
		{"get", "", "secrets", false}, {"update", "", "pods", false}, {"delete", "", "pods", false}, {"list", "apps", "deployments", false},
		{"create", "", "pods/exec", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:otelsec:otelsec", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:otelsec"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tt.verb, Group: tt.group, Resource: tt.resource, Namespace: "shop"},
		}}
		require.NoError(t, c.Create(ctx, sar))
		assert.Equal(t, tt.allowed, sar.Status.Allowed, "%s %s.%s", tt.verb, tt.resource, tt.group)
	}

	// The pod cache works as the agent: a Deployment's pod is listed and named.
	env.Namespace(t, "shop")
	yes := true
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	require.NoError(t, c.Create(ctx, dep))
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5c9f8", Namespace: "shop",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	require.NoError(t, c.Create(ctx, rs))
	id := strings.Repeat("ab", 32)
	env.CreatePod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5c9f8-abcde", Namespace: "shop",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: tmpl.Spec.Containers}},
		&corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{k8stest.Running("web", "containerd://"+id, "")}})
	h, err := k8s.Acquire(ctx, k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthKubeConfig, Kubeconfig: kc}, NodeName: "node-a"}, time.Minute, nil)
	require.NoError(t, err)
	defer h.Release()
	require.Eventually(t, func() bool { _, ok := h.Container(id); return ok }, 30*time.Second, 10*time.Millisecond)
	m, _ := h.Container(id)
	assert.Equal(t, "web", m.Pod.Deployment)
	assert.Zero(t, h.Stats().OwnerFailures)
}

// TestBuiltCollectorValidatesTheConfig runs `otelsec validate` of the built distribution on
// the configuration of the manifests and of the full-values rendering. make test runs it after
// building the collector, with OTELSEC_BIN set.
func TestBuiltCollectorValidatesTheConfig(t *testing.T) {
	bin := os.Getenv("OTELSEC_BIN")
	if bin == "" {
		t.Skip("OTELSEC_BIN is not set: make test runs this test after building the collector")
	}
	bin, err := filepath.Abs(filepath.Join("../..", bin))
	if filepath.IsAbs(os.Getenv("OTELSEC_BIN")) {
		bin, err = os.Getenv("OTELSEC_BIN"), nil
	}
	require.NoError(t, err)
	for name, objs := range map[string][]client.Object{
		"manifests":   manifests(t),
		"full values": render(t, "security", "-f", filepath.Join(chartDir, "ci", "full-values.yaml")),
	} {
		t.Run(name, func(t *testing.T) {
			cm := find[*corev1.ConfigMap](t, objs, "otelsec")
			path := filepath.Join(t.TempDir(), "config.yaml")
			require.NoError(t, os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600))
			cmd := exec.Command(bin, "validate", "--config="+path)
			cmd.Env = append(os.Environ(), "NODE_NAME=node-a", "POD_IP=10.0.0.7")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s validate: %s", bin, out)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }
