// Package k8s keeps the Kubernetes metadata of the pods on this node: one client-go pod
// informer per collector process, limited to the node by a field selector on spec.nodeName,
// indexed by container id (regular, init and ephemeral containers, the current and the
// previous instance of each) and by pod UID, with the owning workload resolved
// (ReplicaSet → Deployment, Job → CronJob) through cached lookups.
//
// Components share one Cache by reference count (Acquire / Handle.Release): the k8senrich
// processor reads it to enrich telemetry, and the policy extension's workload selectors map
// pods to their containers' cgroups from the same data.
//
// Deleted pods and replaced container ids stay resolvable for a retention period, so that the
// last events of a short-lived workload, which arrive after the API server has forgotten it,
// are still attributed. Memory is bounded: pods are stripped to the fields used here before
// the informer stores them, and retained deleted pods are capped.
package k8s

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ContainerKind says which list of the pod spec a container is in.
type ContainerKind string

const (
	Regular   ContainerKind = "regular"
	Init      ContainerKind = "init"
	Ephemeral ContainerKind = "ephemeral"
)

// Pod is the metadata of one pod. A Pod is immutable once the Cache publishes it: an update of
// the pod publishes a new Pod.
type Pod struct {
	UID       string
	Name      string
	Namespace string
	NodeName  string
	// Labels and Annotations sorted by key.
	Labels      []KeyValue
	Annotations []KeyValue

	// The owning workload. Deployment is the ReplicaSet's owner, CronJob the Job's; both are
	// "" when the pod has no such owner or the lookup failed (then counted in Stats).
	ReplicaSet  string
	Deployment  string
	StatefulSet string
	DaemonSet   string
	Job         string
	CronJob     string

	// Containers with a known container id: the running instance of each container and the
	// previous one (a restarted container has a new id; the old id stays resolvable).
	Containers []Container
}

// KeyValue is one label or annotation.
type KeyValue struct {
	Key, Value string
}

// Container is one container instance of a pod.
type Container struct {
	// ID is the runtime's container id without its scheme (containerd://, cri-o://,
	// docker://): 64 lowercase hex digits for containerd, CRI-O and Docker.
	ID   string
	Name string
	Kind ContainerKind
	// ImageName is the image reference of the pod spec without tag or digest
	// (registry.example.com/team/app); ImageTag its tag ("latest" when the spec names none).
	ImageName string
	ImageTag  string
	// ImageRepoDigest is the image the runtime resolved, as repository@sha256:… (from the
	// container status's imageID), "" when the runtime reported only a local image id.
	ImageRepoDigest string
	// Previous marks the instance before the last restart (the status's lastState).
	Previous bool
}

// ContainerID returns the id of a runtime container id in any of the forms the kubelet and
// the runtimes print it: "containerd://<id>", "cri-o://<id>", "docker://<id>", or the id alone.
// The id is lowercased (runtimes print lowercase hex; cgroup paths carry it that way).
func ContainerID(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	return strings.ToLower(s)
}

// ParseImage splits an image reference into its name and tag. The digest, when present, is
// dropped; the tag is "latest" when the reference has neither tag nor digest (what the
// runtime pulls), "" when it has only a digest.
//
//	registry.example.com:5000/team/app:1.2@sha256:… → registry.example.com:5000/team/app, 1.2
func ParseImage(ref string) (name, tag string) {
	name = ref
	digest := false
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, digest = name[:i], true
	}
	// A colon after the last slash starts the tag; one before it is a registry port.
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	if digest {
		return name, ""
	}
	return name, "latest"
}

// repoDigest returns the repository@digest form of a container status's imageID, or "".
// Docker (through cri-dockerd) prefixes it with docker-pullable://.
func repoDigest(imageID string) string {
	imageID = strings.TrimPrefix(imageID, "docker-pullable://")
	if i := strings.IndexByte(imageID, '@'); i > 0 {
		return imageID
	}
	return ""
}

// StripPod is the informer's transform: it keeps only the fields this package reads, so
// the informer's store holds a fraction of each pod (no env, volumes, probes, managed
// fields, conditions...).
func StripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // cache.DeletedFinalStateUnknown passes through
	}
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            pod.Labels,
			Annotations:       pod.Annotations,
			OwnerReferences:   pod.OwnerReferences,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{
			ContainerStatuses:          stripStatuses(pod.Status.ContainerStatuses),
			InitContainerStatuses:      stripStatuses(pod.Status.InitContainerStatuses),
			EphemeralContainerStatuses: stripStatuses(pod.Status.EphemeralContainerStatuses),
		},
	}
	for _, c := range pod.Spec.Containers {
		out.Spec.Containers = append(out.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.InitContainers {
		out.Spec.InitContainers = append(out.Spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		out.Spec.EphemeralContainers = append(out.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image},
		})
	}
	return out, nil
}

func stripStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{Name: s.Name, ContainerID: s.ContainerID, ImageID: s.ImageID}
		if t := s.LastTerminationState.Terminated; t != nil && t.ContainerID != "" {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID}
		}
	}
	return out
}

// newPod builds the Pod of a (stripped) API pod; owners are filled in by the Cache.
func newPod(p *corev1.Pod) *Pod {
	pod := &Pod{
		UID:         string(p.UID),
		Name:        p.Name,
		Namespace:   p.Namespace,
		NodeName:    p.Spec.NodeName,
		Labels:      sorted(p.Labels),
		Annotations: sorted(p.Annotations),
	}
	images := make(map[string]string, len(p.Spec.Containers)+len(p.Spec.InitContainers))
	for _, c := range p.Spec.Containers {
		images[string(Regular)+"/"+c.Name] = c.Image
	}
	for _, c := range p.Spec.InitContainers {
		images[string(Init)+"/"+c.Name] = c.Image
	}
	for _, c := range p.Spec.EphemeralContainers {
		images[string(Ephemeral)+"/"+c.Name] = c.Image
	}
	add := func(kind ContainerKind, statuses []corev1.ContainerStatus) {
		for _, s := range statuses {
			name, tag := ParseImage(images[string(kind)+"/"+s.Name])
			c := Container{Name: s.Name, Kind: kind, ImageName: name, ImageTag: tag, ImageRepoDigest: repoDigest(s.ImageID)}
			if s.ContainerID != "" {
				c.ID = ContainerID(s.ContainerID)
				pod.Containers = append(pod.Containers, c)
			}
			if t := s.LastTerminationState.Terminated; t != nil && t.ContainerID != "" && ContainerID(t.ContainerID) != c.ID {
				// The previous instance ran the image of its time, which the status no
				// longer names: keep the spec's image, drop the resolved digest.
				c.ID, c.Previous, c.ImageRepoDigest = ContainerID(t.ContainerID), true, ""
				pod.Containers = append(pod.Containers, c)
			}
		}
	}
	add(Regular, p.Status.ContainerStatuses)
	add(Init, p.Status.InitContainerStatuses)
	add(Ephemeral, p.Status.EphemeralContainerStatuses)
	return pod
}

func sorted(m map[string]string) []KeyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]KeyValue, 0, len(m))
	for k, v := range m {
		out = append(out, KeyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// controller returns the pod's controlling owner reference, if any.
func controller(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}
