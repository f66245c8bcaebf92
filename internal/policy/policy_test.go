package policy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompileEveryField(t *testing.T) {
	set, err := Load("testdata/full.yaml")
	require.NoError(t, err)
	want := []Rule{
		{
			ID: 1, Policy: "cluster-guard", Name: "etc-writes", Source: "testdata/full.yaml#2",
			Event: EventFile, Action: ActionDeny, Mode: ModeEnforce, FallbackKill: true, Rate: Rate{PerSecond: 10, Burst: 100},
			Workload: Workload{Host: true},
			UIDs:     []uint32{1000},
			FileOps:  FileWrite | FileUnlink,
			Paths:    Match{Exact: []string{"/etc/passwd"}, Prefix: []string{"/etc/", "/etc/ssh/"}},
		},
		{
			ID: 2, Policy: "cluster-guard", Name: "metadata", Source: "testdata/full.yaml#2",
			Event: EventConnect, Action: ActionDeny, Mode: ModeEnforce,
			Workload: Workload{Containers: true},
			CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.169.254/32"),
				netip.MustParsePrefix("fd00:ec2::254/128")},
			Ports:    []PortRange{{80, 80}, {443, 443}, {8000, 8080}},
			Protocol: "tcp",
		},
		{
			ID: 3, Policy: "cluster-guard", Name: "quiet-probes", Source: "testdata/full.yaml#2",
			Event: EventExec, Action: ActionSuppress, Mode: ModeMonitor,
			Binary: Match{Exact: []string{"/usr/local/bin/healthcheck"}},
		},
		{
			ID: 4, Policy: "cluster-guard", Name: "root-shells", Source: "testdata/full.yaml#2",
			Event: EventPrivilegeChange, Action: ActionKill, Signal: syscall.SIGKILL, Mode: ModeEnforce,
			Workload: Workload{CgroupPaths: []string{"/system.slice/sshd.service"}},
			Binary:   Match{Suffix: []string{"/python3"}},
			ToUIDs:   []uint32{0},
		},
		{
			ID: 5, Policy: "shop/shop-guard", Name: "no-curl-as-root", Source: "testdata/full.yaml#1",
			Event: EventExec, Action: ActionSignal, Signal: syscall.SIGTERM, Mode: ModeEnforce, Rate: Rate{PerSecond: 5, Burst: 5},
			Workload: Workload{
				Namespaces: []string{"shop"}, PodSelector: "app=web,tier notin (cache,db)",
				ContainerNames: []string{"sidecar", "web"},
				Images: []string{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					"registry.example.com/shop/web:1.2"},
				CgroupPaths: []string{"/kubepods.slice/"},
			},
			Binary:             Match{Exact: []string{"/usr/bin/curl", "/usr/bin/wget"}, Prefix: []string{"/tmp/"}, Suffix: []string{"/nc"}},
			ExceptBinary:       Match{Exact: []string{"/usr/bin/healthcheck"}},
			ParentBinary:       Match{Suffix: []string{"/bash", "/sh"}},
			ArgsContain:        []string{"-o", "http://"},
			StdioNetworkSocket: true,
			UIDs:               []uint32{0, 1000},
			EUIDs:              []uint32{0},
			Capabilities:       []string{"CAP_NET_RAW", "CAP_SYS_ADMIN"},
		},
	}
	if diff := cmp.Diff(want, set.Rules, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("rules (-want +got):\n%s", diff)
	}
	assert.Equal(t, uint64(0), set.Generation)
	assert.Equal(t, "shop/shop-guard/no-curl-as-root", set.Rules[4].SecurityRuleName())
	assert.False(t, set.Rules[1].Workload.All(), "containers only")
	assert.True(t, set.Rules[2].Workload.All())
}

// errorsOf compiles one file's content and returns every error line.
func errorsOf(t *testing.T, content string) []string {
	t.Helper()
	ps, errs := Parse("x.yaml", []byte(content))
	_, err := Compile(ps)
	if err != nil {
		errs = append(errs, err.(Errors)...)
	}
	errs.Sort()
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

const head = "apiVersion: otelsec.io/v1alpha1\nkind: RuntimePolicy\nmetadata:\n  name: p\nspec:\n  rules:\n"

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		want      []string
	}{
		{"malformed YAML", "apiVersion: otelsec.io/v1alpha1\nkind: RuntimePolicy\n---\nmetadata:\n  name: [x\n", []string{
			`x.yaml: document 1 (RuntimePolicy ""): metadata.name: is required`,
			`x.yaml: document 1 (RuntimePolicy ""): spec.rules: must hold at least one rule`,
			`x.yaml: document 2: malformed YAML: yaml: line 5: did not find expected ',' or ']'`,
		}},
		{"duplicate key", head + "    - name: a\n      name: b\n      event: process.exec\n      action: audit\n", []string{
			`x.yaml: document 1: malformed YAML: yaml: unmarshal errors:` + "\n" + `  line 8: key "name" already set in map`,
		}},
		{"not a mapping", "- a\n- b\n", []string{
			`x.yaml: document 1: not a mapping (a policy document is an object with apiVersion, kind, metadata and spec)`,
		}},
		{"unknown fields", head + "    - name: a\n      event: process.exec\n      action: audit\n      selector: {}\n      selectors:\n        binray: {exact: [/bin/sh]}\n", []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selector: unknown field`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.binray: unknown field`,
		}},
		{"wrong type", head + "    - name: a\n      event: process.exec\n      action: audit\n      selectors:\n        uids: root\n", []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules.selectors.uids: must be a list of integers; got a string`,
		}},
		{"wrong types", head + "    - name: a\n      event: [process.exec]\n      action: audit\n", []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules.event: must be a string; got a list`,
		}},
		{"wrong boolean", head + "    - name: a\n      event: process.exec\n      action: audit\n      workloads: {host: \"yes\"}\n", []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules.workloads.host: must be a boolean (true or false); got a string`,
		}},
		{"header", "apiVersion: otelsec.io/v1\nkind: RuntimePolicyX\nmetadata:\n  name: Bad_Name\nspec:\n  mode: block\n  rules: []\n", []string{
			`x.yaml: document 1 (RuntimePolicyX "Bad_Name"): apiVersion: must be otelsec.io/v1alpha1; got "otelsec.io/v1"`,
			`x.yaml: document 1 (RuntimePolicyX "Bad_Name"): kind: must be RuntimePolicy or RuntimePolicyNamespaced; got "RuntimePolicyX"`,
			`x.yaml: document 1 (RuntimePolicyX "Bad_Name"): metadata.name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			`x.yaml: document 1 (RuntimePolicyX "Bad_Name"): spec.mode: must be enforce or monitor; got "block"`,
			`x.yaml: document 1 (RuntimePolicyX "Bad_Name"): spec.rules: must hold at least one rule`,
		}},
		{"namespace on a cluster policy", "apiVersion: otelsec.io/v1alpha1\nkind: RuntimePolicy\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  rules:\n    - {name: a, event: process.exec, action: audit}\n", []string{
			`x.yaml: document 1 (RuntimePolicy "p"): metadata.namespace: must not be set: a RuntimePolicy is cluster-wide (use RuntimePolicyNamespaced)`,
		}},
		{"namespaced", "apiVersion: otelsec.io/v1alpha1\nkind: RuntimePolicyNamespaced\nmetadata:\n  name: p\n  namespace: shop\nspec:\n  rules:\n    - {name: a, event: process.exec, action: audit, workloads: {host: true, namespaces: [shop, prod]}}\n", []string{
			`x.yaml: document 1 (RuntimePolicyNamespaced "shop/p"): spec.rules[0].workloads.host: a RuntimePolicyNamespaced selects only pods of its namespace, not host processes`,
			`x.yaml: document 1 (RuntimePolicyNamespaced "shop/p"): spec.rules[0].workloads.host: host processes have no namespace, pod, container name or image: select either host or pods`,
			`x.yaml: document 1 (RuntimePolicyNamespaced "shop/p"): spec.rules[0].workloads.namespaces[1]: a RuntimePolicyNamespaced selects only its own namespace "shop"; got "prod"`,
		}},
		{"namespaced without namespace", "apiVersion: otelsec.io/v1alpha1\nkind: RuntimePolicyNamespaced\nmetadata:\n  name: p\nspec:\n  rules:\n    - {name: a, event: process.exec, action: audit}\n", []string{
			`x.yaml: document 1 (RuntimePolicyNamespaced "/p"): metadata.namespace: is required for a RuntimePolicyNamespaced`,
		}},
		{"network selectors", head + `    - name: a
      event: network.connect
      action: deny
      selectors:
        cidrs: [10.0.0/8, 10.0.0.1/8, "::ffff:10.0.0.0/104"]
        ports: [0, 70000, "90-80", "http", "22-", "8000-8080"]
        protocol: sctp
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.cidrs[0]: invalid CIDR "10.0.0/8"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.cidrs[1]: CIDR "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports[0]: invalid port 0 (1 to 65535)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports[1]: invalid port 70000 (1 to 65535)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports[2]: invalid ports "90-80" (a port 1 to 65535 or a range such as "8000-8080")`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports[3]: invalid ports "http" (a port 1 to 65535 or a range such as "8000-8080")`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports[4]: invalid ports "22-" (a port 1 to 65535 or a range such as "8000-8080")`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.protocol: must be tcp or udp; got "sctp"`,
		}},
		{"paths", head + `    - name: a
      event: file
      action: audit
      selectors:
        paths:
          exact: [etc/shadow, "", /etc//shadow, /etc/../shadow]
          prefix: [/etc/ssh/, /]
        operations: [open, exec]
        binary:
          prefix: [bin/]
          suffix: [""]
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.binary.prefix[0]: must be an absolute path; got "bin/"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.binary.suffix[0]: empty pattern`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.operations[1]: unknown operation "exec" (chmod, chown, create, link, mkdir, open, read, rename, rmdir, truncate, unlink, write)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.paths.exact[0]: must be an absolute path; got "etc/shadow"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.paths.exact[1]: empty pattern`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.paths.exact[2]: must be a clean path (no //, /./ or /../); got "/etc//shadow", did you mean "/etc/shadow"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.paths.exact[3]: must be a clean path (no //, /./ or /../); got "/etc/../shadow", did you mean "/shadow"`,
		}},
		{"selectors for another event", head + `    - name: a
      event: process.exec
      action: audit
      selectors:
        cidrs: [10.0.0.0/8]
        ports: [22]
        protocol: tcp
        paths: {exact: [/etc/shadow]}
        operations: [read]
        toUIDs: [0]
    - name: b
      event: network.listen
      action: audit
      selectors:
        cidrs: [10.0.0.0/8]
        args: {contain: [xy]}
        stdioNetworkSocket: true
        protocol: udp
    - name: c
      event: file
      action: audit
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.paths: is not a selector of event process.exec (only file)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.operations: is not a selector of event process.exec (only file)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.cidrs: is not a selector of event process.exec (only network.connect, network.send and network.bind)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.ports: is not a selector of event process.exec (only network events)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.protocol: is not a selector of event process.exec (only network events)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.toUIDs: is not a selector of event process.exec (only process.privilege_change)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].selectors.args: is not a selector of event network.listen (only process.exec)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].selectors.stdioNetworkSocket: is not a selector of event network.listen (only process.exec)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].selectors.cidrs: is not a selector of event network.listen (only network.connect, network.send and network.bind)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].selectors.protocol: network.listen is TCP only; got "udp"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[2].selectors.paths: a file rule needs at least one path (exact or prefix)`,
		}},
		{"rule fields", head + `    - name: a
      event: process.fork
      mode: dry-run
      action: block
      fallback: kill
    - name: a
      event: process.exec
      action: signal
      signal: SIGNOPE
      rateLimit: {perSecond: 0}
    - name: Bad_Rule
      event: process.exec
      action: audit
      signal: SIGTERM
      fallback: audit
    - event: process.exec
      action: signal
      selectors:
        capabilities: [CAP_SYS_ADMIN, CAP_FLY, sys_admin]
        uids: [-1, 4294967295]
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].event: must be one of process.exec, file, network.connect, network.bind, network.listen, network.send, process.privilege_change; got "process.fork"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].mode: must be enforce or monitor; got "dry-run"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].action: must be audit, deny, kill, signal or suppress; got "block"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].fallback: kill is only for action deny (action is "block")`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].name: duplicate rule name "a" (also spec.rules[0])`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].signal: unknown signal "SIGNOPE" (a name such as SIGTERM, SIGSTOP, SIGUSR1)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].rateLimit.perSecond: must be between 1 and 1000000; got 0`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[1].rateLimit.burst: must be between 1 and 1000000; got 0`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[2].name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[2].signal: is only for action signal (action is "audit")`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[2].fallback: must be kill; got "audit"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].name: is required`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].signal: is required for action signal (a name such as SIGTERM)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].selectors.uids[0]: must be between 0 and 4294967294; got -1`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].selectors.uids[1]: must be between 0 and 4294967294; got 4294967295`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].selectors.capabilities[1]: unknown capability "CAP_FLY" (names such as CAP_SYS_ADMIN or SYS_ADMIN)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[3].selectors.capabilities[2]: unknown capability "sys_admin" (names such as CAP_SYS_ADMIN or SYS_ADMIN)`,
		}},
		{"suppress on another event", head + `    - name: quiet-opens
      event: file
      action: suppress
      selectors:
        paths:
          prefix: [/proc/]
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].action: suppress applies to process.exec rules only (it mutes the process the exec starts: its later events are dropped in the kernel); got event file`,
		}},
		{"workloads", head + `    - name: a
      event: process.exec
      action: audit
      workloads:
        host: true
        containers: true
        namespaces: [Shop]
        podSelector:
          matchExpressions: [{key: app, operator: Exists, values: [x]}]
        containerNames: [web_1]
        images: ["", "a b"]
        cgroupPaths: [kubepods]
`, []string{
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.containers: host and containers exclude each other (omit workloads to select every process)`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.host: host processes have no namespace, pod, container name or image: select either host or pods`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.namespaces[0]: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.podSelector: values: Invalid value: ["x"]: values set must be empty for exists and does not exist`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.containerNames[0]: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.images[0]: must be an image reference (repository[:tag] or repository@digest); got ""`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.images[1]: must be an image reference (repository[:tag] or repository@digest); got "a b"`,
			`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].workloads.cgroupPaths[0]: must be an absolute path; got "kubepods" (a cgroup v2 path as /proc/PID/cgroup shows it, e.g. /system.slice/sshd.service)`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := errorsOf(t, tt.doc)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConflictsAndDuplicatePolicies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	write("a.yaml", `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: miners}
spec:
  rules:
    - name: kill-xmrig
      event: process.exec
      selectors: {binary: {suffix: [/xmrig, /minerd]}}
      action: kill
    - name: audit-etc
      event: file
      selectors: {paths: {prefix: [/etc/]}, operations: [write]}
      action: audit
`)
	write("b.yml", `apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: audit-miners}
spec:
  rules:
    # The same selectors in another order: a conflict.
    - name: audit-xmrig
      event: process.exec
      selectors: {binary: {suffix: [/minerd, /xmrig, /xmrig]}}
      action: audit
    # The same action on the same operation: redundant, allowed.
    - name: audit-etc-too
      event: file
      selectors: {paths: {prefix: [/etc/]}, operations: [write]}
      action: audit
    # Same selectors, monitor mode: a conflict.
    - name: audit-etc-monitor
      event: file
      mode: monitor
      selectors: {paths: {prefix: [/etc/]}, operations: [write]}
      action: audit
    # Another event: no conflict.
    - name: xmrig-privileges
      event: process.privilege_change
      selectors: {binary: {suffix: [/minerd, /xmrig]}}
      action: audit
---
apiVersion: otelsec.io/v1alpha1
kind: RuntimePolicy
metadata: {name: miners}
spec:
  rules:
    - {name: other, event: process.exec, action: audit, workloads: {host: true}}
`)
	write(".hidden.yaml", "not: a policy")
	write("notes.txt", "not: a policy")
	_, err := Load(dir)
	require.Error(t, err)
	assert.Equal(t, []string{
		filepath.Join(dir, "b.yml") + `: document 1 (RuntimePolicy "audit-miners"): spec.rules[0]: conflicts with rule "kill-xmrig" of policy "miners" (` + filepath.Join(dir, "a.yaml") + `#1): same event, workloads and selectors, but audit enforce vs kill enforce`,
		filepath.Join(dir, "b.yml") + `: document 1 (RuntimePolicy "audit-miners"): spec.rules[2]: conflicts with rule "audit-etc" of policy "miners" (` + filepath.Join(dir, "a.yaml") + `#1): same event, workloads and selectors, but audit monitor vs audit enforce`,
		filepath.Join(dir, "b.yml") + `: document 2 (RuntimePolicy "miners"): metadata.name: duplicate policy: RuntimePolicy "miners" is also defined in ` + filepath.Join(dir, "a.yaml") + ` document 1`,
	}, strings.Split(err.Error(), "\n"))
}

func TestLimits(t *testing.T) {
	doc := func(paths, cidrs int) *Policy {
		p := &Policy{File: "gen.yaml", Index: 1, Document: Document{APIVersion: APIVersion, Kind: KindCluster}}
		p.Metadata.Name = "big"
		var prefixes, nets []string
		for i := range paths {
			prefixes = append(prefixes, fmt.Sprintf("/data/%d/", i))
		}
		for i := range cidrs {
			nets = append(nets, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
		}
		p.Spec.Rules = []RuleSpec{
			{Name: "paths", Event: "file", Action: "audit", Selectors: SelectorSpec{Paths: &PathSpec{Prefix: prefixes}}},
			{Name: "cidrs", Event: "network.connect", Action: "deny", Selectors: SelectorSpec{CIDRs: nets}},
		}
		return p
	}
	// The benchmark set: 10,000 path prefixes and 10,000 CIDRs.
	set, err := Compile([]*Policy{doc(10000, 10000)})
	require.NoError(t, err)
	require.Len(t, set.Rules, 2)
	assert.Len(t, set.Rules[0].CIDRs, 10000)
	assert.Len(t, set.Rules[1].Paths.Prefix, 10000)

	_, err = Compile([]*Policy{doc(MaxPaths+1, MaxCIDRs+1)})
	assert.EqualError(t, err, "policy set: too many file path patterns: 16385, at most 16384 in a set\n"+
		"policy set: too many CIDRs: 16385, at most 16384 in a set")

	var many []*Policy
	for i := range MaxRules + 1 {
		p := &Policy{File: "gen.yaml", Index: i + 1, Document: Document{APIVersion: APIVersion, Kind: KindCluster}}
		p.Metadata.Name = fmt.Sprintf("p%d", i)
		p.Spec.Rules = []RuleSpec{{Name: "r", Event: "process.exec", Action: "audit", Selectors: SelectorSpec{UIDs: []int64{int64(i)}}}}
		many = append(many, p)
	}
	_, err = Compile(many)
	assert.EqualError(t, err, "policy set: too many rules: 257, at most 256 in a set")

	// Distinct uids over the set.
	var idPolicies []*Policy
	for i := range 65 {
		p := &Policy{File: "gen.yaml", Index: i + 1, Document: Document{APIVersion: APIVersion, Kind: KindCluster}}
		p.Metadata.Name = fmt.Sprintf("p%d", i)
		var ids []int64
		for j := range 64 {
			ids = append(ids, int64(i*64+j))
		}
		p.Spec.Rules = []RuleSpec{{Name: "r", Event: "process.exec", Action: "audit", Selectors: SelectorSpec{UIDs: ids}}}
		idPolicies = append(idPolicies, p)
	}
	_, err = Compile(idPolicies)
	assert.EqualError(t, err, "policy set: too many distinct uids: 4160, at most 4096 in a set")

	_, errs := Parse("x.yaml", []byte(head+"    - {name: a, event: process.exec, action: audit, selectors: {binary: {exact: [/"+strings.Repeat("a", 253)+"]}}}\n"))
	require.Empty(t, errs)
	assert.Empty(t, errorsOf(t, head+"    - {name: a, event: process.exec, action: audit, selectors: {binary: {exact: [/"+strings.Repeat("a", 253)+"]}}}\n"))
	assert.Equal(t, []string{`x.yaml: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.binary.exact[0]: is 255 bytes long, more than 254`},
		errorsOf(t, head+"    - {name: a, event: process.exec, action: audit, selectors: {binary: {exact: [/"+strings.Repeat("a", 254)+"]}}}\n"))
}

func TestLoadDirectoryOrderAndErrorsOfEveryFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(head+"    - {name: b, event: process.exec, action: audit}\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yml"), []byte("# only a comment\n---\n"+
		strings.Replace(head, "name: p", "name: q", 1)+"    - {name: a, event: process.exec, action: kill, selectors: {uids: [0]}}\n"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700))
	files, err := Files(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml")}, files)

	set, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, set.Rules, 2)
	assert.Equal(t, []string{"p/b", "q/a"}, []string{set.Rules[0].SecurityRuleName(), set.Rules[1].SecurityRuleName()})
	assert.Equal(t, filepath.Join(dir, "a.yml")+"#1", set.Rules[1].Source, "the comment-only document is not counted")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(head+"    - {name: c, event: process.exec, action: audit, selectors: {cidrs: [1.2.3.4/32]}}\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.yaml"), []byte("kind: [\n"), 0o600))
	_, err = Load(dir, filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, []string{
		filepath.Join(dir, "c.yaml") + `: document 1 (RuntimePolicy "p"): spec.rules[0].selectors.cidrs: is not a selector of event process.exec (only network.connect, network.send and network.bind)`,
		filepath.Join(dir, "c.yaml") + `: document 1 (RuntimePolicy "p"): metadata.name: duplicate policy: RuntimePolicy "p" is also defined in ` + filepath.Join(dir, "b.yaml") + ` document 1`,
		filepath.Join(dir, "d.yaml") + `: document 1: malformed YAML: yaml: line 1: did not find expected node content`,
		filepath.Join(dir, "missing.yaml") + `: cannot stat: no such file or directory`,
	}, strings.Split(err.Error(), "\n"))
}

func TestFromJSON(t *testing.T) {
	p, errs := FromJSON([]byte(`{"apiVersion":"otelsec.io/v1alpha1","kind":"RuntimePolicyNamespaced",
		"metadata":{"name":"x","namespace":"shop","uid":"1234","resourceVersion":"7","generation":2,
		"managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"otelsec.io/v1alpha1"}]},
		"spec":{"rules":[{"name":"r","event":"process.exec","action":"audit"}]}}`))
	require.Empty(t, errs)
	set, err := Compile([]*Policy{p})
	require.NoError(t, err)
	assert.Equal(t, []Rule{{ID: 1, Policy: "shop/x", Name: "r", Source: "crd", Event: EventExec, Action: ActionAudit, Mode: ModeEnforce,
		Workload: Workload{Namespaces: []string{"shop"}}}}, set.Rules)

	_, errs = FromJSON([]byte(`{"apiVersion":"otelsec.io/v1alpha1","kind":"RuntimePolicy","metadata":{"name":"y"},"spec":{"rules":[],"extra":1}}`))
	assert.Equal(t, `crd: RuntimePolicy "y": spec.extra: unknown field`, errs.Error())
}
