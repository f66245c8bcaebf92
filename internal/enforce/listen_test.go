package enforce

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// listenEnv makes the test binary a listener: with OTELSEC_TEST_LISTEN=addr it listens on addr
// and exits 0, or 3 when listen fails (a denied listen). The listen rules act on this child,
// not on the test process.
const listenEnv = "OTELSEC_TEST_LISTEN"

// listenExitDenied is the child's exit status when listen() failed.
const listenExitDenied = 3

// listenHelper listens on addr and exits 0, or listenExitDenied when listen fails with EPERM.
func listenHelper(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			os.Exit(listenExitDenied)
		}
		os.Exit(4)
	}
	l.Close()
	os.Exit(0)
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) uint16 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return netip.MustParseAddrPort(l.Addr().String()).Port()
}

// listenChild runs the test binary as a listener on 127.0.0.1:port.
func listenChild(port uint16) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), listenEnv+"=127.0.0.1:"+strconv.Itoa(int(port)))
	return cmd
}

func testListen(t *testing.T, e *env) {
	loopbackUp(t)
	hook := HookListenTP
	if e.enf.hooks[HookListenLSM] {
		hook = HookListenLSM
	}
	if !e.enf.hooks[hook] {
		t.Skip("this kernel has neither BPF LSM nor tp_btf: no listen backend")
	}
	watched, other := freePort(t), freePort(t)

	audit := rule(1, "audit-listen", policy.EventListen, policy.ActionAudit)
	audit.Ports = []policy.PortRange{{First: watched, Last: watched}}
	audit.Protocol = "tcp"
	audit.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 1, Rules: []policy.Rule{audit}}))
	cmd := listenChild(watched)
	require.NoError(t, cmd.Run())
	d := e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, uint32(1), d.RuleID)
	assert.Equal(t, uint8(hook), d.Hook)
	assert.Equal(t, uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED), d.Outcome)
	assert.True(t, d.HasAddr)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Addr)
	assert.Equal(t, watched, d.Port)
	assert.Equal(t, uint16(syscall.IPPROTO_TCP), d.Protocol)
	cmd = listenChild(other)
	require.NoError(t, cmd.Run())
	e.none(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })

	// deny: EPERM with BPF LSM; without it an error unless it may kill.
	deny := rule(1, "deny-listen", policy.EventListen, policy.ActionDeny)
	deny.Ports = audit.Ports
	if hook == HookListenTP {
		err := e.enf.Apply(&policy.Set{Generation: 2, Rules: []policy.Rule{deny}})
		require.ErrorContains(t, err, "fallback: kill")
		deny.FallbackKill = true
	}
	require.NoError(t, e.enf.Apply(&policy.Set{Generation: 3, Rules: []policy.Rule{deny}}))
	cmd = listenChild(watched)
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	want := uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED)
	if hook == HookListenLSM {
		assert.Equal(t, listenExitDenied, ee.ExitCode(), "listen() fails with EPERM")
	} else {
		killed(t, err)
		want = uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED)
	}
	d = e.wait(t, func(d *sensor.Decision) bool { return d.TGID == uint32(cmd.Process.Pid) })
	assert.Equal(t, want, d.Outcome)
	assert.Equal(t, uint64(3), d.Generation)
	assert.Equal(t, watched, d.Port)
	require.NoError(t, listenChild(other).Run(), "another port still listens")
}
