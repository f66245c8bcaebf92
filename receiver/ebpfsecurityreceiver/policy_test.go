package ebpfsecurityreceiver

// The receiver with policy enforcement on this kernel: a policy source (a small in-test
// implementation of policy.Source; the runtimepolicy extension is another) publishes sets, the
// kernel enforces them, and the decisions arrive as policy.decision log records with every
// attribute asserted.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/enforce"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// testSource is a policy.Source extension that publishes what the test gives it.
type testSource struct {
	mu     sync.Mutex
	apply  func(*policy.Set) error
	subs   int
	unsubs int
}

func (s *testSource) Start(context.Context, component.Host) error { return nil }
func (s *testSource) Shutdown(context.Context) error              { return nil }

func (s *testSource) Subscribe(apply func(*policy.Set) error) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apply = apply
	s.subs++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.apply = nil
		s.unsubs++
	}
}

func (s *testSource) publish(set *policy.Set) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apply == nil {
		return errors.New("no subscriber")
	}
	return s.apply(set)
}

type extHost struct {
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

var policyExtID = component.MustNewID("runtimepolicy")

func startPolicyHarness(t *testing.T, src component.Component) *harness {
	t.Helper()
	requireRoot(t)
	cfg := createDefaultConfig().(*Config)
	cfg.RingBuffer.FlushInterval = 20 * time.Millisecond
	cfg.CollectionInterval = 50 * time.Millisecond
	id := policyExtID
	cfg.Policy.Extension = &id
	require.NoError(t, cfg.Validate())
	core, logged := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	h := &harness{t: t, cfg: cfg, logs: new(consumertest.LogsSink), metrics: new(consumertest.MetricsSink), logged: logged}
	lr, err := NewFactory().CreateLogs(context.Background(), set, cfg, h.logs)
	require.NoError(t, err)
	mr, err := NewFactory().CreateMetrics(context.Background(), set, cfg, h.metrics)
	require.NoError(t, err)
	h.comps = []component.Component{lr, mr}
	for _, c := range h.comps {
		require.NoError(t, c.Start(context.Background(), extHost{map[component.ID]component.Component{policyExtID: src}}))
	}
	t.Cleanup(h.stop)
	return h
}

func copyBinary(t *testing.T, src, dir string) string {
	src, err := filepath.EvalSymlinks(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, filepath.Base(src))
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	dst, err = filepath.EvalSymlinks(dst)
	require.NoError(t, err)
	return dst
}

func TestPolicyEnforcement(t *testing.T) {
	src := &testSource{}
	h := startPolicyHarness(t, src)
	r := h.receiver()
	require.NotNil(t, r.enforcer)
	hooks := map[enforce.Hook]bool{}
	for _, hk := range r.enforcer.Hooks() {
		hooks[hk] = true
	}
	if !hooks[enforce.HookExecTP] {
		t.Skip("this kernel has no tp_btf: no exec kill backend")
	}
	netHook := enforce.HookConnectLSM
	if !hooks[netHook] {
		netHook = enforce.HookConnectCG
	}
	if !hooks[netHook] {
		t.Skip("this kernel has neither BPF LSM nor cgroup sock_addr hooks")
	}

	dir := t.TempDir()
	touch := copyBinary(t, "/bin/touch", dir)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := netip.MustParseAddrPort(l.Addr().String())

	kill := policy.Rule{ID: 1, Policy: "miners", Name: "kill-touch", Source: "test.yaml#0", Event: policy.EventExec,
		Action: policy.ActionKill, Signal: syscall.SIGKILL, Mode: policy.ModeEnforce, Binary: policy.Match{Exact: []string{touch}}}
	deny := policy.Rule{ID: 2, Policy: "egress", Name: "deny-port", Source: "test.yaml#1", Event: policy.EventConnect,
		Action: policy.ActionDeny, Mode: policy.ModeEnforce, Protocol: "tcp",
		CIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Ports: []policy.PortRange{{First: target.Port(), Last: target.Port()}}}
	require.NoError(t, src.publish(&policy.Set{Generation: 1, Rules: []policy.Rule{kill, deny}}))

	marker := filepath.Join(dir, "created")
	cmd := exec.Command(touch, marker)
	require.Error(t, cmd.Run())
	_, err = os.Stat(marker)
	require.True(t, os.IsNotExist(err), "the killed binary's side effect happened")

	e := h.await(schema.EventPolicyDecision, cmd.Process.Pid)
	checkSchema(t, e)
	assert.Equal(t, "miners/kill-touch", e.str(schema.SecurityRuleName))
	assert.Equal(t, "miners", e.str(schema.SecurityRuleRuleset))
	assert.Equal(t, "test.yaml#0", e.str(schema.PolicySource))
	assert.Equal(t, "kill", e.str(schema.PolicyAction))
	assert.Equal(t, "enforce", e.str(schema.PolicyMode))
	assert.Equal(t, "tp_btf/sched_process_exec", e.str(schema.PolicyBackend))
	assert.Equal(t, "killed", e.str(schema.PolicyOutcome))
	assert.Equal(t, "process.exec", e.str(schema.PolicyEvent))
	assert.Equal(t, int64(1), e.int(schema.PolicyGeneration))
	assert.Equal(t, int64(1), e.int(schema.PolicyRuleID))
	assert.Equal(t, touch, e.str(schema.PolicyExecPath))
	assert.NotEmpty(t, e.str(schema.ExecID))

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()})
	unix.Close(fd)
	require.ErrorIs(t, err, unix.EPERM)

	n := h.await(schema.EventPolicyDecision, os.Getpid())
	checkSchema(t, n)
	assert.Equal(t, "egress/deny-port", n.str(schema.SecurityRuleName))
	assert.Equal(t, "deny", n.str(schema.PolicyAction))
	assert.Equal(t, "denied", n.str(schema.PolicyOutcome))
	assert.Equal(t, netHook.String(), n.str(schema.PolicyBackend))
	assert.Equal(t, "network.connect", n.str(schema.PolicyEvent))
	assert.Equal(t, "127.0.0.1", n.str(schema.DestinationAddress))
	assert.Equal(t, int64(target.Port()), n.int(schema.DestinationPort))
	assert.Equal(t, "tcp", n.str(schema.NetworkTransport))
	assert.Equal(t, "ipv4", n.str(schema.NetworkType))
	assert.Equal(t, int64(2), n.int(schema.PolicyRuleID))

	// The rules and their backends are metrics too.
	require.Eventually(t, func() bool {
		rules := map[string]string{}
		for _, m := range h.metrics.AllMetrics() {
			for _, rm := range m.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, mt := range sm.Metrics().All() {
						if mt.Name() != "otelsec.policy.rules" {
							continue
						}
						for _, dp := range mt.Gauge().DataPoints().All() {
							name, _ := dp.Attributes().Get("security_rule.name")
							backend, _ := dp.Attributes().Get("otelsec.policy.backend")
							rules[name.Str()] = backend.Str()
						}
					}
				}
			}
		}
		return rules["miners/kill-touch"] == "tp_btf/sched_process_exec" && rules["egress/deny-port"] == netHook.String()
	}, 10*time.Second, 50*time.Millisecond, "otelsec.policy.rules")

	// A refused set leaves the previous one in force; a new one changes behaviour.
	bad := deny
	bad.Event = policy.EventListen
	require.Error(t, src.publish(&policy.Set{Generation: 2, Rules: []policy.Rule{kill, bad}}))
	require.Error(t, exec.Command(touch, marker).Run(), "the previous set stays in force")
	require.NoError(t, src.publish(&policy.Set{Generation: 3}))
	require.NoError(t, exec.Command(touch, marker).Run(), "the empty set enforces nothing")
	_, err = os.Stat(marker)
	require.NoError(t, err)

	ids := r.enforcer.ProgramIDs()
	require.NotEmpty(t, ids)
	h.stop()
	assert.Equal(t, 1, src.unsubs, "unsubscribed at shutdown")
	assert.Empty(t, loaded(ids), "enforcement programs left loaded after shutdown")
}

func TestPolicyExtensionErrors(t *testing.T) {
	requireRoot(t)
	for name, tc := range map[string]struct {
		exts map[component.ID]component.Component
		want string
	}{
		"missing":      {map[component.ID]component.Component{}, `no extension "runtimepolicy"`},
		"not a source": {map[component.ID]component.Component{policyExtID: extHost{}.asComponent()}, "does not publish policies"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			id := policyExtID
			cfg.Policy.Extension = &id
			lr, err := NewFactory().CreateLogs(context.Background(), receiverSettings(), cfg, new(consumertest.LogsSink))
			require.NoError(t, err)
			err = lr.Start(context.Background(), extHost{tc.exts})
			require.ErrorContains(t, err, tc.want)
			require.NoError(t, lr.Shutdown(context.Background()))
		})
	}
}

type plainComponent struct{}

func (plainComponent) Start(context.Context, component.Host) error { return nil }
func (plainComponent) Shutdown(context.Context) error              { return nil }

func (extHost) asComponent() component.Component { return plainComponent{} }

// TestPolicySuppress: a suppress rule mutes the shell it matches: no process.exec or
// process.exit log record for it, the kernel's suppressed counter as a metric, and a child it
// starts still has the muted shell as its parent (the exec record reached the process cache).
func TestPolicySuppress(t *testing.T) {
	src := &testSource{}
	h := startPolicyHarness(t, src)
	r := h.receiver()
	require.NotNil(t, r.enforcer)
	hooks := map[enforce.Hook]bool{}
	for _, hk := range r.enforcer.Hooks() {
		hooks[hk] = true
	}
	if !hooks[enforce.HookExecTP] {
		t.Skip("this kernel has no tp_btf: suppress rules are refused (they need tp_btf/sched_process_exec)")
	}
	dir := t.TempDir()
	sh := copyBinary(t, "/bin/sh", dir)
	truePath, err := filepath.EvalSymlinks("/bin/true")
	require.NoError(t, err)
	quiet := policy.Rule{ID: 1, Policy: "noise", Name: "quiet-probe", Source: "test.yaml#0", Event: policy.EventExec,
		Action: policy.ActionSuppress, Mode: policy.ModeEnforce, Binary: policy.Match{Exact: []string{sh}}}
	require.NoError(t, src.publish(&policy.Set{Generation: 1, Rules: []policy.Rule{quiet}}))

	// The muted shell runs true in a child (two commands: the shell forks, then exits itself).
	cmd := exec.Command(sh, "-c", truePath+"; exit 0")
	require.NoError(t, cmd.Run())
	pid := cmd.Process.Pid
	var child event
	require.Eventually(t, func() bool {
		for _, e := range h.events() {
			if e.rec.EventName() == schema.EventProcessExec && e.int(schema.ProcessParentPID) == int64(pid) {
				child = e
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no process.exec of the muted shell's child")
	assert.Equal(t, truePath, child.str(schema.ProcessExecutablePath))
	assert.Equal(t, sh, child.str(schema.ParentExecutablePath), "the cache knows the muted shell")
	// A later process's exit is handled after the shell's records (one ring buffer, in order).
	after := exec.Command(truePath)
	require.NoError(t, after.Run())
	h.await(schema.EventProcessExit, after.Process.Pid)
	assert.Empty(t, h.find(schema.EventProcessExec, pid), "the muted shell's exec is not emitted")
	assert.Empty(t, h.find(schema.EventProcessExit, pid), "the muted shell's exit is not emitted")
	assert.Empty(t, h.find(schema.EventPolicyDecision, pid), "suppress writes no decision")
	require.Eventually(t, func() bool {
		return metricSum(h, "otelsec.kernel.records.suppressed", "process.exec") >= 1 &&
			metricSum(h, "otelsec.kernel.records.suppressed", "process.exit") >= 1
	}, 10*time.Second, 50*time.Millisecond, "otelsec.kernel.records.suppressed")
	require.Eventually(t, func() bool { return metricValue(h, "otelsec.policy.processes.muted") == 1 },
		10*time.Second, 50*time.Millisecond, "otelsec.policy.processes.muted: the one shell")
}
