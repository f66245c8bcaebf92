package ebpfsecurityreceiver

import (
	"github.com/otelsec/otelsec/internal/sensor"
)

// PrivilegeConfig configures the privilege sensor.
type PrivilegeConfig struct {
	// Enabled turns the privilege sensor on.
	Enabled bool `mapstructure:"enabled"`
}

func (c *PrivilegeConfig) validate(bad func(field, format string, args ...any)) {}

func (c *PrivilegeConfig) options() sensor.PrivilegeOptions {
	return sensor.PrivilegeOptions{Enabled: c.Enabled}
}

// handlePrivilege decodes a privilege record and appends its event.
func (r *ebpfReceiver) handlePrivilege(raw []byte, b *batch, m *mapper) error {
	return errUnknownKind
}
