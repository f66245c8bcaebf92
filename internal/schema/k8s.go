package schema

// Kubernetes resource attributes the k8senrich processor adds (processor/k8senrichprocessor).
// k8s.pod.uid is described with the receiver's resource attributes (process.go): the receiver
// sets it from the cgroup path, the processor from the pod it found.
const (
	K8sPodName            = "k8s.pod.name"
	K8sNamespaceName      = "k8s.namespace.name"
	K8sNodeName           = "k8s.node.name"
	K8sContainerName      = "k8s.container.name"
	ContainerImageName    = "container.image.name"
	ContainerImageTags    = "container.image.tags"
	ContainerImageDigests = "container.image.repo_digests"
	K8sDeploymentName     = "k8s.deployment.name"
	K8sReplicaSetName     = "k8s.replicaset.name"
	K8sStatefulSetName    = "k8s.statefulset.name"
	K8sDaemonSetName      = "k8s.daemonset.name"
	K8sJobName            = "k8s.job.name"
	K8sCronJobName        = "k8s.cronjob.name"
	K8sClusterName        = "k8s.cluster.name"
	// K8sPodLabelPrefix and K8sPodAnnotationPrefix are followed by the label's or
	// annotation's key: k8s.pod.label.app.
	K8sPodLabelPrefix      = "k8s.pod.label."
	K8sPodAnnotationPrefix = "k8s.pod.annotation."
	// K8sPodLabel and K8sPodAnnotation name the families in All.
	K8sPodLabel      = K8sPodLabelPrefix + "<key>"
	K8sPodAnnotation = K8sPodAnnotationPrefix + "<key>"
)

// K8s lists the attributes the k8senrich processor adds, in documentation order.
var K8s = []Attribute{
	{Name: K8sPodName, Type: String, Events: []string{resource}, Presence: "pod found", Source: "Kubernetes API: pod metadata.name", Example: "web-7d4b9c8f6-x2x9k", Description: "", ECS: "", CIM: ""},
	{Name: K8sNamespaceName, Type: String, Events: []string{resource}, Presence: "pod found", Source: "Kubernetes API: pod metadata.namespace", Example: "shop", Description: "", ECS: "orchestrator.namespace", CIM: ""},
	{Name: K8sNodeName, Type: String, Events: []string{resource}, Presence: "connected to a cluster", Source: "Kubernetes API: pod spec.nodeName; the watched node (`node_name`) on resources without a pod", Example: "worker-1", Description: "", ECS: "", CIM: ""},
	{Name: K8sContainerName, Type: String, Events: []string{resource}, Presence: "container id found", Source: "Kubernetes API: the container status whose containerID (current or last terminated) is the resource's container.id", Example: "app", Description: "Regular, init and ephemeral containers.", ECS: "container.name", CIM: ""},
	{Name: ContainerImageName, Type: String, Events: []string{resource}, Presence: "container id found", Source: "Kubernetes API: the container's image in the pod spec, without tag and digest", Example: "registry.example.com/shop/web", Description: "As written in the pod spec (not normalised).", ECS: "container.image.name", CIM: ""},
	{Name: ContainerImageTags, Type: StringSlice, Events: []string{resource}, Presence: "container id found and the image reference has a tag, or neither tag nor digest", Source: "Kubernetes API: the tag of the container's image in the pod spec (`latest` when it names neither tag nor digest)", Example: `["1.4.2"]`, Description: "", ECS: "container.image.tag", CIM: ""},
	{Name: ContainerImageDigests, Type: StringSlice, Events: []string{resource}, Presence: "container id found and the runtime reported a repository digest", Source: "Kubernetes API: the container status's imageID (repository@sha256:…)", Example: `["registry.example.com/shop/web@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]`, Description: "The image that actually runs (the seed's container SHA). Absent for the previous instance of a restarted container.", ECS: "container.image.hash.all", CIM: ""},
	{Name: K8sDeploymentName, Type: String, Events: []string{resource}, Presence: "pod owned by a ReplicaSet owned by a Deployment", Source: "Kubernetes API: the ReplicaSet's controller owner reference (one cached lookup per ReplicaSet); without access, the ReplicaSet's name less its pod-template-hash suffix", Example: "web", Description: "", ECS: "", CIM: ""},
	{Name: K8sReplicaSetName, Type: String, Events: []string{resource}, Presence: "pod owned by a ReplicaSet", Source: "Kubernetes API: pod controller owner reference", Example: "web-7d4b9c8f6", Description: "", ECS: "", CIM: ""},
	{Name: K8sStatefulSetName, Type: String, Events: []string{resource}, Presence: "pod owned by a StatefulSet", Source: "Kubernetes API: pod controller owner reference", Example: "db", Description: "", ECS: "", CIM: ""},
	{Name: K8sDaemonSetName, Type: String, Events: []string{resource}, Presence: "pod owned by a DaemonSet", Source: "Kubernetes API: pod controller owner reference", Example: "node-exporter", Description: "", ECS: "", CIM: ""},
	{Name: K8sJobName, Type: String, Events: []string{resource}, Presence: "pod owned by a Job", Source: "Kubernetes API: pod controller owner reference", Example: "backup-29411520", Description: "", ECS: "", CIM: ""},
	{Name: K8sCronJobName, Type: String, Events: []string{resource}, Presence: "pod owned by a Job owned by a CronJob", Source: "Kubernetes API: the Job's controller owner reference (one cached lookup per Job)", Example: "backup", Description: "", ECS: "", CIM: ""},
	{Name: K8sClusterName, Type: String, Events: []string{resource}, Presence: "`cluster_name` set and connected to a cluster", Source: "`cluster_name` setting", Example: "prod-eu-1", Description: "The API server does not know its cluster's name: configure it.", ECS: "orchestrator.cluster.name", CIM: ""},
	{Name: K8sPodLabel, Type: String, Events: []string{resource}, Presence: "pod found and the label allowed by `pod_labels`", Source: "Kubernetes API: pod metadata.labels", Example: "k8s.pod.label.app=web", Description: "One attribute per label: k8s.pod.label.<key>.", ECS: "", CIM: ""},
	{Name: K8sPodAnnotation, Type: String, Events: []string{resource}, Presence: "pod found and the annotation allowed by `pod_annotations` (none by default)", Source: "Kubernetes API: pod metadata.annotations", Example: "k8s.pod.annotation.team=payments", Description: "One attribute per annotation: k8s.pod.annotation.<key>.", ECS: "", CIM: ""},
}

func init() { All = append(All, K8s...) }

// LookupK8s is Lookup for a resource attribute the k8senrich processor may add, where a
// k8s.pod.label.<key> or k8s.pod.annotation.<key> attribute finds its family.
func LookupK8s(name string) (Attribute, bool) {
	switch {
	case len(name) > len(K8sPodLabelPrefix) && name[:len(K8sPodLabelPrefix)] == K8sPodLabelPrefix:
		name = K8sPodLabel
	case len(name) > len(K8sPodAnnotationPrefix) && name[:len(K8sPodAnnotationPrefix)] == K8sPodAnnotationPrefix:
		name = K8sPodAnnotation
	}
	return Lookup(name)
}
