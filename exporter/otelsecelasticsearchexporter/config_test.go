package otelsecelasticsearchexporter

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

	"github.com/otelsec/otelsec/exporter/otelsecelasticsearchexporter/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	def := createDefaultConfig().(*Config)
	def.ClientConfig.Endpoint = "https://es.example:9200"

	custom := createDefaultConfig().(*Config)
	custom.ClientConfig.Endpoint = "https://es.example:9200"
	custom.ClientConfig.Timeout = time.Minute
	custom.ClientConfig.Compression = configcompression.Type("none")
	custom.ClientConfig.TLS.CAFile = "/etc/ssl/es-ca.pem"
	custom.APIKey = "aWQ6a2V5"
	custom.Namespace = "prod"
	custom.FlushBytes = 1 << 20
	custom.Setup = SetupConfig{IndexTemplate: true, TemplateName: "otelsec-logs", TemplatePriority: 300, DataStreams: true}
	custom.QueueConfig.Get().NumConsumers = 2
	storage := component.MustNewID("file_storage")
	custom.QueueConfig.Get().StorageID = &storage
	custom.RetryConfig.MaxElapsedTime = 0

	basic := createDefaultConfig().(*Config)
	basic.ClientConfig.Endpoint = "http://127.0.0.1:9200"
	basic.User = "otelsec"
	basic.Password = "secret"

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), def},
		{component.NewIDWithName(metadata.Type, "custom"), custom},
		{component.NewIDWithName(metadata.Type, "basic"), basic},
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
	err := confmap.NewFromStringMap(map[string]any{"index": "x"}).Unmarshal(createDefaultConfig())
	require.ErrorContains(t, err, "index")
}

func TestValidateNamesTheField(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.ClientConfig.Endpoint = "https://es.example:9200"
		return c
	}
	require.NoError(t, valid().Validate())
	for _, tt := range []struct {
		field  string
		mutate func(*Config)
		msg    string
	}{
		{"endpoint", func(c *Config) { c.ClientConfig.Endpoint = "" }, "must be the Elasticsearch URL"},
		{"endpoint", func(c *Config) { c.ClientConfig.Endpoint = "es:9200" }, `must be an http or https URL with a host; got "es:9200"`},
		{"namespace", func(c *Config) { c.Namespace = "Prod-EU" }, `must be 1 to 100 lower-case characters`},
		{"namespace", func(c *Config) { c.Namespace = "" }, `must be 1 to 100 lower-case characters`},
		{"flush_bytes", func(c *Config) { c.FlushBytes = 10 }, "must be at least 1024; got 10"},
		{"timeout", func(c *Config) { c.ClientConfig.Timeout = -time.Second }, "must not be negative; got -1s"},
		{"user", func(c *Config) { c.Password = "p" }, "must be set with password"},
		{"setup::template_name", func(c *Config) { c.Setup.IndexTemplate = true; c.Setup.TemplateName = "" }, "must be set with setup::index_template"},
		{"setup::template_priority", func(c *Config) { c.Setup.IndexTemplate = true; c.Setup.TemplatePriority = 100 }, "must be above 100"},
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
