package otelsecsplunkhecexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelsec/otelsec/exporter/otelsecsplunkhecexporter/internal/metadata"
)

// NewFactory returns the factory of the otelsec_splunk_hec exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 10 * time.Second
	client.Compression = configcompression.TypeGzip
	queue := exporterhelper.NewDefaultQueueConfig()
	// Batching on by default: up to 10,000 events per batch, sent after 200 ms at the latest
	// (a batch above max_content_length goes in several requests).
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: 200 * time.Millisecond,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      1000,
		MaxSize:      10000,
	})
	return &Config{
		ClientConfig: client,
		QueueConfig:  configoptional.Some(queue),
		RetryConfig:  configretry.NewDefaultBackOffConfig(),
		Source:       "otelsec",
		MetadataFromAttributes: MetadataAttributes{
			Index:      "com.splunk.index",
			Source:     "com.splunk.source",
			Sourcetype: "com.splunk.sourcetype",
			Host:       "host.name",
		},
		EventPath:          "/services/collector/event",
		HealthPath:         "/services/collector/health",
		HealthCheckOnStart: true,
		MaxContentLength:   2 << 20,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, cfg, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// The HTTP client's timeout bounds each request; a batch may take several.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
}
