package ebpfsecurityreceiver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

func TestProbeLogLine(t *testing.T) {
	h := startHarness(t, nil)
	lines := h.logged.FilterMessage("Kernel probed, sensors attached").All()
	require.Len(t, lines, 1)
	fields := lines[0].ContextMap()
	for _, k := range []string{"kernel", "btf", "ringbuf", "tp_btf", "raw_tracepoint", "lsm", "fentry", "kprobe", "send_signal", "cgroup2", "hooks"} {
		require.Contains(t, fields, k)
	}
	require.Contains(t, fields["hooks"], "process.exec=tp_btf/sched_process_exec")
}

// TestExecAncestry runs bash → sh → printf and checks every field of printf's exec, and its
// ancestry back to this test process, which was running before the receiver (seeded from /proc).
func TestExecAncestry(t *testing.T) {
	for _, hook := range []sensor.Hook{sensor.HookTPBTF, sensor.HookRawTP} {
		t.Run(string(hook), func(t *testing.T) {
			h := startHarness(t, func(c *Config) { c.Process.Hook = string(hook); c.Process.AncestryDepth = 4 })
			dir := t.TempDir()
			marker := fmt.Sprintf("otelsec-%d", time.Now().UnixNano())
			// "; exit 0" keeps each shell from exec'ing its last command in place.
			script := fmt.Sprintf(`/bin/sh -c 'echo $$ > %s/sh.pid; /usr/bin/printf "%%s %%s" %s "two words" > /dev/null; exit 0'; exit 0`, dir, marker)
			cmd := exec.Command("/bin/bash", "-c", script)
			cmd.Dir = dir
			require.NoError(t, cmd.Run())
			bashPID := cmd.Process.Pid
			b, err := os.ReadFile(filepath.Join(dir, "sh.pid"))
			require.NoError(t, err)
			shPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
			require.NoError(t, err)

			bash := h.await(s.EventProcessExec, bashPID)
			sh := h.await(s.EventProcessExec, shPID)
			var printf event
			require.Eventually(t, func() bool {
				for _, e := range h.events() {
					if e.rec.EventName() == s.EventProcessExec && e.int(s.ProcessParentPID) == int64(shPID) &&
						e.str(s.ProcessExecutablePath) == "/usr/bin/printf" {
						printf = e
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond)
			pid := int(printf.int(s.ProcessPID))
			require.Len(t, h.find(s.EventProcessExec, pid), 1, "exactly one exec event for printf")

			self, err := os.Executable()
			require.NoError(t, err)
			assert.Equal(t, "/usr/bin/printf", printf.str(s.ProcessExecutablePath))
			assert.Equal(t, "printf", printf.str(s.ProcessExecutableName))
			assert.Equal(t, []string{"/usr/bin/printf", "%s %s", marker, "two words"}, printf.strs(s.ProcessCommandArgs))
			assert.Equal(t, "/usr/bin/printf %s %s "+marker+" two words", printf.str(s.ProcessCommandLine))
			assert.Equal(t, "/usr/bin/printf", printf.str(s.ExecFilename))
			assert.Equal(t, dir, printf.str(s.ProcessWorkingDirectory))
			assert.Equal(t, int64(shPID), printf.int(s.ProcessParentPID))
			assert.Equal(t, int64(pid), printf.int(s.ProcessVPID))
			assert.Equal(t, int64(0), printf.int(s.ProcessUserID))
			assert.Equal(t, int64(0), printf.int(s.ProcessRealUserID))
			assert.Equal(t, "0::/", printf.str(s.ProcessLinuxCgroup))
			assert.Equal(t, sh.str(s.ExecID), printf.str(s.ParentExecID))
			assert.Equal(t, "/usr/bin/dash", printf.str(s.ParentExecutablePath))
			assert.Contains(t, printf.str(s.ExecID), ":"+strconv.Itoa(pid))
			assert.Equal(t, plog.SeverityNumberInfo, printf.rec.SeverityNumber())
			assert.WithinDuration(t, time.Now(), printf.rec.Timestamp().AsTime(), 10*time.Second)
			assert.Contains(t, printf.rec.Body().Str(), "exec /usr/bin/printf (pid "+strconv.Itoa(pid)+")")

			// Ancestry over three generations and into the process that predates the receiver.
			assert.Equal(t, []string{sh.str(s.ExecID), bash.str(s.ExecID), bash.str(s.ParentExecID)}, printf.strs(s.AncestorExecIDs)[:3])
			assert.Equal(t, []int64{int64(shPID), int64(bashPID), int64(os.Getpid()), int64(os.Getppid())}, printf.ints(s.AncestorPIDs))
			assert.Equal(t, []string{"/usr/bin/dash", "/usr/bin/bash", self}, printf.strs(s.AncestorExecutablePaths)[:3])
			assert.Equal(t, int64(bashPID), sh.int(s.ProcessParentPID))
			assert.Equal(t, int64(os.Getpid()), bash.int(s.ProcessParentPID))
			assert.Equal(t, self, bash.str(s.ParentExecutablePath))

			// The resource is the host's: no container.
			_, hasContainer := printf.res.Get(s.ContainerID)
			assert.False(t, hasContainer)
			host, _ := os.Hostname()
			hn, _ := printf.res.Get(s.HostName)
			assert.Equal(t, host, hn.Str())
			for _, e := range []event{bash, sh, printf} {
				checkSchema(t, e)
			}
		})
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	h := startHarness(t, nil)

	ok := exec.Command("/bin/true")
	require.NoError(t, ok.Run())
	three := exec.Command("/bin/sh", "-c", "exit 3")
	require.Error(t, three.Run())
	sleeper := exec.Command("/bin/sleep", "60")
	require.NoError(t, sleeper.Start())
	h.await(s.EventProcessExec, sleeper.Process.Pid)
	require.NoError(t, sleeper.Process.Signal(syscall.SIGKILL))
	_ = sleeper.Wait()

	e := h.await(s.EventProcessExit, ok.Process.Pid)
	assert.Equal(t, int64(0), e.int(s.ProcessExitCode))
	assert.Equal(t, "/usr/bin/true", e.str(s.ProcessExecutablePath))
	assert.Equal(t, "exec", e.str(s.Origin))
	_, hasSignal := e.attrs.Get(s.ExitSignal)
	assert.False(t, hasSignal)

	e = h.await(s.EventProcessExit, three.Process.Pid)
	assert.Equal(t, int64(3), e.int(s.ProcessExitCode))
	assert.Equal(t, []string{"/bin/sh", "-c", "exit 3"}, e.strs(s.ProcessCommandArgs))

	e = h.await(s.EventProcessExit, sleeper.Process.Pid)
	assert.Equal(t, "SIGKILL", e.str(s.ExitSignal))
	assert.Equal(t, int64(-1), e.int(s.ProcessExitCode), "no exit code for a killed process")
	assert.Equal(t, "/usr/bin/sleep", e.str(s.ProcessExecutablePath))
	assert.Contains(t, e.rec.Body().Str(), "killed by SIGKILL")
	exitTime, err := time.Parse(time.RFC3339Nano, e.str(s.ProcessExitTime))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), exitTime, 10*time.Second)
	for _, pid := range []int{ok.Process.Pid, three.Process.Pid, sleeper.Process.Pid} {
		require.Len(t, h.find(s.EventProcessExit, pid), 1, "one exit per process")
		checkSchema(t, h.find(s.EventProcessExit, pid)[0])
	}
}

// TestMultiThreadedExit checks that a process with several threads yields one exit event.
func TestMultiThreadedExit(t *testing.T) {
	h := startHarness(t, nil)
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^TestHelperThreads$")
	cmd.Env = append(os.Environ(), "OTELSEC_HELPER=threads")
	require.NoError(t, cmd.Run())
	e := h.await(s.EventProcessExit, cmd.Process.Pid)
	assert.Equal(t, int64(0), e.int(s.ProcessExitCode))
	time.Sleep(100 * time.Millisecond)
	require.Len(t, h.find(s.EventProcessExit, cmd.Process.Pid), 1)
}

// TestHelperThreads is not a test: TestMultiThreadedExit runs it as a Go process with threads.
func TestHelperThreads(t *testing.T) {
	if os.Getenv("OTELSEC_HELPER") != "threads" {
		t.Skip("helper process for TestMultiThreadedExit")
	}
	done := make(chan struct{})
	for range 8 {
		go func() { time.Sleep(10 * time.Millisecond); done <- struct{}{} }()
	}
	for range 8 {
		<-done
	}
}

// TestProcessBeforeReceiver: a process running before the receiver started is known from /proc,
// with its parent.
func TestProcessBeforeReceiver(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	sleeper := exec.Command("/bin/sleep", "60")
	sleeper.Dir = dir
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })

	h := startHarness(t, nil)
	require.NoError(t, sleeper.Process.Signal(syscall.SIGTERM))
	_ = sleeper.Wait()
	e := h.await(s.EventProcessExit, sleeper.Process.Pid)
	assert.Equal(t, "procfs", e.str(s.Origin))
	assert.Equal(t, "/usr/bin/sleep", e.str(s.ProcessExecutablePath))
	assert.Equal(t, []string{"/bin/sleep", "60"}, e.strs(s.ProcessCommandArgs))
	assert.Equal(t, dir, e.str(s.ProcessWorkingDirectory))
	assert.Equal(t, "SIGTERM", e.str(s.ExitSignal))
	assert.Equal(t, int64(os.Getpid()), e.int(s.ProcessParentPID))
	self, _ := os.Executable()
	assert.Equal(t, self, e.str(s.ParentExecutablePath))
	assert.Equal(t, int64(os.Getppid()), e.ints(s.AncestorPIDs)[1])
	assert.NotEmpty(t, e.str(s.ParentExecID))
	checkSchema(t, e)
}

// TestContainerCgroup starts a process directly in a cgroup named like containerd's systemd
// scope, inside a kubepods pod slice, and checks the container resource.
func TestContainerCgroup(t *testing.T) {
	h := startHarness(t, nil)
	cg2 := h.receiver().features.Cgroup2Path
	require.NotEmpty(t, cg2, "cgroup2 is mounted on this machine")
	id := fmt.Sprintf("%064x", time.Now().UnixNano())
	podUID := "6f1c8a3e-0b5d-4f7a-9c2e-1d3b5a7c9e0f"
	rel := "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(podUID, "-", "_") +
		".slice/cri-containerd-" + id + ".scope"
	dir := filepath.Join(cg2, rel)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() {
		for d := dir; d != cg2; d = filepath.Dir(d) {
			_ = os.Remove(d)
		}
	})
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)

	cmd := exec.Command("/bin/true", "otelsec-in-container")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	cmd.Stdout = nil
	require.NoError(t, cmd.Run())

	e := h.await(s.EventProcessExec, cmd.Process.Pid)
	get := func(k string) string { v, _ := e.res.Get(k); return v.Str() }
	assert.Equal(t, id, get(s.ContainerID))
	assert.Equal(t, "containerd", get(s.ContainerRuntimeName))
	assert.Equal(t, podUID, get(s.K8sPodUID))
	assert.Equal(t, "0::"+rel, e.str(s.ProcessLinuxCgroup))
	var st unix.Stat_t
	require.NoError(t, unix.Stat(dir, &st))
	assert.Equal(t, int64(st.Ino), e.int(s.CgroupID))
	x := h.await(s.EventProcessExit, cmd.Process.Pid)
	xc, _ := x.res.Get(s.ContainerID)
	assert.Equal(t, id, xc.Str(), "the exit event is in the container's resource too")
	checkSchema(t, e)
}

// TestSetuidExec runs a set-user-id-root copy of id(1) as nobody.
func TestSetuidExec(t *testing.T) {
	h := startHarness(t, nil)
	dir, err := os.MkdirTemp("", "otelsec-setuid-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "suid-id")
	src, err := os.ReadFile("/usr/bin/id")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, src, 0o755))
	require.NoError(t, os.Chown(bin, 0, 0))
	require.NoError(t, os.Chmod(bin, 0o755|os.ModeSetuid))

	const nobody = 65534
	cmd := exec.Command(bin, "-u")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "0\n", string(out), "the binary ran set-user-id root")

	e := h.await(s.EventProcessExec, cmd.Process.Pid)
	assert.Equal(t, []string{"setuid", "capabilities"}, e.strs(s.CredentialsChange))
	assert.Equal(t, int64(nobody), e.int(s.PrevUserID))
	assert.Equal(t, int64(nobody), e.int(s.PrevGroupID))
	assert.Equal(t, []string{}, emptyIfNil(e.strs(s.PrevCapPermitted)))
	assert.Equal(t, int64(0), e.int(s.ProcessUserID))
	assert.Equal(t, int64(nobody), e.int(s.ProcessRealUserID))
	assert.Equal(t, int64(0), e.int(s.ProcessSavedUserID))
	assert.Equal(t, int64(nobody), e.int(s.ProcessGroupID))
	assert.Contains(t, e.strs(s.CapEffective), "CAP_SYS_ADMIN")
	v, ok := e.attrs.Get(s.ExecutableSetuid)
	require.True(t, ok)
	assert.True(t, v.Bool())
	checkSchema(t, e)

	// The same binary run by root changes nothing.
	root := exec.Command(bin, "-u")
	require.NoError(t, root.Run())
	e = h.await(s.EventProcessExec, root.Process.Pid)
	_, changed := e.attrs.Get(s.CredentialsChange)
	assert.False(t, changed)
}

func emptyIfNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestFloodCountsLosses fills a one-page ring buffer behind a blocked consumer: the kernel counts
// every record it could not write, the metric reports exactly the kernel's count, every record
// the kernel did write reaches the pipeline, and nothing is left in the kernel afterwards.
func TestFloodCountsLosses(t *testing.T) {
	requireRoot(t)
	var delivered consumer.Logs
	sink := new(logsCounter)
	gate := make(chan struct{}) // the pipeline takes nothing until the flood is over
	delivered, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		<-gate
		sink.add(ld)
		return nil
	})
	require.NoError(t, err)
	h := startHarness(t, func(c *Config) {
		c.RingBuffer.Size = os.Getpagesize()
		c.RingBuffer.WakeupEvery = 1 << 20
		c.MaxBatchSize = 16
		c.ProcessCache.ReapInterval = 50 * time.Millisecond
		c.Privilege.Enabled = false // the flood counts the process sensor's records and programs
	}, delivered)
	r := h.receiver()

	const n = 300
	for i := 0; i < n; i++ {
		require.NoError(t, exec.Command("/bin/true").Run())
	}
	close(gate)
	// Let the reader drain, then compare at a quiet moment.
	var st sensor.Stats
	require.Eventually(t, func() bool {
		st, err = r.sensors.Stats()
		require.NoError(t, err)
		// Exits can be one fewer than sent: two threads racing to be last both report it.
		return st.Sent[sensor.KindExec] == sink.count(s.EventProcessExec) &&
			r.emitted.load(s.EventProcessExec) == sink.count(s.EventProcessExec) &&
			st.Sent[sensor.KindExit] >= sink.count(s.EventProcessExit) && sink.count(s.EventProcessExit) > 0
	}, 20*time.Second, 20*time.Millisecond, "every record the kernel wrote reaches the pipeline")
	t.Logf("kernel: sent %v lost %v", st.Sent[1:4], st.Lost[1:4])
	lost := st.Lost[sensor.KindExec] + st.Lost[sensor.KindExit] + st.Lost[sensor.KindFork]
	require.Positive(t, lost, "a one-page ring buffer behind a blocked consumer loses records")
	require.GreaterOrEqual(t, st.Sent[sensor.KindExec]+st.Lost[sensor.KindExec], uint64(n), "each exec was written or counted lost")

	// The metric reports the kernel counter.
	require.Eventually(t, func() bool {
		return metricSum(h, "otelsec.kernel.records.lost", "process.exec") == int64(st.Lost[sensor.KindExec]) &&
			metricSum(h, "otelsec.kernel.records.lost", "process.exit") == int64(st.Lost[sensor.KindExit])
	}, 5*time.Second, 20*time.Millisecond)

	// Processes whose exit record was lost are found gone from /proc and ended.
	if st.Lost[sensor.KindExit] > 0 {
		require.Eventually(t, func() bool { return r.reaped.Load() > 0 }, 5*time.Second, 20*time.Millisecond)
	}
	ids := r.sensors.ProgramIDs()
	require.Len(t, ids, 4)
	h.stop()
	// The kernel frees programs after an RCU grace period once their links are gone.
	require.Eventually(t, func() bool { return len(loaded(ids)) == 0 }, 10*time.Second, 20*time.Millisecond,
		"BPF programs left after shutdown: %v", loaded(ids))
}

// metricSum returns the latest value of a sum metric for an event name, or -1.
func metricSum(h *harness, name, event string) int64 {
	all := h.metrics.AllMetrics()
	for i := len(all) - 1; i >= 0; i-- {
		for _, rm := range all[i].ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != name {
						continue
					}
					for _, dp := range m.Sum().DataPoints().All() {
						if v, ok := dp.Attributes().Get("otelsec.event.name"); ok && v.Str() == event {
							return dp.IntValue()
						}
					}
				}
			}
		}
	}
	return -1
}

// metricValue is the latest value of a metric without attributes, -1 before any.
func metricValue(h *harness, name string) int64 {
	all := h.metrics.AllMetrics()
	for i := len(all) - 1; i >= 0; i-- {
		for _, rm := range all[i].ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() == name && m.Sum().DataPoints().Len() == 1 {
						return m.Sum().DataPoints().At(0).IntValue()
					}
				}
			}
		}
	}
	return -1
}

type logsCounter struct {
	mu     sync.Mutex
	byName map[string]uint64
}

func (c *logsCounter) add(ld plog.Logs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]uint64{}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				c.byName[lr.EventName()]++
			}
		}
	}
}

func (c *logsCounter) count(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byName[name]
}
