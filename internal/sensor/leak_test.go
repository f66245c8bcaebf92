package sensor

import (
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
)

func exists(id ebpf.ProgramID) bool {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return false
	}
	p.Close()
	return true
}

func TestCloseReleasesPrograms(t *testing.T) {
	for _, hook := range []Hook{HookTPBTF, HookRawTP} {
		t.Run(string(hook), func(t *testing.T) { testClose(t, hook) })
	}
}

func testClose(t *testing.T, hook Hook) {
	s, err := Load(Options{ProcessHook: hook, RingBufferSize: 1 << 20, WakeupEvery: 64, ArgsMaxBytes: 1024},
		Capabilities{TPBTF: true, RawTracepoint: true, PrepareExec: true})
	require.NoError(t, err)
	ids := s.ProgramIDs()
	require.Len(t, ids, 4)
	require.NoError(t, s.Close())
	for name, id := range ids {
		t.Logf("%s %d exists=%v", name, id, exists(id))
	}
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		n := 0
		for _, id := range ids {
			if exists(id) {
				n++
			}
		}
		if n == 0 {
			t.Logf("all gone after %s", time.Since(start))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	runtime.GC()
	t.Fatal("still there")
}
