package enforce

// Privilege-change rules (process.privilege_change) and the file operations of the BPF LSM
// path hooks, on real kernels: a re-exec of the test binary changes its uid with raw syscalls
// on one locked thread (syscall.Setresuid would change every thread, one decision each).

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// setuidHelperEnv makes the test binary the setuid helper: it writes to its marker file (the
// variable's value) only when both calls succeeded.
const setuidHelperEnv = "OTELSEC_ENFORCE_SETUID_HELPER"

// TestMain lets the test binary act as the tests' child processes: the setuid helper here, the
// listener (listen_test.go).
func TestMain(m *testing.M) {
	if marker := os.Getenv(setuidHelperEnv); marker != "" {
		setuidHelper(marker)
	}
	if addr := os.Getenv(listenEnv); addr != "" {
		listenHelper(addr)
	}
	os.Exit(m.Run())
}

// setuidHelper: setresuid(65534, 65534, 0) then setresuid(0, 0, 0) on one thread; prints
// "errno=E uid=U euid=V" after the second call (stdout needs no permission), then writes
// the marker (as root only).
func setuidHelper(marker string) {
	runtime.LockOSThread()
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 0); e != 0 {
		fmt.Printf("first setresuid: %v\n", e)
		os.Exit(2)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0)
	uid, _, _ := unix.RawSyscall(unix.SYS_GETUID, 0, 0, 0)
	euid, _, _ := unix.RawSyscall(unix.SYS_GETEUID, 0, 0, 0)
	fmt.Printf("errno=%d uid=%d euid=%d\n", e, uid, euid)
	if e == 0 {
		if err := os.WriteFile(marker, []byte("root again\n"), 0o600); err != nil {
			fmt.Printf("marker: %v\n", err)
			os.Exit(3)
		}
	}
	os.Exit(0)
}

// runSetuidHelper runs the helper: its pid, output and exit error.
func runSetuidHelper(t *testing.T, marker string) (uint32, string, error) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), setuidHelperEnv+"="+marker)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	require.NotNil(t, cmd.Process)
	return uint32(cmd.Process.Pid), out.String(), err
}

func testBinary(t *testing.T) string {
	self, err := os.Executable()
	require.NoError(t, err)
	self, err = filepath.EvalSymlinks(self)
	require.NoError(t, err)
	return self
}

// only asserts that pid has exactly one decision record (after a settling time) and returns it.
func (e *env) only(t *testing.T, pid uint32) sensor.Decision {
	t.Helper()
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == pid })
	time.Sleep(300 * time.Millisecond) // any other record of pid arrives meanwhile
	n := 0
	e.mu.Lock()
	for _, o := range e.records {
		if o.TGID == pid {
			n++
		}
	}
	e.mu.Unlock()
	require.Equal(t, 1, n, "decision records of pid %d", pid)
	return d
}

// assertChange asserts a privilege-change record of the helper: 65534 -> 0.
func assertChange(t *testing.T, d sensor.Decision, hook Hook, outcome bpf.PolicyPolOutcome, bin string) {
	t.Helper()
	assert.Equal(t, uint8(hook), d.Hook)
	assert.Equal(t, uint8(outcome), d.Outcome)
	assert.True(t, d.HasCreds)
	assert.Equal(t, uint32(0), d.UID, "new uid")
	assert.Equal(t, uint32(0), d.EUID, "new euid")
	assert.Equal(t, uint32(0), d.FSUID, "new fsuid")
	assert.Equal(t, uint32(65534), d.OldUID)
	assert.Equal(t, uint32(65534), d.OldEUID)
	assert.Equal(t, uint32(65534), d.OldFSUID)
	assert.True(t, d.HasPath)
	assert.Equal(t, bin, d.Path, "the binary making the change")
	assert.False(t, d.HasAddr)
	assert.Zero(t, d.FileOps)
}

// TestPrivilegeChangeTracepoint: the syscall tracepoint backend (kernels without BPF LSM).
func TestPrivilegeChangeTracepoint(t *testing.T) {
	if probeCaps(t).LSM { // before loading anything: loads are slow under emulation
		t.Skip("BPF LSM is active here: privilege changes use lsm/task_fix_setuid (TestLSMPrivilegeAndPaths)")
	}
	e := newEnv(t)
	if !e.enf.hooks[HookSetuidTP] {
		t.Skip("no syscall tracepoints (CONFIG_FTRACE_SYSCALLS, tracefs): no privilege-change backend")
	}
	points := func() []string {
		var ps []string
		for _, a := range e.enf.Attachments() {
			ps = append(ps, a.String())
		}
		return ps
	}
	// Attached by the first set with such rules (lazyHooks), then reported.
	assert.NotContains(t, points(), "tracepoint/syscalls/sys_exit_setuid")
	bin := testBinary(t)
	dir := t.TempDir()
	toRoot := func(name string, act policy.Action) policy.Rule {
		r := rule(1, name, policy.EventPrivilegeChange, act)
		r.ToUIDs = []uint32{0}
		if act == policy.ActionKill {
			r.Signal = syscall.SIGKILL
		}
		return r
	}

	t.Run("kill", func(t *testing.T) {
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 60, Rules: []policy.Rule{toRoot("kill-to-root", policy.ActionKill)}}))
		rs := e.enf.Rules()
		require.Len(t, rs, 1)
		assert.Equal(t, HookSetuidTP, rs[0].Backend)
		for _, sc := range setuidSyscalls {
			assert.Contains(t, points(), "tracepoint/syscalls/sys_exit_"+sc)
			assert.Contains(t, points(), "tracepoint/syscalls/sys_enter_"+sc)
		}
		marker := filepath.Join(dir, "kill")
		pid, out, err := runSetuidHelper(t, marker)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "output %q", out)
		ws := ee.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled(), "status %v, output %q", ws, out)
		require.Equal(t, syscall.SIGKILL, ws.Signal())
		assert.NotContains(t, out, "errno=", "the helper ran after the change")
		assert.False(t, exists(marker))
		// One record: the change to 65534 is no change to 0.
		d := e.only(t, pid)
		assert.Equal(t, uint64(60), d.Generation)
		assert.Equal(t, uint32(1), d.RuleID)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_KILL), d.Action)
		assertChange(t, d, HookSetuidTP, bpf.PolicyPolOutcomePOL_OUT_KILLED, bin)
		r, _, ok := e.enf.Decision(60, 1)
		require.True(t, ok)
		assert.Equal(t, "test/kill-to-root", r.SecurityRuleName())
	})

	t.Run("audit", func(t *testing.T) {
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 61, Rules: []policy.Rule{toRoot("audit-to-root", policy.ActionAudit)}}))
		marker := filepath.Join(dir, "audit")
		pid, out, err := runSetuidHelper(t, marker)
		require.NoError(t, err, out)
		assert.Contains(t, out, "errno=0 uid=0 euid=0")
		assert.True(t, exists(marker))
		d := e.only(t, pid)
		assert.Equal(t, uint64(61), d.Generation)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_AUDIT), d.Action)
		assertChange(t, d, HookSetuidTP, bpf.PolicyPolOutcomePOL_OUT_AUDITED, bin)
		r, _, ok := e.enf.Decision(61, 1)
		require.True(t, ok)
		assert.Equal(t, "test/audit-to-root", r.SecurityRuleName())
	})

	t.Run("except_binary", func(t *testing.T) {
		r := toRoot("kill-to-root-but-tests", policy.ActionKill)
		r.ExceptBinary.Exact = []string{bin}
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 62, Rules: []policy.Rule{r}}))
		marker := filepath.Join(dir, "except")
		pid, out, err := runSetuidHelper(t, marker)
		require.NoError(t, err, out)
		assert.True(t, exists(marker))
		e.none(t, func(d *sensor.Decision) bool { return d.TGID == pid })
	})

	t.Run("monitor", func(t *testing.T) {
		r := toRoot("monitor-kill-to-root", policy.ActionKill)
		r.Mode = policy.ModeMonitor
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 63, Rules: []policy.Rule{r}}))
		marker := filepath.Join(dir, "monitor")
		pid, out, err := runSetuidHelper(t, marker)
		require.NoError(t, err, "monitor mode kills nothing: %s", out)
		assert.True(t, exists(marker))
		d := e.only(t, pid)
		assert.Equal(t, uint8(bpf.PolicyPolRuleFlagsPOL_MONITOR), d.RuleFlags)
		assertChange(t, d, HookSetuidTP, bpf.PolicyPolOutcomePOL_OUT_WOULD_KILL, bin)
	})

	t.Run("deny_needs_fallback", func(t *testing.T) {
		r := toRoot("deny-to-root", policy.ActionDeny)
		err := e.enf.Apply(&policy.Set{Generation: 64, Rules: []policy.Rule{r}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "fallback: kill")
		r.FallbackKill = true
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 65, Rules: []policy.Rule{r}}))
		pid, out, err := runSetuidHelper(t, filepath.Join(dir, "deny"))
		require.Error(t, err, out)
		d := e.only(t, pid)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
		assertChange(t, d, HookSetuidTP, bpf.PolicyPolOutcomePOL_OUT_KILLED, bin)
	})
}

// probeCaps are this kernel's capabilities, without loading anything.
func probeCaps(t *testing.T) sensor.Capabilities {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	return sensor.CapabilitiesOf(f)
}

// TestLSMPrivilegeAndPaths: deny at lsm/task_fix_setuid and at the path hooks (the qemu
// kernels of `make vmtest`); one enforcer for both, loads are slow under emulation.
func TestLSMPrivilegeAndPaths(t *testing.T) {
	if !probeCaps(t).LSM {
		t.Skip("BPF LSM is not active on this kernel: run `make vmtest`")
	}
	e := newEnv(t)
	t.Run("privilege_change", func(t *testing.T) { lsmPrivilegeChange(t, e) })
	t.Run("path_ops", func(t *testing.T) { lsmPathOps(t, e) })
}

func lsmPrivilegeChange(t *testing.T, e *env) {
	require.True(t, e.enf.hooks[HookSetuidLSM])
	bin := testBinary(t)
	dir := t.TempDir()
	r := rule(1, "deny-to-root", policy.EventPrivilegeChange, policy.ActionDeny)
	r.ToUIDs = []uint32{0}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 70, Rules: []policy.Rule{r}}))
	require.Equal(t, HookSetuidLSM, e.enf.Rules()[0].Backend)
	marker := filepath.Join(dir, "deny")
	pid, out, err := runSetuidHelper(t, marker)
	require.NoError(t, err, out)
	assert.Contains(t, out, fmt.Sprintf("errno=%d uid=65534 euid=65534", unix.EPERM), "setresuid fails with EPERM and the uid stays")
	assert.False(t, exists(marker))
	d := e.only(t, pid)
	assert.Equal(t, uint64(70), d.Generation)
	assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
	assertChange(t, d, HookSetuidLSM, bpf.PolicyPolOutcomePOL_OUT_DENIED, bin)

	// audit: the change happens, one record
	r = rule(1, "audit-to-root", policy.EventPrivilegeChange, policy.ActionAudit)
	r.ToUIDs = []uint32{0}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 71, Rules: []policy.Rule{r}}))
	pid, out, err = runSetuidHelper(t, filepath.Join(dir, "audit"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "errno=0 uid=0 euid=0")
	d = e.only(t, pid)
	assertChange(t, d, HookSetuidLSM, bpf.PolicyPolOutcomePOL_OUT_AUDITED, bin)
}

// lsmPathOps: file operations beyond open at the BPF LSM path hooks.
func lsmPathOps(t *testing.T, e *env) {
	if !e.enf.hooks[HookPathLSM] {
		t.Skip("no BPF LSM path hooks on this kernel (BPF LSM inactive or no CONFIG_SECURITY_PATH): run `make vmtest`")
	}
	pid := uint32(os.Getpid())
	dir := t.TempDir()
	prot := filepath.Join(dir, "protected")
	require.NoError(t, os.Mkdir(prot, 0o755))
	file := filepath.Join(prot, "f")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	outside := filepath.Join(dir, "outside")
	require.NoError(t, os.WriteFile(outside, []byte("y"), 0o644))

	deny := func(gen uint64, name string, ops policy.FileOps) {
		r := rule(1, name, policy.EventFile, policy.ActionDeny)
		r.Paths.Prefix = []string{prot}
		r.FileOps = ops
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: gen, Rules: []policy.Rule{r}}))
		rs := e.enf.Rules()
		require.Len(t, rs, 1)
		require.Equal(t, HookPathLSM, rs[0].Backend)
	}
	denied := func(gen uint64, op policy.FileOps, path string) sensor.Decision {
		d := e.wait(t, func(d *sensor.Decision) bool { return d.Generation == gen })
		assert.Equal(t, pid, d.TGID)
		assert.Equal(t, uint8(HookPathLSM), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_DENY), d.Action)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED), d.Outcome)
		assert.Equal(t, uint32(op), d.FileOps)
		assert.True(t, d.HasPath)
		assert.Equal(t, path, d.Path)
		return d
	}

	t.Run("unlink", func(t *testing.T) {
		deny(80, "deny-unlink", policy.FileUnlink)
		require.ErrorIs(t, unix.Unlink(file), unix.EPERM)
		require.True(t, exists(file))
		denied(80, policy.FileUnlink, file)
		other := filepath.Join(dir, "other")
		require.NoError(t, os.WriteFile(other, nil, 0o644))
		require.NoError(t, unix.Unlink(other), "outside the prefix")
	})

	t.Run("rename", func(t *testing.T) {
		deny(81, "deny-rename", policy.FileRename)
		require.ErrorIs(t, unix.Rename(file, filepath.Join(dir, "moved")), unix.EPERM)
		require.True(t, exists(file))
		d := denied(81, policy.FileRename, file)
		assert.False(t, d.PathNew)
		// Into the prefix: the new name matches.
		in := filepath.Join(dir, "in")
		require.NoError(t, os.WriteFile(in, nil, 0o644))
		target := filepath.Join(prot, "in")
		require.ErrorIs(t, unix.Rename(in, target), unix.EPERM)
		require.True(t, exists(in))
		d = e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 81 && d.PathNew })
		assert.Equal(t, target, d.Path)
		require.NoError(t, unix.Rename(in, filepath.Join(dir, "in2")), "outside the prefix")
	})

	t.Run("chmod", func(t *testing.T) {
		deny(82, "deny-chmod", policy.FileChmod)
		require.ErrorIs(t, unix.Chmod(file, 0o777), unix.EPERM)
		st, err := os.Stat(file)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
		denied(82, policy.FileChmod, file)
		require.NoError(t, unix.Chmod(outside, 0o600))
	})

	t.Run("audit", func(t *testing.T) {
		r := rule(1, "audit-changes", policy.EventFile, policy.ActionAudit)
		r.Paths.Prefix = []string{prot}
		r.FileOps = policy.FileWrite | policy.FileUnlink
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 83, Rules: []policy.Rule{r}}))
		rs := e.enf.Rules()
		require.Len(t, rs, 1)
		assert.Equal(t, HookFileLSM, rs[0].Backend)
		assert.Equal(t, []Hook{HookPathLSM}, rs[0].Also)
		assert.Equal(t, "lsm/file_open + "+HookPathLSM.String(), rs[0].Backends())

		require.NoError(t, os.WriteFile(file, []byte("z"), 0o644))
		d := e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 83 && d.Hook == uint8(HookFileLSM) })
		assert.Equal(t, pid, d.TGID)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), d.Outcome)
		assert.Equal(t, file, d.Path)
		assert.Equal(t, uint32(policy.FileOpen|policy.FileWrite|policy.FileTruncate), d.FileOps)

		require.NoError(t, unix.Unlink(file))
		require.False(t, exists(file))
		d = e.wait(t, func(d *sensor.Decision) bool { return d.Generation == 83 && d.Hook == uint8(HookPathLSM) })
		assert.Equal(t, pid, d.TGID)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), d.Outcome)
		assert.Equal(t, file, d.Path)
		assert.Equal(t, uint32(policy.FileUnlink), d.FileOps)

		// Outside the prefix: nothing.
		require.NoError(t, os.WriteFile(outside, []byte("w"), 0o644))
		require.NoError(t, unix.Unlink(outside))
		e.none(t, func(d *sensor.Decision) bool { return d.Generation == 83 && strings.HasPrefix(d.Path, outside) })
		n := 0
		e.mu.Lock()
		for _, o := range e.records {
			if o.Generation == 83 {
				n++
			}
		}
		e.mu.Unlock()
		assert.Equal(t, 2, n, "one record per operation under the prefix")
	})
}

// TestCompilePrivilegeAndPathOps: which hooks privilege-change and file rules get, with and
// without BPF LSM and its path hooks, and the bitmaps they fill.
func TestCompilePrivilegeAndPathOps(t *testing.T) {
	lsm := map[Hook]bool{HookExecTP: true, HookExecLSM: true, HookFileLSM: true, HookSetuidLSM: true, HookPathLSM: true}
	lsmNoPath := map[Hook]bool{HookExecTP: true, HookExecLSM: true, HookFileLSM: true, HookSetuidLSM: true}
	noLSM := map[Hook]bool{HookExecTP: true, HookSetuidTP: true}
	bitsOf := func(ids ...int) bits { // rule ids (1-based)
		var b bits
		for _, id := range ids {
			set(&b, id-1)
		}
		return b
	}

	priv := rule(1, "to-root", policy.EventPrivilegeChange, policy.ActionAudit)
	priv.ToUIDs = []uint32{0}
	any := rule(2, "any-change", policy.EventPrivilegeChange, policy.ActionKill)
	any.Signal = syscall.SIGKILL
	for name, tc := range map[string]struct {
		hooks map[Hook]bool
		want  Hook
	}{"lsm": {lsm, HookSetuidLSM}, "no_lsm": {noLSM, HookSetuidTP}} {
		t.Run(name, func(t *testing.T) {
			st, err := compile(&policy.Set{Rules: []policy.Rule{priv, any}}, tc.hooks)
			require.NoError(t, err)
			assert.Equal(t, tc.want, st.states[0].Backend)
			assert.Equal(t, tc.want, st.states[1].Backend)
			assert.Equal(t, bitsOf(1, 2), st.hdr.Hook[tc.want])
			assert.Equal(t, map[uint32]bits{0: bitsOf(1)}, st.touids)
			assert.Equal(t, bitsOf(2), st.hdr.AnyTouid)
			assert.Equal(t, bitsOf(2), st.hdr.Kill)
		})
	}
	deny := rule(1, "deny-to-root", policy.EventPrivilegeChange, policy.ActionDeny)
	deny.ToUIDs = []uint32{0}
	_, err := compile(&policy.Set{Rules: []policy.Rule{deny}}, noLSM)
	require.ErrorContains(t, err, "fallback: kill")
	deny.FallbackKill = true
	st, err := compile(&policy.Set{Rules: []policy.Rule{deny}}, noLSM)
	require.NoError(t, err)
	assert.True(t, st.states[0].KillFallback)
	assert.Equal(t, HookSetuidTP, st.states[0].Backend)
	bad := rule(1, "exec-to-root", policy.EventExec, policy.ActionAudit)
	bad.ToUIDs = []uint32{0}
	_, err = compile(&policy.Set{Rules: []policy.Rule{bad}}, lsm)
	require.ErrorContains(t, err, "toUIDs applies to event process.privilege_change only")

	file := func(id uint32, ops policy.FileOps) policy.Rule {
		r := rule(id, fmt.Sprintf("file-%d", id), policy.EventFile, policy.ActionAudit)
		r.Paths.Prefix = []string{"/etc"}
		r.FileOps = ops
		return r
	}
	both, pathOnly, trunc := file(1, policy.FileWrite|policy.FileUnlink), file(2, policy.FileRename|policy.FileChmod), file(3, policy.FileTruncate)
	st, err = compile(&policy.Set{Rules: []policy.Rule{both, pathOnly, trunc}}, lsm)
	require.NoError(t, err)
	assert.Equal(t, RuleState{Name: "test/file-1", Source: "enforce_test.go", Backend: HookFileLSM, Also: []Hook{HookPathLSM}}, st.states[0])
	assert.Equal(t, HookPathLSM, st.states[1].Backend)
	assert.Empty(t, st.states[1].Also)
	assert.Equal(t, []Hook{HookPathLSM}, st.states[2].Also, "truncate: O_TRUNC opens and truncate(2)")
	assert.Equal(t, bitsOf(1, 3), st.hdr.Hook[HookFileLSM])
	assert.Equal(t, bitsOf(1, 2, 3), st.hdr.Hook[HookPathLSM])
	assert.Equal(t, bitsOf(1), st.hdr.FileOp[4], "unlink is bit 4")
	assert.Equal(t, bitsOf(2), st.hdr.FileOp[5], "rename is bit 5")
	assert.Equal(t, bitsOf(2), st.hdr.FileOp[6], "chmod is bit 6")
	assert.Equal(t, bitsOf(3), st.hdr.FileOp[8], "truncate is bit 8")

	// Without the path hooks: truncate stays at file_open, the others are refused.
	trunc.ID = 1
	st, err = compile(&policy.Set{Rules: []policy.Rule{trunc}}, lsmNoPath)
	require.NoError(t, err)
	assert.Equal(t, HookFileLSM, st.states[0].Backend)
	assert.Empty(t, st.states[0].Also)
	for _, hooks := range []map[Hook]bool{lsmNoPath, noLSM} {
		_, err = compile(&policy.Set{Rules: []policy.Rule{both}}, hooks)
		require.ErrorContains(t, err, "need the BPF LSM path hooks")
		require.ErrorContains(t, err, "no kill fallback")
	}
}
