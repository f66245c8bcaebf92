package ebpfsecurityreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// NewFactory returns the factory of the ebpfsecurity receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		ProcPath:     "/proc",
		MountTracefs: true,
		Process: ProcessConfig{
			Hook:          "auto",
			ArgsMaxBytes:  1024,
			AncestryDepth: 5,
		},
		File:                 defaultFileConfig(),
		Network:              defaultNetworkConfig(),
		Privilege:            defaultPrivilegeConfig(),
		Policy:               defaultPolicyConfig(),
		ProcessCache:         ProcessCacheConfig{Size: 65536, ReapInterval: time.Minute},
		RingBuffer:           RingBufferConfig{Size: 8 << 20, WakeupEvery: 64, FlushInterval: 200 * time.Millisecond},
		MaxBatchSize:         1024,
		CollectionInterval:   10 * time.Second,
		MetricsBuilderConfig: metadata.DefaultMetricsBuilderConfig(),
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	r, err := receivers.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.logs = next
	return r.handle(signalLogs), nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r, err := receivers.get(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	r.metrics = next
	return r.handle(signalMetrics), nil
}
