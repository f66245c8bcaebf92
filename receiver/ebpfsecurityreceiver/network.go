package ebpfsecurityreceiver

import (
	"github.com/otelsec/otelsec/internal/sensor"
)

// NetworkConfig configures the network sensor.
type NetworkConfig struct {
	// Enabled turns the network sensor on.
	Enabled bool `mapstructure:"enabled"`
}

func (c *NetworkConfig) validate(bad func(field, format string, args ...any)) {}

func (c *NetworkConfig) options() sensor.NetworkOptions {
	return sensor.NetworkOptions{Enabled: c.Enabled}
}

// handleNetwork decodes a network record and appends its event.
func (r *ebpfReceiver) handleNetwork(raw []byte, b *batch, m *mapper) error {
	return errUnknownKind
}
