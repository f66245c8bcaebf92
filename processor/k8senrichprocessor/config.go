package k8senrichprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelsec/otelsec/internal/k8s"
)

// Config is the k8senrich processor's configuration.
type Config struct {
	// AuthType is how the API server is found: auto (the in-cluster service account in a
	// pod, else Kubeconfig when set, else no cluster: data passes through), serviceAccount,
	// kubeConfig or none.
	AuthType string `mapstructure:"auth_type"`
	// Kubeconfig is the path of a kubeconfig file (auth_type kubeConfig, or auto outside a
	// pod).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context is the kubeconfig context; "" for its current context.
	Context string `mapstructure:"context"`
	// NodeName selects the node's pods. Default: $NODE_NAME.
	NodeName string `mapstructure:"node_name"`
	// ClusterName is put in k8s.cluster.name ("" for none).
	ClusterName string `mapstructure:"cluster_name"`
	// PodLabels selects the labels added as k8s.pod.label.<key> (default: all).
	PodLabels KeyFilter `mapstructure:"pod_labels"`
	// PodAnnotations selects the annotations added as k8s.pod.annotation.<key> (default:
	// none).
	PodAnnotations KeyFilter `mapstructure:"pod_annotations"`
	// DeletedPodGrace is how long a deleted pod, and a container id its pod replaced, still
	// enrich the data that arrives after them.
	DeletedPodGrace time.Duration `mapstructure:"deleted_pod_grace"`
	// WaitForMetadata is how long data of a pod's container the informer has not seen yet is
	// held before it passes on without the container's metadata. 0 holds nothing.
	WaitForMetadata time.Duration `mapstructure:"wait_for_metadata"`
	// MaxHeldRecords bounds the records (log records and metric data points) held at once;
	// past it, data passes on at once with what is known.
	MaxHeldRecords int `mapstructure:"max_held_records"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// KeyFilter selects label or annotation keys: a key is taken when it is one of Keys or
// matches one of KeyRegex (RE2 syntax, matched against the whole key).
type KeyFilter struct {
	Keys     []string `mapstructure:"keys"`
	KeyRegex []string `mapstructure:"key_regex"`
}

var _ component.Config = (*Config)(nil)

// Validate checks every field and names each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	switch c.AuthType {
	case k8s.AuthAuto, k8s.AuthServiceAccount, k8s.AuthNone:
	case k8s.AuthKubeConfig:
		if c.Kubeconfig == "" {
			bad("kubeconfig", "must name a kubeconfig file when auth_type is kubeConfig")
		}
	default:
		bad("auth_type", "must be one of auto, serviceAccount, kubeConfig, none; got %q", c.AuthType)
	}
	if c.DeletedPodGrace < 0 {
		bad("deleted_pod_grace", "must not be negative; got %s", c.DeletedPodGrace)
	}
	if c.WaitForMetadata < 0 {
		bad("wait_for_metadata", "must not be negative; got %s", c.WaitForMetadata)
	}
	if c.WaitForMetadata > 0 && c.MaxHeldRecords < 1 {
		bad("max_held_records", "must be at least 1 when wait_for_metadata is set; got %d", c.MaxHeldRecords)
	}
	for _, f := range []struct {
		name string
		kf   KeyFilter
	}{{"pod_labels", c.PodLabels}, {"pod_annotations", c.PodAnnotations}} {
		for i, k := range f.kf.Keys {
			if k == "" {
				bad(fmt.Sprintf("%s::keys[%d]", f.name, i), "must not be empty")
			}
		}
		for i, re := range f.kf.KeyRegex {
			if _, err := compileAnchored(re); err != nil {
				bad(fmt.Sprintf("%s::key_regex[%d]", f.name, i), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

func compileAnchored(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}
