package ebpfsecurityreceiver

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"

	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
)

// FileConfig configures the file sensor.
type FileConfig struct {
	// Enabled turns the file sensor on.
	Enabled bool `mapstructure:"enabled"`
	// Backend is auto (lsm where BPF LSM is active, else tracepoint), lsm or tracepoint.
	Backend string `mapstructure:"backend"`
	// Watch says which paths and operations are reported.
	Watch FileWatchConfig `mapstructure:"watch"`
	// Binaries filters by the executable of the process that acts.
	Binaries FileBinariesConfig `mapstructure:"binaries"`
}

// FileWatchConfig is the watch set: include rules, and exclude rules that beat them.
type FileWatchConfig struct {
	Include []FileRuleConfig `mapstructure:"include"`
	Exclude []FileRuleConfig `mapstructure:"exclude"`
}

// FileRuleConfig is a set of path prefixes and the operations reported (include) or dropped
// (exclude) under them.
type FileRuleConfig struct {
	// Paths are absolute path prefixes; one component may be "*" (/home/*/.ssh).
	Paths []string `mapstructure:"paths"`
	// Operations: open_read, open_write, open, unlink, rename, chmod, chown, truncate, link,
	// symlink, mkdir, rmdir, or the sets modify (all but open_read) and all. Required in an
	// include rule; all when an exclude rule omits it.
	Operations []string `mapstructure:"operations"`
}

// FileBinariesConfig filters by executable path prefix.
type FileBinariesConfig struct {
	// Include, when not empty, keeps only the events of processes running these executables.
	Include []string `mapstructure:"include"`
	// Exclude drops the events of processes running these executables (beats Include).
	Exclude []string `mapstructure:"exclude"`
}

// Default watch set for file integrity monitoring. Changes to system binaries and libraries,
// configuration, boot files, scheduled jobs, SSH keys and Kubernetes credentials, everywhere
// in it; reads only of the secrets (password hashes, sudo rules, SSH keys, Kubernetes PKI and
// service-account tokens): a plain read of /usr/lib or /etc/hosts is not reported.
var (
	defaultFileModified = []string{
		"/etc", "/boot",
		"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32",
		"/usr/lib64", "/usr/libexec", "/usr/local/bin", "/usr/local/sbin", "/usr/local/lib", "/opt/bin",
		"/var/spool/cron",
		// Logins' start-up files, a classic persistence spot (not the rest of the home
		// directories: caches and history change all the time).
		"/root/.bashrc", "/root/.profile", "/root/.bash_profile", "/home/*/.bashrc", "/home/*/.profile", "/home/*/.bash_profile",
		"/var/lib/kubelet",
	}
	defaultFileSecrets = []string{
		"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
		"/etc/ssh", "/root/.ssh", "/home/*/.ssh",
		"/etc/kubernetes/pki", "/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf",
		"/var/lib/kubelet/pki", "/var/lib/kubelet/pods/*/volumes/kubernetes.io~projected",
		"/var/run/secrets/kubernetes.io", "/run/secrets/kubernetes.io",
	}
	// The kubelet's own bookkeeping under /var/lib/kubelet, rewritten all the time.
	defaultFileExcluded = []string{
		"/var/lib/kubelet/pods/*/containers", "/var/lib/kubelet/pods/*/plugins",
		"/var/lib/kubelet/pods/*/etc-hosts",
	}
)

func defaultFileConfig() FileConfig {
	return FileConfig{
		Enabled: false,
		Backend: string(sensor.FileBackendAuto),
		Watch: FileWatchConfig{
			Include: []FileRuleConfig{
				{Paths: defaultFileModified, Operations: []string{"modify"}},
				{Paths: defaultFileSecrets, Operations: []string{"all"}},
			},
			Exclude: []FileRuleConfig{{Paths: defaultFileExcluded, Operations: []string{"all"}}},
		},
	}
}

func (c *FileConfig) validate(bad func(field, format string, args ...any)) {
	switch sensor.FileBackend(c.Backend) {
	case sensor.FileBackendAuto, sensor.FileBackendLSM, sensor.FileBackendTracepoint:
	default:
		bad("file::backend", "must be one of auto, lsm, tracepoint; got %q", c.Backend)
	}
	ok := true
	fail := func(field, format string, args ...any) {
		ok = false
		bad(field, format, args...)
	}
	if len(c.Watch.Include) == 0 {
		fail("file::watch::include", "must have at least one rule (the paths to report; / watches everything)")
	}
	for _, l := range []struct {
		name    string
		rules   []FileRuleConfig
		include bool
	}{{"include", c.Watch.Include, true}, {"exclude", c.Watch.Exclude, false}} {
		for i, r := range l.rules {
			field := fmt.Sprintf("file::watch::%s[%d]", l.name, i)
			if len(r.Paths) == 0 {
				fail(field+"::paths", "must name at least one path prefix")
			}
			for j, p := range r.Paths {
				if _, _, err := sensor.FilePrefixKey(p, true); err != nil {
					fail(fmt.Sprintf("%s::paths[%d]", field, j), "%v", err)
				}
			}
			if len(r.Operations) == 0 && !l.include {
				continue // all
			}
			if len(r.Operations) == 0 {
				fail(field+"::operations", "must name at least one operation (%s)", strings.Join(sensor.FileOpNames(), ", "))
			} else if _, err := sensor.ParseFileOps(r.Operations); err != nil {
				fail(field+"::operations", "%v", err)
			}
		}
	}
	for _, l := range []struct {
		name  string
		paths []string
	}{{"include", c.Binaries.Include}, {"exclude", c.Binaries.Exclude}} {
		for i, p := range l.paths {
			if _, _, err := sensor.FilePrefixKey(p, false); err != nil {
				fail(fmt.Sprintf("file::binaries::%s[%d]", l.name, i), "%v", err)
			}
		}
	}
	if ok {
		// What only the whole set can say: too many prefixes, wildcard bases that nest.
		if err := sensor.CheckFileOptions(c.options()); err != nil {
			bad("file::watch", "%v", err)
		}
	}
}

func (c *FileConfig) options() sensor.FileOptions {
	o := sensor.FileOptions{
		Enabled:       c.Enabled,
		Backend:       sensor.FileBackend(c.Backend),
		BinaryInclude: c.Binaries.Include,
		BinaryExclude: c.Binaries.Exclude,
	}
	rules := func(in []FileRuleConfig) []sensor.FileRule {
		var out []sensor.FileRule
		for _, r := range in {
			ops := sensor.FileOpsAll
			if len(r.Operations) > 0 {
				ops, _ = sensor.ParseFileOps(r.Operations) // checked by validate
			}
			for _, p := range r.Paths {
				out = append(out, sensor.FileRule{Prefix: p, Ops: ops})
			}
		}
		return out
	}
	o.Include = rules(c.Watch.Include)
	o.Exclude = rules(c.Watch.Exclude)
	return o
}

// handleFile decodes a file record and appends its event.
func (r *ebpfReceiver) handleFile(raw []byte, b *batch, m *mapper) error {
	var f sensor.File
	if err := sensor.DecodeFile(raw, &f); err != nil {
		return err
	}
	name := f.Op.EventName()
	p := r.cache.Get(f.TGID)
	lr := m.event(b, name, f.KTime, f.TGID, p, f.Comm)
	exe := ""
	if p != nil && p.Image != nil {
		exe = p.Image.Executable
	}
	putFile(lr, &f, exe)
	r.emitted.inc(name)
	return nil
}

// putFile puts a file record's attributes and body.
func putFile(lr plog.LogRecord, f *sensor.File, exe string) {
	a := lr.Attributes()
	resolution := "kernel"
	switch {
	case f.PathUnresolved:
		resolution = "unresolved"
	case f.Lexical:
		resolution = "lexical"
	}
	a.PutStr(s.FilePathResolution, resolution)
	if f.Path != "" {
		a.PutStr(s.FilePath, f.Path)
		a.PutStr(s.FileName, path.Base(f.Path))
		a.PutStr(s.FileDirectory, path.Dir(f.Path))
	}
	if f.PathTruncated {
		a.PutBool(s.FilePathTruncated, true)
	}
	switch f.Op {
	case sensor.FileOpRename, sensor.FileOpLink:
		if f.Path2 != "" {
			a.PutStr(s.FileOriginalPath, f.Path2)
		}
		if f.Path2Truncated {
			a.PutBool(s.FileOriginalPathTruncated, true)
		}
	case sensor.FileOpSymlink:
		if f.Path2 != "" {
			a.PutStr(s.FileSymlinkTargetPath, f.Path2)
		}
		if f.Path2Truncated {
			a.PutBool(s.FileTargetTruncated, true)
		}
	case sensor.FileOpOpen:
		putStrs(a, s.FileOpenIntent, openIntent(f.Flags).names)
		if f.Created {
			a.PutBool(s.FileCreated, true)
		}
		if f.InodeKnown {
			a.PutStr(s.FileInode, strconv.FormatUint(f.Inode, 10))
		}
	case sensor.FileOpTruncate:
		if f.SizeKnown {
			a.PutInt(s.FileSize, f.Size)
		}
	}
	if f.ModeKnown {
		a.PutStr(s.FileMode, fileMode(f.Mode))
	}
	if f.UIDKnown {
		a.PutStr(s.FileOwnerID, strconv.FormatUint(uint64(f.UID), 10))
	}
	if f.GIDKnown {
		a.PutStr(s.FileGroupID, strconv.FormatUint(uint64(f.GID), 10))
	}
	if f.Flags != 0 {
		a.PutInt(s.FileFlags, int64(f.Flags))
	}
	outcome, errno := "unknown", ""
	if f.ResultKnown {
		outcome = "success"
		if f.Result < 0 {
			outcome = "failure"
			errno = unix.ErrnoName(syscall.Errno(-f.Result))
			if errno == "" {
				errno = "errno " + strconv.FormatInt(-f.Result, 10)
			}
			a.PutStr(fileErrorType, errno)
		}
	}
	a.PutStr(s.FileOutcome, outcome)
	lr.Body().SetStr(fileSummary(f, exe, outcome, errno))
}

// fileErrorType is error.type, described with the network family's use (internal/schema).
const fileErrorType = "error.type"

// intent is what an open's flags ask for: names, and joined by commas for the body.
type intent struct {
	names  []string // shared: not to be modified
	joined string
}

// The flags that make an open's intent, and the intents of all their combinations (built once:
// every open event names its intent twice).
var (
	intentFlags = [...]struct {
		bit  uint32
		name string
	}{{unix.O_CREAT, "create"}, {unix.O_TRUNC, "truncate"}, {unix.O_APPEND, "append"}}
	intentPath = newIntent([]string{"path"})
	intents    = func() (t [4 << len(intentFlags)]intent) {
		for i := range t {
			var in []string
			switch uint32(i>>len(intentFlags)) & unix.O_ACCMODE {
			case unix.O_RDONLY:
				in = append(in, "read")
			case unix.O_WRONLY:
				in = append(in, "write")
			case unix.O_RDWR:
				in = append(in, "read", "write")
			}
			for j, fl := range intentFlags {
				if i&(1<<j) != 0 {
					in = append(in, fl.name)
				}
			}
			t[i] = newIntent(in)
		}
		return t
	}()
)

func newIntent(names []string) intent { return intent{names, strings.Join(names, ",")} }

// openIntent names what the open's flags ask for.
func openIntent(flags uint32) intent {
	if flags&unix.O_PATH != 0 {
		return intentPath
	}
	i := int(flags&unix.O_ACCMODE) << len(intentFlags)
	for j, fl := range intentFlags {
		if flags&fl.bit != 0 {
			i |= 1 << j
		}
	}
	return intents[i]
}

// fileMode is the permission bits of mode in octal, four digits ("0644"), as %04o formats
// them.
func fileMode(mode uint32) string {
	mode &= 0o7777
	b := [4]byte{'0' + byte(mode>>9), '0' + byte(mode>>6&7), '0' + byte(mode>>3&7), '0' + byte(mode&7)}
	return string(b[:])
}

// fileSummary is the record's body, e.g.
// "open /etc/shadow (read) by /usr/bin/cat (pid 42): EACCES".
func fileSummary(f *sensor.File, exe, outcome, errno string) string {
	if exe == "" {
		exe = f.Comm
	}
	p := f.Path
	if p == "" {
		p = "?"
	}
	var b strings.Builder
	// The longest body: the operation, two paths, the executable, the rest (words, a mode,
	// the pid, an errno name) under 64 bytes.
	b.Grow(len(p) + len(f.Path2) + len(exe) + 64)
	b.WriteString(f.Op.String())
	b.WriteByte(' ')
	switch f.Op {
	case sensor.FileOpRename, sensor.FileOpLink:
		b.WriteString(f.Path2)
		b.WriteString(" -> ")
		b.WriteString(p)
	case sensor.FileOpSymlink:
		b.WriteString(p)
		b.WriteString(" -> ")
		b.WriteString(f.Path2)
	default:
		b.WriteString(p)
	}
	switch f.Op {
	case sensor.FileOpOpen:
		b.WriteString(" (")
		b.WriteString(openIntent(f.Flags).joined)
		b.WriteByte(')')
	case sensor.FileOpChmod, sensor.FileOpMkdir:
		if f.ModeKnown {
			b.WriteString(" (")
			b.WriteString(fileMode(f.Mode))
			b.WriteByte(')')
		}
	}
	b.WriteString(" by ")
	b.WriteString(exe)
	b.WriteString(" (pid ")
	b.WriteString(strconv.FormatUint(uint64(f.TGID), 10))
	b.WriteByte(')')
	switch outcome {
	case "failure":
		b.WriteString(": ")
		b.WriteString(errno)
	case "unknown":
		b.WriteString(": result unknown")
	}
	return b.String()
}
