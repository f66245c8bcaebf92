package k8s

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseImage(t *testing.T) {
	for _, tt := range []struct{ ref, name, tag string }{
		{"nginx", "nginx", "latest"},
		{"nginx:1.25", "nginx", "1.25"},
		{"docker.io/library/nginx:1.25.3-alpine", "docker.io/library/nginx", "1.25.3-alpine"},
		{"registry.example.com:5000/team/app", "registry.example.com:5000/team/app", "latest"},
		{"registry.example.com:5000/team/app:v2", "registry.example.com:5000/team/app", "v2"},
		{"ghcr.io/org/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "ghcr.io/org/app", ""},
		{"ghcr.io/org/app:1.0@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "ghcr.io/org/app", "1.0"},
		{"", "", "latest"},
	} {
		name, tag := ParseImage(tt.ref)
		assert.Equal(t, tt.name, name, tt.ref)
		assert.Equal(t, tt.tag, tag, tt.ref)
	}
}

func TestContainerID(t *testing.T) {
	const id = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, in := range []string{"containerd://" + id, "cri-o://" + id, "docker://" + id, id, "containerd://" + "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"} {
		assert.Equal(t, id, ContainerID(in), in)
	}
}

func TestRepoDigest(t *testing.T) {
	const d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	assert.Equal(t, "docker.io/library/nginx@"+d, repoDigest("docker.io/library/nginx@"+d))
	assert.Equal(t, "nginx@"+d, repoDigest("docker-pullable://nginx@"+d))
	assert.Equal(t, "", repoDigest(d), "a local image id is not a repository digest")
	assert.Equal(t, "", repoDigest(""))
}

// TestStripPodKeepsWhatNewPodReads: the informer's transform drops everything else, and a
// Pod built from the stripped object equals one built from the full object.
func TestStripPodKeepsWhatNewPodReads(t *testing.T) {
	yes := true
	full := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-1", Namespace: "shop", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{"app": "web", "b": "2"}, Annotations: map[string]string{"note": "x"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "web", Controller: &yes}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{Name: "app", Image: "web:1", Env: []corev1.EnvVar{{Name: "SECRET", Value: "s"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}},
			InitContainers:      []corev1.Container{{Name: "init", Image: "busybox"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "alpine:3"}}},
			Volumes:             []corev1.Volume{{Name: "v"}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", ContainerID: "containerd://" + hex('a'), ImageID: "web@sha256:" + hex('d'), Image: "web:1", RestartCount: 1,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://" + hex('b'), ExitCode: 1}},
			}},
			InitContainerStatuses:      []corev1.ContainerStatus{{Name: "init", ContainerID: "containerd://" + hex('c')}},
			EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "debug", ContainerID: "containerd://" + hex('e')}},
		},
	}
	obj, err := StripPod(full)
	require.NoError(t, err)
	stripped := obj.(*corev1.Pod)
	assert.Nil(t, stripped.ManagedFields)
	assert.Nil(t, stripped.Spec.Volumes)
	assert.Nil(t, stripped.Spec.Containers[0].Env)
	assert.Nil(t, stripped.Status.Conditions)
	assert.Equal(t, newPod(full), newPod(stripped))

	want := &Pod{
		UID: "u1", Name: "web-1", Namespace: "shop", NodeName: "n1",
		Labels:      []KeyValue{{"app", "web"}, {"b", "2"}},
		Annotations: []KeyValue{{"note", "x"}},
		Containers: []Container{
			{ID: hex('a'), Name: "app", Kind: Regular, ImageName: "web", ImageTag: "1", ImageRepoDigest: "web@sha256:" + hex('d')},
			{ID: hex('b'), Name: "app", Kind: Regular, ImageName: "web", ImageTag: "1", Previous: true},
			{ID: hex('c'), Name: "init", Kind: Init, ImageName: "busybox", ImageTag: "latest"},
			{ID: hex('e'), Name: "debug", Kind: Ephemeral, ImageName: "alpine", ImageTag: "3"},
		},
	}
	assert.Equal(t, want, newPod(stripped))
}

func hex(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
