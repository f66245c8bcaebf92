// Package procfs snapshots processes from /proc. The sensor uses it once at
// start-up to seed its process cache with processes that were already
// running before the eBPF programs were attached.
package procfs

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of the clock-tick fields in /proc/PID/stat. The kernel
// converts its internal HZ to USER_HZ before exporting, and USER_HZ is 100
// on every architecture Go supports (only alpha differs). It is not the
// kernel's CONFIG_HZ, which is why sysconf(_SC_CLK_TCK) is constant.
const userHZ = 100

// pfKthread is PF_KTHREAD from include/linux/sched.h.
const pfKthread = 0x00200000

// unsetID is what loginuid and sessionid read when never set (-1 as u32).
const unsetID = ^uint32(0)

// Process is a snapshot of one process read from /proc.
type Process struct {
	PID, PPID uint32
	// StartTicks is field 22 of /proc/PID/stat: the start time in clock
	// ticks (1/100 s) since boot, suspend included (CLOCK_BOOTTIME).
	StartTicks uint64
	// StartBootNS is StartTicks in nanoseconds. It has 10ms resolution: to
	// match a task's start_boottime seen from eBPF, truncate that to a
	// multiple of 10ms (ns / 1e7 * 1e7), as the kernel does for /proc.
	StartBootNS uint64
	// Comm is the task name from stat (at most 15 bytes, any byte but NUL).
	Comm string
	// Executable is the target of the exe link, "" when unreadable (kernel
	// threads, zombies, or no ptrace access). A trailing " (deleted)" is
	// stripped and reported in ExecutableDeleted (memfd execution shows up
	// as "/memfd:NAME" with ExecutableDeleted set).
	Executable        string
	ExecutableDeleted bool
	// Args is /proc/PID/cmdline split on NUL, nil when empty. A process
	// that rewrote its argv (setproctitle) is kept as the kernel shows it,
	// often a single space-separated element. Args is also empty for a
	// process caught mid-exec: exe and comm already show the new program
	// before the ELF loader has set up the new argv.
	Args []string
	// Cwd is the target of the cwd link, "" when unreadable.
	Cwd string
	// Real, effective, saved and filesystem ids from /proc/PID/status.
	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
	// CapEffective and CapPermitted are status CapEff and CapPrm.
	CapEffective, CapPermitted uint64
	// LoginUID and SessionID are the audit ids, 4294967295 when unset or
	// unreadable (e.g. kernels without CONFIG_AUDIT).
	LoginUID, SessionID uint32
	// Cgroup is the cgroup v2 path (the "0::" line of /proc/PID/cgroup),
	// "" on cgroup v1-only hosts. It is relative to the cgroup namespace of
	// the reader, so run with the host cgroup namespace to get full paths.
	Cgroup string
	// NS holds namespace inode numbers, 0 where unreadable.
	NS Namespaces
	// KernelThread reports PF_KTHREAD in the stat flags.
	KernelThread bool
}

// Namespaces holds the inode numbers identifying a process's namespaces.
type Namespaces struct{ Mnt, PID, Net, UTS, IPC, User, Cgroup uint32 }

// Read reads process pid (a thread-group id) from the proc mount at root:
// "/proc", or e.g. "/host/proc" when running in a container. PIDs are those
// of the PID namespace that root was mounted from.
//
// Files that are legitimately absent or unreadable (exe and cmdline of
// kernel threads, exe and ns links without ptrace access) leave their
// fields empty rather than fail. If the process is gone, or is gone by the
// end of a read that found files missing, the error wraps fs.ErrNotExist
// rather than returning a partial snapshot. Zombies still exist: they are
// returned, with Executable, Cwd and Args empty.
func Read(root string, pid uint32) (Process, error) {
	var r reader
	return r.read(root, pid)
}

// All reads every process under root (threads are not listed in /proc),
// sorted by StartTicks, then PID. Start order puts parents before their
// children, except for a parent and child started in the same 10ms tick
// after PID wrap-around. Processes that exit during the walk are skipped.
// Other failures are joined in the error, which can be non-nil together
// with a usable list.
func All(root string) ([]Process, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	var (
		r     reader
		procs = make([]Process, 0, len(names))
		errs  []error
	)
	for _, name := range names {
		pid, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue // self, sys, meminfo, ...
		}
		p, err := r.read(root, uint32(pid))
		switch {
		case err == nil:
			procs = append(procs, p)
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	slices.SortFunc(procs, func(a, b Process) int {
		return cmp.Or(cmp.Compare(a.StartTicks, b.StartTicks), cmp.Compare(a.PID, b.PID))
	})
	return procs, errors.Join(errs...)
}

// BootID reads the kernel's random boot id, which tells one boot (and so
// one StartBootNS time base) from another.
func BootID(root string) (string, error) {
	b, err := os.ReadFile(root + "/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("procfs: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// reader reads processes reusing one buffer, so All allocates little more
// than the strings it returns.
type reader struct{ buf []byte }

func (r *reader) read(root string, pid uint32) (Process, error) {
	// Every file is opened relative to one directory fd. The fd pins the
	// process (its struct pid), so if the process exits and the PID is
	// reused mid-read, lookups fail instead of mixing in the new process.
	dir, err := unix.Open(root+"/"+strconv.FormatUint(uint64(pid), 10), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Process{}, pidError(pid, "open", err)
	}
	defer unix.Close(dir)
	return r.readAt(dir, pid)
}

func (r *reader) readAt(dir int, pid uint32) (Process, error) {
	var p Process
	b, err := r.readFile(dir, "stat")
	if err != nil {
		return Process{}, pidError(pid, "stat", err)
	}
	if err := parseStat(b, &p); err != nil {
		return Process{}, fmt.Errorf("procfs: pid %d: %w", pid, err)
	}
	if b, err = r.readFile(dir, "status"); err != nil {
		return Process{}, pidError(pid, "status", err)
	}
	if err := parseStatus(b, &p); err != nil {
		return Process{}, fmt.Errorf("procfs: pid %d: %w", pid, err)
	}

	// The rest is optional. A failure may mean the process is exiting, so
	// any failure not explained by being a kernel thread makes us check,
	// once at the end, that the process still exists.
	failed := false
	if exe, err := r.readlink(dir, "exe"); err == nil {
		p.Executable, p.ExecutableDeleted = trimDeleted(dir, exe)
	} else if !p.KernelThread {
		failed = true
	}
	if b, err := r.readFile(dir, "cmdline"); err == nil {
		p.Args = parseCmdline(b)
	} else {
		failed = true
	}
	if p.Cwd, err = r.readlink(dir, "cwd"); err != nil {
		failed = true
	}
	if b, err := r.readFile(dir, "cgroup"); err == nil {
		p.Cgroup = parseCgroup(b)
	} else {
		failed = true
	}
	p.LoginUID, p.SessionID = r.readID(dir, "loginuid"), r.readID(dir, "sessionid")
	for _, ns := range [...]struct {
		path string
		ino  *uint32
	}{
		{"ns/mnt", &p.NS.Mnt}, {"ns/pid", &p.NS.PID}, {"ns/net", &p.NS.Net}, {"ns/uts", &p.NS.UTS},
		{"ns/ipc", &p.NS.IPC}, {"ns/user", &p.NS.User}, {"ns/cgroup", &p.NS.Cgroup},
	} {
		link, err := r.readlink(dir, ns.path)
		if err == nil {
			*ns.ino, err = parseNSLink(ns.path[len("ns/"):], link)
		}
		if err != nil {
			failed = true
		}
	}

	if failed {
		// Lookups under a dead process's directory fail with ENOENT
		// (zombies still pass: they exist, their exe/cwd are just gone).
		if err := unix.Faccessat(dir, "stat", unix.F_OK, 0); err != nil {
			return Process{}, pidError(pid, "recheck", err)
		}
	}
	return p, nil
}

// pidError wraps err, adding fs.ErrNotExist when it says the process is
// gone: ENOENT on lookup, ESRCH when reading a file opened before it exited.
func pidError(pid uint32, op string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("procfs: pid %d exited (%w): %s: %w", pid, fs.ErrNotExist, op, err)
	}
	return fmt.Errorf("procfs: pid %d: %s: %w", pid, op, err)
}

// readFile returns the contents of dir/name in r.buf, valid until the next
// call. Like procps, it stops at the first short read instead of issuing
// one more read to see EOF: the proc files read here (seq_file single_open,
// cmdline, audit ids) return everything that fits in one read.
func (r *reader) readFile(dir int, name string) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if r.buf == nil {
		r.buf = make([]byte, 0, 4096)
	}
	b := r.buf[:0]
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		short := n < cap(b)-len(b)
		b = b[:len(b)+n]
		if short {
			r.buf = b
			return b, nil
		}
	}
}

func (r *reader) readlink(dir int, name string) (string, error) {
	var small [256]byte
	buf := small[:]
	for {
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) { // n == len(buf) may be truncated
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readID reads loginuid or sessionid: decimal, no newline.
func (r *reader) readID(dir int, name string) uint32 {
	b, err := r.readFile(dir, name)
	if err != nil {
		return unsetID
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 32)
	if err != nil {
		return unsetID
	}
	return uint32(v)
}

// trimDeleted strips the " (deleted)" the kernel appends to unlinked
// files. A file can also just be named "x (deleted)", so when the exe can
// be stat'ed its link count decides.
func trimDeleted(dir int, exe string) (string, bool) {
	trimmed, ok := strings.CutSuffix(exe, " (deleted)")
	if !ok {
		return exe, false
	}
	var st unix.Stat_t
	if unix.Fstatat(dir, "exe", &st, 0) == nil && st.Nlink > 0 {
		return exe, false
	}
	return trimmed, true
}

// parseStat parses /proc/PID/stat. comm (field 2) is printed raw between
// parentheses and can itself contain ")", spaces or newlines, so it is
// everything between the first '(' and the last ')': no later field can
// contain a ')'.
func parseStat(b []byte, p *Process) error {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return errors.New("stat: no comm")
	}
	pid, err := strconv.ParseUint(string(bytes.TrimSpace(b[:open])), 10, 32)
	if err != nil {
		return fmt.Errorf("stat: pid: %w", err)
	}
	p.PID = uint32(pid)
	p.Comm = string(b[open+1 : end])

	// Fields from 3 (state) on; we need 4 (ppid), 9 (flags), 22 (starttime).
	n := 3
	for f := range bytes.FieldsSeq(b[end+1:]) {
		switch n {
		case 4:
			v, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				return fmt.Errorf("stat: ppid: %w", err)
			}
			p.PPID = uint32(v)
		case 9:
			v, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				return fmt.Errorf("stat: flags: %w", err)
			}
			p.KernelThread = v&pfKthread != 0
		case 22:
			v, err := strconv.ParseUint(string(f), 10, 64)
			if err != nil {
				return fmt.Errorf("stat: starttime: %w", err)
			}
			p.StartTicks, p.StartBootNS = v, v*(1e9/userHZ)
			return nil
		}
		n++
	}
	return fmt.Errorf("stat: %d fields, want at least 22", n-1)
}

// parseStatus parses the Uid, Gid, CapPrm and CapEff lines of
// /proc/PID/status. Name is escaped there, so a comm cannot forge lines.
func parseStatus(b []byte, p *Process) error {
	const want = 4
	found := 0
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var err error
		switch string(key) {
		case "Uid":
			err = parseIDs(val, &p.UID, &p.EUID, &p.SUID, &p.FSUID)
		case "Gid":
			err = parseIDs(val, &p.GID, &p.EGID, &p.SGID, &p.FSGID)
		case "CapPrm":
			p.CapPermitted, err = strconv.ParseUint(string(bytes.TrimSpace(val)), 16, 64)
		case "CapEff":
			p.CapEffective, err = strconv.ParseUint(string(bytes.TrimSpace(val)), 16, 64)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("status: %s: %w", key, err)
		}
		if found++; found == want {
			return nil
		}
	}
	return errors.New("status: missing Uid, Gid, CapPrm or CapEff")
}

// parseIDs parses "real effective saved fs".
func parseIDs(b []byte, ids ...*uint32) error {
	i := 0
	for f := range bytes.FieldsSeq(b) {
		if i == len(ids) {
			break
		}
		v, err := strconv.ParseUint(string(f), 10, 32)
		if err != nil {
			return err
		}
		*ids[i] = uint32(v)
		i++
	}
	if i != len(ids) {
		return fmt.Errorf("%d ids, want %d", i, len(ids))
	}
	return nil
}

// parseCmdline splits cmdline on NUL. The final NUL is optional: a process
// that overwrote its argv area may have none.
func parseCmdline(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	return strings.Split(string(b), "\x00")
}

// parseCgroup returns the path of the cgroup v2 line "0::PATH". Lines are
// safe to split: the kernel refuses cgroup names containing '\n'.
func parseCgroup(b []byte) string {
	for line := range bytes.Lines(b) {
		if path, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return string(bytes.TrimSuffix(path, []byte("\n")))
		}
	}
	return ""
}

// parseNSLink parses a namespace link such as "mnt:[4026531841]". The
// kernel allocates namespace inode numbers as 32-bit values.
func parseNSLink(name, link string) (uint32, error) {
	s, ok1 := strings.CutPrefix(link, name+":[")
	s, ok2 := strings.CutSuffix(s, "]")
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("ns link %q: not %s:[N]", link, name)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("ns link %q: %w", link, err)
	}
	return uint32(v), nil
}
