package enforce

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/sensor"
)

// TestEveryProgramVerifies loads each program of the policy object on its own, also the ones
// Load attaches only when a set needs them (the path and setuid hooks), and reports the
// verifier's verdict and statistics: newer verifiers explore differently (Linux 7.3 refused an
// exec program that 6.18 accepted with 486k of its 1M instructions), so the qemu matrix runs
// this on every kernel. BPF LSM programs are skipped, by name, where BPF LSM is not active.
func TestEveryProgramVerifies(t *testing.T) {
	f, err := kernel.Probe()
	require.NoError(t, err)
	if err := f.Require(); err != nil {
		t.Skipf("kernel lacks what otelsec needs: %v", err)
	}
	caps := sensor.CapabilitiesOf(f)
	spec, err := bpf.LoadPolicy()
	require.NoError(t, err)
	for name, ps := range spec.Programs {
		t.Run(name, func(t *testing.T) {
			if ps.Type == ebpf.LSM && !caps.LSM {
				t.Skip("BPF LSM is not active on this kernel")
			}
			one := &ebpf.CollectionSpec{Maps: spec.Maps, Programs: map[string]*ebpf.ProgramSpec{name: ps}, Types: spec.Types}
			coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
				Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats, LogSizeStart: 1 << 24},
			})
			var ve *ebpf.VerifierError
			if errors.As(err, &ve) {
				t.Fatalf("%s refused by the verifier:\n%s", name, strings.Join(ve.Log[max(0, len(ve.Log)-30):], "\n"))
			}
			require.NoError(t, err)
			defer coll.Close()
			for _, l := range strings.Split(coll.Programs[name].VerifierLog, "\n") {
				if strings.HasPrefix(l, "processed ") {
					t.Log(l)
				}
			}
		})
	}
}
