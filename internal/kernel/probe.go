// Package kernel probes the running kernel for the eBPF features otelsec's
// sensors can use, so the receiver can pick hooks and log one line saying why.
package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Features is what this kernel offers to otelsec's sensors. The zero value means "nothing".
type Features struct {
	Release  string // uname -r
	BTF      bool   // kernel BTF loadable (btf.LoadKernelSpec)
	BTFError string // why not, when BTF == false

	RingBuf bool // BPF_MAP_TYPE_RINGBUF

	TPBTF           bool   // tp_btf program for sched_process_exec loads
	RawTracepoint   bool   // BPF_PROG_TYPE_RAW_TRACEPOINT loads
	Tracepoint      bool   // tracepoint programs load and tracefs has sched/sched_process_exec
	TracepointError string // why not, when Tracepoint == false
	// PrepareExec: the sched_prepare_exec tracepoint exists (Linux 6.10+); it fires before an
	// exec commits its credentials.
	PrepareExec bool
	// SockSendLength: the sock:sock_send_length tracepoint exists (not in 6.1; in 6.12 and later); it fires after
	// every socket send, in the sender's context (the network sensor's connected-UDP hook).
	SockSendLength bool

	LSM      LSMState
	LSMError string // why LSM is not active

	Fentry      bool   // an fentry program loads
	FentryError string // why not, when Fentry == false

	Kprobe      bool   // a kprobe can be created and attached
	KprobeError string // why not, when Kprobe == false

	KprobeMulti bool // BPF_LINK_TYPE_KPROBE_MULTI
	SendSignal  bool // bpf_send_signal available to tracing programs

	Cgroup2Path     string // cgroup2 (unified) mount point, "" if none
	CgroupSockAddr  bool   // cgroup/connect4 programs load
	BPFStatsEnabled bool   // /proc/sys/kernel/bpf_stats_enabled == 1 (informational)
}

// LSMState says whether BPF LSM programs can enforce on this kernel.
type LSMState int

const (
	// LSMUnavailable: bpf is not an active LSM, or that cannot be confirmed.
	LSMUnavailable LSMState = iota
	// LSMRefused: the kernel refused to load a BPF LSM program.
	LSMRefused
	// LSMActive: bpf is an active LSM and a program on lsm/file_open loads.
	LSMActive
)

func (s LSMState) String() string {
	switch s {
	case LSMRefused:
		return "refused"
	case LSMActive:
		return "active"
	default:
		return "unavailable"
	}
}

const (
	// probeNamePrefix marks every program Probe loads, so leaks are easy to
	// spot with bpftool. Kernel object names hold at most 15 characters, so
	// the prefix is short enough to leave room for a suffix.
	probeNamePrefix = "otelsecp_"

	execTracepoint = "sched_process_exec"
	vmlinuxBTFPath = "/sys/kernel/btf/vmlinux"
	kprobePMUPath  = "/sys/bus/event_source/devices/kprobe"
	bpfStatsPath   = "/proc/sys/kernel/bpf_stats_enabled"
)

// hookTargets are stable, always-built-in functions for the fentry and kprobe
// probes, in order of preference.
var hookTargets = []string{"security_file_open", "vfs_open"}

// Probe runs every check. A missing feature is a result, not an error; an
// error means the kernel cannot be probed at all (e.g. no privileges, no
// /proc). Every program it loads is closed before it returns.
func Probe() (Features, error) {
	var f Features
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return f, fmt.Errorf("uname: %w", err)
	}
	f.Release = unix.ByteSliceToString(uts.Release[:])

	// Without privileges every load fails with EPERM, which would look like
	// a kernel without any feature.
	if err := CheckPrivileges(); err != nil {
		return f, fmt.Errorf("cannot probe kernel: %w", err)
	}

	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return f, fmt.Errorf("cannot probe kernel: %w", err)
	}
	mounts, err := parseMountinfo(mi)
	mi.Close()
	if err != nil {
		return f, fmt.Errorf("cannot probe kernel: %w", err)
	}

	spec, err := btf.LoadKernelSpec()
	f.BTF = err == nil
	if err != nil {
		f.BTFError = err.Error()
	}

	f.RingBuf = features.HaveMapType(ebpf.RingBuf) == nil
	f.KprobeMulti = features.HaveBPFLinkKprobeMulti() == nil
	// kprobe, tracepoint, raw_tp and tracing programs share the helper set
	// holding bpf_send_signal; cilium/ebpf cannot probe helpers of tracing
	// (fentry/tp_btf) programs, so ask for kprobe.
	f.SendSignal = features.HaveProgramHelper(ebpf.Kprobe, asm.FnSendSignal) == nil

	if f.BTF {
		f.TPBTF = load(ebpf.Tracing, ebpf.AttachTraceRawTp, execTracepoint, "tp_btf") == nil
	}
	if spec != nil {
		var fn *btf.Typedef
		f.PrepareExec = spec.TypeByName("btf_trace_sched_prepare_exec", &fn) == nil
		f.SockSendLength = spec.TypeByName("btf_trace_sock_send_length", &fn) == nil
	}
	f.RawTracepoint = load(ebpf.RawTracepoint, ebpf.AttachNone, "", "raw_tp") == nil
	f.Tracepoint, f.TracepointError = probeTracepoint(mounts, f.Release)
	f.CgroupSockAddr = load(ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect, "", "conn4") == nil

	target := hookTargets[0]
	if spec != nil {
		target = firstFunc(spec, hookTargets)
	}
	f.Fentry, f.FentryError = probeFentry(f.BTF, target, f.Release)
	f.Kprobe, f.KprobeError = probeKprobe(target, f.Release)
	f.LSM, f.LSMError = probeLSM(mounts, f.BTF, f.Release)

	f.Cgroup2Path = cgroup2Path(mounts)
	if b, err := os.ReadFile(bpfStatsPath); err == nil {
		f.BPFStatsEnabled = strings.TrimSpace(string(b)) == "1"
	}
	return f, nil
}

// load loads and immediately closes a program that returns 0.
func load(typ ebpf.ProgramType, at ebpf.AttachType, attachTo, name string) error {
	prog, err := newProg(typ, at, attachTo, name)
	if err == nil {
		prog.Close()
	}
	return err
}

func newProg(typ ebpf.ProgramType, at ebpf.AttachType, attachTo, name string) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         probeNamePrefix + name,
		Type:         typ,
		AttachType:   at,
		AttachTo:     attachTo, // cilium/ebpf resolves tracing/LSM targets in kernel BTF
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		// LSM programs and several tracing helpers require a GPL-compatible license.
		License: "GPL",
	})
}

func probeTracepoint(mounts []mount, release string) (bool, string) {
	if err := load(ebpf.TracePoint, ebpf.AttachNone, "", "tp"); err != nil {
		return false, describe(err, release)
	}
	// Attaching needs the event's ID from tracefs, so an unmounted tracefs
	// makes tracepoints unusable even though the kernel has them.
	dir := tracefsDir(mounts)
	if dir == "" {
		return false, "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
	}
	if _, err := os.Stat(filepath.Join(dir, "events", "sched", execTracepoint)); err != nil {
		return false, fmt.Sprintf("tracefs event sched/%s: %v", execTracepoint, err)
	}
	return true, ""
}

func probeFentry(haveBTF bool, target, release string) (bool, string) {
	if !haveBTF {
		return false, "needs kernel BTF"
	}
	if target == "" {
		return false, fmt.Sprintf("none of %v in kernel BTF", hookTargets)
	}
	if err := load(ebpf.Tracing, ebpf.AttachTraceFEntry, target, "fentry"); err != nil {
		return false, describe(err, release)
	}
	return true, ""
}

func probeKprobe(target, release string) (bool, string) {
	if target == "" {
		target = hookTargets[0]
	}
	// Since 4.17 kprobes are created through this PMU; otherwise cilium/ebpf
	// falls back to tracefs and blames tracefs, which hides the real cause.
	if _, err := os.Stat(kprobePMUPath); err != nil {
		return false, "no kprobe PMU at " + kprobePMUPath + " (kernel built without CONFIG_KPROBE_EVENTS?)"
	}
	prog, err := newProg(ebpf.Kprobe, ebpf.AttachNone, "", "kprobe")
	if err != nil {
		return false, describe(err, release)
	}
	defer prog.Close()
	l, err := link.Kprobe(target, prog, nil)
	if err != nil {
		return false, describe(err, release)
	}
	l.Close()
	return true, ""
}

func probeLSM(mounts []mount, haveBTF bool, release string) (LSMState, string) {
	var list []string
	known := false
	if dir := mountPoint(mounts, "securityfs"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "lsm")); err == nil {
			list, known = parseLSMList(string(b)), true
		}
	}
	if known && !slices.Contains(list, "bpf") {
		// Don't even try: a BPF LSM program would load and attach, but the
		// kernel never calls it.
		return lsmState(list, known, nil)
	}
	if !haveBTF {
		return LSMUnavailable, "needs kernel BTF"
	}
	err := load(ebpf.LSM, ebpf.AttachLSMMac, "file_open", "lsm")
	if err != nil {
		err = errors.New(describe(err, release))
	}
	return lsmState(list, known, err)
}

// lsmState decides the LSM state from the active LSM list (if securityfs let
// us read it) and the result of loading an lsm/file_open program.
func lsmState(list []string, known bool, loadErr error) (LSMState, string) {
	switch {
	case known && !slices.Contains(list, "bpf"):
		return LSMUnavailable, fmt.Sprintf("bpf is not an active LSM (%s): add it to the lsm= boot parameter", strings.Join(list, ","))
	case loadErr != nil:
		// Refused, whether listed or not: the load failing is definitive.
		return LSMRefused, loadErr.Error()
	case !known:
		return LSMUnavailable, "securityfs is not mounted, cannot tell whether bpf is an active LSM (mount -t securityfs securityfs /sys/kernel/security)"
	default:
		return LSMActive, ""
	}
}

// describe turns a probe error into a reason for the log.
func describe(err error, release string) string {
	var verr *ebpf.VerifierError
	if errors.Is(err, unix.EPERM) && !errors.As(err, &verr) && atLeast(release, 5, 11) {
		// cilium/ebpf blames RLIMIT_MEMLOCK for any EPERM returned before the
		// verifier ran, but since 5.11 BPF memory is charged to the memory
		// cgroup: this is kernel policy refusing the program type.
		return "operation not permitted: the kernel refused the program before verification"
	}
	return err.Error()
}

// firstFunc returns the first of names that is a function in spec, or "".
func firstFunc(spec *btf.Spec, names []string) string {
	for _, name := range names {
		var fn *btf.Func
		if spec.TypeByName(name, &fn) == nil {
			return name
		}
	}
	return ""
}

// mount is one line of /proc/self/mountinfo, reduced to what we need.
type mount struct {
	Root, MountPoint, FSType string
}

// parseMountinfo parses proc(5) mountinfo: "id parent maj:min root mountpoint
// options [optional fields...] - fstype source superoptions".
func parseMountinfo(r io.Reader) ([]mount, error) {
	var mounts []mount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || sep+1 >= len(fields) {
			return nil, fmt.Errorf("malformed mountinfo line %q", sc.Text())
		}
		mounts = append(mounts, mount{
			Root:       unescapeOctal(fields[3]),
			MountPoint: unescapeOctal(fields[4]),
			FSType:     fields[sep+1],
		})
	}
	return mounts, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escaping of spaces, tabs, newlines
// and backslashes in mountinfo paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroup2Path prefers /sys/fs/cgroup (unified mode), then the hybrid-mode
// /sys/fs/cgroup/unified, then any other cgroup2 mount.
func cgroup2Path(mounts []mount) string {
	var found string
	for _, m := range mounts {
		if m.FSType != "cgroup2" {
			continue
		}
		if m.MountPoint == "/sys/fs/cgroup" {
			return m.MountPoint
		}
		if found == "" || m.MountPoint == "/sys/fs/cgroup/unified" {
			found = m.MountPoint
		}
	}
	return found
}

// mountPoint returns where a filesystem of type fstype is mounted with its
// root, or "".
func mountPoint(mounts []mount, fstype string) string {
	for _, m := range mounts {
		if m.FSType == fstype && m.Root == "/" {
			return m.MountPoint
		}
	}
	return ""
}

// tracefsDir finds tracefs the way cilium/ebpf does: a tracefs mount, or
// tracing/ inside debugfs on old systems.
func tracefsDir(mounts []mount) string {
	if dir := mountPoint(mounts, "tracefs"); dir != "" {
		return dir
	}
	if dir := mountPoint(mounts, "debugfs"); dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, "tracing")); err == nil && fi.IsDir() {
			return filepath.Join(dir, "tracing")
		}
	}
	return ""
}

// parseLSMList parses /sys/kernel/security/lsm ("lockdown,capability,bpf").
func parseLSMList(s string) []string {
	var list []string
	for _, name := range strings.Split(strings.TrimSpace(s), ",") {
		if name = strings.TrimSpace(name); name != "" {
			list = append(list, name)
		}
	}
	return list
}

// parseRelease extracts major and minor from a release like "6.18.44-fc".
func parseRelease(release string) (major, minor int, ok bool) {
	ma, rest, _ := strings.Cut(release, ".")
	mi := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
	major, err1 := strconv.Atoi(ma)
	minor, err2 := strconv.Atoi(mi)
	return major, minor, err1 == nil && err2 == nil
}

func atLeast(release string, major, minor int) bool {
	ma, mi, ok := parseRelease(release)
	return ok && (ma > major || ma == major && mi >= minor)
}

// CheckPrivileges returns an error naming the missing capabilities when the
// process cannot load BPF programs: it needs CAP_BPF and CAP_PERFMON (Linux
// 5.8+), or CAP_SYS_ADMIN.
func CheckPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	eff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	var uts unix.Utsname
	release := ""
	if unix.Uname(&uts) == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	return checkCaps(eff, atLeast(release, 5, 8))
}

func checkCaps(eff uint64, splitCaps bool) error {
	has := func(c int) bool { return eff&(1<<c) != 0 }
	if has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	if !splitCaps {
		// CAP_BPF and CAP_PERFMON only exist since 5.8.
		return errors.New("missing capability CAP_SYS_ADMIN, needed to load eBPF programs on kernels before 5.8: run otelsec as root or grant CAP_SYS_ADMIN")
	}
	var missing []string
	if !has(unix.CAP_BPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(unix.CAP_PERFMON) {
		missing = append(missing, "CAP_PERFMON")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("missing capabilities %s (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, are needed to load eBPF programs): run otelsec as root or grant them, e.g. setcap cap_bpf,cap_perfmon+ep or docker --cap-add BPF --cap-add PERFMON",
		strings.Join(missing, ", "))
}

// Require returns an error naming every missing feature otelsec cannot run
// without: kernel BTF, the BPF ring buffer, and a sched_process_exec hook.
func (f Features) Require() error {
	var errs []error
	if !f.BTF {
		msg := "kernel BTF not found at " + vmlinuxBTFPath + ": otelsec needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.8+)"
		if f.BTFError != "" {
			msg += " (" + f.BTFError + ")"
		}
		errs = append(errs, errors.New(msg))
	}
	if !f.RingBuf {
		errs = append(errs, errors.New("BPF ring buffer (BPF_MAP_TYPE_RINGBUF) not supported: otelsec needs Linux 5.8+"))
	}
	if !f.TPBTF && !f.RawTracepoint {
		errs = append(errs, errors.New("neither tp_btf nor raw tracepoint programs load: otelsec cannot hook sched/"+execTracepoint))
	}
	return errors.Join(errs...)
}

// ZapFields returns the findings as zap fields for one log line. Reasons are
// only included for features that are missing.
func (f Features) ZapFields() []zap.Field {
	fields := []zap.Field{
		zap.String("kernel", f.Release),
		zap.Bool("btf", f.BTF),
		zap.Bool("ringbuf", f.RingBuf),
		zap.Bool("tp_btf", f.TPBTF),
		zap.Bool("tracepoint", f.Tracepoint),
		zap.Bool("raw_tracepoint", f.RawTracepoint),
		zap.Bool("prepare_exec", f.PrepareExec),
		zap.Bool("sock_send_length", f.SockSendLength),
		zap.Stringer("lsm", f.LSM),
		zap.Bool("fentry", f.Fentry),
		zap.Bool("kprobe", f.Kprobe),
		zap.Bool("kprobe_multi", f.KprobeMulti),
		zap.Bool("send_signal", f.SendSignal),
		zap.String("cgroup2", f.Cgroup2Path),
		zap.Bool("cgroup_sock_addr", f.CgroupSockAddr),
		zap.Bool("bpf_stats", f.BPFStatsEnabled),
	}
	for _, r := range []struct{ key, val string }{
		{"btf_error", f.BTFError},
		{"tracepoint_error", f.TracepointError},
		{"lsm_error", f.LSMError},
		{"fentry_error", f.FentryError},
		{"kprobe_error", f.KprobeError},
	} {
		if r.val != "" {
			fields = append(fields, zap.String(r.key, r.val))
		}
	}
	return fields
}
