package otelsecelasticsearchexporter

import (
	"errors"
	"fmt"
	"net/url"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelsec/otelsec/internal/siem"
)

// Config is the otelsec_elasticsearch exporter's configuration.
type Config struct {
	// ClientConfig: endpoint (the Elasticsearch URL, e.g. https://es.example:9200), tls,
	// timeout (for one batch: every bulk request it takes), headers, compression (gzip by
	// default), proxy_url, auth (an authenticator extension).
	ClientConfig confighttp.ClientConfig                                  `mapstructure:",squash"`
	QueueConfig  configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig  configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// User and Password for HTTP basic authentication, or APIKey (base64 id:key), which wins.
	User     string              `mapstructure:"user"`
	Password configopaque.String `mapstructure:"password"`
	APIKey   configopaque.String `mapstructure:"api_key"`

	// Namespace is the data streams' namespace: documents go to
	// logs-otelsec.<event family>-<namespace>.
	Namespace string `mapstructure:"namespace"`
	// FlushBytes bounds one bulk request's body; a larger batch takes several requests.
	FlushBytes int `mapstructure:"flush_bytes"`

	// Setup creates Elasticsearch resources when the exporter starts.
	Setup SetupConfig `mapstructure:"setup"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SetupConfig says what the exporter creates in Elasticsearch when it starts. Failures are
// logged; documents are sent regardless (Elasticsearch then applies its built-in logs-*-*
// template).
type SetupConfig struct {
	// IndexTemplate puts an index template for logs-otelsec.*-* with the ECS mappings of every
	// field the exporter writes.
	IndexTemplate bool `mapstructure:"index_template"`
	// TemplateName names it.
	TemplateName string `mapstructure:"template_name"`
	// TemplatePriority must beat the built-in logs-*-* template (100).
	TemplatePriority int `mapstructure:"template_priority"`
	// DataStreams creates the data stream of every event family (otherwise the first
	// document of a family creates it).
	DataStreams bool `mapstructure:"data_streams"`
}

var _ component.Config = (*Config)(nil)

// Validate checks every field and names each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.ClientConfig.Endpoint == "" {
		bad("endpoint", "must be the Elasticsearch URL, e.g. https://es.example:9200")
	} else if u, err := url.Parse(c.ClientConfig.Endpoint); err != nil {
		bad("endpoint", "%v", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("endpoint", "must be an http or https URL with a host; got %q", c.ClientConfig.Endpoint)
	}
	if c.Namespace == "" || len(c.Namespace) > 100 || siem.Sanitize(c.Namespace) != c.Namespace {
		bad("namespace", "must be 1 to 100 lower-case characters without \\ / * ? \" < > | , # : - or spaces; got %q", c.Namespace)
	}
	if c.FlushBytes < 1024 {
		bad("flush_bytes", "must be at least 1024; got %d", c.FlushBytes)
	}
	if c.ClientConfig.Timeout < 0 {
		bad("timeout", "must not be negative; got %s", c.ClientConfig.Timeout)
	}
	if c.Password != "" && c.User == "" {
		bad("user", "must be set with password")
	}
	if c.Setup.IndexTemplate {
		if c.Setup.TemplateName == "" {
			bad("setup::template_name", "must be set with setup::index_template")
		}
		if c.Setup.TemplatePriority <= 100 {
			bad("setup::template_priority", "must be above 100 (the built-in logs-*-* template's); got %d", c.Setup.TemplatePriority)
		}
	}
	return errors.Join(errs...)
}
