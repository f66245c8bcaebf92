package sensor

// TestKernel runs on whatever kernel it finds (the host, or a Debian kernel under qemu via
// `make vmtest`): it probes the kernel, loads the process sensor with every hook the kernel
// offers, runs a known program and checks the records field by field.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/kernel"
)

// ktHelperEnv makes the test binary, run as a child, exit at once with ktHelperCode instead of
// running tests: the known program whose exec and exit TestKernel observes. It runs the same
// everywhere, including a busybox-only guest.
const (
	ktHelperEnv  = "OTELSEC_KERNEL_TEST_HELPER"
	ktHelperCode = 3
)

func init() {
	if os.Getenv(ktHelperEnv) == "exit" {
		os.Exit(ktHelperCode)
	}
}

// ktRecordWait bounds the wait for records; generous because guests run under TCG emulation.
const ktRecordWait = 30 * time.Second

func TestKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	caps := CapabilitiesOf(f)
	t.Logf("kernel %s: capabilities %+v (btf=%v ringbuf=%v tracepoint_error=%q)",
		f.Release, caps, f.BTF, f.RingBuf, f.TracepointError)
	require.NoError(t, f.Require(), "otelsec cannot run on this kernel")

	env := newKTEnv(t)
	for _, hook := range []Hook{HookTPBTF, HookRawTP} {
		if _, err := ChooseProcessHook(hook, caps); err != nil {
			t.Logf("%s: not offered by this kernel, skipped: %v", hook, err)
			continue
		}
		// With the capabilities as probed; then, where the kernel has both ways to learn the
		// credentials an exec replaces, also the older syscall tracepoints.
		variants := []struct {
			name string
			caps Capabilities
		}{{"probed", caps}}
		if caps.PrepareExec && caps.SyscallTracepoints {
			c := caps
			c.PrepareExec = false
			variants = append(variants, struct {
				name string
				caps Capabilities
			}{"syscall_tracepoints", c})
		}
		for _, v := range variants {
			t.Run(string(hook)+"/"+v.name, func(t *testing.T) { testKernelHook(t, env, hook, v.caps) })
		}
	}
}

// ktEnv is the known program and where it runs.
type ktEnv struct {
	real     string // the copied test binary: what the kernel resolves the exec to
	link     string // a symlink to it: the path execve is given
	cwd      string // the child's working directory
	args     []string
	cgroupFD int    // a fresh cgroup2 directory the child is cloned into, -1 if none
	cgroup   string // the child's cgroup path as the sensor walks it (from the hierarchy root)
	cgroupID uint64
	self     selfInfo
}

func newKTEnv(t *testing.T) *ktEnv {
	dir := t.TempDir()
	for _, d := range []string{"bin", "link dir", "cwd dir"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	self, err := os.Executable()
	require.NoError(t, err)
	real := filepath.Join(dir, "bin", "otelsec-kt-helper")
	copyFile(t, self, real)
	link := filepath.Join(dir, "link dir", "kt-helper-link")
	require.NoError(t, os.Symlink(real, link))

	e := &ktEnv{
		link:     link,
		args:     []string{"kt-argv0", "hello", "otelsec world", "", "ünïcode", "--flag=a=b"},
		cgroupFD: -1,
		self:     readSelf(t),
	}
	e.real, err = filepath.EvalSymlinks(real) // the kernel reports the path without symlinks
	require.NoError(t, err)
	e.cwd, err = filepath.EvalSymlinks(filepath.Join(dir, "cwd dir"))
	require.NoError(t, err)

	e.cgroup = e.self.cgroup
	if mnt, root := cgroup2Mount(t); mnt != "" {
		// A cgroup of our own makes the cgroup path and id checks mean something even where
		// everything else runs in the root cgroup (a guest).
		name := fmt.Sprintf("otelsec-kt-%d", os.Getpid())
		cg := filepath.Join(mnt, e.self.cgroup, name)
		if err := os.Mkdir(cg, 0o755); err != nil {
			t.Logf("cannot create a cgroup for the child, it stays in ours: %v", err)
		} else {
			t.Cleanup(func() { os.Remove(cg) })
			fd, err := unix.Open(cg, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			require.NoError(t, err)
			t.Cleanup(func() { unix.Close(fd) })
			e.cgroupFD = fd
			e.cgroup = filepath.Join(root, e.self.cgroup, name)
		}
	}
	var st unix.Stat_t
	if e.cgroupFD >= 0 {
		require.NoError(t, unix.Fstat(e.cgroupFD, &st))
		e.cgroupID = st.Ino // a cgroup's id is its kernfs inode number
	}
	t.Logf("program %s (via %s), cwd %s, cgroup %s", e.real, e.link, e.cwd, e.cgroup)
	return e
}

func copyFile(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	require.NoError(t, os.Chmod(dst, 0o755)) // whatever the umask
}

// cgroup2Mount returns the cgroup2 mount point and the hierarchy path of its root ("/" unless
// mounted from inside a cgroup namespace or bind-mounted), or "" when cgroup2 is not mounted.
func cgroup2Mount(t *testing.T) (mountPoint, root string) {
	fh, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				if mountPoint == "" || fields[4] == "/sys/fs/cgroup" || fields[4] == "/sys/fs/cgroup/unified" {
					mountPoint, root = fields[4], fields[3]
				}
			}
		}
	}
	require.NoError(t, sc.Err())
	return mountPoint, root
}

// selfInfo is what the child inherits from the test process.
type selfInfo struct {
	pid    uint32
	uid    uint32
	gid    uint32
	capEff uint64
	cgroup string // our cgroup2 path, from /proc/self/cgroup
	ns     map[string]uint32
}

func readSelf(t *testing.T) selfInfo {
	s := selfInfo{pid: uint32(os.Getpid()), uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), ns: map[string]uint32{}}
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			s.capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			require.NoError(t, err)
		}
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	for _, line := range strings.Split(string(cg), "\n") {
		if v, ok := strings.CutPrefix(line, "0::"); ok {
			s.cgroup = v
		}
	}
	for _, n := range []string{"mnt", "pid", "net", "uts", "ipc", "user", "cgroup", "time"} {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/"+n, &st); err == nil {
			s.ns[n] = uint32(st.Ino)
		}
	}
	return s
}

func testKernelHook(t *testing.T, env *ktEnv, hook Hook, caps Capabilities) {
	start := time.Now()
	s, err := Load(Options{ProcessHook: hook, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024}, caps)
	require.NoError(t, err) // a verifier error is printed in full (%+v) by Load
	loaded := time.Since(start)
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	var points []string
	for _, a := range s.Attachments() {
		points = append(points, a.String())
	}
	t.Logf("hook %s: loaded and attached in %s: %s", hook, loaded.Round(time.Millisecond), strings.Join(points, " "))

	wantPrev := ""
	switch {
	case caps.PrepareExec:
		wantPrev = string(hook) + "/sched_prepare_exec"
	case caps.SyscallTracepoints:
		wantPrev = "tracepoint/syscalls/sys_enter_execve"
	}
	if wantPrev != "" {
		require.Contains(t, points, wantPrev)
	}
	for _, p := range []string{"sched_process_exec", "sched_process_fork", "sched_process_exit"} {
		require.Contains(t, points, string(hook)+"/"+p)
	}

	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	defer rd.Close()

	cmd := exec.Command(env.link)
	cmd.Args = env.args
	cmd.Dir = env.cwd
	cmd.Env = []string{ktHelperEnv + "=exit"}
	if env.cgroupFD >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: env.cgroupFD}
	}
	err = cmd.Run()
	var xerr *exec.ExitError
	require.ErrorAs(t, err, &xerr, "the helper must exit %d", ktHelperCode)
	require.Equal(t, ktHelperCode, xerr.ExitCode())
	pid := uint32(cmd.Process.Pid)

	var (
		fork *Fork
		ex   *Exec
		exit *Exit
	)
	rd.SetDeadline(time.Now().Add(ktRecordWait))
	for fork == nil || ex == nil || exit == nil {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("records of pid %d after %s: fork=%v exec=%v exit=%v", pid, ktRecordWait, fork != nil, ex != nil, exit != nil)
		}
		require.NoError(t, err)
		k, err := PeekKind(rec.RawSample)
		require.NoError(t, err)
		switch k {
		case KindFork:
			var r Fork
			require.NoError(t, DecodeFork(rec.RawSample, &r))
			if r.TGID == pid {
				fork = &r
			}
		case KindExec:
			var r Exec
			require.NoError(t, DecodeExec(rec.RawSample, &r))
			if r.TGID == pid {
				require.Nil(t, ex, "two exec records for pid %d", pid)
				ex = &r
			}
		case KindExit:
			var r Exit
			require.NoError(t, DecodeExit(rec.RawSample, &r))
			if r.TGID == pid {
				require.Nil(t, exit, "two exit records for pid %d", pid)
				exit = &r
			}
		}
	}
	t.Logf("exec: %+v", *ex)
	t.Logf("exit: %+v", *exit)

	// fork
	require.Equal(t, pid, fork.TID)
	require.Equal(t, env.self.pid, fork.PPID)

	// exec: the program, as the kernel resolved it, and as it was asked for.
	img := ex.Image
	require.Equal(t, env.real, img.Executable)
	require.False(t, img.ExecutableTruncated)
	require.False(t, img.ExecutableDeleted)
	require.Equal(t, env.link, img.Filename)
	require.Equal(t, env.args, img.Args)
	require.False(t, img.ArgsTruncated)
	argsTotal := 0
	for _, a := range env.args {
		argsTotal += len(a) + 1
	}
	require.EqualValues(t, argsTotal, ex.ArgsTotal)
	require.Equal(t, env.cwd, img.Cwd)
	require.False(t, img.CwdTruncated)
	require.Equal(t, filepath.Base(env.link), img.Comm)
	require.EqualValues(t, unix.S_IFREG|0o755, ex.ExeMode)
	require.Equal(t, env.self.uid, ex.ExeUID)
	require.Equal(t, env.self.gid, ex.ExeGID)

	// exec: the process.
	require.Equal(t, pid, ex.TID)
	require.Equal(t, env.self.pid, ex.PPID)
	if env.self.ns["pid"] != 0 {
		require.Equal(t, env.self.ns["pid"], img.NS.PID)
	}
	require.Equal(t, fork.StartBoottime, ex.StartBoottime)
	require.LessOrEqual(t, ex.StartBoottime, ex.KTime)
	require.Equal(t, env.self.uid, img.Creds.UID)
	require.Equal(t, env.self.uid, img.Creds.EUID)
	require.Equal(t, env.self.gid, img.Creds.GID)
	for name, got := range map[string]uint32{"mnt": img.NS.Mnt, "net": img.NS.Net, "uts": img.NS.UTS, "ipc": img.NS.IPC,
		"user": img.NS.User, "cgroup": img.NS.Cgroup, "time": img.NS.Time} {
		if want, ok := env.self.ns[name]; ok {
			require.Equal(t, want, got, "%s namespace", name)
		}
	}
	require.Equal(t, env.cgroup, img.Cgroup)
	require.False(t, img.CgroupTruncated)
	if env.cgroupID != 0 {
		require.Equal(t, env.cgroupID, img.CgroupID)
	}

	// exec: the credentials it replaced, known when a hook before the commit is attached.
	require.Equal(t, caps.PrepareExec || caps.SyscallTracepoints, ex.PrevKnown, "PrevKnown")
	if ex.PrevKnown {
		require.Equal(t, env.self.uid, ex.Prev.UID)
		require.Equal(t, env.self.uid, ex.Prev.EUID)
		require.Equal(t, env.self.gid, ex.Prev.GID)
		require.Equal(t, env.self.capEff, ex.Prev.CapEffective)
	}

	// exit
	require.Equal(t, ktHelperCode, exit.Code())
	require.Zero(t, exit.Signal())
	require.False(t, exit.CoreDumped())
	require.Equal(t, env.self.pid, exit.PPID)
	require.Equal(t, ex.StartBoottime, exit.StartBoottime)
	require.Equal(t, img.CgroupID, exit.CgroupID)
	require.Equal(t, filepath.Base(env.link), exit.Comm)
	require.LessOrEqual(t, ex.KTime, exit.KTime)

	// Close releases every program (the kernel frees them after an RCU grace period).
	ids := s.ProgramIDs()
	require.Len(t, ids, len(points), "one program per attachment")
	require.NoError(t, s.Close())
	closed = true
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left []string
		for name, id := range ids {
			if p, err := ebpf.NewProgramFromID(id); err == nil {
				p.Close()
				left = append(left, name)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("programs still loaded 20s after Close: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
