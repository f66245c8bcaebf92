package sensor

// PrivilegeOptions configure the privilege sensor.
type PrivilegeOptions struct {
	Enabled bool
}

// loadPrivilege loads the privilege sensor when it is enabled.
func loadPrivilege(s *Sensors, caps Capabilities) error {
	if !s.opts.Privilege.Enabled {
		return nil
	}
	return errNotYet("privilege")
}
