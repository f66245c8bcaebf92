package k8s

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Auth types: how a component finds the API server.
const (
	// AuthAuto uses the in-cluster service account when the process runs in a pod
	// (KUBERNETES_SERVICE_HOST is set), else the kubeconfig file when one is configured,
	// else no cluster.
	AuthAuto = "auto"
	// AuthServiceAccount requires the in-cluster service account.
	AuthServiceAccount = "serviceAccount"
	// AuthKubeConfig requires the configured kubeconfig file.
	AuthKubeConfig = "kubeConfig"
	// AuthNone never connects.
	AuthNone = "none"
)

// APIConfig says how to reach the API server.
type APIConfig struct {
	AuthType   string
	Kubeconfig string // path, for AuthKubeConfig and AuthAuto
	Context    string // kubeconfig context; "" for its current context
}

// Key identifies one shared Cache: components with equal keys share it.
type Key struct {
	APIConfig
	NodeName string
}

// ErrNoCluster is returned by Acquire when there is no cluster to connect to (AuthNone, or
// AuthAuto outside a pod without a kubeconfig).
var ErrNoCluster = errors.New("no Kubernetes cluster")

// Handle is one user's reference to a shared Cache.
type Handle struct {
	*Cache
	key       Key
	retention time.Duration
	once      sync.Once
}

type sharedCache struct {
	cache    *Cache
	users    map[*Handle]struct{}
	reporter *Handle // the user that reports the cache's own numbers
}

var registry = struct {
	mu sync.Mutex
	m  map[Key]*sharedCache
	// noCluster remembers keys already reported as having no cluster, so that the collector
	// says so once however many components ask.
	noCluster map[Key]bool
}{m: map[Key]*sharedCache{}, noCluster: map[Key]bool{}}

// Acquire returns a handle on the Cache for key, creating and starting it for the first user.
// retention is how long this user needs deleted pods to stay resolvable; the Cache keeps them
// for the longest retention of its users. It returns ErrNoCluster (logged once per key) when
// there is no cluster, and an error naming the cause when the configured cluster cannot be
// used. Release the handle when done: the last release stops the Cache.
func Acquire(ctx context.Context, key Key, retention time.Duration, logger *zap.Logger) (*Handle, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if s, ok := registry.m[key]; ok {
		h := &Handle{Cache: s.cache, key: key, retention: retention}
		s.users[h] = struct{}{}
		s.cache.setRetention(maxRetention(s.users))
		return h, nil
	}
	cfg, err := RESTConfig(key.APIConfig)
	if errors.Is(err, ErrNoCluster) {
		if !registry.noCluster[key] {
			registry.noCluster[key] = true
			logger.Info("No Kubernetes cluster: telemetry passes through without Kubernetes metadata",
				zap.String("auth_type", key.AuthType), zap.String("reason", err.Error()))
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if key.NodeName == "" {
		return nil, errors.New("the node name is empty and $NODE_NAME is not set: the node's pods cannot be selected " +
			"(a DaemonSet sets NODE_NAME from spec.nodeName with the downward API)")
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	client, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	c := New(client, Options{NodeName: key.NodeName, Retention: retention, Logger: logger})
	c.closeConns = httpClient.CloseIdleConnections
	if err := c.Start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	h := &Handle{Cache: c, key: key, retention: retention}
	registry.m[key] = &sharedCache{cache: c, users: map[*Handle]struct{}{h: {}}, reporter: h}
	return h, nil
}

// Release drops the reference; the last one stops the Cache. Safe to call more than once.
func (h *Handle) Release() {
	h.once.Do(func() {
		registry.mu.Lock()
		s := registry.m[h.key]
		var stop *Cache
		if s != nil {
			delete(s.users, h)
			if len(s.users) == 0 {
				delete(registry.m, h.key)
				stop = s.cache
			} else {
				s.cache.setRetention(maxRetention(s.users))
				if s.reporter == h {
					for u := range s.users {
						s.reporter = u
						break
					}
				}
			}
		}
		registry.mu.Unlock()
		if stop != nil {
			stop.Stop()
		}
	})
}

// Reports says whether this user is the one that reports the shared Cache's own numbers
// (pods, evictions, lookups), so that they are counted once however many components share it.
func (h *Handle) Reports() bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s := registry.m[h.key]
	return s != nil && s.reporter == h
}

func maxRetention(users map[*Handle]struct{}) time.Duration {
	var d time.Duration
	for h := range users {
		d = max(d, h.retention)
	}
	return d
}

// RESTConfig returns the client configuration for c, or an error wrapping ErrNoCluster.
func RESTConfig(c APIConfig) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch c.AuthType {
	case AuthNone:
		return nil, fmt.Errorf("%w: auth_type is none", ErrNoCluster)
	case AuthServiceAccount:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster service account: %w", err)
		}
	case AuthKubeConfig:
		cfg, err = kubeconfig(c)
	case AuthAuto, "":
		switch {
		case os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "":
			cfg, err = rest.InClusterConfig()
			if err != nil {
				return nil, fmt.Errorf("in-cluster service account: %w", err)
			}
		case c.Kubeconfig != "":
			cfg, err = kubeconfig(c)
		default:
			return nil, fmt.Errorf("%w: not in a pod (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig configured", ErrNoCluster)
		}
	default:
		return nil, fmt.Errorf("unknown auth type %q", c.AuthType)
	}
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "otelsec"
	// The informer's list and watch, and a few owner lookups: client-go's default rate
	// limit (5 QPS) is plenty.
	return cfg, nil
}

func kubeconfig(c APIConfig) (*rest.Config, error) {
	if c.Kubeconfig == "" {
		return nil, errors.New("kubeconfig: no file configured")
	}
	if _, err := os.Stat(c.Kubeconfig); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: c.Context},
	).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", c.Kubeconfig, err)
	}
	return cfg, nil
}
