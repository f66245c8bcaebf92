package runtimepolicyextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelsec/otelsec/extension/runtimepolicyextension/internal/metadata"
	"github.com/otelsec/otelsec/internal/k8s"
)

// NewFactory returns the factory of the runtimepolicy extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		Watch:       true,
		ReloadDelay: 500 * time.Millisecond,
		Kubernetes: KubernetesConfig{
			AuthType:    k8s.AuthServiceAccount,
			SyncTimeout: 10 * time.Second,
		},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(set, cfg.(*Config))
}
