package sensor

// NetworkOptions configure the network sensor.
type NetworkOptions struct {
	Enabled bool
}

// loadNetwork loads the network sensor when it is enabled.
func loadNetwork(s *Sensors, caps Capabilities) error {
	if !s.opts.Network.Enabled {
		return nil
	}
	return errNotYet("network")
}
