package procfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statTail is fields 3..52 of a 6.x kernel stat line for a user process
// (flags 4194560, starttime 4010).
const statTail = "S 1 1050 0 0 -1 4194560 897 0 0 0 7 9 0 0 20 0 1 0 4010 1421312 284 18446744073709551615 1 1 0 0 0 0 0 268439552 17472 1 0 0 17 0 0 0 0 0 0 1 1 1 1 1 1 1 0\n"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Process
		wantErr bool
	}{
		{
			name: "plain",
			in:   "1050 (memfd:sealed-91) " + statTail,
			want: Process{PID: 1050, PPID: 1, Comm: "memfd:sealed-91", StartTicks: 4010, StartBootNS: 40_100_000_000},
		},
		{
			name: "hostile comm mimics fields",
			in:   "4242 (a) R 1 2 (b) " + statTail,
			want: Process{PID: 4242, PPID: 1, Comm: "a) R 1 2 (b", StartTicks: 4010, StartBootNS: 40_100_000_000},
		},
		{
			name: "comm with newline and spaces",
			in:   "7 (x\n) y) " + statTail,
			want: Process{PID: 7, PPID: 1, Comm: "x\n) y", StartTicks: 4010, StartBootNS: 40_100_000_000},
		},
		{
			name: "comm with parens",
			in:   "900 ((sd-pam)) " + statTail,
			want: Process{PID: 900, PPID: 1, Comm: "(sd-pam)", StartTicks: 4010, StartBootNS: 40_100_000_000},
		},
		{
			name: "empty comm",
			in:   "5 () " + statTail,
			want: Process{PID: 5, PPID: 1, Comm: "", StartTicks: 4010, StartBootNS: 40_100_000_000},
		},
		{
			name: "kernel thread",
			in:   "10 (kworker/0:0H-events_highpri) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 0 -20 1 0 19 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			want: Process{PID: 10, PPID: 2, Comm: "kworker/0:0H-events_highpri", StartTicks: 19, StartBootNS: 190_000_000, KernelThread: true},
		},
		{
			name: "exactly 22 fields, no newline",
			in:   "3 (c) S 1 3 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123",
			want: Process{PID: 3, PPID: 1, Comm: "c", StartTicks: 123, StartBootNS: 1_230_000_000},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no comm", in: "1 init S 0", wantErr: true},
		{name: "unclosed comm", in: "1 (init S 0 1 2", wantErr: true},
		{name: "bad pid", in: "x (c) " + statTail, wantErr: true},
		{name: "truncated", in: "3 (c) S 1 3 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0\n", wantErr: true},
		{name: "bad starttime", in: "3 (c) S 1 3 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5\n", wantErr: true},
		{name: "bad ppid", in: "3 (c) S x 3 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Process
			err := parseStat([]byte(tt.in), &p)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p)
		})
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\ta\\nUid:\t9\t9\t9\t9\n" + // a comm with '\n' is escaped by the kernel
		"Umask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\nPPid:\t0\n" +
		"Uid:\t1000\t0\t1001\t1002\nGid:\t2000\t2001\t2002\t2003\nGroups:\t4 24 27\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t00000000a80425fb\nCapBnd:\t000001ffffffffff\n"
	var p Process
	require.NoError(t, parseStatus([]byte(status), &p))
	assert.Equal(t, Process{
		UID: 1000, EUID: 0, SUID: 1001, FSUID: 1002,
		GID: 2000, EGID: 2001, SGID: 2002, FSGID: 2003,
		CapPermitted: 0x1ffffffffff, CapEffective: 0xa80425fb,
	}, p)

	for name, in := range map[string]string{
		"empty":          "",
		"missing CapEff": "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\t0\n",
		"short Uid":      "Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\t0\nCapEff:\t0\n",
		"bad Gid":        "Uid:\t0\t0\t0\t0\nGid:\t0\tx\t0\t0\nCapPrm:\t0\nCapEff:\t0\n",
		"uid overflow":   "Uid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\t0\nCapEff:\t0\n",
		"bad cap":        "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\tzz\nCapEff:\t0\n",
	} {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, parseStatus([]byte(in), &Process{}))
		})
	}
}

func TestParseCgroup(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"v2", "0::/system.slice/sshd.service\n", "/system.slice/sshd.service"},
		{"root", "0::/\n", "/"},
		{
			"hybrid, v2 line last",
			"9:name=systemd:/\n4:memory:/process_api/7e42af87865e1a98df3ef798c798afe8\n1:cpu:/\n0::/init.scope\n",
			"/init.scope",
		},
		{"v1 hierarchy 10 is not v2", "10::/x\n0::/y\n", "/y"},
		{
			"colons in path",
			"0::/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:abc\n",
			"/system.slice/containerd.service/kubepods-pod1.slice:cri-containerd:abc",
		},
		{"spaces in path", "0::/a b/c\n", "/a b/c"},
		{"no trailing newline", "0::/x", "/x"},
		{"v1 only", "12:memory:/x\n1:name=systemd:/x\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseCgroup([]byte(tt.in)))
		})
	}
}

func TestParseNSLink(t *testing.T) {
	v, err := parseNSLink("mnt", "mnt:[4026531841]")
	require.NoError(t, err)
	assert.Equal(t, uint32(4026531841), v)
	v, err = parseNSLink("cgroup", "cgroup:[4026531835]")
	require.NoError(t, err)
	assert.Equal(t, uint32(4026531835), v)

	for _, bad := range []struct{ name, link string }{
		{"mnt", "net:[4026531841]"},
		{"mnt", "mnt:4026531841"},
		{"mnt", "mnt:[4026531841"},
		{"mnt", "mnt:[]"},
		{"mnt", "mnt:[x]"},
		{"mnt", "mnt:[4294967296]"},
		{"mnt", ""},
	} {
		_, err := parseNSLink(bad.name, bad.link)
		assert.Error(t, err, bad.link)
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"normal", "sleep\x0030\x00", []string{"sleep", "30"}},
		{"no final NUL", "sleep\x0030", []string{"sleep", "30"}},
		{"rewritten with spaces", "nginx: worker process", []string{"nginx: worker process"}},
		{"rewritten, NUL-terminated", "postgres: checkpointer \x00", []string{"postgres: checkpointer "}},
		{"empty args kept", "sh\x00-c\x00\x00x\x00", []string{"sh", "-c", "", "x"}},
		{"empty argv0", "\x00", []string{""}},
		{"kernel thread", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseCmdline([]byte(tt.in)))
		})
	}
}

// The parsers see bytes a process partly controls (comm); they must not
// panic on anything.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("4242 (a) R 1 2 (b) " + statTail))
	f.Add([]byte("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapPrm:\t0\nCapEff:\t0\n"))
	f.Add([]byte("0::/x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Process
		if parseStat(b, &p) == nil && p.StartBootNS != p.StartTicks*1e7 {
			t.Fatal("StartBootNS")
		}
		_ = parseStatus(b, &p)
		_ = parseCgroup(b)
		_ = parseCmdline(b)
		_, _ = parseNSLink("mnt", string(b))
	})
}
