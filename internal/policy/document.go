package policy

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The documents users write, in Kubernetes shape. The field names are the YAML (and CRD)
// names; decoding is strict: an unknown or duplicate field is an error.
const (
	// Group and Version form the apiVersion of every document (otelsec.io/v1alpha1).
	Group      = "otelsec.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version

	// KindCluster is a cluster-wide policy; KindNamespaced selects only the workloads of its
	// own metadata.namespace.
	KindCluster    = "RuntimePolicy"
	KindNamespaced = "RuntimePolicyNamespaced"

	// ResourceCluster and ResourceNamespaced are the CRDs' plural resource names.
	ResourceCluster    = "runtimepolicies"
	ResourceNamespaced = "runtimepolicynamespaceds"
)

// Document is one RuntimePolicy or RuntimePolicyNamespaced.
type Document struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       Spec              `json:"spec"`
}

// Spec is a policy's body.
type Spec struct {
	// Mode is enforce (default) or monitor; a rule's own mode overrides it.
	Mode  string     `json:"mode,omitempty"`
	Rules []RuleSpec `json:"rules"`
}

// RuleSpec is one rule as written.
type RuleSpec struct {
	Name  string `json:"name"`
	Event string `json:"event"`
	// Mode overrides the policy's mode for this rule.
	Mode      string        `json:"mode,omitempty"`
	Workloads *WorkloadSpec `json:"workloads,omitempty"`
	Selectors SelectorSpec  `json:"selectors,omitempty"`
	// Action is audit, deny, kill, signal or suppress.
	Action string `json:"action"`
	// Signal names the signal of action signal ("SIGTERM").
	Signal string `json:"signal,omitempty"`
	// Fallback "kill" lets a deny that no backend on the kernel can honour kill instead.
	Fallback  string         `json:"fallback,omitempty"`
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
}

// WorkloadSpec selects the processes a rule applies to; omitted, every process.
type WorkloadSpec struct {
	Host           bool                  `json:"host,omitempty"`
	Containers     bool                  `json:"containers,omitempty"`
	Namespaces     []string              `json:"namespaces,omitempty"`
	PodSelector    *metav1.LabelSelector `json:"podSelector,omitempty"`
	ContainerNames []string              `json:"containerNames,omitempty"`
	Images         []string              `json:"images,omitempty"`
	CgroupPaths    []string              `json:"cgroupPaths,omitempty"`
}

// SelectorSpec narrows a rule to matching operations; every selector set must match.
type SelectorSpec struct {
	Binary       *MatchSpec `json:"binary,omitempty"`
	ExceptBinary *MatchSpec `json:"exceptBinary,omitempty"`
	ParentBinary *MatchSpec `json:"parentBinary,omitempty"`
	Args         *ArgsSpec  `json:"args,omitempty"`
	// StdioNetworkSocket: stdin, stdout or stderr is a TCP/UDP socket (process.exec).
	StdioNetworkSocket bool     `json:"stdioNetworkSocket,omitempty"`
	UIDs               []int64  `json:"uids,omitempty"`
	EUIDs              []int64  `json:"euids,omitempty"`
	Capabilities       []string `json:"capabilities,omitempty"`
	// Paths and Operations are the file selectors.
	Paths      *PathSpec `json:"paths,omitempty"`
	Operations []string  `json:"operations,omitempty"`
	// CIDRs, Ports and Protocol are the network selectors.
	CIDRs    []string             `json:"cidrs,omitempty"`
	Ports    []intstr.IntOrString `json:"ports,omitempty"`
	Protocol string               `json:"protocol,omitempty"`
	// ToUIDs: the uid a privilege change sets.
	ToUIDs []int64 `json:"toUIDs,omitempty"`
}

// MatchSpec matches a binary path exactly, by prefix or by suffix.
type MatchSpec struct {
	Exact  []string `json:"exact,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
}

// PathSpec matches a file path exactly or by prefix.
type PathSpec struct {
	Exact  []string `json:"exact,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
}

// ArgsSpec: every string of Contain occurs in the command line.
type ArgsSpec struct {
	Contain []string `json:"contain"`
}

// RateLimitSpec bounds how often a rule acts.
type RateLimitSpec struct {
	PerSecond int64 `json:"perSecond"`
	// Burst defaults to PerSecond.
	Burst int64 `json:"burst,omitempty"`
}
