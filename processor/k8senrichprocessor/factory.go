package k8senrichprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/metadata"
)

// NewFactory returns the factory of the k8senrich processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		AuthType:        k8s.AuthAuto,
		PodLabels:       KeyFilter{KeyRegex: []string{".*"}},
		DeletedPodGrace: 2 * time.Minute,
		WaitForMetadata: 5 * time.Second,
		MaxHeldRecords:  4096,
	}
}

func createLogs(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	e, err := newEnricher(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &logsProcessor{enricher: e, next: next}, nil
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	e, err := newEnricher(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return &metricsProcessor{enricher: e, next: next}, nil
}
