package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/enforce"
	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// PolicyConfig configures in-kernel policy enforcement.
type PolicyConfig struct {
	// Extension names the extension that publishes policy sets (type runtimepolicy); unset:
	// no policy is enforced.
	Extension *component.ID `mapstructure:"extension"`
	// ResolveInterval is how often the cgroups of workload selectors are resolved again (new
	// containers and cgroups), besides every change of the pod cache.
	ResolveInterval time.Duration `mapstructure:"resolve_interval"`
}

func defaultPolicyConfig() PolicyConfig { return PolicyConfig{ResolveInterval: 2 * time.Second} }

func (c *PolicyConfig) validate(bad func(field, format string, args ...any)) {
	if c.Extension != nil && c.Extension.Type().String() == "" {
		bad("policy::extension", "must name an extension, e.g. runtimepolicy")
	}
	if c.ResolveInterval <= 0 {
		bad("policy::resolve_interval", "must be positive; got %s", c.ResolveInterval)
	}
}

// startPolicy loads the enforcer and subscribes it to the configured policy source. The
// receiver's sensors are loaded.
func (r *ebpfReceiver) startPolicy(host component.Host) error {
	id := r.cfg.Policy.Extension
	if id == nil {
		return nil
	}
	ext, ok := host.GetExtensions()[*id]
	if !ok {
		return fmt.Errorf("policy::extension: no extension %q is configured in the service", id.String())
	}
	src, ok := ext.(policy.Source)
	if !ok {
		return fmt.Errorf("policy::extension: extension %q does not publish policies (it is a %T)", id.String(), ext)
	}
	// Workload selectors naming pods resolve through the node's pod cache, shared with the
	// other components that use one; without a cluster, such rules are refused.
	var pods enforce.PodSource
	h, err := k8s.Acquire(context.Background(), k8s.Key{APIConfig: k8s.APIConfig{AuthType: k8s.AuthAuto}, NodeName: r.node.name}, 0, r.logger)
	switch {
	case err == nil:
		pods, r.pods = h, h
	case errors.Is(err, k8s.ErrNoCluster):
	default:
		r.logger.Warn("No pod cache for policy workload selectors: rules that select pods will be refused", zap.Error(err))
	}
	enf, err := enforce.Load(r.sensors, sensor.CapabilitiesOf(r.features), enforce.Options{
		Logger:          r.logger.With(zap.String("policy_extension", id.String())),
		Pods:            pods,
		ResolveInterval: r.cfg.Policy.ResolveInterval,
	})
	if err != nil {
		r.releasePods()
		return err
	}
	hooks := make([]string, 0)
	for _, h := range enf.Hooks() {
		hooks = append(hooks, h.String())
	}
	r.logger.Info("Policy enforcement attached", zap.String("extension", id.String()), zap.Strings("backends", hooks))
	r.enforcer = enf
	r.unsubscribe = src.Subscribe(enf.Apply)
	return nil
}

// stopPolicy unsubscribes and detaches the enforcement programs (the maps stay readable for
// the records still in the ring buffer until closePolicy).
func (r *ebpfReceiver) stopPolicy() error {
	if r.unsubscribe != nil {
		r.unsubscribe()
		r.unsubscribe = nil
	}
	if r.enforcer == nil {
		return nil
	}
	return r.enforcer.Detach()
}

func (r *ebpfReceiver) closePolicy() error {
	if r.enforcer == nil {
		return nil
	}
	err := r.enforcer.Close()
	r.enforcer = nil
	r.releasePods()
	return err
}

func (r *ebpfReceiver) releasePods() {
	if r.pods != nil {
		r.pods.Release()
		r.pods = nil
	}
}

var (
	policyActions = map[uint8]string{
		uint8(bpf.PolicyPolActionPOL_ACT_AUDIT): string(policy.ActionAudit), uint8(bpf.PolicyPolActionPOL_ACT_DENY): string(policy.ActionDeny),
		uint8(bpf.PolicyPolActionPOL_ACT_KILL): string(policy.ActionKill), uint8(bpf.PolicyPolActionPOL_ACT_SIGNAL): string(policy.ActionSignal),
		uint8(bpf.PolicyPolActionPOL_ACT_SUPPRESS): string(policy.ActionSuppress),
	}
	policyOutcomes = map[uint8]string{
		uint8(bpf.PolicyPolOutcomePOL_OUT_AUDITED): "audited", uint8(bpf.PolicyPolOutcomePOL_OUT_DENIED): "denied",
		uint8(bpf.PolicyPolOutcomePOL_OUT_KILLED): "killed", uint8(bpf.PolicyPolOutcomePOL_OUT_SIGNALED): "signaled",
		uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_DENY): "would_deny", uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_KILL): "would_kill",
		uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_SIGNAL): "would_signal", uint8(bpf.PolicyPolOutcomePOL_OUT_SIGNAL_FAILED): "signal_failed",
		uint8(bpf.PolicyPolOutcomePOL_OUT_WOULD_SUPPRESS): "would_suppress",
	}
	policyHookEvents = map[enforce.Hook]policy.Event{
		enforce.HookExecLSM: policy.EventExec, enforce.HookExecTP: policy.EventExec, enforce.HookFileLSM: policy.EventFile,
		enforce.HookConnectLSM: policy.EventConnect, enforce.HookConnectCG: policy.EventConnect,
		enforce.HookBindLSM: policy.EventBind, enforce.HookBindCG: policy.EventBind,
		enforce.HookSendLSM: policy.EventSend, enforce.HookSendCG: policy.EventSend,
		enforce.HookSetuidLSM: policy.EventPrivilegeChange, enforce.HookSetuidTP: policy.EventPrivilegeChange,
		enforce.HookPathLSM: policy.EventFile,
	}
	policyFileOps = []struct {
		op   policy.FileOps
		name string
	}{
		{policy.FileOpen, "open"}, {policy.FileRead, "read"}, {policy.FileWrite, "write"}, {policy.FileCreate, "create"},
		{policy.FileUnlink, "unlink"}, {policy.FileRename, "rename"}, {policy.FileChmod, "chmod"}, {policy.FileChown, "chown"},
		{policy.FileTruncate, "truncate"}, {policy.FileLink, "link"}, {policy.FileMkdir, "mkdir"}, {policy.FileRmdir, "rmdir"},
	}
)

var errNoEnforcer = errors.New("policy decision record without an enforcer")

// handlePolicy decodes a decision record and appends its policy.decision event.
func (r *ebpfReceiver) handlePolicy(raw []byte, b *batch, m *mapper) error {
	var d sensor.Decision
	if err := sensor.DecodeDecision(raw, &d); err != nil {
		return err
	}
	return r.emitDecision(&d, r.cache.Get(d.TGID), b, m)
}

// emitDecision appends the policy.decision event of d, taken by process p (as it was when the
// kernel decided: before the exec for exec decisions).
func (r *ebpfReceiver) emitDecision(d *sensor.Decision, p *proctree.Process, b *batch, m *mapper) error {
	enf := r.enforcer
	if enf == nil {
		return errNoEnforcer
	}
	lr := m.event(b, s.EventPolicyDecision, d.KTime, d.TGID, p, d.Comm)
	a := lr.Attributes()
	hook := enforce.Hook(d.Hook)
	action, outcome := policyActions[d.Action], policyOutcomes[d.Outcome]
	mode := string(policy.ModeEnforce)
	if d.RuleFlags&uint8(bpf.PolicyPolRuleFlagsPOL_MONITOR) != 0 {
		mode = string(policy.ModeMonitor)
	}
	event := string(policyHookEvents[hook])
	a.PutStr(s.PolicyAction, action)
	a.PutStr(s.PolicyMode, mode)
	a.PutStr(s.PolicyBackend, hook.String())
	a.PutStr(s.PolicyOutcome, outcome)
	a.PutStr(s.PolicyEvent, event)
	a.PutInt(s.PolicyGeneration, int64(d.Generation))
	a.PutInt(s.PolicyRuleID, int64(d.RuleID))
	name := "rule " + strconv.FormatUint(uint64(d.RuleID), 10) + " of policy set " + strconv.FormatUint(d.Generation, 10)
	if rule, _, ok := enf.Decision(d.Generation, d.RuleID); ok {
		name = rule.SecurityRuleName()
		a.PutStr(s.SecurityRuleName, name)
		a.PutStr(s.SecurityRuleRuleset, rule.Policy)
		if rule.Source != "" {
			a.PutStr(s.PolicySource, rule.Source)
		}
	}
	target := ""
	if d.HasPath {
		switch policyHookEvents[hook] {
		case policy.EventExec:
			a.PutStr(s.PolicyExecPath, d.Path)
			target = d.Path
		case policy.EventPrivilegeChange:
			// the binary making the change, as the kernel saw it
			a.PutStr(s.ProcessExecutablePath, d.Path)
			a.PutStr(s.ProcessExecutableName, path.Base(d.Path))
		default:
			a.PutStr(s.FilePath, d.Path)
			target = d.Path
		}
		if d.PathTrunc {
			a.PutBool(s.PolicyPathTrunc, true)
		}
		if d.PathNew {
			a.PutBool(s.PolicyPathNew, true)
		}
	}
	if d.HasCreds {
		// The process as it is after the change; the previous credentials beside.
		a.PutInt(s.ProcessUserID, int64(d.EUID))
		a.PutInt(s.ProcessRealUserID, int64(d.UID))
		if d.FSUID != d.EUID {
			a.PutInt(s.FSUserID, int64(d.FSUID))
		}
		a.PutInt(s.PrevUserID, int64(d.OldEUID))
		a.PutInt(s.PrevRealUserID, int64(d.OldUID))
		if d.OldFSUID != d.OldEUID {
			a.PutInt(s.PrevFSUserID, int64(d.OldFSUID))
		}
		target = fmt.Sprintf("uid %d euid %d -> uid %d euid %d", d.OldUID, d.OldEUID, d.UID, d.EUID)
	}
	if policyHookEvents[hook] == policy.EventFile {
		ops := a.PutEmptySlice(s.PolicyFileOps)
		for _, op := range policyFileOps {
			if policy.FileOps(d.FileOps)&op.op != 0 {
				ops.AppendEmpty().SetStr(op.name)
			}
		}
	}
	if d.HasAddr {
		a.PutStr(s.DestinationAddress, d.Addr.String())
		a.PutInt(s.DestinationPort, int64(d.Port))
		switch d.Protocol {
		case unix.IPPROTO_TCP:
			a.PutStr(s.NetworkTransport, "tcp")
		case unix.IPPROTO_UDP:
			a.PutStr(s.NetworkTransport, "udp")
		}
		if d.Addr.Is4() {
			a.PutStr(s.NetworkType, "ipv4")
		} else {
			a.PutStr(s.NetworkType, "ipv6")
		}
		target = netip.AddrPortFrom(d.Addr, d.Port).String()
	}
	lr.Body().SetStr(fmt.Sprintf("%s %s %s by %s (%s, pid %d)", outcome, event, target, name, hook, d.TGID))
	r.emitted.inc(s.EventPolicyDecision)
	return nil
}

// emitPolicyMetrics records the enforcer's rules, sets and counters.
func (r *ebpfReceiver) emitPolicyMetrics(mb *metadata.MetricsBuilder, now pcommon.Timestamp) {
	enf := r.enforcer
	if enf == nil {
		return
	}
	for _, a := range enf.Attachments() {
		mb.RecordOtelsecSensorHooksDataPoint(now, 1, a.Event, a.String())
	}
	for _, rs := range enf.Rules() {
		mb.RecordOtelsecPolicyRulesDataPoint(now, 1, rs.Name, rs.Backends())
	}
	applied, refused := enf.Sets()
	mb.RecordOtelsecPolicySetsDataPoint(now, int64(applied), metadata.AttributeSetOutcomeApplied)
	mb.RecordOtelsecPolicySetsDataPoint(now, int64(refused), metadata.AttributeSetOutcomeRefused)
	if st, err := enf.Stats(); err == nil {
		mb.RecordOtelsecPolicyDecisionsRateLimitedDataPoint(now, int64(st.RateLimited))
		mb.RecordOtelsecPolicyProcessesMutedDataPoint(now, int64(st.Muted))
		mb.RecordOtelsecPolicyLimitsDataPoint(now, int64(st.Truncated), metadata.AttributeMatchLimitDecisions)
		mb.RecordOtelsecPolicyLimitsDataPoint(now, int64(st.PathUnmatchable), metadata.AttributeMatchLimitPath)
		mb.RecordOtelsecPolicyLimitsDataPoint(now, int64(st.ArgsTruncated), metadata.AttributeMatchLimitArgs)
	} else {
		r.logger.Warn("Reading the policy enforcer's counters failed", zap.Error(err))
	}
}
