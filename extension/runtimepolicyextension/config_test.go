package runtimepolicyextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelsec/otelsec/extension/runtimepolicyextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, tt := range []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: &Config{Paths: []string{"/etc/otelsec/policies"}, Watch: true, ReloadDelay: 500 * time.Millisecond,
			Kubernetes: KubernetesConfig{AuthType: "serviceAccount", SyncTimeout: 10 * time.Second}}},
		{id: component.NewIDWithName(metadata.Type, "full"), want: &Config{Paths: []string{"/etc/otelsec/policies", "/opt/policies/extra.yaml"},
			ReloadDelay: 2 * time.Second, Kubernetes: KubernetesConfig{Enabled: true, AuthType: "kubeConfig", Kubeconfig: "/root/.kube/config",
				Context: "prod", SyncTimeout: 30 * time.Second}}},
		{id: component.NewIDWithName(metadata.Type, "crds_only"), want: &Config{Watch: true, ReloadDelay: 500 * time.Millisecond,
			Kubernetes: KubernetesConfig{Enabled: true, AuthType: "serviceAccount", SyncTimeout: 10 * time.Second}}},
		{id: component.NewIDWithName(metadata.Type, "invalid"), wantErr: "paths[0]: must not be empty\n" +
			"reload_delay: must be between 0 and 1m; got -1s\n" +
			`kubernetes::auth_type: must be one of auto, serviceAccount, kubeConfig; got "none"` + "\n" +
			"kubernetes::sync_timeout: must be positive; got 0s"},
		{id: component.NewIDWithName(metadata.Type, "nothing"), wantErr: "paths: must list at least one file or directory when kubernetes::enabled is false"},
		{id: component.NewIDWithName(metadata.Type, "no_kubeconfig"), wantErr: "kubernetes::kubeconfig: must name a kubeconfig file when auth_type is kubeConfig"},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				assert.EqualError(t, xconfmap.Validate(cfg), tt.wantErr)
				return
			}
			require.NoError(t, xconfmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}
