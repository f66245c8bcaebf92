package sensor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadBothHooks(t *testing.T) {
	for _, hook := range []Hook{HookTPBTF, HookRawTP} {
		t.Run(string(hook), func(t *testing.T) {
			s, err := Load(Options{ProcessHook: hook, RingBufferSize: 1 << 20, WakeupEvery: 64, ArgsMaxBytes: 1024},
				Capabilities{TPBTF: true, RawTracepoint: true, PrepareExec: true})
			require.NoError(t, err)
			t.Log(s.Attachments())
			require.NoError(t, s.Close())
		})
	}
}
