package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateTheLibrary(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"policy", "validate", "../../policies"}, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.Empty(t, stderr.String())
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.Len(t, lines, 15)
	assert.Equal(t, "   1  cloud-metadata/deny-instance-metadata              network.connect           deny  [../../policies/cloud-metadata.yaml#1]", lines[0])
	assert.Equal(t, "OK: 10 policies, 14 rules in ../../policies", lines[14])

	stdout.Reset()
	assert.Equal(t, 0, run([]string{"policy", "validate", "-q", "../../policies/crypto-miners.yaml"}, &stdout, &stderr))
	assert.Equal(t, "OK: 1 policies, 1 rules in ../../policies/crypto-miners.yaml\n", stdout.String())
}

func TestValidatePrintsEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: ok}
spec:
  rules: [{name: a, event: process.exec, action: audit}]
---
apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: deny-miners}
spec:
  rules:
    - {name: a, event: network.connect, action: deny, selectors: {cidrs: [10.0.0.0/8]}}
    - {name: b, event: network.connect, action: deny, selectors: {cidrs: [10.0.0/8], ports: ["80-"]}}
`), 0o600))
	var stdout, stderr bytes.Buffer
	code := run([]string{"policy", "validate", bad}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout.String())
	assert.Equal(t, bad+`: document 2 (RuntimePolicy "deny-miners"): spec.rules[1].selectors.cidrs[0]: invalid CIDR "10.0.0/8"`+"\n"+
		bad+`: document 2 (RuntimePolicy "deny-miners"): spec.rules[1].selectors.ports[0]: invalid ports "80-" (a port 1 to 65535 or a range such as "8000-8080")`+"\n"+
		"2 error(s)\n", stderr.String())
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"policy"}, {"policy", "validate"}, {"validate", "x"}, {"policy", "validate", "-x", "y"}} {
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 2, run(args, &stdout, &stderr), "%q", args)
		assert.Contains(t, stderr.String(), "usage: otelsec policy validate [-q] FILE|DIR...")
	}
}

// TestBuiltBinary builds the command and runs it as a user would.
func TestBuiltBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "otelsec")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd := exec.Command(bin, "policy", "validate", "-q", "../../policies/")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "OK: 10 policies, 14 rules in ../../policies/\n", string(out))

	missing := filepath.Join(t.TempDir(), "none.yaml")
	cmd = exec.Command(bin, "policy", "validate", missing)
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Equal(t, missing+": cannot stat: no such file or directory\n1 error(s)\n", string(out))
}
