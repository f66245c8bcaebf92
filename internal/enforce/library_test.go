package enforce

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// TestPolicyLibrary: which policies of the library (policies/) this kernel side enforces, with
// BPF LSM and without it, and why the others are refused. policies/README.md says the same; a
// change on either side that alters the list fails here until the README is updated.
func TestPolicyLibrary(t *testing.T) {
	files, err := filepath.Glob("../../policies/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)

	kernels := map[string]sensor.Capabilities{
		// "lsm": with the path hooks (CONFIG_SECURITY_PATH, Debian's kernels have it).
		"lsm":    {TPBTF: true, SyscallTracepoints: true, LSM: true, CgroupSockAddr: true, Cgroup2Path: "/sys/fs/cgroup"},
		"no_lsm": {TPBTF: true, SyscallTracepoints: true, CgroupSockAddr: true, Cgroup2Path: "/sys/fs/cgroup"},
	}
	want := map[string][]string{
		"lsm": {"cloud-metadata.yaml", "crypto-miners.yaml", "file-integrity.yaml", "kubectl-exec.yaml", "lateral-movement.yaml",
			"mining-pool-arguments.yaml", "package-managers.yaml", "privilege-escalation.yaml", "reverse-shell.yaml", "sensitive-files.yaml"},
		"no_lsm": {"cloud-metadata.yaml", "crypto-miners.yaml", "kubectl-exec.yaml", "lateral-movement.yaml", "mining-pool-arguments.yaml",
			"package-managers.yaml", "privilege-escalation.yaml", "reverse-shell.yaml"},
	}
	for name, caps := range kernels {
		t.Run(name, func(t *testing.T) {
			hooks := map[Hook]bool{}
			for _, h := range HooksFor(caps) {
				hooks[h] = true
			}
			var accepted []string
			for _, f := range files {
				set, err := policy.Load(f)
				require.NoError(t, err, f)
				if _, err := compile(set, hooks); err != nil {
					t.Logf("%s refused: %v", filepath.Base(f), strings.ReplaceAll(err.Error(), "\n", "; "))
					continue
				}
				accepted = append(accepted, filepath.Base(f))
			}
			sort.Strings(accepted)
			assert.Equal(t, want[name], accepted)
		})
	}
}
