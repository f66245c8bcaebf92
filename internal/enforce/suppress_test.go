package enforce

// The suppress action: an exec rule that mutes the process it matches. Its exec and exit
// records still reach the process cache, flagged; its file events are dropped in the kernel
// and counted; its children are muted until they exec another image.

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

func TestSuppress(t *testing.T) {
	dir := t.TempDir()
	watched := filepath.Join(dir, "w")
	require.NoError(t, os.Mkdir(watched, 0o755))
	e := newEnvSensors(t, Options{ResolveInterval: time.Hour}, sensor.Options{WakeupEvery: 1, File: sensor.FileOptions{
		Enabled: true,
		Include: []sensor.FileRule{{Prefix: watched, Ops: sensor.FileOpsAll}},
	}}, true)
	if !e.enf.hooks[HookExecTP] {
		t.Skip("no tp_btf/sched_process_exec on this kernel: suppress rules are refused (tested where it exists)")
	}
	psh := copyBinary(t, "/bin/sh", filepath.Join(dir, "quiet"), "sh")
	touch, err := filepath.EvalSymlinks("/bin/touch")
	require.NoError(t, err)
	quiet := rule(1, "quiet-sh", policy.EventExec, policy.ActionSuppress)
	quiet.Binary.Exact = []string{psh}
	other := rule(1, "audit-nothing", policy.EventExec, policy.ActionAudit)
	other.Binary.Exact = []string{"/nonexistent/bin/x"}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{quiet}}))
	rs := e.enf.Rules()
	require.Len(t, rs, 1)
	assert.Equal(t, HookExecTP, rs[0].Backend)
	muteOn := func() uint32 {
		var on uint32
		require.NoError(t, e.sensors.SharedMaps()["osec_mute_on"].Lookup(uint32(0), &on))
		return on
	}
	assert.Equal(t, uint32(1), muteOn(), "a set with a suppress rule: the sensors check osec_mute")

	t.Run("muted", func(t *testing.T) {
		before, err := e.sensors.Stats()
		require.NoError(t, err)
		// The shell opens muted and muted2 itself (redirections); touch runs in a child that
		// was muted at fork and is unmuted by its own exec.
		loud := filepath.Join(watched, "loud")
		cmd := exec.Command(psh, "-c", "echo 1 > "+watched+"/muted; "+touch+" "+loud+"; echo 2 > "+watched+"/muted2")
		require.NoError(t, cmd.Run())
		pid := uint32(cmd.Process.Pid)

		ex := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExec && r.TGID == pid })
		assert.Equal(t, psh, ex.Path)
		assert.True(t, ex.Suppressed, "the muted shell's exec record is flagged")
		f := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindFile && r.Path == loud })
		assert.NotEqual(t, pid, f.TGID)
		child := f.TGID
		cx := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExec && r.TGID == child })
		assert.Equal(t, touch, cx.Path)
		assert.False(t, cx.Suppressed, "the child's exec of another image is not muted")
		exit := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExit && r.TGID == pid })
		assert.True(t, exit.Suppressed, "the muted shell's exit record is flagged")
		cexit := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExit && r.TGID == child })
		assert.False(t, cexit.Suppressed)
		e.noOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindFile && r.TGID == pid })

		after, err := e.sensors.Stats()
		require.NoError(t, err)
		assert.Equal(t, uint64(2), after.Suppressed[sensor.KindFile]-before.Suppressed[sensor.KindFile], "the shell's two opens")
		assert.Equal(t, uint64(1), after.Suppressed[sensor.KindExec]-before.Suppressed[sensor.KindExec])
		assert.Equal(t, uint64(1), after.Suppressed[sensor.KindExit]-before.Suppressed[sensor.KindExit])
		var v bpf.ProcessMuteVal
		assert.Error(t, e.sensors.Mute().Lookup(pid, &v), "the exit removed the shell's entry")
		assert.Error(t, e.sensors.Mute().Lookup(child, &v), "the child's exec removed its entry")
		e.none(t, func(d *sensor.Decision) bool { return d.TGID == pid }) // no decision record
	})

	t.Run("reload", func(t *testing.T) {
		// A running muted shell stays muted while a new set keeps the rule (by name), and is
		// unmuted by a set without it.
		cmd := exec.Command(psh, "-c", "echo a > "+watched+"/p1; read x; echo b > "+watched+"/p2; read y; echo c > "+watched+"/p3")
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
		pid := uint32(cmd.Process.Pid)
		waitFile(t, filepath.Join(watched, "p1"))
		var v bpf.ProcessMuteVal
		require.NoError(t, e.sensors.Mute().Lookup(pid, &v))
		assert.Equal(t, bpf.ProcessMuteVal{ExecId: v.ExecId, Generation: 1, RuleId: 1}, v)

		kept := quiet
		kept.ID = 2
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 2, Rules: []policy.Rule{other, kept}}))
		require.NoError(t, e.sensors.Mute().Lookup(pid, &v))
		assert.Equal(t, uint64(2), v.Generation, "moved to the new set's rule")
		assert.Equal(t, uint32(2), v.RuleId)
		_, err = io.WriteString(in, "x\n")
		require.NoError(t, err)
		waitFile(t, filepath.Join(watched, "p2"))

		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 3, Rules: []policy.Rule{other}}))
		assert.Error(t, e.sensors.Mute().Lookup(pid, &v), "unmuted: the set has no such rule")
		assert.Equal(t, uint32(0), muteOn(), "no suppress rule: the check is off")
		_, err = io.WriteString(in, "y\n")
		require.NoError(t, err)
		require.NoError(t, in.Close())
		require.NoError(t, cmd.Wait())
		f := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindFile && r.TGID == pid })
		assert.Equal(t, filepath.Join(watched, "p3"), f.Path, "only the open after the unmute is reported")
		e.noOther(t, func(r *sensorRecord) bool {
			return r.Kind == sensor.KindFile && r.TGID == pid && r.Path != filepath.Join(watched, "p3")
		})
		exit := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExit && r.TGID == pid })
		assert.False(t, exit.Suppressed)
	})

	t.Run("monitor", func(t *testing.T) {
		m := quiet
		m.Mode = policy.ModeMonitor
		require.NoError(t, e.enf.Apply(&policy.Set{Generation: 4, Rules: []policy.Rule{m}}))
		assert.Equal(t, uint32(0), muteOn(), "a monitor-mode suppress rule mutes nothing")
		cmd := exec.Command(psh, "-c", "echo 1 > "+watched+"/monitored")
		require.NoError(t, cmd.Run())
		pid := uint32(cmd.Process.Pid)
		d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == pid })
		assert.Equal(t, uint64(4), d.Generation)
		assert.Equal(t, uint8(HookExecTP), d.Hook)
		assert.Equal(t, uint8(bpf.PolicyPolActionPOL_ACT_SUPPRESS), d.Action)
		assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_SUPPRESS), d.Outcome)
		assert.Equal(t, psh, d.Path)
		ex := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindExec && r.TGID == pid })
		assert.False(t, ex.Suppressed, "monitor mode changes nothing")
		f := e.waitOther(t, func(r *sensorRecord) bool { return r.Kind == sensor.KindFile && r.TGID == pid })
		assert.Equal(t, filepath.Join(watched, "monitored"), f.Path)
	})

	t.Run("refused", func(t *testing.T) {
		r := rule(1, "quiet-opens", policy.EventFile, policy.ActionSuppress)
		r.Paths.Prefix = []string{"/proc"}
		err := e.enf.Apply(&policy.Set{Generation: 5, Rules: []policy.Rule{r}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "test/quiet-opens")
		assert.Contains(t, err.Error(), "suppress applies to process.exec rules only")
	})
}

// waitFile waits until path exists (a step of a process the test drives).
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(recordWait)
	for !exists(path) {
		require.True(t, time.Now().Before(deadline), "%s was not created within %s", path, recordWait)
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOther returns the first sensor record that satisfies match, failing after recordWait.
func (e *env) waitOther(t *testing.T, match func(*sensorRecord) bool) sensorRecord {
	t.Helper()
	deadline := time.Now().Add(recordWait)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for i := range e.others {
			if match(&e.others[i]) {
				r := e.others[i]
				e.mu.Unlock()
				return r
			}
		}
		e.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no matching sensor record within %s", recordWait)
	return sensorRecord{}
}

// noOther asserts that no sensor record matches after a short settling time.
func (e *env) noOther(t *testing.T, match func(*sensorRecord) bool) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.others {
		require.False(t, match(&e.others[i]), "unexpected record %+v", e.others[i])
	}
}
