package enforce

// The process selectors evaluated at exec besides the binary: parent binary, arguments,
// capabilities and a network socket as stdio. Each is exercised with a real exec that matches
// and one that differs only in that selector.

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// TestSelectors runs the selector tests on one loaded enforcer (loading the sensors and the
// enforcer is most of a test's time in the qemu guests); each subtest applies its own set.
func TestSelectors(t *testing.T) {
	e := newEnv(t)
	t.Run("parent_binary", func(t *testing.T) { testParentBinary(t, e) })
	t.Run("args_contain", func(t *testing.T) { testArgsContain(t, e) })
	t.Run("capabilities", func(t *testing.T) { testCapabilities(t, e) })
	t.Run("stdio_network_socket", func(t *testing.T) { testStdioNetworkSocket(t, e) })
	t.Run("listen", func(t *testing.T) { testListen(t, e) })
}

// copyBinary copies the system binary at src (symlinks resolved) to dir/bin/name.
func copyBinary(t *testing.T, src, dir, name string) string {
	t.Helper()
	src, err := filepath.EvalSymlinks(src)
	require.NoError(t, err)
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, "bin", name)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, data, 0o755))
	dst, err = filepath.EvalSymlinks(dst)
	require.NoError(t, err)
	return dst
}

// execHook is the hook exec rules without a deny run at here.
func execHook(t *testing.T, e *env) Hook {
	if e.enf.hooks[HookExecTP] {
		return HookExecTP
	}
	if e.enf.hooks[HookExecLSM] {
		return HookExecLSM
	}
	t.Skip("this kernel has neither tp_btf nor BPF LSM: no exec backend")
	return 0
}

// killed asserts that cmd ran and died by SIGKILL.
func killed(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the process must be killed")
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "status %v", ws)
	require.Equal(t, syscall.SIGKILL, ws.Signal())
}

func testParentBinary(t *testing.T, e *env) {
	hook := execHook(t, e)
	dir := t.TempDir()
	touch := copyTouch(t, dir)
	// The parent shell: a copy still named sh (busybox, in the guests, picks the applet by name).
	psh := copyBinary(t, "/bin/sh", filepath.Join(dir, "parent"), "sh")

	audit := rule(1, "touch-from-psh", policy.EventExec, policy.ActionAudit)
	audit.Binary.Exact = []string{touch}
	audit.ParentBinary.Suffix = []string{"/parent/bin/sh"}
	kill := rule(2, "touch-from-psh-prefix", policy.EventExec, policy.ActionKill)
	kill.Signal = syscall.SIGKILL
	kill.Binary.Exact = []string{touch}
	kill.ParentBinary.Prefix = []string{filepath.Dir(psh)}
	kill.ParentBinary.Exact = []string{"/nonexistent/parent"}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 3, Rules: []policy.Rule{audit, kill}}))

	// Under the system shell: neither rule (same binary, other parent).
	m1 := filepath.Join(dir, "m1")
	require.NoError(t, exec.Command("/bin/sh", "-c", touch+" "+m1+"; true").Run())
	require.True(t, exists(m1), "a touch whose parent is /bin/sh runs")

	// Under psh: both rules; the kill is carried out.
	m2 := filepath.Join(dir, "m2")
	require.NoError(t, exec.Command(psh, "-c", touch+" "+m2+"; true").Run())
	require.False(t, exists(m2), "a touch whose parent is psh is killed")
	a := e.wait(t, func(d *sensor.Decision) bool { return d.RuleID == 1 && d.Path == touch })
	k := e.wait(t, func(d *sensor.Decision) bool { return d.RuleID == 2 && d.Path == touch })
	assert.Equal(t, a.TGID, k.TGID)
	assert.Equal(t, uint8(hook), a.Hook)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), a.Outcome)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), k.Outcome)
	assert.Equal(t, uint64(3), k.Generation)
	// Exactly these two: the first exec produced none.
	e.none(t, func(d *sensor.Decision) bool { return d.Path == touch && d.TGID != a.TGID })
}

func testArgsContain(t *testing.T, e *env) {
	if !e.enf.hooks[HookExecTP] {
		t.Skip("no tp_btf/sched_process_exec: argument rules need it")
	}
	dir := t.TempDir()
	sh := copyBinary(t, "/bin/sh", dir, "sh")
	pool := "stratum+tcp://pool-" + filepath.Base(dir)

	r := rule(1, "stratum", policy.EventExec, policy.ActionKill)
	r.Signal = syscall.SIGKILL
	r.ArgsContain = []string{pool, "--donate-level 1"} // the second spans two arguments
	deny := rule(2, "deny-needs-fallback", policy.EventExec, policy.ActionDeny)
	deny.ArgsContain = []string{pool}
	err := e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{r, deny}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "test/deny-needs-fallback")
	assert.Contains(t, err.Error(), "fallback: kill")
	short := rule(2, "one-byte", policy.EventExec, policy.ActionAudit)
	short.ArgsContain = []string{"x"}
	require.ErrorContains(t, e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{r, short}}), "2 to 64 bytes")
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 2, Rules: []policy.Rule{r}}))

	run := func(marker string, args ...string) error {
		return exec.Command(sh, append([]string{"-c", `touch "$0"`, marker}, args...)...).Run()
	}
	// One of the two strings: not matched.
	m1 := filepath.Join(dir, "m1")
	require.NoError(t, run(m1, pool, "--donate-level", "5"))
	require.True(t, exists(m1))
	// Both, the second across an argument boundary: killed before the shell runs.
	m2 := filepath.Join(dir, "m2")
	cmd := exec.Command(sh, "-c", `touch "$0"`, m2, "-o", pool+":3333", "--donate-level", "1")
	killed(t, cmd.Run())
	require.False(t, exists(m2))
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, uint32(1), d.RuleID)
	assert.Equal(t, uint8(HookExecTP), d.Hook)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), d.Outcome)
	assert.Equal(t, sh, d.Path)

	// Beyond the first 1024 bytes of the command line the strings are not seen; counted.
	before, err := e.enf.Stats()
	require.NoError(t, err)
	m3 := filepath.Join(dir, "m3")
	require.NoError(t, run(m3, strings.Repeat("a", 1100), pool, "--donate-level", "1"))
	require.True(t, exists(m3), "strings past the matched prefix of the command line do not match")
	after, err := e.enf.Stats()
	require.NoError(t, err)
	assert.Greater(t, after.ArgsTruncated, before.ArgsTruncated)

	// Monitor mode: reported, not killed.
	r.Mode = policy.ModeMonitor
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 3, Rules: []policy.Rule{r}}))
	m4 := filepath.Join(dir, "m4")
	cmd = exec.Command(sh, "-c", `touch "$0"`, m4, pool, "--donate-level", "1")
	require.NoError(t, cmd.Run())
	require.True(t, exists(m4))
	d = e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_KILL), d.Outcome)
	assert.Equal(t, uint64(3), d.Generation)
}

func testCapabilities(t *testing.T, e *env) {
	hook := execHook(t, e)
	dir, err := os.MkdirTemp("", "otelsec-caps-") // reachable by nobody, unlike t.TempDir's parent
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	touch := copyTouch(t, dir)
	r := rule(1, "sys-admin-touch", policy.EventExec, policy.ActionAudit)
	r.Binary.Exact = []string{touch}
	r.Capabilities = []string{"CAP_SYS_ADMIN", "CAP_BPF"}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{r}}))

	// As nobody (no capabilities): no decision.
	nobody := exec.Command(touch, filepath.Join(dir, "by-nobody"))
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	require.NoError(t, nobody.Run())
	require.True(t, exists(filepath.Join(dir, "by-nobody")))
	// As root (full set): one.
	root := exec.Command(touch, filepath.Join(dir, "m"))
	require.NoError(t, root.Run())
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(root.Process.Pid) })
	assert.Equal(t, uint32(1), d.RuleID)
	assert.Equal(t, uint8(hook), d.Hook)
	assert.Equal(t, uint32(0), d.UID)
	e.none(t, func(d *sensor.Decision) bool { return d.TGID == uint32(nobody.Process.Pid) })
}

func testStdioNetworkSocket(t *testing.T, e *env) {
	hook := execHook(t, e)
	loopbackUp(t)
	dir := t.TempDir()
	sh := copyBinary(t, "/bin/sh", dir, "sh")
	r := rule(1, "reverse-shell", policy.EventExec, policy.ActionKill)
	r.Signal = syscall.SIGKILL
	r.Binary.Exact = []string{sh}
	r.StdioNetworkSocket = true
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{r}}))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tcpFile := func() *os.File {
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		f, err := c.(*net.TCPConn).File()
		require.NoError(t, err)
		c.Close()
		t.Cleanup(func() { f.Close() })
		return f
	}
	script := func(marker string) *exec.Cmd { return exec.Command(sh, "-c", `touch "$0"`, marker) }

	// Pipes and /dev/null: runs.
	m1 := filepath.Join(dir, "m1")
	require.NoError(t, script(m1).Run())
	require.True(t, exists(m1))
	// A unix socketpair as stdin (sshd's non-pty sessions): runs.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	u0, u1 := os.NewFile(uintptr(fds[0]), "u0"), os.NewFile(uintptr(fds[1]), "u1")
	defer u0.Close()
	defer u1.Close()
	m2 := filepath.Join(dir, "m2")
	cmd := script(m2)
	cmd.Stdin = u0
	require.NoError(t, cmd.Run())
	require.True(t, exists(m2))
	// A TCP socket as stdin, or as stdout: killed before the shell runs.
	for i, set := range []func(*exec.Cmd, *os.File){
		func(c *exec.Cmd, f *os.File) { c.Stdin = f },
		func(c *exec.Cmd, f *os.File) { c.Stdout = f },
	} {
		m := filepath.Join(dir, "tcp"+string(rune('a'+i)))
		cmd := script(m)
		set(cmd, tcpFile())
		killed(t, cmd.Run())
		require.False(t, exists(m))
		d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
		assert.Equal(t, uint32(1), d.RuleID)
		assert.Equal(t, uint8(hook), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED), d.Outcome)
		assert.Equal(t, sh, d.Path)
	}
}
