package otelsecsplunkhecexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the otelsec_splunk_hec exporter's configuration.
type Config struct {
	// ClientConfig: endpoint (the HEC base URL, e.g. https://splunk.example:8088), tls,
	// timeout (per HTTP request), headers, compression (gzip by default), proxy_url, auth.
	ClientConfig confighttp.ClientConfig                                  `mapstructure:",squash"`
	QueueConfig  configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig  configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	// Token is the HEC token, sent as "Authorization: Splunk <token>".
	Token configopaque.String `mapstructure:"token"`
	// Index for events without an index attribute; "" lets the token's default index apply.
	Index string `mapstructure:"index"`
	// Source for events without a source attribute.
	Source string `mapstructure:"source"`
	// Sourcetype for events without a sourcetype attribute; "" means otelsec:<event family>
	// (otelsec:process, otelsec:file, ...).
	Sourcetype string `mapstructure:"sourcetype"`
	// MetadataFromAttributes names the record or resource attributes that set an event's
	// index, source, sourcetype and host (record attributes first); "" turns one off.
	MetadataFromAttributes MetadataAttributes `mapstructure:"metadata_from_attributes"`

	// EventPath is where events are posted, under the endpoint.
	EventPath string `mapstructure:"event_path"`
	// HealthPath is HEC's health check, under the endpoint.
	HealthPath string `mapstructure:"health_path"`
	// HealthCheckOnStart checks HEC's health when the exporter starts and logs a warning when
	// it is not healthy (events are queued and retried meanwhile).
	HealthCheckOnStart bool `mapstructure:"health_check_on_start"`
	// MaxContentLength bounds the uncompressed body of one request; a larger batch is sent
	// in several requests.
	MaxContentLength int `mapstructure:"max_content_length"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// MetadataAttributes names the attributes holding HEC metadata.
type MetadataAttributes struct {
	Index      string `mapstructure:"index"`
	Source     string `mapstructure:"source"`
	Sourcetype string `mapstructure:"sourcetype"`
	Host       string `mapstructure:"host"`
}

var _ component.Config = (*Config)(nil)

// Validate checks every field and names each one that is wrong.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if c.ClientConfig.Endpoint == "" {
		bad("endpoint", "must be the HEC base URL, e.g. https://splunk.example:8088")
	} else if u, err := url.Parse(c.ClientConfig.Endpoint); err != nil {
		bad("endpoint", "%v", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("endpoint", "must be an http or https URL with a host; got %q", c.ClientConfig.Endpoint)
	}
	if c.Token == "" {
		bad("token", "must be set (the HEC token)")
	}
	for field, p := range map[string]string{"event_path": c.EventPath, "health_path": c.HealthPath} {
		if !strings.HasPrefix(p, "/") {
			bad(field, "must start with /; got %q", p)
		}
	}
	if c.MaxContentLength < 1024 {
		bad("max_content_length", "must be at least 1024 bytes; got %d", c.MaxContentLength)
	}
	return errors.Join(errs...)
}
