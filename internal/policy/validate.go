package policy

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Capabilities are the Linux capability names a rule may select, in number order.
var Capabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// FileOperations maps the names of selectors.operations to FileOps.
var FileOperations = map[string]FileOps{
	"open": FileOpen, "read": FileRead, "write": FileWrite, "create": FileCreate, "unlink": FileUnlink,
	"rename": FileRename, "chmod": FileChmod, "chown": FileChown, "truncate": FileTruncate,
	"link": FileLink, "mkdir": FileMkdir, "rmdir": FileRmdir,
}

// AllFileOps is every file operation: a file rule without operations selects them all.
const AllFileOps = FileOpen | FileRead | FileWrite | FileCreate | FileUnlink | FileRename | FileChmod |
	FileChown | FileTruncate | FileLink | FileMkdir | FileRmdir

var events = []Event{EventExec, EventFile, EventConnect, EventBind, EventListen, EventSend, EventPrivilegeChange}

func isNetwork(e Event) bool {
	return e == EventConnect || e == EventBind || e == EventListen || e == EventSend
}

// validator collects the errors of one document.
type validator struct {
	p    *Policy
	errs Errors
}

func (v *validator) bad(field, format string, args ...any) {
	v.errs = append(v.errs, v.p.errorf(field, format, args...))
}

// validate checks one decoded document and returns its rules (without ids).
func (p *Policy) validate() ([]Rule, Errors) {
	v := &validator{p: p}
	if p.APIVersion != APIVersion {
		v.bad("apiVersion", "must be %s; got %q", APIVersion, p.APIVersion)
	}
	switch p.Kind {
	case KindCluster:
		if p.Metadata.Namespace != "" {
			v.bad("metadata.namespace", "must not be set: a RuntimePolicy is cluster-wide (use RuntimePolicyNamespaced)")
		}
	case KindNamespaced:
		if p.Metadata.Namespace == "" {
			v.bad("metadata.namespace", "is required for a RuntimePolicyNamespaced")
		} else {
			for _, m := range validation.IsDNS1123Label(p.Metadata.Namespace) {
				v.bad("metadata.namespace", "%s", m)
			}
		}
	default:
		v.bad("kind", "must be %s or %s; got %q", KindCluster, KindNamespaced, p.Kind)
	}
	if p.Metadata.Name == "" {
		v.bad("metadata.name", "is required")
	} else {
		for _, m := range validation.IsDNS1123Subdomain(p.Metadata.Name) {
			v.bad("metadata.name", "%s", m)
		}
	}
	mode := ModeEnforce
	switch Mode(p.Spec.Mode) {
	case "":
	case ModeEnforce, ModeMonitor:
		mode = Mode(p.Spec.Mode)
	default:
		v.bad("spec.mode", "must be enforce or monitor; got %q", p.Spec.Mode)
	}
	if len(p.Spec.Rules) == 0 {
		v.bad("spec.rules", "must hold at least one rule")
	}
	var rules []Rule
	names := map[string]int{}
	for i := range p.Spec.Rules {
		rs := &p.Spec.Rules[i]
		field := fmt.Sprintf("spec.rules[%d]", i)
		if j, dup := names[rs.Name]; dup && rs.Name != "" {
			v.bad(field+".name", "duplicate rule name %q (also spec.rules[%d])", rs.Name, j)
		}
		names[rs.Name] = i
		if r, ok := v.rule(field, rs, mode); ok {
			rules = append(rules, r)
		}
	}
	return rules, v.errs
}

// rule checks one rule; ok is false when it has errors.
func (v *validator) rule(field string, rs *RuleSpec, mode Mode) (Rule, bool) {
	n := len(v.errs)
	r := Rule{Policy: v.p.Name(), Name: rs.Name, Mode: mode}
	if v.p.File == SourceCRD {
		r.Source = SourceCRD
	} else {
		r.Source = v.p.File + "#" + strconv.Itoa(v.p.Index)
	}
	if rs.Name == "" {
		v.bad(field+".name", "is required")
	} else {
		for _, m := range validation.IsDNS1123Subdomain(rs.Name) {
			v.bad(field+".name", "%s", m)
		}
	}
	r.Event = Event(rs.Event)
	if !slices.Contains(events, r.Event) {
		v.bad(field+".event", "must be one of %s; got %q", joinEvents(), rs.Event)
	}
	switch Mode(rs.Mode) {
	case "":
	case ModeEnforce, ModeMonitor:
		r.Mode = Mode(rs.Mode)
	default:
		v.bad(field+".mode", "must be enforce or monitor; got %q", rs.Mode)
	}

	r.Action = Action(rs.Action)
	switch r.Action {
	case ActionAudit, ActionDeny, ActionSuppress:
	case ActionKill:
		r.Signal = syscall.SIGKILL
	case ActionSignal:
		if rs.Signal == "" {
			v.bad(field+".signal", "is required for action signal (a name such as SIGTERM)")
		} else if r.Signal = unix.SignalNum(rs.Signal); r.Signal == 0 {
			v.bad(field+".signal", "unknown signal %q (a name such as SIGTERM, SIGSTOP, SIGUSR1)", rs.Signal)
		}
	case "":
		v.bad(field+".action", "is required (audit, deny, kill, signal or suppress)")
	default:
		v.bad(field+".action", "must be audit, deny, kill, signal or suppress; got %q", rs.Action)
	}
	if r.Action == ActionSuppress && r.Event != EventExec && slices.Contains(events, r.Event) {
		v.bad(field+".action", "suppress applies to %s rules only (it mutes the process the exec starts: its later events are dropped in the kernel); got event %s", EventExec, r.Event)
	}
	if rs.Signal != "" && r.Action != ActionSignal {
		v.bad(field+".signal", "is only for action signal (action is %q)", rs.Action)
	}
	switch rs.Fallback {
	case "":
	case "kill":
		if r.Action != ActionDeny {
			v.bad(field+".fallback", "kill is only for action deny (action is %q)", rs.Action)
		}
		r.FallbackKill = true
	default:
		v.bad(field+".fallback", "must be kill; got %q", rs.Fallback)
	}
	if rl := rs.RateLimit; rl != nil {
		f := field + ".rateLimit"
		if rl.PerSecond < 1 || rl.PerSecond > 1_000_000 {
			v.bad(f+".perSecond", "must be between 1 and 1000000; got %d", rl.PerSecond)
		}
		burst := rl.Burst
		if burst == 0 {
			burst = rl.PerSecond
		}
		if burst < 1 || burst > 1_000_000 {
			v.bad(f+".burst", "must be between 1 and 1000000; got %d", rl.Burst)
		}
		r.Rate = Rate{PerSecond: uint32(max(rl.PerSecond, 0)), Burst: uint32(max(burst, 0))}
	}
	r.Workload = v.workload(field+".workloads", rs.Workloads)
	v.selectors(field+".selectors", &rs.Selectors, &r)
	return r, len(v.errs) == n
}

func joinEvents() string {
	s := make([]string, len(events))
	for i, e := range events {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func (v *validator) workload(field string, ws *WorkloadSpec) Workload {
	var w Workload
	namespaced := v.p.Kind == KindNamespaced
	if ws == nil {
		if namespaced {
			w.Namespaces = []string{v.p.Metadata.Namespace}
		}
		return w
	}
	w.Host = ws.Host
	w.Containers = ws.Containers || (ws.PodSelector != nil && len(ws.PodSelector.MatchLabels) == 0 && len(ws.PodSelector.MatchExpressions) == 0)
	if ws.Host && ws.Containers {
		v.bad(field+".containers", "host and containers exclude each other (omit workloads to select every process)")
	}
	if ws.Host && namespaced {
		v.bad(field+".host", "a RuntimePolicyNamespaced selects only pods of its namespace, not host processes")
	}
	if ws.Host && (len(ws.Namespaces) > 0 || ws.PodSelector != nil || len(ws.ContainerNames) > 0 || len(ws.Images) > 0) {
		v.bad(field+".host", "host processes have no namespace, pod, container name or image: select either host or pods")
	}
	for i, ns := range ws.Namespaces {
		f := fmt.Sprintf("%s.namespaces[%d]", field, i)
		if namespaced && ns != v.p.Metadata.Namespace {
			v.bad(f, "a RuntimePolicyNamespaced selects only its own namespace %q; got %q", v.p.Metadata.Namespace, ns)
			continue
		}
		for _, m := range validation.IsDNS1123Label(ns) {
			v.bad(f, "%s", m)
		}
	}
	w.Namespaces = sortedUnique(ws.Namespaces)
	if namespaced {
		w.Namespaces = []string{v.p.Metadata.Namespace}
	}
	if ws.PodSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(ws.PodSelector)
		if err != nil {
			v.bad(field+".podSelector", "%v", err)
		} else {
			w.PodSelector = sel.String()
		}
	}
	for i, c := range ws.ContainerNames {
		for _, m := range validation.IsDNS1123Label(c) {
			v.bad(fmt.Sprintf("%s.containerNames[%d]", field, i), "%s", m)
		}
	}
	w.ContainerNames = sortedUnique(ws.ContainerNames)
	for i, img := range ws.Images {
		if img == "" || strings.ContainsAny(img, " \t\n") {
			v.bad(fmt.Sprintf("%s.images[%d]", field, i), "must be an image reference (repository[:tag] or repository@digest); got %q", img)
		}
	}
	w.Images = sortedUnique(ws.Images)
	for i, c := range ws.CgroupPaths {
		if err := checkAbsPath(c); err != nil {
			v.bad(fmt.Sprintf("%s.cgroupPaths[%d]", field, i), "%v (a cgroup v2 path as /proc/PID/cgroup shows it, e.g. /system.slice/sshd.service)", err)
		}
	}
	w.CgroupPaths = sortedUnique(ws.CgroupPaths)
	return w
}

// checkAbsPath accepts an absolute, clean path; a trailing slash is kept (a prefix "/etc/"
// does not match "/etcd").
func checkAbsPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty pattern")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must be an absolute path; got %q", p)
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("must not contain a NUL byte")
	case len(p) > MaxPatternBytes:
		return fmt.Errorf("is %d bytes long, more than %d", len(p), MaxPatternBytes)
	}
	trimmed := p
	if len(p) > 1 {
		trimmed = strings.TrimSuffix(p, "/")
	}
	if path.Clean(trimmed) != trimmed {
		return fmt.Errorf("must be a clean path (no //, /./ or /../); got %q, did you mean %q", p, path.Clean(p))
	}
	return nil
}

// process selectors apply to every event; the others to their events only.
func (v *validator) selectors(field string, s *SelectorSpec, r *Rule) {
	e := r.Event
	wrongEvent := func(name string, set bool, want string) {
		if set && slices.Contains(events, e) {
			v.bad(field+"."+name, "is not a selector of event %s (only %s)", e, want)
		}
	}
	r.Binary = v.match(field+".binary", s.Binary)
	r.ExceptBinary = v.match(field+".exceptBinary", s.ExceptBinary)
	r.ParentBinary = v.match(field+".parentBinary", s.ParentBinary)
	if s.Args != nil {
		wrongEvent("args", e != EventExec, "process.exec")
		if len(s.Args.Contain) == 0 {
			v.bad(field+".args.contain", "must hold at least one string")
		}
		if len(s.Args.Contain) > MaxArgs {
			v.bad(field+".args.contain", "holds %d strings, more than %d", len(s.Args.Contain), MaxArgs)
		}
		for i, a := range s.Args.Contain {
			if len(a) < MinArgBytes || len(a) > MaxArgBytes {
				v.bad(fmt.Sprintf("%s.args.contain[%d]", field, i), "must be %d to %d bytes long; got %d", MinArgBytes, MaxArgBytes, len(a))
			}
		}
		r.ArgsContain = sortedUnique(s.Args.Contain)
	}
	wrongEvent("stdioNetworkSocket", s.StdioNetworkSocket && e != EventExec, "process.exec")
	r.StdioNetworkSocket = s.StdioNetworkSocket
	r.UIDs = v.ids(field+".uids", s.UIDs)
	r.EUIDs = v.ids(field+".euids", s.EUIDs)
	for i, c := range s.Capabilities {
		name := c
		if !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		if !slices.Contains(Capabilities, name) {
			v.bad(fmt.Sprintf("%s.capabilities[%d]", field, i), "unknown capability %q (names such as CAP_SYS_ADMIN or SYS_ADMIN)", c)
			continue
		}
		r.Capabilities = append(r.Capabilities, name)
	}
	r.Capabilities = sortedUnique(r.Capabilities)

	// File.
	wrongEvent("paths", s.Paths != nil && e != EventFile, "file")
	wrongEvent("operations", len(s.Operations) > 0 && e != EventFile, "file")
	if e == EventFile {
		if s.Paths == nil || len(s.Paths.Exact)+len(s.Paths.Prefix) == 0 {
			v.bad(field+".paths", "a file rule needs at least one path (exact or prefix)")
		}
		r.FileOps = 0
		for i, op := range s.Operations {
			bit, ok := FileOperations[op]
			if !ok {
				v.bad(fmt.Sprintf("%s.operations[%d]", field, i), "unknown operation %q (%s)", op, fileOpNames())
			}
			r.FileOps |= bit
		}
		if len(s.Operations) == 0 {
			r.FileOps = AllFileOps
		}
	}
	if s.Paths != nil {
		r.Paths = Match{Exact: v.paths(field+".paths.exact", s.Paths.Exact), Prefix: v.paths(field+".paths.prefix", s.Paths.Prefix)}
	}

	// Network.
	wrongEvent("cidrs", len(s.CIDRs) > 0 && !(e == EventConnect || e == EventSend || e == EventBind),
		"network.connect, network.send and network.bind")
	wrongEvent("ports", len(s.Ports) > 0 && !isNetwork(e), "network events")
	wrongEvent("protocol", s.Protocol != "" && !isNetwork(e), "network events")
	for i, c := range s.CIDRs {
		f := fmt.Sprintf("%s.cidrs[%d]", field, i)
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			v.bad(f, "invalid CIDR %q", c)
			continue
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		if pfx.Masked() != pfx {
			v.bad(f, "CIDR %q has host bits set; did you mean %q", c, pfx.Masked())
			continue
		}
		if pfx.Addr().Zone() != "" {
			v.bad(f, "CIDR %q must not have a zone", c)
			continue
		}
		r.CIDRs = append(r.CIDRs, pfx)
	}
	slices.SortFunc(r.CIDRs, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	r.CIDRs = slices.Compact(r.CIDRs)
	for i, p := range s.Ports {
		pr, err := parsePorts(p)
		if err != nil {
			v.bad(fmt.Sprintf("%s.ports[%d]", field, i), "%v", err)
			continue
		}
		r.Ports = append(r.Ports, pr)
	}
	slices.SortFunc(r.Ports, func(a, b PortRange) int {
		if a.First != b.First {
			return int(a.First) - int(b.First)
		}
		return int(a.Last) - int(b.Last)
	})
	r.Ports = slices.Compact(r.Ports)
	switch s.Protocol {
	case "", "tcp":
	case "udp":
		if e == EventListen {
			v.bad(field+".protocol", "network.listen is TCP only; got %q", s.Protocol)
		}
	default:
		v.bad(field+".protocol", "must be tcp or udp; got %q", s.Protocol)
	}
	r.Protocol = s.Protocol

	// Privilege change.
	wrongEvent("toUIDs", len(s.ToUIDs) > 0 && e != EventPrivilegeChange, "process.privilege_change")
	r.ToUIDs = v.ids(field+".toUIDs", s.ToUIDs)
}

func fileOpNames() string {
	names := make([]string, 0, len(FileOperations))
	for n := range FileOperations {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// match checks a binary pattern list: exact and prefix are absolute paths, suffix any
// non-empty string.
func (v *validator) match(field string, m *MatchSpec) Match {
	if m == nil {
		return Match{}
	}
	if len(m.Exact)+len(m.Prefix)+len(m.Suffix) == 0 {
		v.bad(field, "must hold at least one of exact, prefix or suffix")
	}
	out := Match{Exact: v.paths(field+".exact", m.Exact), Prefix: v.paths(field+".prefix", m.Prefix)}
	for i, s := range m.Suffix {
		f := fmt.Sprintf("%s.suffix[%d]", field, i)
		switch {
		case s == "":
			v.bad(f, "empty pattern")
		case len(s) > MaxPatternBytes:
			v.bad(f, "is %d bytes long, more than %d", len(s), MaxPatternBytes)
		case strings.ContainsRune(s, 0):
			v.bad(f, "must not contain a NUL byte")
		}
	}
	out.Suffix = sortedUnique(m.Suffix)
	return out
}

func (v *validator) paths(field string, ps []string) []string {
	for i, p := range ps {
		if err := checkAbsPath(p); err != nil {
			v.bad(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
	}
	return sortedUnique(ps)
}

func (v *validator) ids(field string, ids []int64) []uint32 {
	if len(ids) > MaxIDs {
		v.bad(field, "holds %d ids, more than %d", len(ids), MaxIDs)
	}
	var out []uint32
	for i, id := range ids {
		// 4294967295 is (uid_t)-1, "no change" to the kernel: never a real id.
		if id < 0 || id >= 1<<32-1 {
			v.bad(fmt.Sprintf("%s[%d]", field, i), "must be between 0 and 4294967294; got %d", id)
			continue
		}
		out = append(out, uint32(id))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parsePorts reads 443, "443" or "8000-8080".
func parsePorts(p intstr.IntOrString) (PortRange, error) {
	if p.Type == intstr.Int {
		if p.IntVal < 1 || p.IntVal > 65535 {
			return PortRange{}, fmt.Errorf("invalid port %d (1 to 65535)", p.IntVal)
		}
		return PortRange{uint16(p.IntVal), uint16(p.IntVal)}, nil
	}
	s := p.StrVal
	first, last, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(strings.TrimSpace(first), 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(strings.TrimSpace(last), 10, 16)
	}
	if err1 != nil || err2 != nil || a == 0 || b == 0 || a > b {
		return PortRange{}, fmt.Errorf("invalid ports %q (a port 1 to 65535 or a range such as \"8000-8080\")", s)
	}
	return PortRange{uint16(a), uint16(b)}, nil
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
