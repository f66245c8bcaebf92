package ebpfsecurityreceiver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/confmap/xconfmap"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

func TestFileConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "file.yaml"))
	require.NoError(t, err)
	load := func(name string) (*Config, error) {
		cfg := createDefaultConfig().(*Config)
		sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
		require.NoError(t, err)
		require.NoError(t, sub.Unmarshal(cfg))
		return cfg, xconfmap.Validate(cfg)
	}

	def := defaultFileConfig()
	assert.False(t, def.Enabled, "the file sensor is off by default")
	assert.Equal(t, def, createDefaultConfig().(*Config).File)

	cfg, err := load("file_defaults")
	require.NoError(t, err)
	want := defaultFileConfig()
	want.Enabled = true
	assert.Equal(t, want, cfg.File)

	cfg, err = load("file_custom")
	require.NoError(t, err)
	assert.Equal(t, FileConfig{
		Enabled: true,
		Backend: "tracepoint",
		Watch: FileWatchConfig{
			Include: []FileRuleConfig{
				{Paths: []string{"/etc", "/usr/bin"}, Operations: []string{"modify"}},
				{Paths: []string{"/etc/shadow", "/home/*/.ssh"}, Operations: []string{"open_read", "open_write", "unlink"}},
			},
			Exclude: []FileRuleConfig{{Paths: []string{"/etc/mtab"}}},
		},
		Binaries: FileBinariesConfig{Include: []string{"/usr/bin", "/usr/sbin"}, Exclude: []string{"/usr/sbin/sshd"}},
	}, cfg.File)
	assert.Equal(t, sensor.FileOptions{
		Enabled: true,
		Backend: sensor.FileBackendTracepoint,
		Include: []sensor.FileRule{
			{Prefix: "/etc", Ops: sensor.FileOpsModify},
			{Prefix: "/usr/bin", Ops: sensor.FileOpsModify},
			{Prefix: "/etc/shadow", Ops: sensor.FileOpenRead | sensor.FileOpenWrite | sensor.FileUnlink},
			{Prefix: "/home/*/.ssh", Ops: sensor.FileOpenRead | sensor.FileOpenWrite | sensor.FileUnlink},
		},
		Exclude:       []sensor.FileRule{{Prefix: "/etc/mtab", Ops: sensor.FileOpsAll}}, // all: the operations were omitted
		BinaryInclude: []string{"/usr/bin", "/usr/sbin"},
		BinaryExclude: []string{"/usr/sbin/sshd"},
	}, cfg.File.options())

	_, err = load("file_bad")
	require.Error(t, err)
	for _, msg := range []string{
		`file::backend: must be one of auto, lsm, tracepoint; got "kprobe"`,
		`file::watch::include[0]::paths[0]: "etc": must be an absolute path`,
		`file::watch::include[0]::paths[1]: "/home/a*": a wildcard must be a whole component (/home/*/.ssh)`,
		`file::watch::include[0]::operations: unknown operation "write" (known: all, modify, open, open_read, open_write, unlink, rename, chmod, chown, truncate, link, symlink, mkdir, rmdir)`,
		`file::watch::include[1]::paths: must name at least one path prefix`,
		`file::watch::include[1]::operations: must name at least one operation`,
		`file::watch::exclude[0]::paths[0]: "/x/*/y/*": at most one wildcard component`,
		`file::watch::exclude[0]::operations: unknown operation "bogus"`,
		`file::binaries::exclude[0]: "/usr/*/sshd": wildcards are not supported here`,
	} {
		assert.ErrorContains(t, err, msg)
	}
}

func TestFileValidateNamesTheField(t *testing.T) {
	long := "/" + strings.Repeat("x", 300)
	for _, tt := range []struct {
		field  string
		mutate func(*FileConfig)
		msg    string
	}{
		{"file::watch::include", func(c *FileConfig) { c.Watch.Include = nil }, "must have at least one rule"},
		{"file::watch", func(c *FileConfig) {
			c.Watch.Include = append(c.Watch.Include, FileRuleConfig{Paths: []string{"/home/alice/*/x"}, Operations: []string{"all"}})
		}, "wildcard prefixes whose fixed parts nest are not supported: /home/* and /home/alice/*"},
		{"file::watch::include[0]::paths[0]", func(c *FileConfig) { c.Watch.Include[0].Paths[0] = long }, strconv.Quote(long) + ": longer than 255 bytes"},
		{"file::binaries::include[0]", func(c *FileConfig) { c.Binaries.Include = []string{"bin/sh"} }, `"bin/sh": must be an absolute path`},
	} {
		t.Run(tt.field, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.File = defaultFileConfig()
			cfg.File.Watch.Include[0].Paths = append([]string(nil), cfg.File.Watch.Include[0].Paths...)
			tt.mutate(&cfg.File)
			err := xconfmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.field+": "+tt.msg)
		})
	}
	def := defaultFileConfig()
	require.NoError(t, sensor.CheckFileOptions(def.options()), "the default watch set compiles")
}

// fileEvents returns this process's events of the file family under dir, in order.
func fileEvents(h *harness, dir string) []event {
	var out []event
	for _, e := range h.events() {
		if strings.HasPrefix(e.rec.EventName(), "file.") && e.int(s.ProcessPID) == int64(os.Getpid()) &&
			(strings.HasPrefix(e.str(s.FilePath), dir+"/") || strings.HasPrefix(e.str(s.FileOriginalPath), dir+"/")) {
			out = append(out, e)
		}
	}
	return out
}

// processContext is what every event of this test process carries (it predates the receiver:
// the cache has it from /proc).
func processContext(t *testing.T, first event) map[string]any {
	self, err := os.Executable()
	require.NoError(t, err)
	parent, err := os.Readlink("/proc/" + strconv.Itoa(os.Getppid()) + "/exe")
	require.NoError(t, err)
	execID := first.str(s.ExecID)
	require.True(t, strings.HasSuffix(execID, ":"+strconv.Itoa(os.Getpid())), "exec id %q", execID)
	require.NotEmpty(t, first.str(s.ParentExecID))
	return map[string]any{
		s.ProcessPID:            int64(os.Getpid()),
		s.ProcessParentPID:      int64(os.Getppid()),
		s.ExecID:                execID,
		s.ProcessExecutablePath: self,
		s.ProcessExecutableName: filepath.Base(self),
		s.ProcessCommandLine:    strings.Join(os.Args, " "),
		s.ProcessUserID:         int64(0),
		s.ParentExecID:          first.str(s.ParentExecID),
		s.ParentExecutablePath:  parent,
	}
}

func merge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestFileEvents performs file operations under a watched directory and checks each log
// record in full: event name, every attribute, the body, the resource.
func TestFileEvents(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	h := startHarness(t, func(c *Config) {
		c.File.Enabled = true
		c.File.Watch = FileWatchConfig{Include: []FileRuleConfig{{Paths: []string{dir}, Operations: []string{"all"}}}}
	})
	backend, results := h.receiver().sensors.FileBackend()
	require.True(t, results)
	t.Logf("file backend %s", backend)
	lexical := "lexical"
	if backend == sensor.FileBackendLSM {
		lexical = "kernel" // the successful path calls meet their LSM hook
	}

	old := unix.Umask(0o022)
	defer unix.Umask(old)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, unix.Mkdir(a, 0o750))
	require.NoError(t, unix.Mkdir(b, 0o755))
	fd, err := unix.Open(filepath.Join(a, "f"), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o640)
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	require.NoError(t, unix.Close(fd))
	require.NoError(t, unix.Rename(filepath.Join(a, "f"), filepath.Join(b, "g")))
	require.NoError(t, unix.Chmod(filepath.Join(b, "g"), 0o4755))
	_, err = unix.Open(filepath.Join(a, "missing"), unix.O_RDONLY, 0)
	require.ErrorIs(t, err, unix.ENOENT)
	require.NoError(t, unix.Symlink("g", filepath.Join(b, "s")))

	var got []event
	require.Eventually(t, func() bool {
		got = fileEvents(h, dir)
		return len(got) >= 7
	}, 10*time.Second, 10*time.Millisecond, "file events under %s", dir)
	time.Sleep(100 * time.Millisecond)
	got = fileEvents(h, dir)

	ctx := processContext(t, got[0])
	exe := ctx[s.ProcessExecutablePath].(string)
	pid := strconv.Itoa(os.Getpid())
	file := func(p string) map[string]any {
		return map[string]any{s.FilePath: p, s.FileName: filepath.Base(p), s.FileDirectory: filepath.Dir(p)}
	}
	openFlags := int64(unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC | unix.O_LARGEFILE)
	want := []struct {
		name  string
		attrs map[string]any
		body  string
	}{
		{s.EventFileMkdir, merge(file(a), map[string]any{s.FileMode: "0750", s.FileOutcome: "success", s.FilePathResolution: lexical}),
			"mkdir " + a + " (0750) by " + exe + " (pid " + pid + ")"},
		{s.EventFileMkdir, merge(file(b), map[string]any{s.FileMode: "0755", s.FileOutcome: "success", s.FilePathResolution: lexical}),
			"mkdir " + b + " (0755) by " + exe + " (pid " + pid + ")"},
		{s.EventFileOpen, merge(file(filepath.Join(a, "f")), map[string]any{
			s.FileOpenIntent: []any{"write", "create", "truncate"}, s.FileCreated: true, s.FileMode: "0640",
			s.FileOwnerID: "0", s.FileGroupID: "0", s.FileInode: strconv.FormatUint(st.Ino, 10),
			s.FileFlags: openFlags, s.FileOutcome: "success", s.FilePathResolution: "kernel"}),
			"open " + filepath.Join(a, "f") + " (write,create,truncate) by " + exe + " (pid " + pid + ")"},
		{s.EventFileRename, merge(file(filepath.Join(b, "g")), map[string]any{
			s.FileOriginalPath: filepath.Join(a, "f"), s.FileOutcome: "success", s.FilePathResolution: lexical}),
			"rename " + filepath.Join(a, "f") + " -> " + filepath.Join(b, "g") + " by " + exe + " (pid " + pid + ")"},
		{s.EventFileChmod, merge(file(filepath.Join(b, "g")), map[string]any{s.FileMode: "4755", s.FileOutcome: "success", s.FilePathResolution: lexical}),
			"chmod " + filepath.Join(b, "g") + " (4755) by " + exe + " (pid " + pid + ")"},
		{s.EventFileOpen, merge(file(filepath.Join(a, "missing")), map[string]any{
			s.FileOpenIntent: []any{"read"}, s.FileOutcome: "failure", "error.type": "ENOENT", s.FilePathResolution: "lexical"}),
			"open " + filepath.Join(a, "missing") + " (read) by " + exe + " (pid " + pid + "): ENOENT"},
		{s.EventFileSymlink, merge(file(filepath.Join(b, "s")), map[string]any{
			s.FileSymlinkTargetPath: "g", s.FileOutcome: "success", s.FilePathResolution: lexical}),
			"symlink " + filepath.Join(b, "s") + " -> g by " + exe + " (pid " + pid + ")"},
	}
	if unix.O_LARGEFILE != 0 { // arm64: x/sys adds O_LARGEFILE, the failed open carries it too
		want[5].attrs[s.FileFlags] = int64(unix.O_LARGEFILE)
	}
	require.Len(t, got, len(want))
	for i, w := range want {
		e := got[i]
		assert.Equal(t, w.name, e.rec.EventName(), "event %d", i)
		assert.Equal(t, merge(ctx, w.attrs), e.attrs.AsRaw(), "event %d: %s", i, w.name)
		assert.Equal(t, w.body, e.rec.Body().Str(), "event %d", i)
		assert.WithinDuration(t, time.Now(), e.rec.Timestamp().AsTime(), 10*time.Second)
		_, hasContainer := e.res.Get(s.ContainerID)
		assert.False(t, hasContainer)
		checkSchema(t, e)
	}
	for _, name := range []string{s.EventFileMkdir, s.EventFileOpen, s.EventFileRename, s.EventFileChmod, s.EventFileSymlink} {
		assert.Positive(t, h.receiver().emitted.load(name), name)
	}
}

// TestFileDefaultWatchSet loads the default watch set and checks, against the kernel's own
// counters, that a read of /etc/shadow is reported and a read of a system library is not.
func TestFileDefaultWatchSet(t *testing.T) {
	lib := "/usr/lib/os-release"
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("needs a readable file under /usr/lib: %v", err)
	}
	h := startHarness(t, func(c *Config) { c.File.Enabled = true })
	r := h.receiver()

	// The log line and the hooks metric say which backend the file sensor uses.
	line := h.logged.FilterMessage("Kernel probed, sensors attached").All()
	require.Len(t, line, 1)
	hooks := line[0].ContextMap()["hooks"]
	backend, _ := r.sensors.FileBackend()
	switch backend {
	case sensor.FileBackendLSM:
		assert.Contains(t, hooks, "file.open=lsm/file_open")
	default:
		assert.Contains(t, hooks, "file.open=tracepoint/syscalls/sys_exit_openat")
	}

	readAll := func(p string) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NotEmpty(t, b)
	}
	before, err := r.sensors.Stats()
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		readAll(lib)
	}
	after, err := r.sensors.Stats()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after.Filtered[sensor.KindFile]-before.Filtered[sensor.KindFile], uint64(5), "the reads of %s were filtered in the kernel", lib)

	readAll("/etc/shadow")
	var shadow event
	require.Eventually(t, func() bool {
		for _, e := range h.find(s.EventFileOpen, os.Getpid()) {
			if e.str(s.FilePath) == "/etc/shadow" {
				shadow = e
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no file.open of /etc/shadow")
	assert.Equal(t, []string{"read"}, shadow.strs(s.FileOpenIntent))
	assert.Equal(t, "success", shadow.str(s.FileOutcome))
	assert.Equal(t, "kernel", shadow.str(s.FilePathResolution))
	checkSchema(t, shadow)
	for _, e := range h.find(s.EventFileOpen, os.Getpid()) {
		assert.NotEqual(t, lib, e.str(s.FilePath), "a plain read of a library is not reported")
	}

	// The metrics: the hooks in use, and the kernel's file counters.
	var sawHook, sawFiltered bool
	require.Eventually(t, func() bool {
		for _, md := range h.metrics.AllMetrics() {
			for _, rm := range md.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						var dps pmetric.NumberDataPointSlice
						switch m.Name() {
						case "otelsec.sensor.hooks":
							dps = m.Gauge().DataPoints()
						case "otelsec.kernel.records.filtered":
							dps = m.Sum().DataPoints()
						default:
							continue
						}
						for _, dp := range dps.All() {
							ev, _ := dp.Attributes().Get("otelsec.event.name")
							if m.Name() == "otelsec.sensor.hooks" && ev.Str() == "file.open" {
								sawHook = true
							}
							if m.Name() == "otelsec.kernel.records.filtered" && ev.Str() == "file" && dp.IntValue() > 0 {
								sawFiltered = true
							}
						}
					}
				}
			}
		}
		return sawHook && sawFiltered
	}, 10*time.Second, 20*time.Millisecond, "hooks metric for file.open %v, filtered file records %v", sawHook, sawFiltered)
}

// TestFileBinaryInclude keeps only the events of one executable: this test binary's open is
// reported, the same open by cat is not.
func TestFileBinaryInclude(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	target := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(target, []byte("x"), 0o644))
	self, err := os.Executable()
	require.NoError(t, err)
	h := startHarness(t, func(c *Config) {
		c.File.Enabled = true
		c.File.Watch = FileWatchConfig{Include: []FileRuleConfig{{Paths: []string{dir}, Operations: []string{"all"}}}}
		c.File.Binaries.Include = []string{self}
	})
	cat := exec.Command("/bin/cat", target)
	out, err := cat.Output()
	require.NoError(t, err)
	require.Equal(t, "x", string(out))
	h.await(s.EventProcessExit, cat.Process.Pid) // cat's records are all in the ring buffer
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
	var mine []event
	require.Eventually(t, func() bool {
		mine = fileEvents(h, dir)
		return len(mine) > 0
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, target, mine[0].str(s.FilePath))
	for _, e := range h.events() {
		if e.rec.EventName() == s.EventFileOpen && e.str(s.FilePath) == target {
			assert.Equal(t, int64(os.Getpid()), e.int(s.ProcessPID), "only this binary's opens: not cat's")
		}
	}
}
