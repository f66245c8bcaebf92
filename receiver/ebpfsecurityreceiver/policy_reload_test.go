package ebpfsecurityreceiver

// The whole policy path with the real runtimepolicy extension: a policy file on disk, watched;
// the receiver enforces it; an edit of the file changes what the kernel does within 2 s.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelsec/otelsec/extension/runtimepolicyextension"
	"github.com/otelsec/otelsec/internal/enforce"
	"github.com/otelsec/otelsec/internal/schema"
)

// killPolicy is a RuntimePolicy that kills exec of binary, in mode.
func killPolicy(binary, mode string) string {
	return fmt.Sprintf(`apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata:
  name: reload
spec:
  mode: %s
  rules:
    - name: kill-touch
      event: process.exec
      selectors:
        binary:
          exact: [%q]
      action: kill
`, mode, binary)
}

// writeAtomically replaces path as editors and ConfigMap updates do: a new file renamed over it.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

func TestPolicyHotReloadThroughTheExtension(t *testing.T) {
	requireRoot(t)
	bin := t.TempDir()
	touch := copyBinary(t, "/bin/touch", bin)
	policies := t.TempDir()
	file := filepath.Join(policies, "reload.yaml")
	writeAtomically(t, file, killPolicy(touch, "enforce"))

	f := runtimepolicyextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*runtimepolicyextension.Config)
	cfg.Paths = []string{policies}
	require.NoError(t, cfg.Validate())
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(context.Background())) })

	h := startPolicyHarness(t, ext)
	hooks := h.receiver().enforcer.Hooks()
	if !containsHook(hooks, enforce.HookExecTP) {
		t.Skip("this kernel has no tp_btf: no exec kill backend")
	}

	marker := filepath.Join(bin, "created")
	cmd := exec.Command(touch, marker)
	require.Error(t, cmd.Run(), "the policy read from the file at start kills touch")
	_, err = os.Stat(marker)
	require.True(t, errors.Is(err, os.ErrNotExist), "the killed binary's side effect happened")
	e := h.await(schema.EventPolicyDecision, cmd.Process.Pid)
	assert.Equal(t, "reload/kill-touch", e.str(schema.SecurityRuleName))
	assert.Equal(t, "killed", e.str(schema.PolicyOutcome))
	assert.Equal(t, "enforce", e.str(schema.PolicyMode))

	// Monitor mode through an edit of the file: touch runs, and the decision says it would
	// have been killed. Within 2 s of the write (the extension's reload delay included).
	writeAtomically(t, file, killPolicy(touch, "monitor"))
	edited := time.Now()
	var took time.Duration
	require.Eventually(t, func() bool {
		if exec.Command(touch, marker).Run() != nil {
			return false
		}
		took = time.Since(edited)
		return true
	}, 2*time.Second, 20*time.Millisecond, "the edited policy was not in force within 2 s")
	t.Logf("the edit took effect after %s", took.Round(time.Millisecond))
	_, err = os.Stat(marker)
	require.NoError(t, err, "touch ran under the monitor-mode policy")

	cmd = exec.Command(touch, marker)
	require.NoError(t, cmd.Run())
	m := h.await(schema.EventPolicyDecision, cmd.Process.Pid)
	assert.Equal(t, "reload/kill-touch", m.str(schema.SecurityRuleName))
	assert.Equal(t, "monitor", m.str(schema.PolicyMode))
	assert.Equal(t, "kill", m.str(schema.PolicyAction))

	// An invalid edit keeps the monitor-mode set in force.
	writeAtomically(t, file, killPolicy(touch, "monitor")+"      bogus: true\n")
	time.Sleep(2 * cfg.ReloadDelay)
	require.NoError(t, exec.Command(touch, marker).Run(), "the previous (monitor) set stays in force")
}

func containsHook(hooks []enforce.Hook, h enforce.Hook) bool {
	for _, x := range hooks {
		if x == h {
			return true
		}
	}
	return false
}
