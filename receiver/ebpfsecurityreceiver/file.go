package ebpfsecurityreceiver

import (
	"github.com/otelsec/otelsec/internal/sensor"
)

// FileConfig configures the file sensor.
type FileConfig struct {
	// Enabled turns the file sensor on.
	Enabled bool `mapstructure:"enabled"`
}

func (c *FileConfig) validate(bad func(field, format string, args ...any)) {}

func (c *FileConfig) options() sensor.FileOptions {
	return sensor.FileOptions{Enabled: c.Enabled}
}

// handleFile decodes a file record and appends its event.
func (r *ebpfReceiver) handleFile(raw []byte, b *batch, m *mapper) error {
	return errUnknownKind
}
