package sensor

// TestPrivilege runs on whatever kernel it finds (the host, or a Debian kernel under qemu via
// `make vmtest`): it loads the privilege sensor with each credential hook the kernel offers,
// makes real credential, namespace, ptrace, BPF, mount and module changes from helper processes
// (this test binary run again), and checks every field of the records against what /proc says.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/otelsec/otelsec/internal/proctree"
)

// privHelperEnv makes the test binary, run as a child, act as a helper instead of running tests.
const privHelperEnv = "OTELSEC_PRIV_TEST_HELPER"

func init() {
	if mode := os.Getenv(privHelperEnv); mode != "" {
		out, err := privHelper(mode)
		if err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
			os.Exit(1)
		}
		if out != nil {
			if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
}

// helperOut is what a helper reports.
type helperOut struct {
	PID    int
	TID    int
	Before threadState
	After  threadState
	FD     int
	Progs  []helperProg
	Dirs   []string
	Opts   map[string]string      // mount point -> its mountinfo options
	Creds  map[string]helperCreds // credential changes by syscall
}

// helperCreds is one credential change made by a helper thread.
type helperCreds struct {
	TID           int
	Before, After proctree.Creds
}

var credNames = []string{"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "capset"}

// changeCreds makes the credential change name on the calling thread: first a call that
// changes nothing, then the change.
func changeCreds(name string) (helperCreds, error) {
	r := helperCreds{TID: unix.Gettid()}
	st, err := readThreadState()
	if err != nil {
		return r, err
	}
	r.Before = st.Creds
	sc := credSyscalls[name]
	if name == "capset" {
		if err := capsetDrop(-1); err != nil {
			return r, fmt.Errorf("capset (no change): %w", err)
		}
		if err := capsetDrop(unix.CAP_NET_RAW); err != nil {
			return r, fmt.Errorf("capset: %w", err)
		}
	} else {
		// The set*id calls without effect return success (setfs*id return the old id).
		_ = rawSyscall(sc.noop)
		if err := rawSyscall(sc.change); err != nil && name != "setfsuid" && name != "setfsgid" {
			return r, fmt.Errorf("%s: %w", name, err)
		}
	}
	if st, err = readThreadState(); err != nil {
		return r, err
	}
	r.After = st.Creds
	return r, nil
}

type helperProg struct {
	ID   uint32
	Tag  string
	Name string
}

// threadState is a thread's credentials and namespaces as /proc/thread-self says.
type threadState struct {
	Creds proctree.Creds
	NS    NamespaceSet
}

func readThreadState() (threadState, error) {
	var st threadState
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return st, err
	}
	c := &st.Creds
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		ids := func(r, e, s, fs *uint32) {
			for i, p := range []*uint32{r, e, s, fs} {
				n, _ := strconv.ParseUint(f[i], 10, 32)
				*p = uint32(n)
			}
		}
		caps := func(p *uint64) { *p, _ = strconv.ParseUint(f[0], 16, 64) }
		switch k {
		case "Uid":
			ids(&c.UID, &c.EUID, &c.SUID, &c.FSUID)
		case "Gid":
			ids(&c.GID, &c.EGID, &c.SGID, &c.FSGID)
		case "CapInh":
			caps(&c.CapInheritable)
		case "CapPrm":
			caps(&c.CapPermitted)
		case "CapEff":
			caps(&c.CapEffective)
		}
	}
	st.NS = readNS("/proc/thread-self/ns/")
	return st, nil
}

// readNS reads the namespace inodes under dir (/proc/PID/ns/) in NamespaceSet order; 0 for
// those the kernel does not have.
func readNS(dir string) NamespaceSet {
	var ns NamespaceSet
	for i, name := range []string{"mnt", "pid", "net", "uts", "ipc", "user", "cgroup", "time", "pid_for_children", "time_for_children"} {
		var st unix.Stat_t
		if unix.Stat(dir+name, &st) == nil {
			ns[i] = uint32(st.Ino)
		}
	}
	return ns
}

// credSyscalls are the credential changes the helpers make: first a call that changes nothing,
// then the change.
var credSyscalls = map[string]struct {
	op           PrivOp
	noop, change []uintptr
	check        func(c proctree.Creds) bool
}{
	"setuid": {OpSetuid, []uintptr{unix.SYS_SETUID, 0}, []uintptr{unix.SYS_SETUID, 65534}, func(c proctree.Creds) bool {
		return c.UID == 65534 && c.EUID == 65534 && c.SUID == 65534 && c.FSUID == 65534
	}},
	"setgid": {OpSetgid, []uintptr{unix.SYS_SETGID, 0}, []uintptr{unix.SYS_SETGID, 65534}, func(c proctree.Creds) bool {
		return c.GID == 65534 && c.EGID == 65534 && c.SGID == 65534 && c.FSGID == 65534
	}},
	"setreuid": {OpSetreuid, []uintptr{unix.SYS_SETREUID, 0, 0}, []uintptr{unix.SYS_SETREUID, 1000, 2000}, func(c proctree.Creds) bool {
		return c.UID == 1000 && c.EUID == 2000 && c.SUID == 2000 && c.FSUID == 2000
	}},
	"setregid": {OpSetregid, []uintptr{unix.SYS_SETREGID, 0, 0}, []uintptr{unix.SYS_SETREGID, 1000, 2000}, func(c proctree.Creds) bool {
		return c.GID == 1000 && c.EGID == 2000 && c.SGID == 2000 && c.FSGID == 2000
	}},
	"setresuid": {OpSetresuid, []uintptr{unix.SYS_SETRESUID, 0, 0, 0}, []uintptr{unix.SYS_SETRESUID, 1000, 2000, 3000}, func(c proctree.Creds) bool {
		return c.UID == 1000 && c.EUID == 2000 && c.SUID == 3000 && c.FSUID == 2000
	}},
	"setresgid": {OpSetresgid, []uintptr{unix.SYS_SETRESGID, 0, 0, 0}, []uintptr{unix.SYS_SETRESGID, 1000, 2000, 3000}, func(c proctree.Creds) bool {
		return c.GID == 1000 && c.EGID == 2000 && c.SGID == 3000 && c.FSGID == 2000
	}},
	"setfsuid": {OpSetfsuid, []uintptr{unix.SYS_SETFSUID, 0}, []uintptr{unix.SYS_SETFSUID, 65534}, func(c proctree.Creds) bool { return c.UID == 0 && c.EUID == 0 && c.FSUID == 65534 }},
	"setfsgid": {OpSetfsgid, []uintptr{unix.SYS_SETFSGID, 0}, []uintptr{unix.SYS_SETFSGID, 65534}, func(c proctree.Creds) bool { return c.GID == 0 && c.EGID == 0 && c.FSGID == 65534 }},
	"capset": {OpCapset, nil, nil, func(c proctree.Creds) bool {
		return c.CapEffective&(1<<unix.CAP_NET_RAW) == 0 && c.CapPermitted&(1<<unix.CAP_NET_RAW) == 0
	}},
}

func rawSyscall(args []uintptr) error {
	a := append(slices.Clone(args), 0, 0, 0)
	if _, _, e := unix.RawSyscall(a[0], a[1], a[2], a[3]); e != 0 {
		return e
	}
	return nil
}

// capsetDrop drops a capability from the calling thread's effective and permitted sets (or
// sets them unchanged when drop is negative).
func capsetDrop(drop int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	if drop >= 0 {
		data[drop/32].Effective &^= 1 << (drop % 32)
		data[drop/32].Permitted &^= 1 << (drop % 32)
	}
	return unix.Capset(&hdr, &data[0])
}

// privHelper does what mode says in this process and reports it.
func privHelper(mode string) (*helperOut, error) {
	runtime.LockOSThread() // credentials and namespaces are the thread's; the thread dies with us
	out := &helperOut{PID: os.Getpid(), TID: unix.Gettid()}
	var err error
	if out.Before, err = readThreadState(); err != nil {
		return nil, err
	}
	name, arg, _ := strings.Cut(mode, ":")
	switch name {
	case "creds":
		// Each change on a thread of its own (credentials are per thread), one after another.
		out.Creds = map[string]helperCreds{}
		for _, name := range credNames {
			res := make(chan error, 1)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with its credentials
				r, err := changeCreds(name)
				if err == nil {
					out.Creds[name] = r
				}
				res <- err
			}()
			if err := <-res; err != nil {
				return nil, err
			}
		}
	case "unshare":
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return nil, err
		}
	case "setns":
		// Another thread makes a network namespace; this one enters it.
		fdc := make(chan int)
		errc := make(chan error, 1)
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
		case err := <-errc:
			return nil, err
		case out.FD = <-fdc:
		}
		if out.Before, err = readThreadState(); err != nil {
			return nil, err
		}
		if err := unix.Setns(out.FD, unix.CLONE_NEWNET); err != nil {
			return nil, err
		}
	case "state":
		// reports the thread's state (the child of a clone into new namespaces)
	case "sleep":
		fmt.Println("ready")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		return nil, nil
	case "traceme":
		// Once traced, any signal (the Go runtime's preemption signals too) stops this process
		// until its parent, the tracer, lets it go, which the test does not: report, trace,
		// exit at once.
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			return nil, err
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0); e != 0 {
			return nil, e
		}
		unix.Exit(0)
	case "bpf":
		progs, err := helperLoadBPF(arg == "tp_btf")
		if err != nil {
			return nil, err
		}
		out.Progs = progs
	case "mount":
		if err := helperMount(out, arg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown helper mode %q", mode)
	}
	if out.After, err = readThreadState(); err != nil {
		return nil, err
	}
	return out, nil
}

func helperLoadBPF(withTPBTF bool) ([]helperProg, error) {
	specs := []*ebpf.ProgramSpec{{
		Name: "otelsec_kt_sf", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}
	if withTPBTF {
		specs = append(specs, &ebpf.ProgramSpec{
			Name: "otelsec_kt_tp", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
			AttachTo: "sched_process_fork", License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Mov.Imm(asm.R1, 1), asm.Return()},
		})
	}
	var out []helperProg
	for _, spec := range specs {
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", spec.Name, err)
		}
		info, err := p.Info()
		if err != nil {
			return nil, err
		}
		id, _ := info.ID()
		out = append(out, helperProg{ID: uint32(id), Tag: info.Tag, Name: info.Name})
		p.Close()
	}
	return out, nil
}

// helperMount runs in a process cloned into its own mount namespace: it makes its mounts
// private, mounts a tmpfs, bind-mounts it, mounts another tmpfs with the new mount API, and
// unmounts them.
func helperMount(out *helperOut, dir string) error {
	dirs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	out.Dirs = dirs
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("otelsec-kt", dirs[0], "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,mode=0700"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	if err := unix.Mount(dirs[0], dirs[1], "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen: %w", err)
	}
	if err := unix.FsconfigSetString(fsfd, "source", "otelsec-newapi"); err != nil {
		return fmt.Errorf("fsconfig source: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, dirs[2], unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	if out.Opts, err = mountOptions(dirs); err != nil {
		return err
	}
	if err := unix.Unmount(dirs[1], 0); err != nil {
		return fmt.Errorf("umount %s: %w", dirs[1], err)
	}
	if err := unix.Unmount(dirs[2], unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount %s: %w", dirs[2], err)
	}
	return unix.Unmount(dirs[0], 0)
}

// mountOptions returns the per-mount options of the mount points in mountinfo.
func mountOptions(points []string) (map[string]string, error) {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	opts := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && slices.Contains(points, f[4]) {
			opts[f[4]] = f[5]
		}
	}
	return opts, nil
}

// runHelper runs this test binary as a helper and returns its report.
func runHelper(t *testing.T, mode string, attr *syscall.SysProcAttr) (*helperOut, int) {
	t.Helper()
	out, pid, _ := runHelperNS(t, mode, attr)
	return out, pid
}

// runHelperNS runs a helper and also returns the namespaces of the thread that forked it,
// which the child starts from. (They need not be /proc/self's: Go never reuses a main thread
// that a test left locked, possibly in another namespace.)
func runHelperNS(t *testing.T, mode string, attr *syscall.SysProcAttr) (*helperOut, int, NamespaceSet) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), privHelperEnv+"="+mode, "GODEBUG=asyncpreemptoff=1")
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runtime.LockOSThread() // the fork happens on this thread
	parent := readNS("/proc/thread-self/ns/")
	err = cmd.Start()
	runtime.UnlockOSThread()
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), "helper %s: %s", mode, stderr.String())
	var out helperOut
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), "helper %s: %q", mode, stdout.Bytes())
	return &out, cmd.Process.Pid, parent
}

// privRecords collects the privilege and security records (and exits, to know when a helper's
// records are all in) from the ring buffer.
type privRecords struct {
	mu    sync.Mutex
	recs  []any
	exits map[uint32]bool
	errs  []error
	rd    *ringbuf.Reader
	s     *Sensors
	done  chan struct{}
	// exitMissed0: the exit programs' skipped runs already accounted for (ofPID)
	exitMissed0 uint64
}

func collect(t *testing.T, s *Sensors) *privRecords {
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	c := &privRecords{rd: rd, s: s, exits: map[uint32]bool{}, done: make(chan struct{})}
	c.exitMissed0 = c.exitMisses(t)
	go func() {
		defer close(c.done)
		for {
			rec, err := rd.Read()
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					c.add(nil, err)
				}
				return
			}
			k, err := PeekKind(rec.RawSample)
			if err != nil {
				c.add(nil, err)
				continue
			}
			switch k {
			case KindPrivilege:
				var p PrivilegeChange
				err = DecodePrivilegeChange(rec.RawSample, &p)
				c.add(&p, err)
			case KindSecurity:
				r, err := DecodeSecurity(rec.RawSample)
				c.add(r, err)
			case KindExit:
				var x Exit
				if err := DecodeExit(rec.RawSample, &x); err != nil {
					c.add(nil, err)
					continue
				}
				c.mu.Lock()
				c.exits[x.TGID] = true
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		if _, missed, err := s.MissedRuns(); err == nil && len(missed) > 0 {
			t.Logf("runs the kernel skipped (recursion misses), by program: %v", missed)
		}
		rd.Close()
		<-c.done
		require.Empty(t, c.errs, "records that did not decode")
	})
	return c
}

func (c *privRecords) add(r any, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.recs = append(c.recs, r)
}

// ofPID waits until the exit of pid was read (so every record it caused before is in), and
// returns the records of type T that match. An exit record the kernel never wrote because it
// skipped a run of the exit program (counted by the kernel in the
// program's recursion misses, and the receiver reaps such a process from its cache) ends the
// wait too, logged; an exit record lost without a count fails the test.
func ofPID[T any](t *testing.T, c *privRecords, pid int, match func(*T) bool) []*T {
	t.Helper()
	start := time.Now()
	deadline := start.Add(ktRecordWait)
	for i := 0; ; i++ {
		c.mu.Lock()
		exited := c.exits[uint32(pid)]
		c.mu.Unlock()
		if exited {
			break
		}
		if time.Since(start) > time.Second && i%20 == 0 {
			if n := c.exitMisses(t); n > c.exitMissed0 {
				t.Logf("no exit record of pid %d yet, and the kernel skipped %d run(s) of the exit program since the records were first read: taking it as that exit", pid, n-c.exitMissed0)
				c.exitMissed0 = n
				time.Sleep(100 * time.Millisecond) // the records before it
				break
			}
		}
		if !time.Now().Before(deadline) {
			st, err := c.s.Stats()
			require.NoError(t, err)
			_, missed, err := c.s.MissedRuns()
			require.NoError(t, err)
			_, alive := os.Stat(fmt.Sprintf("/proc/%d", pid))
			t.Fatalf("no exit record of pid %d after %s (/proc/%d: %v; records sent %v, lost %v; programs' missed runs %v)",
				pid, ktRecordWait, pid, alive, st.Sent, st.Lost, missed)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return matching(c, match)
}

// exitMisses is the number of runs the kernel skipped of the process sensor's exit programs.
func (c *privRecords) exitMisses(t *testing.T) uint64 {
	t.Helper()
	_, missed, err := c.s.MissedRuns()
	require.NoError(t, err)
	return missed["osec_exit_btf"] + missed["osec_exit_raw"]
}

// await waits for at least one record of type T that matches.
func await[T any](t *testing.T, c *privRecords, what string, match func(*T) bool) []*T {
	t.Helper()
	deadline := time.Now().Add(ktRecordWait)
	for {
		if got := matching(c, match); len(got) > 0 {
			return got
		}
		require.True(t, time.Now().Before(deadline), "no %s record after %s", what, ktRecordWait)
		time.Sleep(5 * time.Millisecond)
	}
}

func matching[T any](c *privRecords, match func(*T) bool) []*T {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*T
	for _, r := range c.recs {
		if v, ok := r.(*T); ok && match(v) {
			out = append(out, v)
		}
	}
	return out
}

// comm is the kernel's task name of a process running this test binary.
func testComm(t *testing.T) string {
	self, err := os.Executable()
	require.NoError(t, err)
	name := filepath.Base(self)
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

func TestPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	caps := CapabilitiesOf(f)
	require.NoError(t, f.Require(), "otelsec cannot run on this kernel")

	var hooks []Hook
	for _, h := range []Hook{HookTracepoint, HookLSM} {
		if _, err := ChoosePrivilegeCredsHook(h, caps); err != nil {
			t.Logf("credentials hook %s: not offered by this kernel, skipped: %v", h, err)
			continue
		}
		hooks = append(hooks, h)
	}
	require.NotEmpty(t, hooks, "no credentials hook on this kernel")
	auto, err := ChoosePrivilegeCredsHook(HookAuto, caps)
	require.NoError(t, err)
	t.Logf("kernel %s: credentials hook chosen by auto: %s", f.Release, auto)

	for i, hook := range hooks {
		t.Run(string(hook), func(t *testing.T) {
			s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024,
				Privilege: PrivilegeOptions{Enabled: true, CredsHook: hook}}, caps)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			var points []string
			for _, a := range s.Attachments() {
				points = append(points, a.Event+"="+a.String())
			}
			t.Logf("privilege sensor hooks on %s: %s", f.Release, strings.Join(points, " "))
			if hook == HookLSM {
				require.Contains(t, points, "process.privilege_change=lsm/task_fix_setuid")
				require.NotContains(t, points, "process.privilege_change=tracepoint/syscalls/sys_enter_setuid")
			} else {
				require.Contains(t, points, "process.privilege_change=tracepoint/syscalls/sys_enter_setuid")
			}
			c := collect(t, s)

			t.Run("credentials", func(t *testing.T) { testCredentials(t, c, hook) })
			if i > 0 {
				return // the rest does not depend on the credentials hook
			}
			t.Run("namespaces", func(t *testing.T) { testNamespaces(t, c, false) })
			t.Run("ptrace", func(t *testing.T) { testPtrace(t, c) })
			t.Run("bpf", func(t *testing.T) { testBPFLoad(t, c, s, caps) })
			t.Run("mount", func(t *testing.T) { testMount(t, c) })
			t.Run("module", func(t *testing.T) { testModule(t, c, s) })
		})
	}

	// The raw_tp variants of the fork and module_load programs (tp_btf is preferred above).
	if _, err := ChooseProcessHook(HookRawTP, caps); err == nil {
		t.Run("raw_tp", func(t *testing.T) {
			s, err := Load(Options{ProcessHook: HookRawTP, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024,
				Privilege: PrivilegeOptions{Enabled: true, Events: []string{"process.namespace_change", "kernel.module_load"}}}, caps)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			var points []string
			for _, a := range s.Attachments() {
				points = append(points, a.Event+"="+a.String())
			}
			require.Contains(t, points, "process.namespace_change=raw_tp/sched_process_fork")
			for _, p := range points {
				require.False(t, strings.HasPrefix(p, "process.privilege_change="), "not configured: %s", p)
			}
			c := collect(t, s)
			t.Run("namespaces", func(t *testing.T) { testNamespaces(t, c, true) })
			t.Run("module", func(t *testing.T) { testModule(t, c, s) })
		})
	}
}

func testCredentials(t *testing.T, c *privRecords, hook Hook) {
	comm := testComm(t)
	out, pid := runHelper(t, "creds", nil)
	all := ofPID(t, c, pid, func(p *PrivilegeChange) bool { return p.TGID == uint32(pid) })
	require.Len(t, all, len(credNames), "one record per change (the calls without effect make none)")
	for _, name := range credNames {
		t.Run(name, func(t *testing.T) {
			sc := credSyscalls[name]
			ch := out.Creds[name]
			require.True(t, sc.check(ch.After), "%s did not change what it should: %+v", name, ch.After)
			require.NotEqual(t, ch.Before, ch.After)
			got := matching(c, func(p *PrivilegeChange) bool { return p.TGID == uint32(pid) && p.TID == uint32(ch.TID) })
			require.Len(t, got, 1, "one %s record", name)
			p := got[0]
			require.Equal(t, KindPrivilege, p.Kind)
			require.Equal(t, sc.op, p.Op)
			require.Equal(t, name, p.Op.String())
			require.Equal(t, hook == HookLSM, p.FromLSM)
			require.Equal(t, ch.Before, p.Old, "credentials before")
			require.Equal(t, ch.After, p.New, "credentials after")
			require.Equal(t, comm, p.Comm)
			require.NotZero(t, p.KTime)
		})
	}
}

func testNamespaces(t *testing.T, c *privRecords, onlyClone bool) {
	netIdx := slices.Index([]string{"mnt", "pid", "net"}, "net")

	t.Run("unshare", func(t *testing.T) {
		if onlyClone {
			t.Skip("the syscall tracepoints do not depend on the fork hook")
		}
		out, pid := runHelper(t, "unshare", nil)
		require.NotEqual(t, out.Before.NS[netIdx], out.After.NS[netIdx])
		got := ofPID(t, c, pid, func(n *NamespaceChange) bool { return n.TGID == uint32(pid) })
		require.Len(t, got, 1)
		n := got[0]
		require.Equal(t, KindSecurity, n.Kind)
		require.Equal(t, uint32(out.TID), n.TID)
		require.Equal(t, OpUnshare, n.Op)
		require.Equal(t, uint64(unix.CLONE_NEWNET), n.Arg)
		require.Equal(t, int32(-1), n.FD)
		require.Equal(t, out.Before.NS, n.Old)
		require.Equal(t, out.After.NS, n.New)
		require.Equal(t, []string{"net"}, n.Changed)
		require.Equal(t, testComm(t), n.Comm)
	})

	t.Run("unshare_command", func(t *testing.T) {
		if onlyClone {
			t.Skip("the syscall tracepoints do not depend on the fork hook")
		}
		// The unshare(1) of util-linux (host) or busybox (guest).
		cmd := exec.Command("unshare", "-n", "true")
		runtime.LockOSThread() // the fork happens on this thread, whose namespaces unshare starts in
		self := readNS("/proc/thread-self/ns/")
		err := cmd.Start()
		runtime.UnlockOSThread()
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
		pid := cmd.Process.Pid
		got := ofPID(t, c, pid, func(n *NamespaceChange) bool { return n.TGID == uint32(pid) })
		require.Len(t, got, 1)
		n := got[0]
		require.Equal(t, OpUnshare, n.Op)
		require.Equal(t, uint32(pid), n.TID)
		require.Equal(t, uint64(unix.CLONE_NEWNET), n.Arg)
		require.Equal(t, []string{"net"}, n.Changed)
		require.Equal(t, self[netIdx], n.Old[netIdx], "the old network namespace is ours")
		require.NotEqual(t, n.Old[netIdx], n.New[netIdx])
		want := n.Old
		want[netIdx] = n.New[netIdx]
		require.Equal(t, want, n.New, "only the network namespace changed")
		require.Equal(t, self, n.Old)
		require.Equal(t, "unshare", n.Comm)
	})

	t.Run("setns", func(t *testing.T) {
		if onlyClone {
			t.Skip("the syscall tracepoints do not depend on the fork hook")
		}
		out, pid := runHelper(t, "setns", nil)
		got := ofPID(t, c, pid, func(n *NamespaceChange) bool { return n.TGID == uint32(pid) && n.Op == OpSetns })
		require.Len(t, got, 1)
		n := got[0]
		require.Equal(t, uint32(out.TID), n.TID)
		require.Equal(t, uint64(unix.CLONE_NEWNET), n.Arg)
		require.Equal(t, int32(out.FD), n.FD)
		require.Equal(t, out.Before.NS, n.Old)
		require.Equal(t, out.After.NS, n.New)
		require.Equal(t, []string{"net"}, n.Changed)
		// The other thread's unshare made the namespace setns entered.
		un := ofPID(t, c, pid, func(u *NamespaceChange) bool { return u.TGID == uint32(pid) && u.Op == OpUnshare })
		require.Len(t, un, 1)
		require.NotEqual(t, uint32(out.TID), un[0].TID)
		require.Equal(t, un[0].New[netIdx], n.New[netIdx])
	})

	t.Run("clone", func(t *testing.T) {
		out, pid, self := runHelperNS(t, "state", &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUTS})
		got := ofPID(t, c, pid, func(n *NamespaceChange) bool { return n.TGID == uint32(pid) })
		require.Len(t, got, 1, "one record, at the clone (exec changes no namespace)")
		n := got[0]
		require.Equal(t, OpClone, n.Op)
		require.Equal(t, "clone", n.Op.String())
		require.Equal(t, uint32(pid), n.TID, "the new task")
		require.Equal(t, uint64(0), n.Arg)
		require.Equal(t, int32(-1), n.FD)
		require.Equal(t, self, n.Old, "the parent's namespaces")
		require.Equal(t, out.Before.NS, n.New, "the child's namespaces")
		require.Equal(t, []string{"uts"}, n.Changed)
		require.Equal(t, testComm(t), n.Comm)
	})
}

func testPtrace(t *testing.T, c *privRecords) {
	self := os.Getpid()
	startOf := func(pid int) uint64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ticks, err := strconv.ParseUint(f[19], 10, 64) // field 22, starttime
		require.NoError(t, err)
		return ticks * 10_000_000 // USER_HZ is 100
	}
	for _, req := range []struct {
		name    string
		request int64
	}{{"PTRACE_SEIZE", unix.PTRACE_SEIZE}, {"PTRACE_ATTACH", unix.PTRACE_ATTACH}} {
		t.Run(req.name, func(t *testing.T) {
			self_, err := os.Executable()
			require.NoError(t, err)
			sleeper := exec.Command(self_)
			sleeper.Env = append(os.Environ(), privHelperEnv+"=sleep")
			stdin, err := sleeper.StdinPipe()
			require.NoError(t, err)
			stdout, err := sleeper.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, sleeper.Start())
			ready, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "ready\n", ready)
			pid := sleeper.Process.Pid
			start := startOf(pid)

			runtime.LockOSThread()
			tid := unix.Gettid()
			if req.request == unix.PTRACE_SEIZE {
				require.NoError(t, unix.PtraceSeize(pid))
			} else {
				require.NoError(t, unix.PtraceAttach(pid))
				var ws unix.WaitStatus
				_, err := unix.Wait4(pid, &ws, 0, nil)
				require.NoError(t, err)
				require.True(t, ws.Stopped(), "attached tracee stops")
				require.NoError(t, unix.PtraceDetach(pid))
			}
			runtime.UnlockOSThread()
			stdin.Close()
			_ = sleeper.Wait()

			got := await(t, c, req.name, func(p *Ptrace) bool { return p.TGID == uint32(self) && p.PIDArg == uint32(pid) })
			require.Len(t, got, 1)
			p := got[0]
			require.Equal(t, KindSecurity, p.Kind)
			require.Equal(t, uint32(tid), p.TID)
			require.Equal(t, req.request, p.Request)
			require.True(t, p.TraceeFound)
			require.Equal(t, uint32(pid), p.TraceeTGID)
			require.Equal(t, uint32(pid), p.TraceeTID)
			require.InDelta(t, float64(start), float64(p.TraceeStart), 10e6, "tracee start (to /proc's 10 ms)")
			require.Equal(t, testComm(t), p.TraceeComm)
			require.Equal(t, uint32(self), p.TracerTGID)
			require.Equal(t, uint32(tid), p.TracerTID)
			require.Equal(t, testComm(t), p.Comm)
		})
	}
	t.Run("PTRACE_TRACEME", func(t *testing.T) {
		out, pid := runHelper(t, "traceme", nil)
		got := ofPID(t, c, pid, func(p *Ptrace) bool { return p.TGID == uint32(pid) })
		require.Len(t, got, 1)
		p := got[0]
		require.Equal(t, uint32(out.TID), p.TID)
		require.Equal(t, int64(unix.PTRACE_TRACEME), p.Request)
		require.Zero(t, p.PIDArg)
		require.True(t, p.TraceeFound)
		require.Equal(t, uint32(pid), p.TraceeTGID)
		require.Equal(t, uint32(out.TID), p.TraceeTID)
		require.Equal(t, uint32(self), p.TracerTGID, "the parent traces")
		require.DirExists(t, fmt.Sprintf("/proc/self/task/%d", p.TracerTID), "the tracer is a thread of ours")
		require.Equal(t, testComm(t), p.TraceeComm)
	})
}

func testBPFLoad(t *testing.T, c *privRecords, s *Sensors, caps Capabilities) {
	// Our own loads are filtered in the kernel and counted. The first load may run feature
	// probes (more loads); the second is exactly one.
	own := func() {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "otelsec_kt_own", Type: ebpf.SocketFilter, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
		require.NoError(t, err)
		p.Close()
	}
	own()
	before, err := s.Stats()
	require.NoError(t, err)
	own()
	after, err := s.Stats()
	require.NoError(t, err)
	require.Equal(t, before.Filtered[KindSecurity]+1, after.Filtered[KindSecurity], "our own load is counted as filtered")

	mode := "bpf"
	if caps.TPBTF {
		mode = "bpf:tp_btf"
	}
	out, pid := runHelper(t, mode, nil)
	all := ofPID(t, c, pid, func(b *BPFProgramLoad) bool { return b.TGID == uint32(pid) })
	for _, b := range all {
		t.Logf("program loaded by the helper: %s id %d", b.Name, b.ID) // the library's feature probes too
	}
	require.GreaterOrEqual(t, len(all), len(out.Progs))
	for _, want := range out.Progs {
		got := matching(c, func(b *BPFProgramLoad) bool { return b.TGID == uint32(pid) && b.ID == want.ID })
		require.Len(t, got, 1, "program %s", want.Name)
		b := got[0]
		require.Equal(t, KindSecurity, b.Kind)
		require.Equal(t, uint32(out.TID), b.TID)
		require.Equal(t, want.ID, b.ID)
		require.Equal(t, want.Name, b.Name)
		require.Equal(t, want.Tag, hex.EncodeToString(b.Tag[:]))
		require.Equal(t, testComm(t), b.Comm)
		switch b.Name {
		case "otelsec_kt_sf":
			require.Equal(t, uint32(ebpf.SocketFilter), b.ProgType)
			require.Equal(t, "socket_filter", KernelEnumName("bpf_prog_type", "BPF_PROG_TYPE_", uint64(b.ProgType)))
			require.Equal(t, uint32(2), b.Instructions)
			require.Zero(t, b.AttachType)
			require.Empty(t, b.AttachFunc)
		case "otelsec_kt_tp":
			require.Equal(t, uint32(ebpf.Tracing), b.ProgType)
			require.Equal(t, "tracing", KernelEnumName("bpf_prog_type", "BPF_PROG_TYPE_", uint64(b.ProgType)))
			require.Equal(t, uint32(ebpf.AttachTraceRawTp), b.AttachType)
			require.Equal(t, "trace_raw_tp", KernelEnumName("bpf_attach_type", "BPF_", uint64(b.AttachType)))
			require.Equal(t, "sched_process_fork", b.AttachFunc)
			require.Equal(t, uint32(3), b.Instructions)
		default:
			t.Fatalf("unexpected program %q", b.Name)
		}
	}
	require.Empty(t, matching(c, func(b *BPFProgramLoad) bool { return b.TGID == uint32(os.Getpid()) }), "no record of our own loads")
}

func testMount(t *testing.T, c *privRecords) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	out, pid := runHelper(t, "mount:"+dir, &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS})
	got := ofPID(t, c, pid, func(m *Mount) bool { return m.TGID == uint32(pid) })
	require.Len(t, got, 7, "private /, tmpfs, bind, move_mount, three umounts")
	for _, m := range got {
		require.Equal(t, KindSecurity, m.Kind)
		require.Equal(t, uint32(out.TID), m.TID)
		require.Equal(t, testComm(t), m.Comm)
		require.False(t, m.SourceTruncated)
		require.False(t, m.TargetTruncated)
		require.False(t, m.OptionsTruncated)
	}
	a, b, cdir := out.Dirs[0], out.Dirs[1], out.Dirs[2]
	t.Logf("mountinfo options: %v", out.Opts)
	const relatime = 0x20 // MNT_RELATIME, the default
	const mntNosuid, mntNodev, mntNoexec = 0x1, 0x2, 0x4
	require.Equal(t, "rw,nosuid,nodev,relatime", out.Opts[a])
	require.Equal(t, "rw,noexec,relatime", out.Opts[cdir])

	want := []Mount{
		{Op: OpMount, Flags: unix.MS_REC | unix.MS_PRIVATE, Source: "none", Target: "/"},
		{Op: OpMount, Flags: unix.MS_NOSUID | unix.MS_NODEV, FromMount: true, MntFlags: mntNosuid | mntNodev | relatime,
			Source: "otelsec-kt", FSType: "tmpfs", Target: a, TargetResolved: true, Options: "size=1m,mode=0700"},
		{Op: OpMount, Flags: unix.MS_BIND, FromMount: true, MntFlags: mntNosuid | mntNodev | relatime,
			Source: "otelsec-kt", FSType: "tmpfs", Target: b, TargetResolved: true},
		{Op: OpMoveMount, Flags: unix.MOVE_MOUNT_F_EMPTY_PATH, FromMount: true, MntFlags: mntNoexec | relatime,
			Source: "otelsec-newapi", FSType: "tmpfs", Target: cdir, TargetResolved: true},
		{Op: OpUmount, Flags: 0, Target: b},
		{Op: OpUmount, Flags: unix.MNT_DETACH, Target: cdir},
		{Op: OpUmount, Flags: 0, Target: a},
	}
	for i, w := range want {
		m := *got[i]
		m.MntFlags &= 0xff // MNT_* visible to userspace; the rest are the kernel's bookkeeping
		w.Header, w.Comm = m.Header, m.Comm
		w.SBFlags = m.SBFlags
		if w.FromMount {
			require.Zero(t, m.SBFlags&unix.MS_RDONLY, "read-write superblock")
		}
		require.Equal(t, w, m, "record %d (%s %s)", i, w.Op, w.Target)
	}
}

func testModule(t *testing.T, c *privRecords, s *Sensors) {
	if _, err := os.Stat("/proc/modules"); err != nil {
		t.Skipf("kernel %s is built without module support (no /proc/modules): no module can be loaded, the test runs in the qemu guests (make vmtest)", kernelRelease(t))
	}
	if runtime.GOARCH != "amd64" {
		t.Skipf("the test module is built for x86-64 only, not %s", runtime.GOARCH)
	}
	var points []string
	for _, a := range s.Attachments() {
		points = append(points, a.String())
	}
	require.Contains(t, points, "tracepoint/syscalls/sys_enter_finit_module")
	require.Contains(t, points, "tracepoint/syscalls/sys_enter_init_module")

	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	self := os.Getpid()
	for _, tc := range []struct {
		name string
		file bool
	}{{"otelsec_kt_file", true}, {"otelsec_kt_mem", false}} {
		t.Run(tc.name, func(t *testing.T) {
			image, err := moduleImage(tc.name)
			require.NoError(t, err)
			path := filepath.Join(dir, tc.name+".ko")
			require.NoError(t, os.WriteFile(path, image, 0o600))

			runtime.LockOSThread()
			tid := unix.Gettid()
			var loadErr error
			const flags = 0x3 // MODULE_INIT_IGNORE_MODVERSIONS | MODULE_INIT_IGNORE_VERMAGIC
			if tc.file {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				require.NoError(t, err)
				loadErr = unix.FinitModule(fd, "otelsec_param=1", flags)
				unix.Close(fd)
			} else {
				loadErr = unix.InitModule(image, "")
			}
			runtime.UnlockOSThread()
			require.NoError(t, loadErr, "load the test module %s", tc.name)
			taint, err := os.ReadFile("/sys/module/" + tc.name + "/taint")
			require.NoError(t, err)
			require.NoError(t, unix.DeleteModule(tc.name, unix.O_NONBLOCK))

			got := await(t, c, tc.name, func(m *ModuleLoad) bool { return m.TGID == uint32(self) && m.Name == tc.name })
			require.Len(t, got, 1)
			m := got[0]
			require.Equal(t, KindSecurity, m.Kind)
			require.Equal(t, uint32(tid), m.TID)
			require.Equal(t, testComm(t), m.Comm)
			require.Equal(t, taintBits(t, strings.TrimSpace(string(taint))), m.Taints, "taints %q", taint)
			require.NotZero(t, m.Taints&(1<<1), "TAINT_FORCED_MODULE")
			require.Equal(t, uint64(len(image)), m.Size)
			if tc.file {
				require.Equal(t, OpFinitModule, m.Op)
				require.Equal(t, path, m.Path)
				require.False(t, m.PathTruncated)
				require.False(t, m.PathUnresolved)
				require.Equal(t, "otelsec_param=1", m.Params)
				require.Equal(t, uint32(flags), m.LoadFlags)
			} else {
				require.Equal(t, OpInitModule, m.Op)
				require.Empty(t, m.Path)
				require.Empty(t, m.Params)
				require.Zero(t, m.LoadFlags)
			}
			require.False(t, m.ParamsTrunc)
		})
	}
}

func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	require.NoError(t, unix.Uname(&u))
	return unix.ByteSliceToString(u.Release[:])
}

// taintBits turns /sys/module/NAME/taint letters into TAINT_* bits.
func taintBits(t *testing.T, letters string) uint64 {
	const order = "PFSRMBUDAWCIOELKXTN" // kernel/panic.c taint_flags, by bit
	var bits uint64
	for _, l := range letters {
		i := strings.IndexRune(order, l)
		require.GreaterOrEqual(t, i, 0, "taint letter %q", l)
		bits |= 1 << i
	}
	return bits
}

// moduleImage builds a minimal x86-64 kernel module named name: no code, only the module
// structure the kernel requires, sized and laid out from the running kernel's BTF. Without a
// vermagic and symbol versions it loads only where the kernel allows forced loads
// (CONFIG_MODULE_FORCE_LOAD, as Debian's): it taints the kernel, which the test asserts.
func moduleImage(name string) ([]byte, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, err
	}
	var mod *btf.Struct
	if err := spec.TypeByName("module", &mod); err != nil {
		return nil, fmt.Errorf("kernel BTF: struct module: %w", err)
	}
	nameOff := -1
	for _, m := range mod.Members {
		if m.Name == "name" {
			nameOff = int(m.Offset.Bytes())
		}
	}
	if nameOff < 0 || len(name) >= 56 {
		return nil, errors.New("struct module has no name field, or the name is too long")
	}
	this := make([]byte, mod.Size)
	copy(this[nameOff:], name)
	modinfo := []byte("license=GPL\x00name=" + name + "\x00")
	symtab := make([]byte, 24) // the null symbol
	strtab := []byte{0}

	sections := []struct {
		name              string
		typ, flags, align uint64
		data              []byte
		link, info, ent   uint32
	}{
		{name: ""},
		{name: ".gnu.linkonce.this_module", typ: uint64(elfSHTProgbits), flags: 0x3 /* WRITE|ALLOC */, align: 64, data: this},
		{name: ".modinfo", typ: uint64(elfSHTProgbits), flags: 0x2 /* ALLOC */, align: 1, data: modinfo},
		{name: ".symtab", typ: 2 /* SYMTAB */, align: 8, data: symtab, link: 4, info: 1, ent: 24},
		{name: ".strtab", typ: 3 /* STRTAB */, align: 1, data: strtab},
		{name: ".shstrtab", typ: 3, align: 1},
	}
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	nameIdx := make([]uint32, len(sections))
	for i, s := range sections[1:] {
		nameIdx[i+1] = uint32(shstr.Len())
		shstr.WriteString(s.name)
		shstr.WriteByte(0)
	}
	sections[5].data = shstr.Bytes()

	var body bytes.Buffer
	body.Write(make([]byte, 64)) // the ELF header, written last
	offsets := make([]uint64, len(sections))
	for i, s := range sections[1:] {
		for uint64(body.Len())%max(s.align, 1) != 0 {
			body.WriteByte(0)
		}
		offsets[i+1] = uint64(body.Len())
		body.Write(s.data)
	}
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := uint64(body.Len())
	le := binary.LittleEndian
	for i, s := range sections {
		var sh [64]byte
		le.PutUint32(sh[0:], nameIdx[i])
		le.PutUint32(sh[4:], uint32(s.typ))
		le.PutUint64(sh[8:], s.flags)
		le.PutUint64(sh[24:], offsets[i])
		le.PutUint64(sh[32:], uint64(len(s.data)))
		le.PutUint32(sh[40:], s.link)
		le.PutUint32(sh[44:], s.info)
		le.PutUint64(sh[48:], s.align)
		le.PutUint64(sh[56:], uint64(s.ent))
		body.Write(sh[:])
	}
	img := body.Bytes()
	copy(img[0:], []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(img[16:], 1)  // ET_REL
	le.PutUint16(img[18:], 62) // EM_X86_64
	le.PutUint32(img[20:], 1)  // EV_CURRENT
	le.PutUint64(img[40:], shoff)
	le.PutUint16(img[52:], 64) // e_ehsize
	le.PutUint16(img[58:], 64) // e_shentsize
	le.PutUint16(img[60:], uint16(len(sections)))
	le.PutUint16(img[62:], 5) // e_shstrndx
	return img, nil
}

const elfSHTProgbits = 1

// TestModuleImage checks the test module's ELF layout where no module can be loaded.
func TestModuleImage(t *testing.T) {
	if _, err := btf.LoadKernelSpec(); err != nil {
		t.Skipf("no kernel BTF to size struct module: %v", err)
	}
	img, err := moduleImage("otelsec_kt")
	require.NoError(t, err)
	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	require.Equal(t, elf.ET_REL, f.Type)
	require.Equal(t, elf.EM_X86_64, f.Machine)
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"", ".gnu.linkonce.this_module", ".modinfo", ".symtab", ".strtab", ".shstrtab"}, names)
	this, err := f.Section(".gnu.linkonce.this_module").Data()
	require.NoError(t, err)
	spec, _ := btf.LoadKernelSpec()
	var mod *btf.Struct
	require.NoError(t, spec.TypeByName("module", &mod))
	require.Len(t, this, int(mod.Size))
	require.Contains(t, string(this), "otelsec_kt\x00")
	modinfo, err := f.Section(".modinfo").Data()
	require.NoError(t, err)
	require.Equal(t, "license=GPL\x00name=otelsec_kt\x00", string(modinfo))
	syms, err := f.Symbols()
	require.NoError(t, err)
	require.Empty(t, syms, "only the null symbol")
}
