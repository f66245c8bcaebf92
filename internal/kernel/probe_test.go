package kernel

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// devRelease is the development/CI machine whose facts TestProbe asserts
// exactly; on any other kernel it only checks internal consistency.
const devRelease = "6.18.44-fc-v782"

func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	before := probePrograms(t)

	f, err := Probe()
	require.NoError(t, err)
	t.Logf("probe: %s", logLine(f))

	// Every program Probe created must be gone again.
	require.Equal(t, before, probePrograms(t), "probe programs left loaded")

	require.NotEmpty(t, f.Release)
	require.Equal(t, !f.BTF, f.BTFError != "", "BTFError iff !BTF")
	require.Equal(t, f.Fentry, f.FentryError == "", "FentryError iff !Fentry")
	require.Equal(t, f.Kprobe, f.KprobeError == "", "KprobeError iff !Kprobe")
	require.Equal(t, f.Tracepoint, f.TracepointError == "", "TracepointError iff !Tracepoint")
	require.Equal(t, f.LSM == LSMActive, f.LSMError == "", "LSMError iff LSM not active")
	if f.TPBTF || f.Fentry || f.LSM == LSMActive {
		require.True(t, f.BTF, "BTF-based programs loaded without BTF")
	}
	if f.Cgroup2Path != "" {
		var st unix.Statfs_t
		require.NoError(t, unix.Statfs(f.Cgroup2Path, &st))
		require.EqualValues(t, unix.CGROUP2_SUPER_MAGIC, st.Type, "%s is not cgroup2", f.Cgroup2Path)
	}
	require.Equal(t, f.BTF && f.RingBuf && (f.TPBTF || f.RawTracepoint), f.Require() == nil)

	// Probe caches nothing itself: a second run finds the same.
	again, err := Probe()
	require.NoError(t, err)
	require.Equal(t, f, again)

	if f.Release != devRelease {
		return
	}
	require.True(t, f.BTF)
	require.True(t, f.RingBuf)
	require.True(t, f.TPBTF)
	require.True(t, f.RawTracepoint)
	require.True(t, f.SendSignal)
	require.True(t, f.CgroupSockAddr)
	require.True(t, f.SockSendLength, "sock:sock_send_length is in 6.18")
	require.Equal(t, "/sys/fs/cgroup/unified", f.Cgroup2Path)
	require.False(t, f.Fentry)
	require.Contains(t, f.FentryError, "operation not permitted")
	require.Equal(t, LSMRefused, f.LSM)
	require.Contains(t, f.LSMError, "operation not permitted")
	require.False(t, f.Kprobe)
	require.Contains(t, f.KprobeError, "no kprobe PMU")
	require.False(t, f.KprobeMulti)
	// The kernel has the tracepoint, but tracefs is not mounted here by default.
	mounts := readMounts(t)
	if tracefsDir(mounts) == "" {
		require.False(t, f.Tracepoint)
		require.Contains(t, f.TracepointError, "tracefs is not mounted")
	} else {
		require.True(t, f.Tracepoint)
	}
	require.NoError(t, f.Require())
}

// probePrograms returns the IDs of loaded programs named with our prefix.
func probePrograms(t *testing.T) []ebpf.ProgramID {
	t.Helper()
	var ids []ebpf.ProgramID
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return ids
		}
		require.NoError(t, err)
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // unloaded meanwhile
		}
		require.NoError(t, err)
		info, err := prog.Info()
		prog.Close()
		require.NoError(t, err)
		if strings.HasPrefix(info.Name, probeNamePrefix) {
			ids = append(ids, id)
		}
	}
}

func readMounts(t *testing.T) []mount {
	t.Helper()
	fh, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer fh.Close()
	mounts, err := parseMountinfo(fh)
	require.NoError(t, err)
	return mounts
}

// logLine renders the ZapFields as the receiver's log line would show them.
func logLine(f Features) string {
	enc := zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig())
	buf, err := enc.EncodeEntry(zapcore.Entry{Message: "kernel features"}, f.ZapFields())
	if err != nil {
		return err.Error()
	}
	defer buf.Free()
	return strings.TrimSpace(buf.String())
}

// TestLeakCheck makes sure probePrograms does see a program we load, so the
// leak check in TestProbe is not vacuous.
func TestLeakCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	before := probePrograms(t)
	prog, err := newProg(ebpf.SocketFilter, ebpf.AttachNone, "", "leak")
	require.NoError(t, err)
	require.Len(t, probePrograms(t), len(before)+1)
	prog.Close()
	require.Equal(t, before, probePrograms(t))
}

func TestProbeNamesFit(t *testing.T) {
	// The kernel truncates object names to 15 characters; keep ours whole.
	for _, suffix := range []string{"tp_btf", "raw_tp", "tp", "conn4", "fentry", "kprobe", "lsm"} {
		require.LessOrEqual(t, len(probeNamePrefix+suffix), 15, suffix)
	}
}

func TestCgroup2Path(t *testing.T) {
	const (
		proc    = "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
		tmpfs   = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		v1      = "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		unified = "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
		pure    = "29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
		other   = "50 22 0:40 / /mnt/cg\\040two rw,relatime shared:9 master:1 - cgroup2 none rw\n"
	)
	for _, tc := range []struct {
		name, mountinfo, want string
	}{
		{"unified mode", proc + pure, "/sys/fs/cgroup"},
		{"unified mode wins over other mounts", proc + other + pure, "/sys/fs/cgroup"},
		{"hybrid mode", proc + tmpfs + v1 + unified, "/sys/fs/cgroup/unified"},
		{"hybrid wins over other mounts", proc + other + tmpfs + unified, "/sys/fs/cgroup/unified"},
		{"elsewhere, escaped", proc + other, "/mnt/cg two"},
		{"v1 only", proc + tmpfs + v1, ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mounts, err := parseMountinfo(strings.NewReader(tc.mountinfo))
			require.NoError(t, err)
			require.Equal(t, tc.want, cgroup2Path(mounts))
		})
	}
}

func TestParseMountinfo(t *testing.T) {
	mounts, err := parseMountinfo(strings.NewReader(
		"36 35 98:0 /mnt1 /mnt/a\\134b rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n" +
			"12 1 0:12 / /sys/kernel/tracing rw - tracefs tracefs rw\n"))
	require.NoError(t, err)
	require.Equal(t, []mount{
		{Root: "/mnt1", MountPoint: `/mnt/a\b`, FSType: "ext3"},
		{Root: "/", MountPoint: "/sys/kernel/tracing", FSType: "tracefs"},
	}, mounts)
	require.Equal(t, "/sys/kernel/tracing", tracefsDir(mounts))
	require.Empty(t, mountPoint(mounts, "securityfs"))

	_, err = parseMountinfo(strings.NewReader("garbage line\n"))
	require.Error(t, err)
}

func TestParseLSMList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"lockdown,capability,landlock,bpf", []string{"lockdown", "capability", "landlock", "bpf"}},
		{"capability,yama,apparmor\n", []string{"capability", "yama", "apparmor"}},
		{"bpf", []string{"bpf"}},
		{"", nil},
	} {
		require.Equal(t, tc.want, parseLSMList(tc.in), tc.in)
	}
}

func TestLSMState(t *testing.T) {
	eperm := errors.New("operation not permitted")
	for _, tc := range []struct {
		name    string
		list    []string
		known   bool
		loadErr error
		want    LSMState
		reason  string
	}{
		{"active", []string{"capability", "bpf"}, true, nil, LSMActive, ""},
		{"not listed", []string{"capability", "selinux"}, true, nil, LSMUnavailable, "bpf is not an active LSM (capability,selinux)"},
		{"listed but refused", []string{"bpf"}, true, eperm, LSMRefused, "operation not permitted"},
		{"no securityfs, refused", nil, false, eperm, LSMRefused, "operation not permitted"},
		{"no securityfs, loads", nil, false, nil, LSMUnavailable, "securityfs is not mounted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := lsmState(tc.list, tc.known, tc.loadErr)
			require.Equal(t, tc.want, got)
			if tc.reason == "" {
				require.Empty(t, reason)
			} else {
				require.Contains(t, reason, tc.reason)
			}
		})
	}
	require.Equal(t, "unavailable", LSMUnavailable.String())
	require.Equal(t, "refused", LSMRefused.String())
	require.Equal(t, "active", LSMActive.String())
}

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v782", 6, 18, true},
		{"5.8.0-63-generic", 5, 8, true},
		{"6.4-rc1", 6, 4, true},
		{"5.15.0+", 5, 15, true},
		{"garbage", 0, 0, false},
	} {
		major, minor, ok := parseRelease(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		if ok {
			require.Equal(t, [2]int{tc.major, tc.minor}, [2]int{major, minor}, tc.in)
		}
	}
	require.True(t, atLeast("5.11.0", 5, 11))
	require.True(t, atLeast("6.1.0", 5, 11))
	require.False(t, atLeast("5.10.200", 5, 11))
}

func TestCheckPrivileges(t *testing.T) {
	if os.Geteuid() == 0 {
		require.NoError(t, CheckPrivileges())
	}
	const (
		sysAdmin = uint64(1) << unix.CAP_SYS_ADMIN
		bpf      = uint64(1) << unix.CAP_BPF
		perfmon  = uint64(1) << unix.CAP_PERFMON
	)
	require.NoError(t, checkCaps(sysAdmin, true))
	require.NoError(t, checkCaps(sysAdmin, false))
	require.NoError(t, checkCaps(bpf|perfmon, true))

	err := checkCaps(bpf, true)
	require.ErrorContains(t, err, "missing capabilities CAP_PERFMON")
	require.ErrorContains(t, err, "run otelsec as root")
	err = checkCaps(0, true)
	require.ErrorContains(t, err, "CAP_BPF, CAP_PERFMON")
	require.ErrorContains(t, checkCaps(bpf|perfmon, false), "CAP_SYS_ADMIN")
}

func TestRequire(t *testing.T) {
	err := Features{}.Require()
	require.ErrorContains(t, err, "kernel BTF not found at /sys/kernel/btf/vmlinux: otelsec needs CONFIG_DEBUG_INFO_BTF=y (Linux 5.8+)")
	require.ErrorContains(t, err, "BPF_MAP_TYPE_RINGBUF")
	require.ErrorContains(t, err, "neither tp_btf nor raw tracepoint")

	require.NoError(t, Features{BTF: true, RingBuf: true, TPBTF: true}.Require())
	require.NoError(t, Features{BTF: true, RingBuf: true, RawTracepoint: true}.Require())
	err = Features{BTF: true, TPBTF: true}.Require()
	require.ErrorContains(t, err, "RINGBUF")
	require.NotContains(t, err.Error(), "BTF not found")
}

func TestZapFields(t *testing.T) {
	keys := func(fs []zap.Field) []string {
		var k []string
		for _, f := range fs {
			k = append(k, f.Key)
		}
		return k
	}
	base := []string{"kernel", "btf", "ringbuf", "tp_btf", "tracepoint", "raw_tracepoint", "prepare_exec", "sock_send_length", "lsm",
		"fentry", "kprobe", "kprobe_multi", "send_signal", "cgroup2", "cgroup_sock_addr", "bpf_stats"}
	require.Equal(t, base, keys(Features{}.ZapFields()))
	require.Equal(t, append(base, "lsm_error"), keys(Features{LSMError: "x"}.ZapFields()))
	require.Contains(t, logLine(Features{LSM: LSMRefused}), `"lsm": "refused"`)
}
