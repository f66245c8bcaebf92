package otelsecsplunkhecexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelsec/otelsec/exporter/otelsecsplunkhecexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	def := createDefaultConfig().(*Config)
	def.ClientConfig.Endpoint = "https://splunk.example:8088"
	def.Token = "00000000-0000-0000-0000-000000000000"

	custom := createDefaultConfig().(*Config)
	custom.ClientConfig.Endpoint = "https://splunk.example:8088/"
	custom.ClientConfig.Compression = configcompression.Type("none")
	custom.ClientConfig.Timeout = 30 * time.Second
	custom.ClientConfig.TLS.CAFile = "/etc/ssl/splunk-ca.pem"
	custom.Token = "11111111-1111-1111-1111-111111111111"
	custom.Index = "security"
	custom.Source = "otelsec-node"
	custom.Sourcetype = "otelsec:json"
	custom.MetadataFromAttributes = MetadataAttributes{Index: "splunk.index", Sourcetype: "splunk.sourcetype", Host: "k8s.node.name"}
	custom.EventPath = "/services/collector/event/1.0"
	custom.HealthPath = "/services/collector/health/1.0"
	custom.HealthCheckOnStart = false
	custom.MaxContentLength = 1 << 20
	q := custom.QueueConfig.Get()
	q.NumConsumers = 1
	q.QueueSize = 5000
	storage := component.MustNewID("file_storage")
	q.StorageID = &storage
	custom.RetryConfig.InitialInterval = time.Second
	custom.RetryConfig.MaxInterval = 10 * time.Second
	custom.RetryConfig.MaxElapsedTime = 0

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), def},
		{component.NewIDWithName(metadata.Type, "custom"), custom},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, xconfmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigUnknownField(t *testing.T) {
	err := confmap.NewFromStringMap(map[string]any{"sourcetypes": "x"}).Unmarshal(createDefaultConfig())
	require.ErrorContains(t, err, "sourcetypes")
}

func TestValidateNamesTheField(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.ClientConfig.Endpoint = "https://splunk.example:8088"
		c.Token = "t"
		return c
	}
	require.NoError(t, valid().Validate())
	for _, tt := range []struct {
		field  string
		mutate func(*Config)
		msg    string
	}{
		{"endpoint", func(c *Config) { c.ClientConfig.Endpoint = "" }, "must be the HEC base URL"},
		{"endpoint", func(c *Config) { c.ClientConfig.Endpoint = "splunk:8088" }, `must be an http or https URL with a host; got "splunk:8088"`},
		{"endpoint", func(c *Config) { c.ClientConfig.Endpoint = "http://a b" }, `parse "http://a b": invalid character`},
		{"token", func(c *Config) { c.Token = "" }, "must be set"},
		{"event_path", func(c *Config) { c.EventPath = "services/collector" }, `must start with /; got "services/collector"`},
		{"health_path", func(c *Config) { c.HealthPath = "" }, `must start with /; got ""`},
		{"max_content_length", func(c *Config) { c.MaxContentLength = 100 }, "must be at least 1024 bytes; got 100"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			err := xconfmap.Validate(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.field+": "+tt.msg)
		})
	}
}
