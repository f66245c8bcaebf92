package ebpfsecurityreceiver

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

// privHelperEnv makes the test binary, run as a child, act as a helper of the privilege tests
// instead of running tests.
const privHelperEnv = "OTELSEC_PRIV_HELPER"

func init() {
	if mode := os.Getenv(privHelperEnv); mode != "" {
		out, err := privHelper(mode)
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		if out != nil {
			_ = json.NewEncoder(os.Stdout).Encode(out)
		}
		os.Exit(0)
	}
}

type privOut struct {
	TID           int
	Before, After proctree.Creds
	FD            int
	ProgID        uint32
	ProgTag       string
}

// threadCreds reads the calling thread's credentials from /proc.
func threadCreds() (proctree.Creds, error) {
	var c proctree.Creds
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		num := func(i int) uint32 { n, _ := strconv.ParseUint(f[i], 10, 32); return uint32(n) }
		hex64 := func() uint64 { n, _ := strconv.ParseUint(f[0], 16, 64); return n }
		switch k {
		case "Uid":
			c.UID, c.EUID, c.SUID, c.FSUID = num(0), num(1), num(2), num(3)
		case "Gid":
			c.GID, c.EGID, c.SGID, c.FSGID = num(0), num(1), num(2), num(3)
		case "CapInh":
			c.CapInheritable = hex64()
		case "CapPrm":
			c.CapPermitted = hex64()
		case "CapEff":
			c.CapEffective = hex64()
		}
	}
	return c, nil
}

func privHelper(mode string) (*privOut, error) {
	runtime.LockOSThread() // credentials and namespaces are the thread's; it dies with us
	out := &privOut{TID: unix.Gettid()}
	var err error
	if out.Before, err = threadCreds(); err != nil {
		return nil, err
	}
	switch mode {
	case "setuid":
		_, _, e := unix.RawSyscall(unix.SYS_SETUID, 65534, 0, 0)
		err = errnoErr(e)
	case "setresuid":
		_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 1000, 2000, 3000)
		err = errnoErr(e)
	case "capset":
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err = unix.Capget(&hdr, &data[0]); err == nil {
			data[0].Effective &^= 1 << unix.CAP_NET_RAW
			data[0].Permitted &^= 1 << unix.CAP_NET_RAW
			err = unix.Capset(&hdr, &data[0])
		}
	case "setns":
		fdc, errc := make(chan int), make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends in its new namespace
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				errc <- err
				return
			}
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				errc <- err
				return
			}
			fdc <- fd
			select {}
		}()
		select {
		case err = <-errc:
		case out.FD = <-fdc:
			err = unix.Setns(out.FD, unix.CLONE_NEWNET)
		}
	case "state":
	case "sleep":
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		return nil, nil
	case "bpf":
		var p *ebpf.Program
		p, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "otelsec_rt", Type: ebpf.SocketFilter, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
		if err == nil {
			info, ierr := p.Info()
			if ierr != nil {
				return nil, ierr
			}
			id, _ := info.ID()
			out.ProgID, out.ProgTag = uint32(id), info.Tag
			p.Close()
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return nil, err
	}
	if out.After, err = threadCreds(); err != nil {
		return nil, err
	}
	return out, nil
}

func errnoErr(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// runPrivHelper runs this test binary as a helper; it returns the report and the helper's pid.
func runPrivHelper(t *testing.T, mode string, attr *syscall.SysProcAttr) (*privOut, int) {
	t.Helper()
	out, pid, _ := runPrivHelperNS(t, mode, attr)
	return out, pid
}

// runPrivHelperNS runs a helper and also returns the namespaces the child started from.
func runPrivHelperNS(t *testing.T, mode string, attr *syscall.SysProcAttr) (*privOut, int, map[string]int64) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), privHelperEnv+"="+mode)
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	parent := startForked(t, cmd)
	require.NoError(t, cmd.Wait(), "helper %s: %s", mode, stderr.String())
	var out privOut
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), "helper %s: %q", mode, stdout.Bytes())
	return &out, cmd.Process.Pid, parent
}

// startForked starts cmd and returns the namespaces of the thread that forked it, which the
// child starts from. (They need not be /proc/self's: Go never reuses a main thread that a test
// left locked, possibly in another namespace.)
func startForked(t *testing.T, cmd *exec.Cmd) map[string]int64 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns := nsOf(t, "/proc/thread-self/ns")
	require.NoError(t, cmd.Start())
	return ns
}

// awaitOne waits for the event named name of pid and checks that there is exactly one.
func awaitOne(t *testing.T, h *harness, name string, pid int) event {
	t.Helper()
	e := h.await(name, pid)
	time.Sleep(50 * time.Millisecond) // a second one would be in the same batch or the next
	require.Len(t, h.find(name, pid), 1, "one %s event of pid %d", name, pid)
	checkSchema(t, e)
	return e
}

// requireContext checks the process context of an event caused by a helper this test started:
// the helper as the process cache knows it from its exec, and this test process as its parent.
func requireContext(t *testing.T, h *harness, e event, pid int) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	exec := h.await(s.EventProcessExec, pid)
	assert.Equal(t, int64(pid), e.int(s.ProcessPID))
	assert.Equal(t, int64(os.Getpid()), e.int(s.ProcessParentPID))
	assert.Equal(t, exec.str(s.ExecID), e.str(s.ExecID))
	assert.Equal(t, self, e.str(s.ProcessExecutablePath))
	assert.Equal(t, filepath.Base(self), e.str(s.ProcessExecutableName))
	assert.Equal(t, self, e.str(s.ProcessCommandLine))
	assert.Equal(t, selfExecID(t, h), e.str(s.ParentExecID))
	assert.Equal(t, self, e.str(s.ParentExecutablePath))
	assert.Equal(t, plog.SeverityNumberInfo, e.rec.SeverityNumber())
	assert.WithinDuration(t, time.Now(), e.rec.Timestamp().AsTime(), 30*time.Second)
	_, hasContainer := e.res.Get(s.ContainerID)
	assert.False(t, hasContainer)
}

// selfExecID is this test process's exec id, as the exec events of its children name their
// parent (the cache belongs to the receiver's reader goroutine: the test does not read it).
func selfExecID(t *testing.T, h *harness) string {
	t.Helper()
	for _, e := range h.events() {
		if e.rec.EventName() == s.EventProcessExec && e.int(s.ProcessParentPID) == int64(os.Getpid()) && e.str(s.ParentExecID) != "" {
			return e.str(s.ParentExecID)
		}
	}
	t.Fatal("no exec event of a child of this test process")
	return ""
}

func capNames(mask uint64) []string { return proctree.CapabilityNames(mask) }

func TestPrivilegeChangeEvents(t *testing.T) {
	h := startHarness(t, nil)
	for _, tc := range []struct {
		mode, syscall string
		check         func(t *testing.T, after proctree.Creds)
		body          string
	}{
		{"setuid", "setuid", func(t *testing.T, c proctree.Creds) {
			require.Equal(t, proctree.Creds{UID: 65534, EUID: 65534, SUID: 65534, FSUID: 65534}, proctree.Creds{UID: c.UID, EUID: c.EUID, SUID: c.SUID, FSUID: c.FSUID})
			require.Zero(t, c.CapEffective, "root → nobody drops every capability")
		}, "uid 0→65534, euid 0→65534, suid 0→65534, fsuid 0→65534, effective capabilities -%d, permitted capabilities -%d"},
		{"setresuid", "setresuid", func(t *testing.T, c proctree.Creds) {
			require.Equal(t, proctree.Creds{UID: 1000, EUID: 2000, SUID: 3000, FSUID: 2000}, proctree.Creds{UID: c.UID, EUID: c.EUID, SUID: c.SUID, FSUID: c.FSUID})
		}, "uid 0→1000, euid 0→2000, suid 0→3000, fsuid 0→2000, effective capabilities -%d, permitted capabilities -%d"},
		{"capset", "capset", func(t *testing.T, c proctree.Creds) {
			require.Zero(t, c.CapEffective&(1<<unix.CAP_NET_RAW))
			require.Zero(t, c.CapPermitted&(1<<unix.CAP_NET_RAW))
		}, "effective capabilities -CAP_NET_RAW, permitted capabilities -CAP_NET_RAW"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			out, pid := runPrivHelper(t, tc.mode, nil)
			tc.check(t, out.After)
			o, n := out.Before, out.After
			e := awaitOne(t, h, s.EventPrivilegeChange, pid)
			requireContext(t, h, e, pid)
			assert.Equal(t, tc.syscall, e.str(s.SyscallName))
			assert.Equal(t, int64(out.TID), e.int(s.ThreadID))
			// after
			assert.Equal(t, int64(n.EUID), e.int(s.ProcessUserID))
			assert.Equal(t, int64(n.UID), e.int(s.ProcessRealUserID))
			assert.Equal(t, int64(n.SUID), e.int(s.ProcessSavedUserID))
			assert.Equal(t, int64(n.EGID), e.int(s.ProcessGroupID))
			assert.Equal(t, int64(n.GID), e.int(s.ProcessRealGroupID))
			assert.Equal(t, int64(n.SGID), e.int(s.ProcessSavedGroupID))
			assert.Equal(t, int64(-1), e.int(s.FSUserID), "fsuid follows euid")
			assert.Equal(t, int64(-1), e.int(s.FSGroupID))
			assert.Equal(t, capNames(n.CapEffective), emptyIfNil(e.strs(s.CapEffective)))
			assert.Equal(t, capNames(n.CapPermitted), emptyIfNil(e.strs(s.CapPermitted)))
			assert.Nil(t, e.strs(s.CapInheritable), "inheritable set is empty")
			// before
			assert.Equal(t, int64(o.EUID), e.int(s.PrevUserID))
			assert.Equal(t, int64(o.UID), e.int(s.PrevRealUserID))
			assert.Equal(t, int64(o.SUID), e.int(s.PrevSavedUserID))
			assert.Equal(t, int64(o.EGID), e.int(s.PrevGroupID))
			assert.Equal(t, int64(o.GID), e.int(s.PrevRealGroupID))
			assert.Equal(t, int64(o.SGID), e.int(s.PrevSavedGroupID))
			assert.Equal(t, int64(-1), e.int(s.PrevFSUserID))
			assert.Equal(t, int64(-1), e.int(s.PrevFSGroupID))
			assert.Equal(t, capNames(o.CapEffective), e.strs(s.PrevCapEffective))
			assert.Equal(t, capNames(o.CapPermitted), e.strs(s.PrevCapPermitted))
			assert.Nil(t, e.strs(s.PrevCapInheritable))
			body := tc.body
			if strings.Contains(body, "%d") {
				body = fmt.Sprintf(body, len(capNames(o.CapEffective&^n.CapEffective)), len(capNames(o.CapPermitted&^n.CapPermitted)))
			}
			self, _ := os.Executable()
			assert.Equal(t, fmt.Sprintf("%s %s (pid %d): %s", tc.syscall, self, pid, body), e.rec.Body().Str())
		})
	}
}

// ns reads the namespace inodes of a /proc/PID/ns directory, by name.
func nsOf(t *testing.T, dir string) map[string]int64 {
	out := map[string]int64{}
	for _, name := range s.NamespaceNames {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, name), &st) == nil {
			out[name] = int64(st.Ino)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// nsKey is the attribute of a namespace's inode after the change.
func nsKey(name string) string {
	if name == "pid_for_children" {
		return s.NSPIDForChildren
	}
	if name == "time_for_children" {
		return s.NSTimeForChildren
	}
	return "otelsec.process.namespaces." + name
}

func TestNamespaceChangeEvents(t *testing.T) {
	h := startHarness(t, nil)

	t.Run("unshare -n", func(t *testing.T) {
		cmd := exec.Command("unshare", "-n", "true")
		self := startForked(t, cmd)
		require.NoError(t, cmd.Wait())
		pid := cmd.Process.Pid
		e := awaitOne(t, h, s.EventNamespaceChange, pid)
		exec := h.await(s.EventProcessExec, pid)
		assert.Equal(t, exec.str(s.ExecID), e.str(s.ExecID))
		assert.Equal(t, "/usr/bin/unshare", e.str(s.ProcessExecutablePath))
		assert.Equal(t, "unshare -n true", e.str(s.ProcessCommandLine))
		assert.Equal(t, int64(os.Getpid()), e.int(s.ProcessParentPID))
		assert.Equal(t, "unshare", e.str(s.SyscallName))
		assert.Equal(t, int64(pid), e.int(s.ThreadID))
		assert.Equal(t, []string{"CLONE_NEWNET"}, e.strs(s.SyscallFlags))
		assert.Equal(t, []string{"net"}, e.strs(s.NSChanged))
		assert.Equal(t, self["net"], e.int(s.NSPrevNet))
		newNet := e.int(s.NSNet)
		assert.NotEqual(t, self["net"], newNet)
		for name, ino := range self {
			if name != "net" {
				assert.Equal(t, ino, e.int(nsKey(name)), name)
				assert.Equal(t, int64(-1), e.int(s.NSPrevious+name), "no previous %s: it did not change", name)
			}
		}
		assert.Equal(t, fmt.Sprintf("unshare /usr/bin/unshare (pid %d): net %d→%d", pid, self["net"], newNet), e.rec.Body().Str())
	})

	t.Run("setns", func(t *testing.T) {
		out, pid, self := runPrivHelperNS(t, "setns", nil)
		var e event
		require.Eventually(t, func() bool {
			for _, x := range h.find(s.EventNamespaceChange, pid) {
				if x.str(s.SyscallName) == "setns" {
					e = x
					return true
				}
			}
			return false
		}, 10*time.Second, 10*time.Millisecond)
		checkSchema(t, e)
		requireContext(t, h, e, pid)
		assert.Equal(t, int64(out.TID), e.int(s.ThreadID))
		assert.Equal(t, []string{"CLONE_NEWNET"}, e.strs(s.SyscallFlags))
		assert.Equal(t, []string{"net"}, e.strs(s.NSChanged))
		assert.Equal(t, self["net"], e.int(s.NSPrevNet))
		// The helper's other thread made the namespace (unshare), this one entered it.
		var un event
		for _, x := range h.find(s.EventNamespaceChange, pid) {
			if x.str(s.SyscallName) == "unshare" {
				un = x
			}
		}
		require.NotNil(t, un.attrs)
		assert.NotEqual(t, int64(out.TID), un.int(s.ThreadID))
		assert.Equal(t, un.int(s.NSNet), e.int(s.NSNet))
		assert.Len(t, h.find(s.EventNamespaceChange, pid), 2)
	})

	t.Run("clone CLONE_NEWUTS", func(t *testing.T) {
		_, pid, self := runPrivHelperNS(t, "state", &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS})
		e := awaitOne(t, h, s.EventNamespaceChange, pid)
		exec := h.await(s.EventProcessExec, pid)
		selfExe, _ := os.Executable()
		// At the clone the child runs its parent's image, under its own exec id.
		assert.Equal(t, int64(pid), e.int(s.ProcessPID))
		assert.True(t, strings.HasSuffix(e.str(s.ExecID), ":"+strconv.Itoa(pid)))
		assert.NotEqual(t, exec.str(s.ExecID), e.str(s.ExecID), "the exec that followed is another image")
		assert.Equal(t, selfExecID(t, h), e.str(s.ParentExecID))
		assert.Equal(t, selfExe, e.str(s.ProcessExecutablePath))
		assert.Equal(t, "clone", e.str(s.SyscallName))
		assert.Equal(t, int64(pid), e.int(s.ThreadID))
		assert.Nil(t, e.strs(s.SyscallFlags), "clone's flags are not known at the fork")
		assert.Equal(t, []string{"uts"}, e.strs(s.NSChanged))
		assert.Equal(t, self["uts"], e.int(s.NSPrevUTS))
		assert.NotEqual(t, self["uts"], e.int(s.NSUTS))
		assert.Equal(t, self["net"], e.int(s.NSNet))
	})
}

func TestPtraceEvent(t *testing.T) {
	h := startHarness(t, nil)
	self, err := os.Executable()
	require.NoError(t, err)
	sleeper := exec.Command(self)
	sleeper.Env = append(os.Environ(), privHelperEnv+"=sleep")
	stdin, err := sleeper.StdinPipe()
	require.NoError(t, err)
	stdout, err := sleeper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)
	pid := sleeper.Process.Pid
	sleeperExec := h.await(s.EventProcessExec, pid)

	runtime.LockOSThread()
	tid := unix.Gettid()
	err = unix.PtraceSeize(pid)
	runtime.UnlockOSThread()
	require.NoError(t, err)
	stdin.Close()
	_ = sleeper.Wait()

	me := os.Getpid()
	e := awaitOne(t, h, s.EventPtrace, me)
	myExecID := sleeperExec.str(s.ParentExecID)
	require.NotEmpty(t, myExecID)
	assert.Equal(t, myExecID, e.str(s.ExecID), "the tracer is this test process")
	assert.Equal(t, self, e.str(s.ProcessExecutablePath))
	assert.Equal(t, "ptrace", e.str(s.SyscallName))
	assert.Equal(t, int64(tid), e.int(s.ThreadID))
	assert.Equal(t, "PTRACE_SEIZE", e.str(s.PtraceRequest))
	assert.Equal(t, int64(pid), e.int(s.PtraceTraceePID))
	assert.Equal(t, int64(pid), e.int(s.PtraceTraceeThreadID))
	assert.Equal(t, sleeperExec.str(s.ExecID), e.str(s.PtraceTraceeExecID))
	assert.Equal(t, self, e.str(s.PtraceTraceeExe))
	assert.Equal(t, int64(me), e.int(s.PtraceTracerPID))
	assert.Equal(t, myExecID, e.str(s.PtraceTracerExecID))
	assert.Equal(t, fmt.Sprintf("PTRACE_SEIZE: %s (pid %d) traces %s (pid %d)", self, me, self, pid), e.rec.Body().Str())
}

func TestBPFProgramLoadEvent(t *testing.T) {
	h := startHarness(t, nil)
	r := h.receiver()
	st0, err := r.sensors.Stats()
	require.NoError(t, err)
	// This process is the collector: its own loads are filtered in the kernel, and counted.
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "otelsec_rt_own", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	require.NoError(t, err)
	p.Close()
	st1, err := r.sensors.Stats()
	require.NoError(t, err)
	require.Greater(t, st1.Filtered[sensor.KindSecurity], st0.Filtered[sensor.KindSecurity])

	out, pid := runPrivHelper(t, "bpf", nil)
	var e event
	require.Eventually(t, func() bool {
		for _, x := range h.find(s.EventBPFProgramLoad, pid) {
			if x.int(s.BPFProgramID) == int64(out.ProgID) {
				e = x
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	checkSchema(t, e)
	requireContext(t, h, e, pid)
	assert.Equal(t, "bpf", e.str(s.SyscallName))
	assert.Equal(t, int64(out.TID), e.int(s.ThreadID))
	assert.Equal(t, "otelsec_rt", e.str(s.BPFProgramName))
	assert.Equal(t, "socket_filter", e.str(s.BPFProgramType))
	assert.Equal(t, "cgroup_inet_ingress", e.str(s.BPFProgramAttachType), "expected_attach_type 0")
	assert.Equal(t, "", e.str(s.BPFProgramAttachTarget))
	assert.Equal(t, int64(2), e.int(s.BPFProgramInstructions))
	assert.Equal(t, out.ProgTag, e.str(s.BPFProgramTag))
	_, err = hex.DecodeString(out.ProgTag)
	require.NoError(t, err)
	self, _ := os.Executable()
	assert.Equal(t, fmt.Sprintf("BPF program otelsec_rt (socket_filter, id %d) loaded by %s (pid %d)", out.ProgID, self, pid), e.rec.Body().Str())

	assert.Empty(t, h.find(s.EventBPFProgramLoad, os.Getpid()), "no event for the collector's own loads")
	require.Eventually(t, func() bool {
		return metricSum(h, "otelsec.kernel.records.filtered", "security") >= int64(st1.Filtered[sensor.KindSecurity])
	}, 5*time.Second, 20*time.Millisecond, "the filtered count reaches the metric")
}

func TestMountEvents(t *testing.T) {
	h := startHarness(t, nil)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	// util-linux: unshare -m makes / private, mount(8) and umount(8) call mount(2) and umount2(2).
	script := fmt.Sprintf("mount -t tmpfs -o size=1m,nosuid otelsec-rt %s && umount %s", dir, dir)
	cmd := exec.Command("unshare", "-m", "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	upid := cmd.Process.Pid

	byTarget := func(name, target string) event {
		var e event
		require.Eventually(t, func() bool {
			for _, x := range h.events() {
				if x.rec.EventName() == name && x.str(s.MountTarget) == target {
					e = x
					return true
				}
			}
			return false
		}, 10*time.Second, 10*time.Millisecond, "no %s on %s", name, target)
		checkSchema(t, e)
		return e
	}

	priv := awaitOne(t, h, s.EventMount, upid)
	assert.Equal(t, "/usr/bin/unshare", priv.str(s.ProcessExecutablePath))
	assert.Equal(t, "mount", priv.str(s.SyscallName))
	assert.Equal(t, []string{"MS_REC", "MS_PRIVATE"}, priv.strs(s.SyscallFlags))
	assert.Equal(t, "none", priv.str(s.MountSource))
	assert.Equal(t, "", priv.str(s.MountFSType))
	assert.Equal(t, "/", priv.str(s.MountTarget))
	v, _ := priv.attrs.Get(s.MountTargetResolved)
	assert.False(t, v.Bool(), "a propagation change is reported with the caller's path")
	assert.Nil(t, priv.strs(s.MountAttributes))
	assert.Equal(t, fmt.Sprintf("mount propagation MS_REC,MS_PRIVATE on / by /usr/bin/unshare (pid %d)", upid), priv.rec.Body().Str())

	m := byTarget(s.EventMount, dir)
	mpid := int(m.int(s.ProcessPID))
	mexec := h.await(s.EventProcessExec, mpid)
	assert.Equal(t, mexec.str(s.ExecID), m.str(s.ExecID))
	assert.Equal(t, "/usr/bin/mount", m.str(s.ProcessExecutablePath))
	assert.Equal(t, "mount -t tmpfs -o size=1m,nosuid otelsec-rt "+dir, m.str(s.ProcessCommandLine))
	assert.Equal(t, "/usr/bin/dash", m.str(s.ParentExecutablePath), "sh -c runs mount")
	assert.Equal(t, int64(mpid), m.int(s.ThreadID))
	assert.Equal(t, "mount", m.str(s.SyscallName))
	assert.Equal(t, []string{"MS_NOSUID"}, m.strs(s.SyscallFlags))
	assert.Equal(t, "otelsec-rt", m.str(s.MountSource))
	assert.Equal(t, "tmpfs", m.str(s.MountFSType))
	v, _ = m.attrs.Get(s.MountTargetResolved)
	assert.True(t, v.Bool())
	assert.Equal(t, "size=1m", m.str(s.MountOptions))
	assert.Equal(t, []string{"nosuid", "relatime"}, m.strs(s.MountAttributes))
	assert.Nil(t, m.strs(s.MountTruncated))
	assert.Equal(t, fmt.Sprintf("mount tmpfs otelsec-rt on %s by /usr/bin/mount (pid %d)", dir, mpid), m.rec.Body().Str())

	u := byTarget(s.EventUnmount, dir)
	assert.Equal(t, "/usr/bin/umount", u.str(s.ProcessExecutablePath))
	assert.Equal(t, "umount2", u.str(s.SyscallName))
	assert.Nil(t, u.strs(s.SyscallFlags))
	v, _ = u.attrs.Get(s.MountTargetResolved)
	assert.False(t, v.Bool(), "umount2 is reported with the caller's path")
	assert.Equal(t, "", u.str(s.MountSource))
	assert.Nil(t, u.strs(s.MountAttributes))
	assert.Equal(t, fmt.Sprintf("umount %s by /usr/bin/umount (pid %d)", dir, u.int(s.ProcessPID)), u.rec.Body().Str())
}

// TestModuleLoadMapping maps a decoded module record: this machine's kernel has no module
// support, so a real load cannot happen here. The kernel side is tested for real by
// internal/sensor's TestPrivilege/module in the qemu guests (make vmtest), which loads modules
// from a file and from memory and checks every field of the records.
func TestModuleLoadMapping(t *testing.T) {
	b := newBatch(nodeInfo{name: "worker-1"}, "test")
	clock := newBootClock()
	m := mapper{clock: &clock}
	for _, tc := range []struct {
		rec   sensor.ModuleLoad
		attrs map[string]any
		body  string
	}{
		{sensor.ModuleLoad{Header: sensor.Header{TGID: 42, TID: 43, KTime: 1}, Op: sensor.OpFinitModule, Name: "nf_tables",
			Size: 331776, Taints: 1<<12 | 1<<13, LoadFlags: 4, Path: "/usr/lib/modules/x/nf_tables.ko.xz", Params: "debug=1",
			ParamsTrunc: true, Comm: "modprobe"},
			map[string]any{s.SyscallName: "finit_module", s.ThreadID: int64(43), s.ModuleOrigin: "file", s.ModuleName: "nf_tables",
				s.ModuleFilePath: "/usr/lib/modules/x/nf_tables.ko.xz", s.ModuleSize: int64(331776), s.ModuleParameters: "debug=1",
				s.ModuleTaints: []string{"TAINT_OOT_MODULE", "TAINT_UNSIGNED_MODULE"}, s.SyscallFlags: []string{"MODULE_INIT_COMPRESSED_FILE"},
				s.ModuleTruncated: []string{"parameters"}, s.ProcessPID: int64(42), s.Comm: "modprobe"},
			"kernel module nf_tables loaded from /usr/lib/modules/x/nf_tables.ko.xz by modprobe (pid 42)"},
		{sensor.ModuleLoad{Header: sensor.Header{TGID: 7, TID: 7, KTime: 1}, Op: sensor.OpInitModule, Size: 4096, Comm: "dropper"},
			map[string]any{s.SyscallName: "init_module", s.ThreadID: int64(7), s.ModuleOrigin: "memory", s.ModuleSize: int64(4096),
				s.ProcessPID: int64(7), s.Comm: "dropper"},
			"kernel module ? loaded from memory by dropper (pid 7)"},
	} {
		lr := m.event(b, s.EventModuleLoad, tc.rec.KTime, tc.rec.TGID, nil, tc.rec.Comm)
		m.moduleLoad(lr, &tc.rec, nil)
		got := map[string]any{}
		for k, v := range lr.Attributes().All() {
			got[k] = v.AsRaw()
			if sl, ok := got[k].([]any); ok {
				var strs []string
				for _, x := range sl {
					strs = append(strs, x.(string))
				}
				got[k] = strs
			}
		}
		assert.Equal(t, tc.attrs, got)
		assert.Equal(t, tc.body, lr.Body().Str())
		assert.Equal(t, s.EventModuleLoad, lr.EventName())
		checkSchema(t, event{res: b.logs.ResourceLogs().At(0).Resource().Attributes(), rec: lr, attrs: lr.Attributes()})
	}
}

func TestPrivilegeHooksAndMetrics(t *testing.T) {
	h := startHarness(t, nil)
	lines := h.logged.FilterMessage("Kernel probed, sensors attached").All()
	require.Len(t, lines, 1)
	hooks := fmt.Sprint(lines[0].ContextMap()["hooks"])
	caps := sensor.CapabilitiesOf(h.receiver().features)
	credHook, err := sensor.ChoosePrivilegeCredsHook(sensor.HookAuto, caps)
	require.NoError(t, err)
	if credHook == sensor.HookLSM {
		assert.Contains(t, hooks, "process.privilege_change=lsm/task_fix_setuid")
	} else {
		assert.Contains(t, hooks, "process.privilege_change=tracepoint/syscalls/sys_enter_setuid")
		assert.Contains(t, hooks, "process.privilege_change=tracepoint/syscalls/sys_exit_capset")
	}
	for _, want := range []string{
		"process.namespace_change=tracepoint/syscalls/sys_enter_unshare",
		"process.namespace_change=tracepoint/syscalls/sys_enter_setns",
		"process.namespace_change=" + string(h.receiver().sensors.Attachments()[0].Hook) + "/sched_process_fork",
		"process.ptrace=tracepoint/syscalls/sys_exit_ptrace",
		"bpf.program_load=tracepoint/syscalls/sys_exit_bpf",
		"filesystem.mount=tracepoint/syscalls/sys_exit_mount",
		"filesystem.mount=tracepoint/syscalls/sys_exit_move_mount",
		"filesystem.unmount=tracepoint/syscalls/sys_exit_umount",
	} {
		assert.Contains(t, hooks, want)
	}

	out, pid := runPrivHelper(t, "setuid", nil)
	_ = out
	h.await(s.EventPrivilegeChange, pid)
	require.Eventually(t, func() bool {
		return metricSum(h, "otelsec.events", s.EventPrivilegeChange) >= 1 &&
			metricSum(h, "otelsec.kernel.records", "privilege") >= 1
	}, 5*time.Second, 20*time.Millisecond)
}

// TestPrivilegeSensorOff: with the sensor disabled none of its programs is loaded.
func TestPrivilegeSensorOff(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Privilege.Enabled = false })
	for _, a := range h.receiver().sensors.Attachments() {
		assert.NotContains(t, s.PrivilegeEvents, a.Event)
	}
	_, pid := runPrivHelper(t, "setuid", nil)
	h.await(s.EventProcessExit, pid)
	assert.Empty(t, h.find(s.EventPrivilegeChange, pid))
}

// TestPrivilegeEventsSubset: only the configured events are attached and reported.
func TestPrivilegeEventsSubset(t *testing.T) {
	h := startHarness(t, func(c *Config) { c.Privilege.Events = []string{s.EventMount} })
	var mounts int
	for _, a := range h.receiver().sensors.Attachments() {
		if slices.Contains(s.PrivilegeEvents, a.Event) {
			assert.Equal(t, s.EventMount, a.Event, "attached %s, which is not configured", a)
			mounts++
		}
	}
	assert.Equal(t, 4, mounts, "mount and move_mount, enter and exit")
	_, pid := runPrivHelper(t, "setuid", nil)
	h.await(s.EventProcessExit, pid)
	assert.Empty(t, h.find(s.EventPrivilegeChange, pid))
}

func TestPrivilegeConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		mutate func(*PrivilegeConfig)
		msg    string
	}{
		{func(c *PrivilegeConfig) { c.CredentialsHook = "kprobe" }, `privilege::credentials_hook: must be one of auto, lsm, tracepoint; got "kprobe"`},
		{func(c *PrivilegeConfig) { c.Events = nil }, "privilege::events: must name at least one of process.privilege_change"},
		{func(c *PrivilegeConfig) { c.Events = []string{"process.setuid"} }, `privilege::events: unknown event "process.setuid"; known: process.privilege_change, process.namespace_change`},
		{func(c *PrivilegeConfig) { c.Events = []string{s.EventMount, s.EventMount} }, `privilege::events: "filesystem.mount" is listed twice`},
	} {
		cfg := createDefaultConfig().(*Config)
		tt.mutate(&cfg.Privilege)
		err := cfg.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.msg)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Privilege.Enabled = false
	cfg.Privilege.Events = nil
	require.NoError(t, cfg.Validate(), "no events are needed when the sensor is off")
	def := createDefaultConfig().(*Config)
	assert.True(t, def.Privilege.Enabled)
	assert.Equal(t, s.PrivilegeEvents, def.Privilege.Events)
	assert.Equal(t, "auto", def.Privilege.CredentialsHook)
}
