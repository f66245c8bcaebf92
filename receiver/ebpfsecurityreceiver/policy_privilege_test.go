package ebpfsecurityreceiver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/enforce"
	"github.com/otelsec/otelsec/internal/policy"
	s "github.com/otelsec/otelsec/internal/schema"
)

// TestPolicyPrivilegeChange: a process.privilege_change rule's decision as a policy.decision
// record: the new credentials as the process's, the previous ones beside.
func TestPolicyPrivilegeChange(t *testing.T) {
	src := &testSource{}
	h := startPolicyHarness(t, src)
	r := h.receiver()
	require.NotNil(t, r.enforcer)
	hook := enforce.HookSetuidLSM
	hooks := r.enforcer.Hooks()
	if !containsHook(hooks, hook) {
		hook = enforce.HookSetuidTP
	}
	if !containsHook(hooks, hook) {
		t.Skip("neither BPF LSM nor syscall tracepoints: no privilege-change backend")
	}
	audit := policy.Rule{ID: 1, Policy: "privilege", Name: "to-nobody", Source: "test.yaml#0", Event: policy.EventPrivilegeChange,
		Action: policy.ActionAudit, Mode: policy.ModeEnforce, ToUIDs: []uint32{65534}}
	require.NoError(t, src.publish(&policy.Set{Generation: 1, Rules: []policy.Rule{audit}}))

	out, pid := runPrivHelper(t, "setuid", nil) // setuid(65534) as root
	require.Equal(t, uint32(0), out.Before.EUID)
	require.Equal(t, uint32(65534), out.After.EUID)
	e := h.await(s.EventPolicyDecision, pid)
	checkSchema(t, e)
	self, err := os.Executable()
	require.NoError(t, err)
	self, err = filepath.EvalSymlinks(self)
	require.NoError(t, err)
	assert.Equal(t, "privilege/to-nobody", e.str(s.SecurityRuleName))
	assert.Equal(t, "audit", e.str(s.PolicyAction))
	assert.Equal(t, "audited", e.str(s.PolicyOutcome))
	assert.Equal(t, "process.privilege_change", e.str(s.PolicyEvent))
	assert.Equal(t, hook.String(), e.str(s.PolicyBackend))
	assert.Equal(t, int64(65534), e.int(s.ProcessUserID))
	assert.Equal(t, int64(65534), e.int(s.ProcessRealUserID))
	assert.Equal(t, int64(0), e.int(s.PrevUserID))
	assert.Equal(t, int64(0), e.int(s.PrevRealUserID))
	assert.Equal(t, int64(-1), e.int(s.FSUserID), "the fsuid follows the euid")
	assert.Equal(t, int64(-1), e.int(s.PrevFSUserID))
	assert.Equal(t, self, e.str(s.ProcessExecutablePath))
	assert.Equal(t, int64(pid), e.int(s.ProcessPID))
}
