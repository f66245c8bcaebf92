package sensor

// FileOptions configure the file sensor.
type FileOptions struct {
	Enabled bool
}

// loadFile loads the file sensor when it is enabled.
func loadFile(s *Sensors, caps Capabilities) error {
	if !s.opts.File.Enabled {
		return nil
	}
	return errNotYet("file")
}
