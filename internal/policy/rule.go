// Package policy is otelsec's runtime policy model: the documents users write
// (RuntimePolicy, RuntimePolicyNamespaced, apiVersion otelsec.io/v1alpha1), their decoding and
// validation, and the compiled rules the enforcer (internal/enforce) loads into the kernel.
//
// This file is the contract between the policy side (documents → Set) and the kernel side
// (Set → BPF maps): a Set is validated and normalized, so the enforcer never re-checks syntax,
// only what this kernel can honour.
package policy

import (
	"net/netip"
	"syscall"
)

// Event is the operation a rule acts on.
type Event string

const (
	EventExec            Event = "process.exec"
	EventFile            Event = "file" // the operations are Rule.FileOps
	EventConnect         Event = "network.connect"
	EventBind            Event = "network.bind"
	EventListen          Event = "network.listen"
	EventSend            Event = "network.send"
	EventPrivilegeChange Event = "process.privilege_change"
)

// Action is what a matching rule does.
type Action string

const (
	ActionAudit    Action = "audit"    // emit an event tagged with the rule
	ActionDeny     Action = "deny"     // the operation fails with EPERM
	ActionKill     Action = "kill"     // SIGKILL the process
	ActionSignal   Action = "signal"   // send Rule.Signal to the process
	ActionSuppress Action = "suppress" // process.exec: mute the process (its events are dropped in the kernel)
)

// Mode says whether a rule's action is carried out.
type Mode string

const (
	ModeEnforce Mode = "enforce" // do it
	ModeMonitor Mode = "monitor" // report what would have happened, change nothing
)

// FileOps is a set of file operations, one bit each.
type FileOps uint32

const (
	FileOpen FileOps = 1 << iota // any open; FileRead/FileWrite narrow it by intent
	FileRead
	FileWrite
	FileCreate
	FileUnlink
	FileRename
	FileChmod
	FileChown
	FileTruncate
	FileLink
	FileMkdir
	FileRmdir
)

// Match matches a string (a binary or file path) exactly, by prefix or by suffix; a value
// matches when any list matches. An empty Match matches everything.
type Match struct {
	Exact  []string
	Prefix []string
	Suffix []string
}

// Empty reports whether m places no constraint.
func (m Match) Empty() bool { return len(m.Exact) == 0 && len(m.Prefix) == 0 && len(m.Suffix) == 0 }

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct{ First, Last uint16 }

// Rate bounds how often a rule acts: at most PerSecond on average with bursts of Burst.
// The zero Rate is unlimited.
type Rate struct{ PerSecond, Burst uint32 }

// Workload selects the processes a rule applies to. The zero Workload selects every process.
// Selectors other than Host and CgroupPaths are resolved by the enforcer to cgroup ids from
// the node's pod cache (internal/k8s) and kept current as pods come and go.
type Workload struct {
	// Host selects processes outside any container.
	Host bool
	// Containers (added by the policy side, additive) selects processes in any container,
	// the complement of Host: `workloads: {containers: true}` or an empty `podSelector: {}`
	// ("every pod", which an empty PodSelector string cannot tell from "every process").
	Containers bool
	// Namespaces are Kubernetes namespaces (a RuntimePolicyNamespaced has exactly its own).
	Namespaces []string
	// PodSelector is a Kubernetes label selector in its string form ("app=web,tier!=db");
	// empty selects every pod.
	PodSelector string
	// ContainerNames and Images (repository with optional tag, or @digest) narrow further.
	ContainerNames []string
	Images         []string
	// CgroupPaths are cgroup v2 paths relative to the hierarchy root: a process is selected
	// when its cgroup is one of them or below one (for hosts without Kubernetes, and tests).
	CgroupPaths []string
}

// All reports whether the workload selects every process on the node.
func (w Workload) All() bool {
	return !w.Host && !w.Containers && len(w.Namespaces) == 0 && w.PodSelector == "" && len(w.ContainerNames) == 0 &&
		len(w.Images) == 0 && len(w.CgroupPaths) == 0
}

// Rule is one compiled rule. Every selector that is set must match (AND); the values in one
// selector are alternatives (OR).
type Rule struct {
	// ID is the rule's index in Set.Rules plus one: small, dense, stable within a set.
	ID uint32
	// Policy is the policy's name ("namespace/name" for a RuntimePolicyNamespaced), Name the
	// rule's name, unique within its policy. security_rule.name is Policy + "/" + Name.
	Policy string
	Name   string
	// Source names where the rule came from: "file.yaml#2" (document index) or "crd".
	Source string

	Event  Event
	Action Action
	Signal syscall.Signal // for ActionSignal; SIGKILL for ActionKill
	Mode   Mode
	// FallbackKill allows a deny that no backend on this kernel can honour to kill instead.
	FallbackKill bool
	Rate         Rate

	Workload Workload

	// Process selectors (any event).
	Binary       Match
	ParentBinary Match
	ArgsContain  []string // every string must occur in the command line (exec only)
	UIDs         []uint32 // real uid
	EUIDs        []uint32
	Capabilities []string // "CAP_SYS_ADMIN": the process has any of them (effective)
	// ExceptBinary (added by the policy side, additive): the rule does not apply when the
	// process's binary matches it (an allow list, e.g. setuid to 0 except by sudo). Empty
	// excepts nothing. An enforcer that cannot honour it must reject the rule, not ignore it.
	ExceptBinary Match
	// StdioNetworkSocket (added by the policy side, additive; exec only): the rule applies
	// only when the process's stdin, stdout or stderr is an AF_INET/AF_INET6 socket (a
	// reverse shell). Unix sockets do not count: sshd gives non-pty sessions a socketpair.
	// An enforcer that cannot honour it must reject the rule, not ignore it.
	StdioNetworkSocket bool

	// File selectors (EventFile).
	FileOps FileOps
	Paths   Match // Exact and Prefix only

	// Network selectors (EventConnect, EventBind, EventListen, EventSend).
	CIDRs    []netip.Prefix
	Ports    []PortRange
	Protocol string // "tcp", "udp" or "" for both

	// Privilege selectors (EventPrivilegeChange): the new uid is one of ToUIDs. A change to X
	// is a setuid-family call after which the real, effective or filesystem uid is X and was
	// not X before (the saved uid alone does not count). Empty: every change. UIDs, EUIDs and
	// the binary selectors match the process before the change.
	ToUIDs []uint32
}

// SecurityRuleName is the rule's name as events carry it (security_rule.name).
func (r *Rule) SecurityRuleName() string { return r.Policy + "/" + r.Name }

// Set is a complete, validated policy set: it applies as a whole or not at all.
type Set struct {
	// Generation increases with every set a Source publishes.
	Generation uint64
	Rules      []Rule
}

// Source publishes policy sets; the runtimepolicy extension is one. The receiver subscribes
// and applies each set to the kernel.
type Source interface {
	// Subscribe calls apply with the current set (when there is one) and then with every new
	// set, one call at a time. When apply returns an error the source reports that set as
	// failed (log, metrics, policy status) and the previous set stays in force. The returned
	// function unsubscribes.
	Subscribe(apply func(*Set) error) (unsubscribe func())
}
