package k8senrichprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	custom := createDefaultConfig().(*Config)
	custom.AuthType = "kubeConfig"
	custom.Kubeconfig = "/etc/otelsec/kubeconfig"
	custom.Context = "admin@prod"
	custom.NodeName = "worker-1"
	custom.ClusterName = "prod-eu-1"
	custom.PodLabels = KeyFilter{Keys: []string{"app", "team"}, KeyRegex: []string{`app\.kubernetes\.io/.*`}}
	custom.PodAnnotations = KeyFilter{Keys: []string{"owner"}}
	custom.DeletedPodGrace = 5 * time.Minute
	custom.WaitForMetadata = 2 * time.Second
	custom.MaxHeldRecords = 1000

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), createDefaultConfig().(*Config)},
		{component.NewIDWithName(metadata.Type, "custom"), custom},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, xconfmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, "auto", cfg.AuthType)
	assert.Equal(t, []string{".*"}, cfg.PodLabels.KeyRegex)
	assert.Empty(t, cfg.PodAnnotations.Keys)
	assert.Empty(t, cfg.PodAnnotations.KeyRegex)
	assert.Equal(t, 2*time.Minute, cfg.DeletedPodGrace)
	assert.Equal(t, 5*time.Second, cfg.WaitForMetadata)
	assert.Equal(t, 4096, cfg.MaxHeldRecords)
	require.NoError(t, cfg.Validate())
}

// TestConfigErrorsNameTheField: each invalid setting is reported with its field.
func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"auth", func(c *Config) { c.AuthType = "token" }, `auth_type: must be one of auto, serviceAccount, kubeConfig, none; got "token"`},
		{"kubeconfig", func(c *Config) { c.AuthType = "kubeConfig" }, "kubeconfig: must name a kubeconfig file when auth_type is kubeConfig"},
		{"grace", func(c *Config) { c.DeletedPodGrace = -time.Second }, "deleted_pod_grace: must not be negative; got -1s"},
		{"wait", func(c *Config) { c.WaitForMetadata = -time.Second }, "wait_for_metadata: must not be negative; got -1s"},
		{"max held", func(c *Config) { c.MaxHeldRecords = 0 }, "max_held_records: must be at least 1 when wait_for_metadata is set; got 0"},
		{"label regex", func(c *Config) { c.PodLabels.KeyRegex = []string{"ok", "("} }, "pod_labels::key_regex[1]: error parsing regexp: missing closing ): `^(?:()$`"},
		{"annotation key", func(c *Config) { c.PodAnnotations.Keys = []string{""} }, "pod_annotations::keys[0]: must not be empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			require.EqualError(t, cfg.Validate(), tt.want)
		})
	}
	// Holding nothing needs no bound.
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata, cfg.MaxHeldRecords = 0, 0
	require.NoError(t, cfg.Validate())
}

func TestConfigUnknownField(t *testing.T) {
	cm := confmap.NewFromStringMap(map[string]any{"pod_labels": map[string]any{"key": []any{"app"}}})
	err := cm.Unmarshal(createDefaultConfig())
	require.ErrorContains(t, err, "has invalid keys: key")
}
