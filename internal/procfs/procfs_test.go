package procfs

import (
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const fixtureRoot = "testdata/proc"

const fixtureCgroup = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6f1c8a3e_1b2c_4d5e_8f90_0a1b2c3d4e5f.slice/cri-containerd-3f1a9c0e2b7d4e6f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071.scope"

func hostNS(base uint32) Namespaces {
	return Namespaces{Mnt: base, PID: base + 1, Net: base + 2, UTS: base + 3, IPC: base + 4, User: base + 5, Cgroup: base + 6}
}

var fixtureWant = map[uint32]Process{
	1: {
		PID: 1, StartTicks: 2, StartBootNS: 20_000_000, Comm: "systemd",
		Executable: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init", "splash"}, Cwd: "/",
		CapEffective: 0x1ffffffffff, CapPermitted: 0x1ffffffffff,
		LoginUID: unsetID, SessionID: unsetID, Cgroup: "/init.scope", NS: hostNS(4026531835),
	},
	2: {
		PID: 2, StartTicks: 2, StartBootNS: 20_000_000, Comm: "kthreadd", Cwd: "/",
		CapEffective: 0x1ffffffffff, CapPermitted: 0x1ffffffffff,
		LoginUID: unsetID, SessionID: unsetID, Cgroup: "/", NS: hostNS(4026531835), KernelThread: true,
	},
	// Hostile comm, argv rewritten without NUL, deleted exe whose name
	// also contains the comm trick, no access to ns links.
	4242: {
		PID: 4242, PPID: 1, StartTicks: 51234, StartBootNS: 512_340_000_000, Comm: "a) R 1 2 (b",
		Executable: "/tmp/x/a) R 1 2 (b", ExecutableDeleted: true,
		Args: []string{"nginx: worker process"}, Cwd: "/srv/www",
		UID: 1000, SUID: 1000, GID: 1000, EGID: 1000, SGID: 1000, FSGID: 1000,
		CapPermitted: 0xa80425fb, CapEffective: 0x400,
		LoginUID: 1000, SessionID: 3, Cgroup: fixtureCgroup,
	},
	// Same start tick as 4242 but a lower PID (PID wrap-around); no
	// loginuid/sessionid files (kernel without CONFIG_AUDIT).
	300: {
		PID: 300, PPID: 4242, StartTicks: 51234, StartBootNS: 512_340_000_000, Comm: "sh",
		Executable: "/usr/bin/dash", Args: []string{"sh", "-c", "", "echo hi"}, Cwd: "/srv/www",
		UID: 1000, EUID: 1000, SUID: 1000, FSUID: 1000, GID: 1000, EGID: 1000, SGID: 1000, FSGID: 1000,
		LoginUID: unsetID, SessionID: unsetID, Cgroup: fixtureCgroup, NS: hostNS(4026532100),
	},
}

func TestReadFixture(t *testing.T) {
	for pid, want := range fixtureWant {
		got, err := Read(fixtureRoot, pid)
		require.NoError(t, err, pid)
		assert.Equal(t, want, got, pid)
	}

	// 7 exited between readdir and Read (no stat), 9 never existed.
	for _, pid := range []uint32{7, 9} {
		_, err := Read(fixtureRoot, pid)
		assert.ErrorIs(t, err, fs.ErrNotExist, pid)
	}

	_, err := Read(fixtureRoot, 8)
	require.Error(t, err)
	assert.NotErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "pid 8")
}

func TestAllFixture(t *testing.T) {
	procs, err := All(fixtureRoot)
	// The unparsable pid 8 is reported; the vanished pid 7 is not.
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pid 8")
	assert.NotContains(t, err.Error(), "pid 7")
	assert.NotErrorIs(t, err, fs.ErrNotExist)

	want := []Process{fixtureWant[1], fixtureWant[2], fixtureWant[300], fixtureWant[4242]}
	assert.Equal(t, want, procs)

	_, err = All("testdata/nonexistent")
	assert.Error(t, err)
}

func TestBootID(t *testing.T) {
	id, err := BootID(fixtureRoot)
	require.NoError(t, err)
	assert.Equal(t, "f0a12488-c54f-4540-817d-dda5c5346a1e", id)

	id, err = BootID("/proc")
	require.NoError(t, err)
	assert.Len(t, id, 36)
	again, err := BootID("/proc")
	require.NoError(t, err)
	assert.Equal(t, id, again)
}

// The kernel tells each process its tick rate in the auxiliary vector;
// check the constant against it.
func TestUserHZ(t *testing.T) {
	auxv, err := os.ReadFile("/proc/self/auxv")
	require.NoError(t, err)
	const atClkTck = 17
	for i := 0; i+16 <= len(auxv); i += 16 {
		if binary.NativeEndian.Uint64(auxv[i:]) == atClkTck {
			assert.Equal(t, uint64(userHZ), binary.NativeEndian.Uint64(auxv[i+8:]))
			return
		}
	}
	t.Fatal("AT_CLKTCK not in auxv")
}

func TestReadSelf(t *testing.T) {
	p, err := Read("/proc", uint32(os.Getpid()))
	require.NoError(t, err)

	assert.Equal(t, uint32(os.Getpid()), p.PID)
	assert.Equal(t, uint32(os.Getppid()), p.PPID)
	assert.Equal(t, os.Args, p.Args)
	exe, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, exe, p.Executable)
	assert.False(t, p.ExecutableDeleted)
	assert.Equal(t, comm(filepath.Base(exe)), p.Comm)
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, realpath(t, wd), p.Cwd)
	assert.False(t, p.KernelThread)

	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	assert.Equal(t, []uint32{uint32(ruid), uint32(euid), uint32(suid), uint32(euid)},
		[]uint32{p.UID, p.EUID, p.SUID, p.FSUID})
	assert.Equal(t, []uint32{uint32(rgid), uint32(egid), uint32(sgid), uint32(egid)},
		[]uint32{p.GID, p.EGID, p.SGID, p.FSGID})

	var caps [2]unix.CapUserData
	require.NoError(t, unix.Capget(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &caps[0]))
	assert.Equal(t, uint64(caps[1].Effective)<<32|uint64(caps[0].Effective), p.CapEffective)
	assert.Equal(t, uint64(caps[1].Permitted)<<32|uint64(caps[0].Permitted), p.CapPermitted)

	assert.Equal(t, selfNS(t), p.NS)

	raw, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	assert.Contains(t, string(raw), "0::"+p.Cgroup+"\n")

	assert.LessOrEqual(t, p.StartBootNS, boottime(t))
	assert.Equal(t, p.StartTicks*10_000_000, p.StartBootNS)
}

func TestReadChild(t *testing.T) {
	dir := realpath(t, t.TempDir())
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)

	before := boottime(t)
	cmd := exec.Command(sleep, "30", "1s") // GNU sleep sums its arguments
	cmd.Dir = dir
	p := readChild(t, cmd)
	after := boottime(t)

	assert.Equal(t, uint32(cmd.Process.Pid), p.PID)
	assert.Equal(t, uint32(os.Getpid()), p.PPID)
	assert.Equal(t, "sleep", p.Comm)
	assert.Equal(t, []string{sleep, "30", "1s"}, p.Args)
	assert.Equal(t, realpath(t, sleep), p.Executable)
	assert.False(t, p.ExecutableDeleted)
	assert.Equal(t, dir, p.Cwd)
	assert.Equal(t, selfNS(t), p.NS)
	self, err := Read("/proc", uint32(os.Getpid()))
	require.NoError(t, err)
	assert.Equal(t, self.Cgroup, p.Cgroup)
	assert.Equal(t, self.UID, p.UID)
	assert.Equal(t, self.LoginUID, p.LoginUID)
	assert.Equal(t, self.SessionID, p.SessionID)
	// The child forked between before and after; /proc truncates to ticks.
	assert.GreaterOrEqual(t, p.StartBootNS, before/10_000_000*10_000_000)
	assert.LessOrEqual(t, p.StartBootNS, after)
	assert.GreaterOrEqual(t, p.StartTicks, self.StartTicks)
}

// A process whose file name is a hostile comm, started through a symlink
// (comm comes from the exec'd path, argv[0] is what we pass).
func TestReadChildHostileComm(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	link := filepath.Join(t.TempDir(), "a) R 1 2 (b")
	require.NoError(t, os.Symlink(sleep, link))

	cmd := exec.Command(link, "30")
	cmd.Args[0] = "sleep"
	p := readChild(t, cmd)
	assert.Equal(t, "a) R 1 2 (b", p.Comm)
	assert.Equal(t, uint32(os.Getpid()), p.PPID)
	assert.Equal(t, []string{"sleep", "30"}, p.Args)
	assert.Equal(t, realpath(t, sleep), p.Executable)
}

func TestReadChildDeletedExe(t *testing.T) {
	dir := realpath(t, t.TempDir())
	bin := copySleep(t, filepath.Join(dir, "sleepy"))
	cmd := exec.Command(bin, "30")
	cmd.Args[0] = "sleep" // in case sleep is a multi-call binary
	startChild(t, cmd)
	require.NoError(t, os.Remove(bin))

	p, err := Read("/proc", uint32(cmd.Process.Pid))
	require.NoError(t, err)
	assert.Equal(t, bin, p.Executable)
	assert.True(t, p.ExecutableDeleted)

	// A file merely named "... (deleted)" is not deleted.
	named := copySleep(t, filepath.Join(dir, "sleep (deleted)"))
	cmd = exec.Command(named, "30")
	cmd.Args[0] = "sleep"
	p = readChild(t, cmd)
	assert.Equal(t, named, p.Executable)
	assert.False(t, p.ExecutableDeleted)
	assert.Equal(t, "sleep (deleted)", p.Comm)
}

// A zombie still exists: its fields are read, exe and cwd are gone.
// Once reaped it is gone.
func TestReadZombie(t *testing.T) {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	pid := uint32(cmd.Process.Pid)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
		return err == nil && strings.Contains(string(b), ") Z ")
	}, 10*time.Second, time.Millisecond)

	p, err := Read("/proc", pid)
	require.NoError(t, err)
	assert.Equal(t, "true", p.Comm)
	assert.Equal(t, uint32(os.Getpid()), p.PPID)
	assert.Empty(t, p.Executable)
	assert.Empty(t, p.Cwd)
	assert.Nil(t, p.Args)

	require.NoError(t, cmd.Wait())
	_, err = Read("/proc", pid)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// A process that exits after its directory was opened is reported as
// gone, even if its PID is reused meanwhile.
func TestReadVanishedMidRead(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	pid := uint32(cmd.Process.Pid)
	dir, err := unix.Open("/proc/"+itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(dir)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	var r reader
	_, err = r.readAt(dir, pid)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestAllReal(t *testing.T) {
	// Children that exit during the walk must not produce errors.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command("true").Run()
			}
		}
	}()
	procs, err := All("/proc")
	close(stop)
	<-done
	require.NoError(t, err) // /proc/1/exe and ns/* are unreadable in some sandboxes: not errors

	index := map[uint32]int{}
	for i, p := range procs {
		_, dup := index[p.PID]
		require.False(t, dup, "duplicate pid %d", p.PID)
		index[p.PID] = i
	}
	require.Contains(t, index, uint32(os.Getpid()))
	require.Contains(t, index, uint32(1))
	self := procs[index[uint32(os.Getpid())]]
	assert.Equal(t, os.Args, self.Args)

	kthreads := 0
	for i, p := range procs {
		if i > 0 {
			prev := procs[i-1]
			assert.True(t, prev.StartTicks < p.StartTicks || prev.StartTicks == p.StartTicks && prev.PID < p.PID)
		}
		if j, ok := index[p.PPID]; ok && p.PPID != 0 {
			assert.Less(t, j, i, "parent %d after child %d", p.PPID, p.PID)
		}
		if p.KernelThread {
			kthreads++
			assert.Empty(t, p.Executable, p.PID)
			assert.Nil(t, p.Args, p.PID)
		}
	}
	assert.Positive(t, kthreads)
}

func BenchmarkAll(b *testing.B) {
	var n int
	for b.Loop() {
		procs, err := All("/proc")
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "procs")
}

func BenchmarkRead(b *testing.B) {
	pid := uint32(os.Getpid())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read("/proc", pid); err != nil {
			b.Fatal(err)
		}
	}
}

// readChild starts cmd and reads it once it has exec'd.
func readChild(t *testing.T, cmd *exec.Cmd) Process {
	t.Helper()
	startChild(t, cmd)
	p, err := Read("/proc", uint32(cmd.Process.Pid))
	require.NoError(t, err)
	return p
}

// startChild starts cmd, waits until its exec has finished and kills it at
// the end of the test. Start returns once the exec passed the point of no
// return (comm and exe already changed), but the kernel fills in the new
// argv area only later in the ELF loader, so /proc/PID/cmdline is briefly
// empty: wait for it.
func startChild(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + itoa(uint32(cmd.Process.Pid)) + "/cmdline")
		return err == nil && len(b) > 0
	}, 10*time.Second, 100*time.Microsecond)
}

func copySleep(t *testing.T, dst string) string {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	src, err := os.Open(sleep)
	require.NoError(t, err)
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, src)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return dst
}

func selfNS(t *testing.T) Namespaces {
	t.Helper()
	ino := func(name string) uint32 {
		fi, err := os.Stat("/proc/self/ns/" + name)
		require.NoError(t, err)
		return uint32(fi.Sys().(*syscall.Stat_t).Ino)
	}
	return Namespaces{Mnt: ino("mnt"), PID: ino("pid"), Net: ino("net"), UTS: ino("uts"),
		IPC: ino("ipc"), User: ino("user"), Cgroup: ino("cgroup")}
}

func boottime(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts))
	return uint64(ts.Nano())
}

func realpath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

// comm is how the kernel truncates a name to TASK_COMM_LEN-1 bytes.
func comm(name string) string { return name[:min(len(name), 15)] }

func itoa(pid uint32) string { return strconv.FormatUint(uint64(pid), 10) }
