package schema

// EventPolicyDecision is a runtime policy rule's decision on one operation (internal/enforce).
const EventPolicyDecision = "policy.decision"

// Policy decision attributes.
const (
	SecurityRuleName    = "security_rule.name"
	SecurityRuleRuleset = "security_rule.ruleset.name"

	PolicyAction     = "otelsec.policy.action"
	PolicyMode       = "otelsec.policy.mode"
	PolicyBackend    = "otelsec.policy.backend"
	PolicyOutcome    = "otelsec.policy.outcome"
	PolicyEvent      = "otelsec.policy.event"
	PolicyGeneration = "otelsec.policy.generation"
	PolicySource     = "otelsec.policy.source"
	PolicyRuleID     = "otelsec.policy.rule_id"
	PolicyExecPath   = "otelsec.policy.exec.path"
	PolicyFileOps    = "otelsec.policy.file.operations"
	PolicyPathTrunc  = "otelsec.policy.path.truncated"
	PolicyPathNew    = "otelsec.policy.path.new"
)

var policyEvents = []string{EventPolicyDecision}

func init() {
	All = append(All,
		Attribute{Name: SecurityRuleName, Type: String, Events: policyEvents, Presence: "when the rule's policy set is still known to the receiver", Source: "the policy extension's set: policy name / rule name", Example: "deny-metadata/imds", Description: "The rule that decided: its policy's name (namespace/name for a RuntimePolicyNamespaced) and its own name.", ECS: "rule.name", CIM: "signature"},
		Attribute{Name: SecurityRuleRuleset, Type: String, Events: policyEvents, Presence: "as security_rule.name", Source: "the policy extension's set", Example: "deny-metadata", Description: "The policy the rule belongs to.", ECS: "rule.ruleset"},
		Attribute{Name: PolicyAction, Type: String, Events: policyEvents, Presence: "always", Source: "kernel: the rule's action", Example: "deny", Description: "audit, deny, kill or signal."},
		Attribute{Name: PolicyMode, Type: String, Events: policyEvents, Presence: "always", Source: "kernel: the rule's mode", Example: "enforce", Description: "enforce (carried out) or monitor (reported only: the outcome says what would have happened)."},
		Attribute{Name: PolicyBackend, Type: String, Events: policyEvents, Presence: "always", Source: "kernel: the hook that evaluated the rule, chosen per kernel and rule", Example: "cgroup/connect4,connect6", Description: "lsm/bprm_check_security, lsm/file_open, lsm/socket_connect, lsm/socket_bind, lsm/socket_sendmsg, lsm/task_fix_setuid, lsm/path_unlink,path_rename,path_chmod,path_chown,path_truncate,path_link,path_symlink,path_mkdir,path_rmdir (deny: the operation fails with EPERM); cgroup/connect4,connect6, cgroup/bind4,bind6, cgroup/sendmsg4,sendmsg6 (deny: EPERM); tp_btf/sched_process_exec (kill and signal after the exec committed, before the new image runs); tracepoint/syscalls/sys_exit_setuid,setreuid,setresuid,setfsuid (kill and signal after the uid changed, before the process runs again). The otelsec.policy.rules metric joins a file rule's two backends with \" + \"."},
		Attribute{Name: PolicyOutcome, Type: String, Events: policyEvents, Presence: "always", Source: "kernel: what the hook did", Example: "denied", Description: "audited, denied, killed, signaled; in monitor mode would_deny, would_kill, would_signal; signal_failed when the kernel refused the signal (an exiting task).", CIM: "policy_outcome"},
		Attribute{Name: PolicyEvent, Type: String, Events: policyEvents, Presence: "always", Source: "kernel: the hook", Example: "network.connect", Description: "The operation decided on: process.exec, file, network.connect, network.bind, network.send, process.privilege_change."},
		Attribute{Name: PolicyGeneration, Type: Int, Events: policyEvents, Presence: "always", Source: "kernel: the generation of the set whose rule decided", Example: "3", Description: "Increases with every policy set the extension publishes."},
		Attribute{Name: PolicySource, Type: String, Events: policyEvents, Presence: "as security_rule.name", Source: "the policy extension's set", Example: "/etc/otelsec/policies/imds.yaml#0", Description: "Where the rule came from: a file and document index, or crd."},
		Attribute{Name: PolicyRuleID, Type: Int, Events: policyEvents, Presence: "always", Source: "kernel", Example: "2", Description: "The rule's number within its set (1-based)."},
		Attribute{Name: PolicyExecPath, Type: String, Events: policyEvents, Presence: "process.exec decisions", Source: "kernel: the exec's binary (linux_binprm's file), resolved by a dentry walk", Example: "/tmp/xmrig", Description: "The program being executed; the process.* attributes describe the process that executed it, as it was before the exec (every exec backend decides before the process sensor records the new image)."},
		Attribute{Name: PolicyFileOps, Type: StringSlice, Events: policyEvents, Presence: "file decisions", Source: "kernel: the open's mode and flags at lsm/file_open; the path hook (lsm/path_*)", Example: `["open","write","truncate"]`, Description: "open, read, write, create, truncate (lsm/file_open: an open and its intents); unlink, rename, chmod, chown, truncate, link (also symlink), mkdir, rmdir (the path hooks: one each)."},
		Attribute{Name: PolicyPathTrunc, Type: Bool, Events: policyEvents, Presence: "when true", Source: "kernel", Example: "true", Description: "The path is longer than the 255 bytes a decision carries; its beginning is kept."},
		Attribute{Name: PolicyPathNew, Type: Bool, Events: policyEvents, Presence: "when true", Source: "kernel: lsm/path_rename, lsm/path_link", Example: "true", Description: "A rename or link decided on its new name: file.path is the new name (the old one matched no rule). Otherwise file.path is the old name."},
	)
	shared = append(shared,
		Attribute{Name: FilePath, Type: String, Events: policyEvents, Presence: "file decisions", Source: "kernel: the opened file's struct path at lsm/file_open, the dentry under its directory's mount at the path hooks (first 255 bytes)"},
		Attribute{Name: ProcessRealUserID, Type: Int, Events: policyEvents, Presence: "process.privilege_change decisions", Source: "kernel: the new cred uid (lsm/task_fix_setuid: the one asked for)"},
		Attribute{Name: FSUserID, Type: Int, Events: policyEvents, Presence: "process.privilege_change decisions, when it differs from process.user.id", Source: "kernel: the new cred fsuid"},
		Attribute{Name: PrevUserID, Type: Int, Events: policyEvents, Presence: "process.privilege_change decisions", Source: "kernel: cred euid before the change", Description: "process.user.id is the new euid."},
		Attribute{Name: PrevRealUserID, Type: Int, Events: policyEvents, Presence: "process.privilege_change decisions", Source: "kernel: cred uid before the change"},
		Attribute{Name: PrevFSUserID, Type: Int, Events: policyEvents, Presence: "process.privilege_change decisions, when it differs from otelsec.process.credentials.previous.user.id", Source: "kernel: cred fsuid before the change"},
		Attribute{Name: DestinationAddress, Type: String, Events: policyEvents, Presence: "network decisions", Source: "kernel: the address given to connect, bind or sendmsg (for bind, the local address)"},
		Attribute{Name: DestinationPort, Type: Int, Events: policyEvents, Presence: "network decisions", Source: "kernel: as destination.address"},
		Attribute{Name: NetworkTransport, Type: String, Events: policyEvents, Presence: "network decisions of TCP or UDP sockets", Source: "kernel: the socket's protocol"},
		Attribute{Name: NetworkType, Type: String, Events: policyEvents, Presence: "network decisions", Source: "kernel: the address family"},
	)
	Events = append(Events, Event{
		Name:    EventPolicyDecision,
		Meaning: "a runtime policy rule matched an operation: audited, denied, killed or signaled (or, in monitor mode, would have been)",
		ECSKind: "alert", ECSCategory: []string{"intrusion_detection"}, ECSType: []string{"info"}, ECSAction: "policy_decision",
		CIMDataModel: "Intrusion_Detection", CIMTags: []string{"ids", "attack"},
	})
}
