package runtimepolicyextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelsec/otelsec/internal/k8s"
)

// Config is the runtimepolicy extension's configuration.
type Config struct {
	// Paths are policy files and directories (a directory's *.yaml and *.yml files, sorted
	// by name; not its subdirectories).
	Paths []string `mapstructure:"paths"`
	// Watch reloads the policies when a file of Paths changes (fsnotify on the files'
	// directories, which also sees a Kubernetes ConfigMap volume's atomic swap).
	Watch bool `mapstructure:"watch"`
	// ReloadDelay is how long changes (file events, CRD events) must be quiet before the set
	// is reloaded: an editor's several writes, or kubectl applying several objects, apply
	// once.
	ReloadDelay time.Duration `mapstructure:"reload_delay"`
	// Kubernetes reads RuntimePolicy and RuntimePolicyNamespaced objects (the CRDs of
	// distribution/kubernetes/crds) from the API server.
	Kubernetes KubernetesConfig `mapstructure:"kubernetes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// KubernetesConfig says whether and how policies are read from the Kubernetes API.
type KubernetesConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// AuthType is how the API server is found: serviceAccount (in a pod), kubeConfig, or
	// auto (the service account in a pod, else Kubeconfig).
	AuthType string `mapstructure:"auth_type"`
	// Kubeconfig is the path of a kubeconfig file (auth_type kubeConfig, or auto outside a
	// pod).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// Context is the kubeconfig context; "" for its current context.
	Context string `mapstructure:"context"`
	// SyncTimeout bounds how long Start waits for the first list of the policy objects; past
	// it the collector starts with the file policies and the CRDs join the set when the API
	// server answers.
	SyncTimeout time.Duration `mapstructure:"sync_timeout"`
}

var _ component.Config = (*Config)(nil)

// Validate checks every field and names each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if len(c.Paths) == 0 && !c.Kubernetes.Enabled {
		bad("paths", "must list at least one file or directory when kubernetes::enabled is false")
	}
	for i, p := range c.Paths {
		if p == "" {
			bad(fmt.Sprintf("paths[%d]", i), "must not be empty")
		}
	}
	if c.ReloadDelay < 0 || c.ReloadDelay > time.Minute {
		bad("reload_delay", "must be between 0 and 1m; got %s", c.ReloadDelay)
	}
	if k := c.Kubernetes; k.Enabled {
		switch k.AuthType {
		case k8s.AuthAuto, k8s.AuthServiceAccount:
		case k8s.AuthKubeConfig:
			if k.Kubeconfig == "" {
				bad("kubernetes::kubeconfig", "must name a kubeconfig file when auth_type is kubeConfig")
			}
		default:
			bad("kubernetes::auth_type", "must be one of auto, serviceAccount, kubeConfig; got %q", k.AuthType)
		}
		if k.SyncTimeout <= 0 {
			bad("kubernetes::sync_timeout", "must be positive; got %s", k.SyncTimeout)
		}
	}
	return errors.Join(errs...)
}
