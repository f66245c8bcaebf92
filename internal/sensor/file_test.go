package sensor

// TestFileSensor runs on whatever kernel it finds (the host, or a Debian kernel under qemu via
// `make vmtest`): it loads the file sensor with each backend the kernel offers, performs every
// operation for real on one locked thread, and compares the records field by field with what
// the kernel must have seen. The tracepoint backend runs everywhere; the LSM backend where
// BPF LSM is active (the guests, not this host).

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/kernel"
)

// fileHelperEnv makes the test binary, run as a child, create the file the variable names and
// exit 0: a process with another executable, for the binary filter.
const fileHelperEnv = "OTELSEC_FILE_TEST_HELPER"

func init() {
	if p := os.Getenv(fileHelperEnv); p != "" {
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "file helper:", err)
			os.Exit(1)
		}
		unix.Close(fd)
		os.Exit(0)
	}
}

func TestFileSensor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	caps := CapabilitiesOf(f)
	t.Logf("kernel %s: LSM %s (%s), syscall tracepoints %v (%s)", f.Release, f.LSM, f.LSMError, caps.SyscallTracepoints, f.TracepointError)
	for _, backend := range []FileBackend{FileBackendTracepoint, FileBackendLSM} {
		t.Run(string(backend), func(t *testing.T) {
			if _, err := ChooseFileBackend(backend, caps); err != nil {
				t.Skipf("not offered by this kernel (the LSM backend runs in the qemu guests of make vmtest): %v", err)
			}
			testFileBackend(t, caps, backend)
		})
	}
	t.Run("lsm_without_syscall_tracepoints", func(t *testing.T) {
		if !caps.LSM {
			t.Skip("BPF LSM is not active on this kernel (it is in the qemu guests of make vmtest)")
		}
		c := caps
		c.SyscallTracepoints = false // as when tracefs cannot be mounted
		testFileLSMAlone(t, c)
	})
}

// testFileLSMAlone checks the LSM backend without the syscall tracepoints: each hook's record is
// sent at once, an attempt without a result; a call that fails before its hook is not seen.
func testFileLSMAlone(t *testing.T, caps Capabilities) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024,
		File: FileOptions{Enabled: true, Backend: FileBackendLSM, Include: []FileRule{{Prefix: dir, Ops: FileOpsAll}}}}, caps)
	require.NoError(t, err)
	defer s.Close()
	backend, results := s.FileBackend()
	require.Equal(t, FileBackendLSM, backend)
	require.False(t, results)
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	defer rd.Close()

	var tid uint32
	var ino uint64
	f := filepath.Join(dir, "f")
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		tid = uint32(unix.Gettid())
		old := unix.Umask(0o022)
		defer unix.Umask(old)
		fd, err := unix.Open(f, unix.O_CREAT|unix.O_WRONLY, 0o640)
		if err != nil {
			done <- err
			return
		}
		var st unix.Stat_t
		unix.Fstat(fd, &st)
		ino = st.Ino
		unix.Close(fd)
		if _, err := unix.Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
			done <- fmt.Errorf("open of a missing file: %v", err)
			return
		}
		done <- unix.Chmod(f, 0o600)
	}()
	require.NoError(t, <-done)
	capture := &fileCapture{t: t, rd: rd, pids: map[uint32]bool{uint32(os.Getpid()): true}}
	capture.until(time.Now().Add(ktRecordWait), func(r *File) bool { return r.Op == FileOpChmod && r.TID == tid })
	capture.until(time.Now().Add(200*time.Millisecond), nil)
	var got []File
	for _, r := range capture.recs {
		if r.TID == tid {
			r.KTime, r.CPU = 0, 0
			got = append(got, r)
		}
	}
	require.Len(t, got, 2, "the open and the chmod; the failed open never reached its hook: %+v", got)
	comm := got[0].Comm
	hdr := Header{Kind: KindFile, TGID: uint32(os.Getpid()), TID: tid}
	// The open's flags are the kernel's (f_flags): the caller's, with what the kernel adds.
	assert.Equal(t, uint32(unix.O_CREAT|unix.O_WRONLY), got[0].Flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND))
	got[0].Flags = 0
	assert.Equal(t, []File{
		{Header: hdr, Op: FileOpOpen, Path: f, FromLSM: true, NoSyscall: true, Created: true,
			Mode: unix.S_IFREG | 0o640, ModeKnown: true, UIDKnown: true, GIDKnown: true, Inode: ino, InodeKnown: true, Comm: comm},
		{Header: hdr, Op: FileOpChmod, Path: f, FromLSM: true, NoSyscall: true, Mode: 0o600, ModeKnown: true, Comm: comm},
	}, got)
}

// fileEnv is the directory tree the test works in.
type fileEnv struct {
	root     string // resolved: what the kernel reports
	watched  string // included, all operations
	outside  string // not included
	excluded string // excluded (all operations), though a deeper prefix includes it
	deep     string // a file 70 directories below watched
	helper   string // a copy of the test binary: another executable
}

func newFileEnv(t *testing.T) *fileEnv {
	root, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	e := &fileEnv{
		root:     root,
		watched:  filepath.Join(root, "w"),
		outside:  filepath.Join(root, "o"),
		excluded: filepath.Join(root, "w", "x"),
		helper:   filepath.Join(root, "bin", "otelsec-file-helper"),
	}
	for _, d := range []string{e.watched, filepath.Join(e.outside, "u1", "keys", "public"), filepath.Join(e.excluded, "in"), filepath.Dir(e.helper)} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	self, err := os.Executable()
	require.NoError(t, err)
	copyFile(t, self, e.helper)
	deep := e.watched
	for i := 0; i < 70; i++ {
		deep = filepath.Join(deep, "d")
	}
	require.NoError(t, os.MkdirAll(deep, 0o755))
	e.deep = filepath.Join(deep, "leaf")
	require.NoError(t, os.WriteFile(e.deep, nil, 0o644))
	require.NoError(t, os.Chmod(e.deep, 0o644)) // whatever the umask
	return e
}

// fileOptions watch everything under watched, except excluded; under outside, only
// outside/*/keys, except outside/*/keys/public; the helper binary is excluded.
func (e *fileEnv) fileOptions(backend FileBackend) FileOptions {
	return FileOptions{
		Enabled: true,
		Backend: backend,
		Include: []FileRule{
			{Prefix: e.watched, Ops: FileOpsAll},
			{Prefix: filepath.Join(e.excluded, "in"), Ops: FileOpsAll},
			{Prefix: filepath.Join(e.outside, "*", "keys"), Ops: FileOpenWrite},
		},
		Exclude: []FileRule{
			{Prefix: e.excluded, Ops: FileOpsAll},
			{Prefix: filepath.Join(e.outside, "*", "keys", "public"), Ops: FileOpsAll},
		},
		BinaryExclude: []string{e.helper},
	}
}

// fileCapture reads the file records of some processes from the ring buffer.
type fileCapture struct {
	t    *testing.T
	rd   *ringbuf.Reader
	pids map[uint32]bool
	recs []File
}

func (c *fileCapture) until(deadline time.Time, done func(*File) bool) {
	c.t.Helper()
	c.rd.SetDeadline(deadline)
	for {
		rec, err := c.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		require.NoError(c.t, err)
		k, err := PeekKind(rec.RawSample)
		require.NoError(c.t, err)
		if k != KindFile {
			continue
		}
		var f File
		require.NoError(c.t, DecodeFile(rec.RawSample, &f))
		if !c.pids[f.TGID] {
			continue
		}
		c.recs = append(c.recs, f)
		if done != nil && done(&f) {
			return
		}
	}
}

// fileRun is what the locked thread did, for the expectations.
type fileRun struct {
	tid            uint32
	comm           string
	fds            map[string]int
	inodes         map[string]uint64
	filteredBefore Stats
	filteredAfter  Stats
	helperPID      uint32
	err            error
}

func testFileBackend(t *testing.T, caps Capabilities, backend FileBackend) {
	env := newFileEnv(t)
	start := time.Now()
	s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024,
		File: env.fileOptions(backend)}, caps)
	require.NoError(t, err) // a verifier error is printed in full by Load
	defer s.Close()
	got, results := s.FileBackend()
	require.Equal(t, backend, got)
	require.True(t, results, "the syscall tracepoints give every record its result")
	var points []string
	for _, a := range s.Attachments() {
		if strings.HasPrefix(a.Event, "file.") {
			points = append(points, a.Event+"="+a.String())
		}
	}
	t.Logf("loaded and attached in %s: %s", time.Since(start).Round(time.Millisecond), strings.Join(points, " "))
	require.Contains(t, points, "file.open=tracepoint/syscalls/sys_exit_openat")
	require.Contains(t, points, "file.rmdir=tracepoint/syscalls/sys_exit_rmdir") // amd64; arm64 has unlinkat only
	if backend == FileBackendLSM {
		for _, h := range []string{"file.open=lsm/file_open", "file.rename=lsm/path_rename", "file.chmod=lsm/path_chmod", "file.unlink=lsm/path_unlink"} {
			require.Contains(t, points, h)
		}
	}

	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	defer rd.Close()

	run := runFileOps(t, env, s)
	require.NoError(t, run.err)
	capture := &fileCapture{t: t, rd: rd, pids: map[uint32]bool{uint32(os.Getpid()): true, run.helperPID: true}}
	end := filepath.Join(env.watched, "end")
	capture.until(time.Now().Add(ktRecordWait), func(f *File) bool { return f.Path == end && f.TID == run.tid })
	capture.until(time.Now().Add(200*time.Millisecond), nil) // anything after the end is a failure below

	want := expectedFileRecords(env, run, backend)
	var mine []File
	for _, r := range capture.recs {
		if r.TGID == run.helperPID {
			t.Errorf("a record of the excluded binary: %+v", r)
			continue
		}
		if r.TID != run.tid {
			continue // another thread of this process (the Go runtime)
		}
		mine = append(mine, r)
	}
	for i := range mine {
		assert.NotZero(t, mine[i].KTime)
		if i > 0 {
			assert.LessOrEqual(t, mine[i-1].KTime, mine[i].KTime, "records in the thread's order")
		}
		mine[i].KTime, mine[i].CPU = 0, 0
	}
	for i := 0; i < max(len(want), len(mine)); i++ {
		var w, g File
		if i < len(want) {
			w = want[i]
		}
		if i < len(mine) {
			g = mine[i]
		}
		if !assert.Equal(t, w, g, "record %d (%s %s)", i, w.Op.EventName(), w.Path) {
			break
		}
	}
	require.Len(t, mine, len(want))

	// The kernel's own counters: the events outside the watch set were filtered, none sent.
	assert.Equal(t, run.filteredBefore.Sent[KindFile], run.filteredAfter.Sent[KindFile], "no file record sent for the events outside the watch set")
	assert.GreaterOrEqual(t, run.filteredAfter.Filtered[KindFile]-run.filteredBefore.Filtered[KindFile], uint64(10),
		"at least the 10 operations outside the watch set were counted as filtered")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Lost[KindFile], "records lost")
}

// runFileOps performs the operations on one locked thread (per-thread credentials, one tid for
// all records). The thread is not unlocked: Go ends it with the goroutine.
func runFileOps(t *testing.T, env *fileEnv, s *Sensors) *fileRun {
	run := &fileRun{fds: map[string]int{}, inodes: map[string]uint64{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		run.err = fileOps(env, s, run)
	}()
	<-done
	return run
}

func fileOps(env *fileEnv, s *Sensors, run *fileRun) (err error) {
	must := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	run.tid = uint32(unix.Gettid())
	comm, e := os.ReadFile("/proc/thread-self/comm")
	must(e)
	run.comm = strings.TrimSpace(string(comm))
	oldMask := unix.Umask(0o022)
	defer unix.Umask(oldMask)
	wd, e := os.Getwd()
	must(e)
	defer os.Chdir(wd)

	w := env.watched
	a, b := filepath.Join(w, "a"), filepath.Join(w, "b")
	ino := func(p string) uint64 {
		var st unix.Stat_t
		must(unix.Stat(p, &st))
		return st.Ino
	}
	open := func(name string, dfd int, p string, flags int, mode uint32) int {
		fd, e := unix.Openat(dfd, p, flags, mode)
		must(e)
		run.fds[name] = fd
		return fd
	}

	must(unix.Mkdir(a, 0o750))
	must(unix.Mkdir(b, 0o755))
	fd := open("create", unix.AT_FDCWD, filepath.Join(a, "f"), unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, 0o640)
	run.inodes["f"] = ino(filepath.Join(a, "f"))
	must(unix.Close(fd))
	must(unix.Close(open("read", unix.AT_FDCWD, filepath.Join(a, "f"), unix.O_RDONLY, 0)))
	must(unix.Close(open("append", unix.AT_FDCWD, filepath.Join(a, "f"), unix.O_WRONLY|unix.O_APPEND, 0)))
	dfdA := open("dirA", unix.AT_FDCWD, a, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	run.inodes["a"] = ino(a)
	defer unix.Close(dfdA)
	must(unix.Close(open("dirfd", dfdA, "f", unix.O_RDONLY, 0)))

	// After chdir: an open, a mkdir, and an rmdir through a dirfd and "..".
	must(unix.Chdir(b))
	must(unix.Close(open("chdir", unix.AT_FDCWD, "../a/f", unix.O_RDONLY, 0)))
	must(unix.Mkdirat(unix.AT_FDCWD, "c", 0o700))
	must(unix.Unlinkat(dfdA, "../b/c", unix.AT_REMOVEDIR))

	// Failures.
	if _, e := unix.Openat(dfdA, "./sub/../missing", unix.O_RDONLY, 0); !errors.Is(e, unix.ENOENT) {
		must(fmt.Errorf("open of a missing file: %v", e))
	}
	_, e = unix.Openat(unix.AT_FDCWD, filepath.Join(w, "nodir", "x"), unix.O_CREAT|unix.O_WRONLY, 0o600)
	if !errors.Is(e, unix.ENOENT) {
		must(fmt.Errorf("create in a missing directory: %v", e))
	}
	// As nobody, on this thread only (credentials are per thread): the 0700 test directory
	// refuses the lookup.
	_, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 0)
	if errno != 0 {
		must(fmt.Errorf("setresuid: %v", errno))
	}
	_, eacces := unix.Openat(unix.AT_FDCWD, filepath.Join(a, "f"), unix.O_RDONLY, 0)
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); errno != 0 {
		must(fmt.Errorf("setresuid back to root: %v", errno))
		return err
	}
	if !errors.Is(eacces, unix.EACCES) {
		must(fmt.Errorf("open as nobody: %v", eacces))
	}

	// Rename across directories, through two dirfds. An O_PATH open meets no LSM hook: its
	// record comes from the syscall's exit with either backend.
	dfdB := open("dirB", unix.AT_FDCWD, b, unix.O_PATH|unix.O_DIRECTORY, 0)
	run.inodes["b"] = ino(b)
	defer unix.Close(dfdB)
	must(unix.Renameat(dfdA, "f", dfdB, "g"))
	g := filepath.Join(b, "g")
	must(unix.Chmod(g, 0o4755))
	must(unix.Chown(g, 1234, 5678))
	must(unix.Truncate(g, 10))
	fd = open("g", unix.AT_FDCWD, g, unix.O_RDWR, 0)
	must(unix.Fchown(fd, -1, 99))
	must(unix.Fchmod(fd, 0o600))
	must(unix.Ftruncate(fd, 5))
	must(unix.Close(fd))
	must(unix.Linkat(unix.AT_FDCWD, g, unix.AT_FDCWD, filepath.Join(a, "h"), 0))
	must(unix.Symlinkat("g", dfdB, "s"))
	must(unix.Unlinkat(unix.AT_FDCWD, filepath.Join(b, "s"), 0))
	must(unix.Unlinkat(dfdA, "h", 0))
	// A call that fails after its LSM hook: the record has the result (ENOTEMPTY).
	if e := unix.Rmdir(b); !errors.Is(e, unix.ENOTEMPTY) {
		must(fmt.Errorf("rmdir of a non-empty directory: %v", e))
	}

	// Outside the watch set, excluded, and from the excluded binary: counted, not sent.
	run.filteredBefore, e = s.Stats()
	must(e)
	must(os.WriteFile(filepath.Join(env.outside, "o"), []byte("x"), 0o644))
	must(os.Remove(filepath.Join(env.outside, "o")))
	must(os.WriteFile(filepath.Join(env.outside, "u1", "not-keys"), nil, 0o644))
	must(os.WriteFile(filepath.Join(env.outside, "u1", "keys", "public", "x"), nil, 0o644))
	must(unix.Close(open("keys-read", unix.AT_FDCWD, filepath.Join(env.outside, "u1", "keys"), unix.O_RDONLY, 0))) // not open_write
	must(os.WriteFile(filepath.Join(env.excluded, "x"), nil, 0o644))
	must(os.WriteFile(filepath.Join(env.excluded, "in", "x"), nil, 0o644))
	must(unix.Chmod(filepath.Join(env.excluded, "in", "x"), 0o600))
	// Under first components no include prefix starts with (the watch set is under /tmp): put_path
	// drops these after its walk, before it copies a name (file.h, first_may_match).
	must(unix.Close(open("proc", unix.AT_FDCWD, "/proc/self/status", unix.O_RDONLY, 0)))
	must(unix.Close(open("devnull", unix.AT_FDCWD, "/dev/null", unix.O_WRONLY, 0)))
	cmd := exec.Command(env.helper)
	cmd.Env = []string{fileHelperEnv + "=" + filepath.Join(w, "from-helper")}
	if out, e := cmd.CombinedOutput(); e != nil {
		must(fmt.Errorf("helper: %v: %s", e, out))
	}
	run.helperPID = uint32(cmd.Process.Pid)
	run.filteredAfter, e = s.Stats()
	must(e)

	// Under the wildcard include: reported.
	must(unix.Close(open("keys", unix.AT_FDCWD, filepath.Join(env.outside, "u1", "keys", "id"), unix.O_CREAT|unix.O_WRONLY, 0o600)))
	run.inodes["keys"] = ino(filepath.Join(env.outside, "u1", "keys", "id"))

	// Deeper than the walk's bound: reported, flagged.
	must(unix.Close(open("deep", unix.AT_FDCWD, env.deep, unix.O_RDONLY, 0)))
	run.inodes["deep"] = ino(env.deep)
	run.inodes["from-helper"] = ino(filepath.Join(w, "from-helper"))
	must(unix.Close(open("helper-file", unix.AT_FDCWD, filepath.Join(w, "from-helper"), unix.O_RDONLY, 0)))

	// The end marker.
	must(unix.Close(open("end", unix.AT_FDCWD, filepath.Join(w, "end"), unix.O_CREAT|unix.O_WRONLY, 0o644)))
	run.inodes["end"] = ino(filepath.Join(w, "end"))
	return err
}

// expectedFileRecords is what the kernel must report for fileOps, in order.
func expectedFileRecords(env *fileEnv, run *fileRun, backend FileBackend) []File {
	lsm := backend == FileBackendLSM
	w := env.watched
	a, b := filepath.Join(w, "a"), filepath.Join(w, "b")
	hdr := Header{Kind: KindFile, TGID: uint32(os.Getpid()), TID: run.tid}
	// A successful operation on a path: from the LSM hook, or joined lexically.
	ok := func(op FileOp, path string) File {
		return File{Header: hdr, Op: op, Path: path, Lexical: !lsm, FromLSM: lsm, ResultKnown: true, Comm: run.comm}
	}
	// A successful operation on an fd's file: the kernel's path either way.
	onFD := func(op FileOp, path string) File {
		return File{Header: hdr, Op: op, Path: path, FromLSM: lsm, ResultKnown: true, Comm: run.comm}
	}
	// A call that failed before any hook: joined lexically with both backends.
	failed := func(op FileOp, path string, errno unix.Errno) File {
		return File{Header: hdr, Op: op, Path: path, Lexical: true, ResultKnown: true, Result: -int64(errno), Comm: run.comm}
	}
	opened := func(name, path string, flags int, mode uint32, ino uint64, created bool) File {
		f := onFD(FileOpOpen, path)
		f.Result = int64(run.fds[name])
		f.Flags = uint32(flags | unix.O_LARGEFILE)
		f.Mode, f.ModeKnown = mode, true
		f.UIDKnown, f.GIDKnown = true, true
		f.Inode, f.InodeKnown = ino, true
		f.Created = created
		return f
	}
	with := func(f File, set func(*File)) File { set(&f); return f }
	af, bg := filepath.Join(a, "f"), filepath.Join(b, "g")
	deep := "/" + strings.Repeat("d/", 64-1) + "leaf" // the 64 leaf-most names

	return []File{
		with(ok(FileOpMkdir, a), func(f *File) { f.Mode, f.ModeKnown = 0o750, true }),
		with(ok(FileOpMkdir, b), func(f *File) { f.Mode, f.ModeKnown = 0o755, true }),
		opened("create", af, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, unix.S_IFREG|0o640, run.inodes["f"], true),
		opened("read", af, unix.O_RDONLY, unix.S_IFREG|0o640, run.inodes["f"], false),
		opened("append", af, unix.O_WRONLY|unix.O_APPEND, unix.S_IFREG|0o640, run.inodes["f"], false),
		opened("dirA", a, unix.O_RDONLY|unix.O_DIRECTORY, unix.S_IFDIR|0o750, run.inodes["a"], false),
		opened("dirfd", af, unix.O_RDONLY, unix.S_IFREG|0o640, run.inodes["f"], false),
		opened("chdir", af, unix.O_RDONLY, unix.S_IFREG|0o640, run.inodes["f"], false),
		with(ok(FileOpMkdir, filepath.Join(b, "c")), func(f *File) { f.Mode, f.ModeKnown = 0o700, true }),
		with(ok(FileOpRmdir, filepath.Join(b, "c")), func(f *File) { f.Flags = unix.AT_REMOVEDIR }),
		with(failed(FileOpOpen, filepath.Join(a, "missing"), unix.ENOENT), func(f *File) { f.Flags = unix.O_LARGEFILE }),
		with(failed(FileOpOpen, filepath.Join(w, "nodir", "x"), unix.ENOENT), func(f *File) { f.Flags = unix.O_CREAT | unix.O_WRONLY | unix.O_LARGEFILE }),
		with(failed(FileOpOpen, af, unix.EACCES), func(f *File) { f.Flags = unix.O_LARGEFILE }),
		with(opened("dirB", b, unix.O_PATH|unix.O_DIRECTORY, unix.S_IFDIR|0o755, run.inodes["b"], false), func(f *File) { f.FromLSM = false }),
		with(ok(FileOpRename, bg), func(f *File) { f.Path2 = af }),
		with(ok(FileOpChmod, bg), func(f *File) { f.Mode, f.ModeKnown = 0o4755, true }),
		with(ok(FileOpChown, bg), func(f *File) { f.UID, f.UIDKnown, f.GID, f.GIDKnown = 1234, true, 5678, true }),
		with(ok(FileOpTruncate, bg), func(f *File) { f.Size, f.SizeKnown = 10, true }),
		// chown cleared the set-user-ID bit
		with(opened("g", bg, unix.O_RDWR, unix.S_IFREG|0o755, run.inodes["f"], false), func(f *File) { f.UID, f.GID = 1234, 5678 }),
		with(onFD(FileOpChown, bg), func(f *File) { f.GID, f.GIDKnown = 99, true }),
		with(onFD(FileOpChmod, bg), func(f *File) { f.Mode, f.ModeKnown = 0o600, true }),
		with(onFD(FileOpTruncate, bg), func(f *File) { f.Size, f.SizeKnown = 5, true }),
		with(ok(FileOpLink, filepath.Join(a, "h")), func(f *File) { f.Path2 = bg }),
		with(ok(FileOpSymlink, filepath.Join(b, "s")), func(f *File) { f.Path2 = "g"; f.Lexical = !lsm }),
		ok(FileOpUnlink, filepath.Join(b, "s")),
		ok(FileOpUnlink, filepath.Join(a, "h")),
		with(ok(FileOpRmdir, b), func(f *File) { f.Result, f.Flags = -int64(unix.ENOTEMPTY), unix.AT_REMOVEDIR }),
		opened("keys", filepath.Join(env.outside, "u1", "keys", "id"), unix.O_CREAT|unix.O_WRONLY, unix.S_IFREG|0o600, run.inodes["keys"], true),
		with(opened("deep", deep, unix.O_RDONLY, unix.S_IFREG|0o644, run.inodes["deep"], false), func(f *File) { f.PathTruncated = true }),
		opened("helper-file", filepath.Join(w, "from-helper"), unix.O_RDONLY, unix.S_IFREG|0o600, run.inodes["from-helper"], false),
		opened("end", filepath.Join(w, "end"), unix.O_CREAT|unix.O_WRONLY, unix.S_IFREG|0o644, run.inodes["end"], true),
	}
}

func TestFilePrefixKey(t *testing.T) {
	for _, tt := range []struct {
		in, key, base, err string
		wild               bool
	}{
		{in: "/etc", key: "/etc/"},
		{in: "/etc/", key: "/etc/"},
		{in: "/", key: "/"},
		{in: "/usr//lib/../lib64", key: "/usr/lib64/"},
		{in: "/home/*/.ssh", key: "/home/*/.ssh/", base: "/home/", wild: true},
		{in: "/*", key: "/*/", base: "/", wild: true},
		{in: "etc", err: `"etc": must be an absolute path`},
		{in: "/home/*/x/*", wild: true, err: "at most one wildcard component"},
		{in: "/home/a*", wild: true, err: "a wildcard must be a whole component"},
		{in: "/home/*", err: "wildcards are not supported here"},
		{in: "/" + strings.Repeat("a", FilePrefixMaxBytes), err: "longer than 255 bytes"},
	} {
		key, base, err := FilePrefixKey(tt.in, tt.wild)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.key, key, tt.in)
		assert.Equal(t, tt.base, base, tt.in)
	}
	_, _, err := FilePrefixKey("/"+strings.Repeat("a", FilePrefixMaxBytes-1), false)
	assert.NoError(t, err, "255 bytes with the trailing slash fit the key")
}

func TestParseFileOps(t *testing.T) {
	ops, err := ParseFileOps([]string{"open_write", "unlink"})
	require.NoError(t, err)
	assert.Equal(t, FileOpenWrite|FileUnlink, ops)
	ops, err = ParseFileOps([]string{"modify", "open_read"})
	require.NoError(t, err)
	assert.Equal(t, FileOpsAll, ops)
	ops, err = ParseFileOps([]string{"open"})
	require.NoError(t, err)
	assert.Equal(t, FileOpenRead|FileOpenWrite, ops)
	_, err = ParseFileOps([]string{"write"})
	assert.ErrorContains(t, err, `unknown operation "write" (known: all, modify, open, open_read, open_write, unlink,`)
	_, err = ParseFileOps(nil)
	assert.ErrorContains(t, err, "no operations")
	assert.Equal(t, FileOpsAll&^FileOpenRead, FileOpsModify)
}

func TestCompileFileFilters(t *testing.T) {
	f, err := compileFileFilters(FileOptions{
		Include: []FileRule{
			{Prefix: "/etc", Ops: FileOpsModify},
			{Prefix: "/etc/shadow", Ops: FileOpenRead},
			{Prefix: "/home/*/.ssh", Ops: FileOpsAll},
			{Prefix: "/etc", Ops: FileChown}, // the same prefix twice: the union
		},
		Exclude:       []FileRule{{Prefix: "/etc/mtab", Ops: FileOpsAll}},
		BinaryInclude: []string{"/usr/sbin"},
		BinaryExclude: []string{"/usr/sbin/sshd"},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]FileOps{
		"/etc/":         FileOpsModify,
		"/etc/shadow/":  FileOpsAll, // a longer prefix keeps what its ancestors report
		"/home/*/.ssh/": FileOpsAll,
	}, f.incl)
	assert.Equal(t, map[string]FileOps{"/etc/mtab/": FileOpsAll}, f.excl)
	assert.Equal(t, map[string]uint32{"/home/": 6}, f.wild)
	assert.Equal(t, []string{"/usr/sbin/"}, f.binIn)
	assert.Equal(t, []string{"/usr/sbin/sshd/"}, f.binEx)
	assert.Equal(t, FileOpsAll, f.opsAny)
	require.NotNil(t, f.first)
	set := 0
	for _, w := range f.first.Bits {
		set += bits.OnesCount64(w)
	}
	assert.Equal(t, 2, set, "the first components etc and home")
	for _, c := range []string{"etc", "home"} {
		h := fileFirstHash(c)
		assert.NotZero(t, f.first.Bits[h/64]&(1<<(h%64)), c)
	}
	// Only the first 8 bytes count; the hash is the BPF side's (file.h first_component_hash).
	assert.Equal(t, fileFirstHash("kubernetes"), fileFirstHash("kubernet"))
	etc, golden := uint64(0x637465), uint64(0x9E3779B97F4A7C15) // "etc" little-endian; 2^64/φ
	assert.Equal(t, uint32((etc*golden)>>48), fileFirstHash("etc"))
	for _, p := range []string{"/", "/*/x"} {
		g, err := compileFileFilters(FileOptions{Include: []FileRule{{Prefix: "/etc", Ops: FileOpsAll}, {Prefix: p, Ops: FileOpsAll}}})
		require.NoError(t, err)
		assert.Nil(t, g.first, "%s: any first component may match", p)
	}

	for _, tt := range []struct {
		o   FileOptions
		err string
	}{
		{FileOptions{}, "include: no prefixes"},
		{FileOptions{Include: []FileRule{{Prefix: "/a", Ops: 0}}}, "include[0] /a: invalid operations 0x0"},
		{FileOptions{Include: []FileRule{{Prefix: "a", Ops: FileOpsAll}}}, `include[0]: "a": must be an absolute path`},
		{FileOptions{Include: []FileRule{{Prefix: "/a", Ops: FileOpsAll}}, Exclude: []FileRule{{Prefix: "/b/*/c/*", Ops: FileOpsAll}}}, "exclude[0]"},
		{FileOptions{Include: []FileRule{{Prefix: "/var/*/x", Ops: FileOpsAll}, {Prefix: "/var/lib/*/y", Ops: FileOpsAll}}}, "wildcard prefixes whose fixed parts nest are not supported: /var/* and /var/lib/*"},
		{FileOptions{Include: []FileRule{{Prefix: "/a", Ops: FileOpsAll}}, BinaryExclude: []string{"/usr/*"}}, "binary exclude[0]"},
	} {
		_, err := compileFileFilters(tt.o)
		assert.ErrorContains(t, err, tt.err)
	}
}

func TestChooseFileBackend(t *testing.T) {
	both := Capabilities{LSM: true, SyscallTracepoints: true}
	for _, tt := range []struct {
		want FileBackend
		caps Capabilities
		got  FileBackend
		err  string
	}{
		{FileBackendAuto, both, FileBackendLSM, ""},
		{FileBackendAuto, Capabilities{SyscallTracepoints: true}, FileBackendTracepoint, ""},
		{FileBackendAuto, Capabilities{LSM: true}, FileBackendLSM, ""},
		{FileBackendAuto, Capabilities{}, "", "neither BPF LSM"},
		{FileBackendTracepoint, both, FileBackendTracepoint, ""},
		{FileBackendTracepoint, Capabilities{LSM: true}, "", "backend tracepoint requested"},
		{FileBackendLSM, Capabilities{SyscallTracepoints: true}, "", "backend lsm requested"},
		{"kprobe", both, "", `unknown backend "kprobe"`},
	} {
		got, err := ChooseFileBackend(tt.want, tt.caps)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.got, got)
	}
}

// fileRecord builds a raw file record as the kernel writes it.
func fileRecord(e bpf.FileFileEvent, data string) []byte {
	raw := make([]byte, int(unsafe.Sizeof(e))+len(data))
	*(*bpf.FileFileEvent)(unsafe.Pointer(&raw[0])) = e
	copy(raw[unsafe.Sizeof(e):], data)
	return raw
}

func TestDecodeFile(t *testing.T) {
	var e bpf.FileFileEvent
	e.Hdr.Kind = uint8(KindFile)
	e.Hdr.Ktime, e.Hdr.Tgid, e.Hdr.Tid, e.Hdr.Cpu = 42, 7, 8, 1
	e.Op = uint32(FileOpRename)
	e.Flags = uint32(bpf.FileFileFlagsFILE_RESULT_KNOWN | bpf.FileFileFlagsFILE_PATH_LEXICAL | bpf.FileFileFlagsFILE_PATH2TRUNCATED | bpf.FileFileFlagsFILE_SIZE_KNOWN)
	e.Result = -2
	e.OpenFlags = 1
	e.Mode, e.Uid = 0o644, 5 // not flagged as known: ignored
	e.Size = 9
	e.PathLen, e.Path2Len = 5, 3
	copy(e.Comm[:], []int8{'m', 'v'})
	var f File
	require.NoError(t, DecodeFile(fileRecord(e, "/new\x00/o\x00"), &f))
	assert.Equal(t, File{
		Header: Header{Kind: KindFile, CPU: 1, KTime: 42, TGID: 7, TID: 8},
		Op:     FileOpRename, Path: "/new", Path2: "/o", Lexical: true, Path2Truncated: true,
		Result: -2, ResultKnown: true, Flags: 1, Size: 9, SizeKnown: true, Comm: "mv",
	}, f)
	assert.Equal(t, "file.rename", f.Op.EventName())

	_, err := PeekKind(nil)
	require.ErrorIs(t, err, ErrShortRecord)
	require.ErrorIs(t, DecodeFile(fileRecord(e, "/new"), &f), ErrShortRecord)
	require.ErrorIs(t, DecodeFile(make([]byte, 10), &f), ErrShortRecord)
	e.Op = 99
	require.ErrorContains(t, DecodeFile(fileRecord(e, "/new\x00/o\x00"), &f), "unknown operation 99")
}

func FuzzDecodeFile(f *testing.F) {
	var e bpf.FileFileEvent
	e.Op = uint32(FileOpOpen)
	e.PathLen = 5
	f.Add(fileRecord(e, "/etc\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var out File
		_ = DecodeFile(raw, &out) // must not panic
	})
}
