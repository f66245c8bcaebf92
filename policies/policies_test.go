// Package policies is otelsec's policy library: one RuntimePolicy per file, documented in
// README.md. Its test compiles every file and checks each policy's rules.
package policies

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/policy"
)

var (
	shells        = []string{"/ash", "/bash", "/dash", "/fish", "/ksh", "/sh", "/zsh"}
	fileChanges   = policy.FileWrite | policy.FileCreate | policy.FileUnlink | policy.FileRename | policy.FileChmod | policy.FileChown | policy.FileTruncate | policy.FileLink
	openRead      = policy.FileOpen | policy.FileRead
	containers    = policy.Workload{Containers: true}
	privateRanges = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
)

// want is every library policy's rules (Source, ID set by the test).
var want = map[string][]policy.Rule{
	"cloud-metadata.yaml": {{
		Name: "deny-instance-metadata", Event: policy.EventConnect, Action: policy.ActionDeny, Workload: containers,
		CIDRs:    []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00:ec2::254/128")},
		Ports:    []policy.PortRange{{First: 80, Last: 80}},
		Protocol: "tcp",
	}},
	"crypto-miners.yaml": {
		{Name: "known-miner-binaries", Event: policy.EventExec, Action: policy.ActionKill, Signal: syscall.SIGKILL,
			Binary: policy.Match{Suffix: []string{"/PhoenixMiner", "/bfgminer", "/ccminer", "/cgminer", "/cpuminer", "/cpuminer-multi",
				"/ethminer", "/kdevtmpfsi", "/kinsing", "/lolMiner", "/minerd", "/nbminer", "/t-rex", "/xmr-stak", "/xmr-stak-rx", "/xmrig", "/xmrig-notls"}}},
	},
	"mining-pool-arguments.yaml": {{
		Name: "stratum-url", Event: policy.EventExec, Action: policy.ActionKill, Signal: syscall.SIGKILL,
		ArgsContain: []string{"stratum+tcp://"},
	}},
	"file-integrity.yaml": {{
		Name: "system-files-changed", Event: policy.EventFile, Action: policy.ActionAudit, FileOps: fileChanges,
		Paths: policy.Match{Prefix: []string{"/bin/", "/boot/", "/etc/", "/lib/modules/", "/sbin/", "/usr/bin/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/sbin/"}},
	}},
	"kubectl-exec.yaml": {
		{Name: "shell-from-runtime", Event: policy.EventExec, Action: policy.ActionAudit, Workload: containers,
			Binary:       policy.Match{Suffix: shells},
			ParentBinary: policy.Match{Suffix: []string{"/conmon", "/containerd-shim-runc-v2", "/crun", "/runc"}}},
		{Name: "shell-in-container", Event: policy.EventExec, Action: policy.ActionAudit, Workload: containers,
			Rate: policy.Rate{PerSecond: 50, Burst: 200}, Binary: policy.Match{Suffix: shells}},
	},
	"lateral-movement.yaml": {{
		Name: "admin-ports-private-ranges", Event: policy.EventConnect, Action: policy.ActionAudit, CIDRs: privateRanges,
		Ports:    []policy.PortRange{{First: 22, Last: 22}, {First: 445, Last: 445}, {First: 3389, Last: 3389}, {First: 5985, Last: 5986}},
		Protocol: "tcp",
	}},
	"package-managers.yaml": {
		{Name: "compiler-in-container", Event: policy.EventExec, Action: policy.ActionAudit, Workload: containers,
			Binary: policy.Match{Suffix: []string{"/as", "/c++", "/cc", "/clang", "/clang++", "/g++", "/gcc", "/go", "/ld", "/make", "/rustc", "/tcc"}}},
		{Name: "package-manager-in-container", Event: policy.EventExec, Action: policy.ActionAudit, Workload: containers,
			Binary: policy.Match{Suffix: []string{"/apk", "/apt", "/apt-get", "/cargo", "/dnf", "/dpkg", "/gem", "/microdnf", "/npm", "/pip", "/pip3", "/rpm", "/yarn", "/yum", "/zypper"}}},
	},
	"privilege-escalation.yaml": {{
		Name: "setuid-root-outside-allow-list", Event: policy.EventPrivilegeChange, Action: policy.ActionAudit, ToUIDs: []uint32{0},
		ExceptBinary: policy.Match{Exact: []string{"/bin/login", "/bin/su", "/lib/systemd/systemd", "/usr/bin/chfn", "/usr/bin/chsh",
			"/usr/bin/doas", "/usr/bin/gpasswd", "/usr/bin/login", "/usr/bin/newgrp", "/usr/bin/passwd", "/usr/bin/su", "/usr/bin/sudo",
			"/usr/lib/openssh/sshd-session", "/usr/lib/systemd/systemd", "/usr/libexec/openssh/sshd-session", "/usr/sbin/cron",
			"/usr/sbin/crond", "/usr/sbin/sshd"}},
	}},
	"reverse-shell.yaml": {{
		Name: "shell-with-socket-stdio", Event: policy.EventExec, Action: policy.ActionKill, Signal: syscall.SIGKILL,
		Binary: policy.Match{Suffix: []string{"/ash", "/bash", "/busybox", "/dash", "/fish", "/ksh", "/sh", "/zsh"}}, StdioNetworkSocket: true,
	}},
	"sensitive-files.yaml": {
		{Name: "password-hashes", Event: policy.EventFile, Action: policy.ActionAudit, FileOps: openRead,
			Paths: policy.Match{Exact: []string{"/etc/gshadow", "/etc/gshadow-", "/etc/shadow", "/etc/shadow-"}},
			ExceptBinary: policy.Match{Exact: []string{"/sbin/unix_chkpwd", "/usr/bin/chage", "/usr/bin/login", "/usr/bin/passwd", "/usr/bin/su",
				"/usr/bin/sudo", "/usr/sbin/sshd", "/usr/sbin/unix_chkpwd"}}},
		{Name: "service-account-token", Event: policy.EventFile, Action: policy.ActionAudit, FileOps: openRead, Workload: containers,
			Rate:  policy.Rate{PerSecond: 10, Burst: 100},
			Paths: policy.Match{Prefix: []string{"/run/secrets/kubernetes.io/serviceaccount/", "/var/run/secrets/kubernetes.io/serviceaccount/"}}},
		{Name: "ssh-keys", Event: policy.EventFile, Action: policy.ActionAudit, FileOps: openRead,
			Paths:        policy.Match{Prefix: []string{"/etc/ssh/ssh_host_", "/root/.ssh/"}},
			ExceptBinary: policy.Match{Exact: []string{"/usr/lib/openssh/sshd-session", "/usr/libexec/openssh/sshd-session", "/usr/sbin/sshd"}}},
	},
}

// TestEveryPolicy compiles each file alone and checks its rules, field by field.
func TestEveryPolicy(t *testing.T) {
	files, err := policy.Files(".")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	wantNames := make([]string, 0, len(want))
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	require.Equal(t, wantNames, names, "every file has its expectations")

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			set, err := policy.Load(name)
			require.NoError(t, err)
			rules := slices.Clone(want[name])
			for i := range rules {
				rules[i].ID = uint32(i + 1)
				rules[i].Policy = strings.TrimSuffix(name, ".yaml")
				rules[i].Source = name + "#1"
				rules[i].Mode = policy.ModeEnforce
			}
			if diff := cmp.Diff(rules, set.Rules, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			// The header documents it: what it detects or prevents, the event, the action and
			// the backend.
			data, err := os.ReadFile(name)
			require.NoError(t, err)
			for _, s := range []string{"# Event: ", "Action: ", "Backend: "} {
				assert.Contains(t, string(data), s)
			}
		})
	}
}

// TestTheLibraryIsOneSet: all policies load together (no conflicts, within the limits), as
// the distribution ships them.
func TestTheLibraryIsOneSet(t *testing.T) {
	set, err := policy.Load(".")
	require.NoError(t, err)
	n := 0
	for _, rs := range want {
		n += len(rs)
	}
	assert.Len(t, set.Rules, n)
	for i, r := range set.Rules {
		assert.Equal(t, uint32(i+1), r.ID)
	}
}

// TestREADMEListsEveryPolicy: the README's table has a row per file.
func TestREADMEListsEveryPolicy(t *testing.T) {
	data, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for name := range want {
		assert.Contains(t, string(data), "| ["+name+"]("+name+") |", name)
	}
}
