// Package enforce turns compiled runtime policies (internal/policy) into kernel state: it loads
// bpf/policy.bpf.c next to the sensors (sharing their ring buffer and counters), attaches its
// programs to the hooks this kernel offers, chooses a backend per rule, and applies policy
// sets atomically (see the design notes at the top of bpf/policy.bpf.c).
package enforce

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/sensor"
)

// Options configure the enforcer.
type Options struct {
	Logger *zap.Logger
	// Pods resolves Kubernetes workload selectors (the node's pod cache, internal/k8s); nil
	// when there is no cluster: rules that select pods are then refused.
	Pods PodSource
	// ResolveInterval is how often the cgroups of workload selectors are resolved again (new
	// containers, new host cgroups), besides every change of the pod cache. Default 2 s.
	ResolveInterval time.Duration
}

// Enforcer holds the policy programs and maps.
type Enforcer struct {
	logger      *zap.Logger
	coll        *ebpf.Collection
	mute        *ebpf.Map                // the sensors' osec_mute (processes muted by suppress rules)
	muteOn      *ebpf.Map                // the sensors' osec_mute_on: whether emit() checks osec_mute
	inner       map[string]*ebpf.MapSpec // inner map specs of the per-generation arrays of maps
	links       []link.Link
	attachments []sensor.Attachment // guarded by mu once Load returned (lazy hooks add to it)
	hooks       map[Hook]bool
	lsmTarget   map[string]string // program -> LSM hook ("path_unlink")
	// lazySpec holds the programs of the lazy hooks not attached yet (pending), lazyColls
	// those loaded since; detached: no more lazy attachment (Detach ran).
	lazySpec   *ebpf.CollectionSpec
	pending    map[Hook]bool
	lazyColls  []*ebpf.Collection
	detached   bool
	cgroupRoot string
	pods       PodSource
	interval   time.Duration

	mu       sync.Mutex // serializes Apply and re-resolution
	active   uint32     // the generation slot the kernel reads
	on       bool
	seq      uint64
	cur      [2]*state
	cgroups  [2]map[uint64]bpf.PolicyPolCgroup
	innerFDs [2]map[string]*ebpf.Map
	ports    [2][]uint16
	net4     [2][]uint16 // the IPv4 /16s whose osec_pol_net4 entries the slot may hold
	net6     [2][]uint16 // the IPv6 /16s whose osec_pol_net6 entries the slot may hold
	failed   error       // the last Apply's error

	applied, refused atomic.Uint64

	sets sync.Map // generation (uint64) -> *state, the last two applied, for decisions

	stop chan struct{}
	wg   sync.WaitGroup
}

// outer maps: one inner map per generation each.
var outerMaps = []string{
	"osec_pol_bin_exact", "osec_pol_bin_prefix", "osec_pol_bin_suffix", "osec_pol_path_exact", "osec_pol_path_prefix",
	"osec_pol_cidr4", "osec_pol_cidr6", "osec_pol_cgroups", "osec_pol_uids", "osec_pol_euids",
	"osec_pol_par_exact", "osec_pol_par_prefix", "osec_pol_par_suffix",
	"osec_pol_touids", "osec_pol_netx",
}

// hook programs.
var hookPrograms = map[Hook][]struct {
	prog   string
	attach ebpf.AttachType
}{
	HookExecLSM:    {{"osec_pol_exec_lsm", ebpf.AttachLSMMac}},
	HookExecTP:     {{"osec_pol_exec_tp", ebpf.AttachTraceRawTp}},
	HookFileLSM:    {{"osec_pol_open_lsm", ebpf.AttachLSMMac}},
	HookConnectLSM: {{"osec_pol_connect_lsm", ebpf.AttachLSMMac}},
	HookBindLSM:    {{"osec_pol_bind_lsm", ebpf.AttachLSMMac}},
	HookSendLSM:    {{"osec_pol_send_lsm", ebpf.AttachLSMMac}},
	HookConnectCG:  {{"osec_pol_c4", ebpf.AttachCGroupInet4Connect}, {"osec_pol_c6", ebpf.AttachCGroupInet6Connect}},
	HookBindCG:     {{"osec_pol_b4", ebpf.AttachCGroupInet4Bind}, {"osec_pol_b6", ebpf.AttachCGroupInet6Bind}},
	HookSendCG:     {{"osec_pol_s4", ebpf.AttachCGroupUDP4Sendmsg}, {"osec_pol_s6", ebpf.AttachCGroupUDP6Sendmsg}},
	HookListenLSM:  {{"osec_pol_listen_lsm", ebpf.AttachLSMMac}},
	HookListenTP:   {{"osec_pol_listen_tp", ebpf.AttachTraceRawTp}},
	HookSetuidLSM:  {{"osec_pol_setuid_lsm", ebpf.AttachLSMMac}},
	HookPathLSM: {
		{"osec_pol_unlink_lsm", ebpf.AttachLSMMac}, {"osec_pol_rename_lsm", ebpf.AttachLSMMac},
		{"osec_pol_chmod_lsm", ebpf.AttachLSMMac}, {"osec_pol_chown_lsm", ebpf.AttachLSMMac},
		{"osec_pol_truncate_lsm", ebpf.AttachLSMMac}, {"osec_pol_link_lsm", ebpf.AttachLSMMac},
		{"osec_pol_symlink_lsm", ebpf.AttachLSMMac}, {"osec_pol_mkdir_lsm", ebpf.AttachLSMMac},
		{"osec_pol_rmdir_lsm", ebpf.AttachLSMMac},
	},
}

// tracepointPrograms are the hooks made of classic syscall tracepoints: each program is
// attached to every syscall listed (the setuid family shares one enter and one exit program).
var tracepointPrograms = map[Hook][]struct {
	prog     string
	syscalls []string // attached to syscalls/sys_<prefix>_<syscall>
	prefix   string
}{
	HookSetuidTP: {
		{"osec_pol_setuid_enter", setuidSyscalls, "enter"},
		{"osec_pol_setuid_exit", setuidSyscalls, "exit"},
	},
}

var setuidSyscalls = []string{"setuid", "setreuid", "setresuid", "setfsuid"}

// lazyHooks are loaded and attached by the first Apply whose set has rules there, not by Load:
// the path hooks are nine LSM programs, each as long to verify as the others, that only file
// rules beyond open need; the privilege-change hooks are one more program only such rules
// need, and the setuid-family tracepoints would tax every such call. Once attached they stay
// until Detach (a set without such rules leaves their bitmaps empty: the programs return at
// their first map lookup).
var lazyHooks = map[Hook]bool{HookPathLSM: true, HookSetuidTP: true, HookSetuidLSM: true}

// pathHooksAvailable: the kernel has the LSM path hooks (CONFIG_SECURITY_PATH): BPF LSM
// programs attach to the bpf_lsm_<hook> functions, present in the kernel's BTF only then.
func pathHooksAvailable() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	_, err = spec.AnyTypeByName("bpf_lsm_path_unlink")
	return err == nil
}

// HooksFor lists the hooks the enforcer attaches on a kernel with caps: BPF LSM where it is
// active (the path hooks where the kernel has them too: Load checks), else the cgroup
// sock_addr hooks for the network and the setuid-family syscall tracepoints; the exec
// tracepoint always (kill).
func HooksFor(caps sensor.Capabilities) []Hook {
	var hs []Hook
	if caps.TPBTF {
		hs = append(hs, HookExecTP)
	}
	if caps.LSM {
		hs = append(hs, HookExecLSM, HookFileLSM, HookConnectLSM, HookBindLSM, HookSendLSM, HookListenLSM, HookSetuidLSM, HookPathLSM)
	} else {
		if caps.CgroupSockAddr && caps.Cgroup2Path != "" {
			hs = append(hs, HookConnectCG, HookBindCG, HookSendCG)
		}
		if caps.TPBTF {
			hs = append(hs, HookListenTP)
		}
		if caps.SyscallTracepoints {
			hs = append(hs, HookSetuidTP)
		}
	}
	return hs
}

// Load loads the policy object into s's ring buffer and counters and attaches its programs.
// No set applies until Apply.
func Load(s *sensor.Sensors, caps sensor.Capabilities, opts Options) (_ *Enforcer, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ResolveInterval <= 0 {
		opts.ResolveInterval = 2 * time.Second
	}
	spec, err := bpf.LoadPolicy()
	if err != nil {
		return nil, fmt.Errorf("policy enforcer: read BPF object: %w", err)
	}
	shared := s.SharedMaps()
	if rb, ok := shared["osec_events"]; ok {
		spec.Maps["osec_events"].MaxEntries = rb.MaxEntries()
	}
	if v, ok := spec.Variables["wakeup_every"]; ok {
		if err := v.Set(s.WakeupEvery()); err != nil {
			return nil, fmt.Errorf("policy enforcer: %w", err)
		}
	}
	hooks := HooksFor(caps)
	if slices.Contains(hooks, HookPathLSM) && !pathHooksAvailable() {
		opts.Logger.Info("No BPF LSM path hooks on this kernel (CONFIG_SECURITY_PATH): file rules with operations other than open, read, write, create and truncate will be refused")
		hooks = slices.DeleteFunc(hooks, func(h Hook) bool { return h == HookPathLSM })
	}
	keep, lazy := map[string]bool{}, map[string]bool{}
	pending := map[Hook]bool{}
	for _, h := range hooks {
		k := keep
		if lazyHooks[h] {
			k = lazy
			pending[h] = true
		}
		for _, p := range hookPrograms[h] {
			k[p.prog] = true
		}
		for _, p := range tracepointPrograms[h] {
			k[p.prog] = true
		}
	}
	var lazySpec *ebpf.CollectionSpec
	if len(lazy) > 0 {
		lazySpec = spec.Copy()
		for name := range lazySpec.Programs {
			if !lazy[name] {
				delete(lazySpec.Programs, name)
			}
		}
	}
	lsmTarget := map[string]string{} // program -> LSM hook ("path_unlink")
	for name, ps := range spec.Programs {
		lsmTarget[name] = ps.AttachTo
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	e := &Enforcer{
		logger:     opts.Logger,
		inner:      map[string]*ebpf.MapSpec{},
		hooks:      map[Hook]bool{},
		lsmTarget:  lsmTarget,
		lazySpec:   lazySpec,
		pending:    pending,
		cgroupRoot: caps.Cgroup2Path,
		pods:       opts.Pods,
		interval:   opts.ResolveInterval,
		stop:       make(chan struct{}),
	}
	for _, name := range outerMaps {
		ms := spec.Maps[name]
		if ms == nil || ms.InnerMap == nil {
			return nil, fmt.Errorf("policy enforcer: object has no array of maps %s", name)
		}
		e.inner[name] = ms.InnerMap.Copy()
	}
	e.mute, e.muteOn = shared["osec_mute"], shared["osec_mute_on"]
	e.coll, err = ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: shared})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("policy enforcer: load: %+v", verr)
		}
		return nil, fmt.Errorf("policy enforcer: load: %w", err)
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	for _, h := range hooks {
		if !pending[h] {
			if err := e.attach(e.coll, h); err != nil {
				return nil, err
			}
		}
		e.hooks[h] = true
	}
	if e.needsResolver() {
		e.wg.Add(1)
		go e.resolveLoop()
	}
	return e, nil
}

var cgroupPoint = map[ebpf.AttachType]string{
	ebpf.AttachCGroupInet4Connect: "connect4", ebpf.AttachCGroupInet6Connect: "connect6",
	ebpf.AttachCGroupInet4Bind: "bind4", ebpf.AttachCGroupInet6Bind: "bind6",
	ebpf.AttachCGroupUDP4Sendmsg: "sendmsg4", ebpf.AttachCGroupUDP6Sendmsg: "sendmsg6",
}

// attach attaches the programs of hook h, loaded in coll, and lists them in the attachments.
func (e *Enforcer) attach(coll *ebpf.Collection, h Hook) (err error) {
	for _, p := range hookPrograms[h] {
		prog := coll.Programs[p.prog]
		var l link.Link
		point := p.prog
		switch p.attach {
		case ebpf.AttachLSMMac:
			l, err = link.AttachLSM(link.LSMOptions{Program: prog})
			point = "lsm/" + e.lsmTarget[p.prog]
		case ebpf.AttachTraceRawTp:
			l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
			point = h.String()
		default:
			l, err = link.AttachCgroup(link.CgroupOptions{Path: e.cgroupRoot, Attach: p.attach, Program: prog})
			point = "cgroup/" + cgroupPoint[p.attach]
		}
		if err != nil {
			return fmt.Errorf("policy enforcer: attach %s: %w", point, err)
		}
		e.links = append(e.links, l)
		hk, pt := sensor.HookLSM, point
		switch {
		case p.attach == ebpf.AttachTraceRawTp:
			hk, pt = sensor.HookTPBTF, point[strings.Index(point, "/")+1:]
		case p.attach != ebpf.AttachLSMMac:
			hk, pt = sensor.HookCgroup, cgroupPoint[p.attach]
		default:
			pt = point[len("lsm/"):]
		}
		e.attachments = append(e.attachments, sensor.Attachment{Event: "policy.decision", Hook: hk, Point: pt})
	}
	for _, p := range tracepointPrograms[h] {
		for _, sc := range p.syscalls {
			name := "sys_" + p.prefix + "_" + sc
			l, err := link.Tracepoint("syscalls", name, coll.Programs[p.prog], nil)
			if err != nil {
				return fmt.Errorf("policy enforcer: attach tracepoint syscalls/%s: %w", name, err)
			}
			e.links = append(e.links, l)
			e.attachments = append(e.attachments, sensor.Attachment{Event: "policy.decision", Hook: sensor.HookTracepoint, Point: "syscalls/" + name})
		}
	}
	return nil
}

// attachLazy loads and attaches the lazy hooks st has rules at (see lazyHooks), sharing every
// map of the main object. On failure nothing of it stays attached. Called with mu held.
func (e *Enforcer) attachLazy(st *state) (err error) {
	var need []Hook
	for h := range e.pending {
		if st.hdr.Hook[h] != (bits{}) {
			need = append(need, h)
		}
	}
	if len(need) == 0 {
		return nil
	}
	if e.detached {
		return errors.New("policy enforcer: detached")
	}
	slices.Sort(need)
	spec := e.lazySpec.Copy()
	want := map[string]bool{}
	for _, h := range need {
		for _, p := range hookPrograms[h] {
			want[p.prog] = true
		}
		for _, p := range tracepointPrograms[h] {
			want[p.prog] = true
		}
	}
	for name := range spec.Programs {
		if !want[name] {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: e.coll.Maps})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return fmt.Errorf("policy enforcer: load %v: %+v", need, verr)
		}
		return fmt.Errorf("policy enforcer: load %v: %w", need, err)
	}
	nl, na := len(e.links), len(e.attachments)
	for _, h := range need {
		if err = e.attach(coll, h); err != nil {
			for _, l := range e.links[nl:] {
				l.Close()
			}
			e.links, e.attachments = e.links[:nl], e.attachments[:na]
			coll.Close()
			return err
		}
	}
	for _, h := range need {
		delete(e.pending, h)
		e.logger.Info("Policy hook attached for the set's rules", zap.String("backend", h.String()))
	}
	e.lazyColls = append(e.lazyColls, coll)
	return nil
}

func (e *Enforcer) needsResolver() bool { return e.cgroupRoot != "" }

// Attachments lists the programs attached, for the receiver's log and metrics: those of Load
// and the lazy hooks attached since.
func (e *Enforcer) Attachments() []sensor.Attachment {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.attachments)
}

// Hooks lists the attached hooks (the backends rules can use).
func (e *Enforcer) Hooks() []Hook {
	var hs []Hook
	for h := range e.hooks {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// Apply makes set the policy the kernel enforces. It checks the whole set against this
// kernel's backends and the map limits first and changes nothing when it fails: the previous
// set stays in force. Otherwise it fills the inactive generation and switches to it with one
// map update.
func (e *Enforcer) Apply(set *policy.Set) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := compile(set, e.hooks)
	if err == nil {
		err = e.attachLazy(st)
	}
	if err == nil {
		var cg map[uint64]bpf.PolicyPolCgroup
		if cg, err = e.resolve(st); err == nil {
			err = e.install(st, cg)
		}
	}
	if err != nil {
		e.failed = err
		e.refused.Add(1)
		gen := uint64(0)
		if set != nil {
			gen = set.Generation
		}
		e.logger.Error("Policy set refused; the previous set stays in force", zap.Uint64("generation", gen), zap.Error(err))
		return err
	}
	e.failed = nil
	e.applied.Add(1)
	for _, rs := range st.states {
		e.logger.Info("Policy rule loaded", zap.String("rule", rs.Name), zap.String("source", rs.Source),
			zap.String("backend", rs.Backends()), zap.Bool("kill_fallback", rs.KillFallback))
	}
	e.logger.Info("Policy set applied", zap.Uint64("generation", set.Generation), zap.Int("rules", len(set.Rules)),
		zap.Uint32("slot", e.active))
	return nil
}

// install writes st into the inactive generation and activates it.
func (e *Enforcer) install(st *state, cg map[uint64]bpf.PolicyPolCgroup) error {
	slot := e.active ^ 1
	if !e.on {
		slot = e.active
	}
	fds, err := e.buildInner(st, cg)
	if err != nil {
		return err
	}
	// From here on only the inactive slot changes until the final flip.
	e.seq++
	st.hdr.Seq = e.seq
	if err := e.writeSlot(slot, st, fds); err != nil {
		closeAll(fds)
		return fmt.Errorf("write policy generation %d: %w", slot, err)
	}
	closeAll(e.innerFDs[slot])
	e.innerFDs[slot] = fds
	e.cur[slot] = st
	e.cgroups[slot] = cg
	suppresses := st.suppresses()
	if suppresses {
		// before the set takes effect: its first mute must already silence the process
		if err := e.setMuteOn(true); err != nil {
			return err
		}
	}
	if err := e.coll.Maps["osec_pol_active"].Put(uint32(0), bpf.PolicyPolActive{Gen: slot, On: 1}); err != nil {
		return fmt.Errorf("activate policy generation: %w", err)
	}
	if prev := e.cur[slot^1]; prev != nil && e.on && prev.set.Generation != st.set.Generation {
		// keep the previous set resolvable for records still in flight; drop older ones
		e.sets.Range(func(k, v any) bool {
			if k.(uint64) != prev.set.Generation {
				e.sets.Delete(k)
			}
			return true
		})
	}
	e.sets.Store(st.set.Generation, st)
	e.active, e.on = slot, true
	e.pruneMutes(st)
	if !suppresses {
		if err := e.setMuteOn(false); err != nil {
			e.logger.Warn("Could not switch the kernel's mute check off", zap.Error(err))
		}
	}
	return nil
}

// setMuteOn switches the sensors' check of osec_mute on or off (osec_mute_on).
func (e *Enforcer) setMuteOn(on bool) error {
	if e.muteOn == nil {
		return nil
	}
	var v uint32
	if on {
		v = 1
	}
	if err := e.muteOn.Put(uint32(0), v); err != nil {
		return fmt.Errorf("switch the mute check: %w", err)
	}
	return nil
}

// pruneMutes unmutes the processes muted by a suppress rule the set st no longer has (by rule
// name: a process muted by a rule that stays stays muted). Processes already running are not
// muted by a new rule: a rule mutes at exec. With st nil, every process is unmuted.
func (e *Enforcer) pruneMutes(st *state) {
	m := e.mute
	if m == nil {
		return
	}
	keep := map[string]uint32{} // rule name -> its id in st
	if st != nil {
		for i := range st.set.Rules {
			r := &st.set.Rules[i]
			if r.Action == policy.ActionSuppress && r.Mode != policy.ModeMonitor {
				keep[r.SecurityRuleName()] = r.ID
			}
		}
	}
	var (
		tgid  uint32
		v     bpf.ProcessMuteVal
		stale []uint32
		moved = map[uint32]bpf.ProcessMuteVal{}
	)
	it := m.Iterate()
	for it.Next(&tgid, &v) {
		if st != nil && v.Generation == st.set.Generation {
			continue
		}
		if old, ok := e.sets.Load(v.Generation); ok && st != nil {
			if rs := old.(*state).set.Rules; v.RuleId >= 1 && int(v.RuleId) <= len(rs) {
				if id, ok := keep[rs[v.RuleId-1].SecurityRuleName()]; ok {
					v.Generation, v.RuleId = st.set.Generation, id // the same rule in the new set
					moved[tgid] = v
					continue
				}
			}
		}
		stale = append(stale, tgid)
	}
	if err := it.Err(); err != nil {
		e.logger.Warn("Could not read the muted processes", zap.Error(err))
	}
	for k, v := range moved {
		// UpdateExist: the process may have exited (and its entry gone) meanwhile.
		if err := m.Update(k, v, ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			e.logger.Warn("Could not keep a process muted", zap.Uint32("pid", k), zap.Error(err))
		}
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			e.logger.Warn("Could not unmute a process", zap.Uint32("pid", k), zap.Error(err))
		}
	}
}

func closeAll(m map[string]*ebpf.Map) {
	for _, v := range m {
		v.Close()
	}
}

// buildInner creates and fills the inner maps of a generation.
func (e *Enforcer) buildInner(st *state, cg map[uint64]bpf.PolicyPolCgroup) (_ map[string]*ebpf.Map, err error) {
	fds := map[string]*ebpf.Map{}
	defer func() {
		if err != nil {
			closeAll(fds)
		}
	}()
	fill := func(name string, n int, put func(m *ebpf.Map) error) error {
		ms := e.inner[name].Copy()
		ms.MaxEntries = uint32(max(n, 1))
		ms.Name = ""
		m, err := ebpf.NewMap(ms)
		if err != nil {
			return fmt.Errorf("create %s (%d entries): %w", name, n, err)
		}
		fds[name] = m
		if err := put(m); err != nil {
			return fmt.Errorf("fill %s: %w", name, err)
		}
		return nil
	}
	paths := func(m map[string]bits) func(*ebpf.Map) error {
		return func(mp *ebpf.Map) error {
			keys := make([]bpf.PolicyFileKey, 0, len(m))
			vals := make([]bits, 0, len(m))
			for k, v := range m {
				keys = append(keys, pathKey(k))
				vals = append(vals, v)
			}
			return putAll(mp, keys, vals)
		}
	}
	binaries := func(m map[string]binval) func(*ebpf.Map) error {
		return func(mp *ebpf.Map) error {
			keys := make([]bpf.PolicyFileKey, 0, len(m))
			vals := make([]binval, 0, len(m))
			for k, v := range m {
				keys = append(keys, pathKey(k))
				vals = append(vals, v)
			}
			return putAll(mp, keys, vals)
		}
	}
	cidrs := func(m map[netip.Prefix]bits, v4 bool) func(*ebpf.Map) error {
		return func(mp *ebpf.Map) error {
			vals := make([]bits, 0, len(m))
			if v4 {
				keys := make([]bpf.PolicyPolLpm4, 0, len(m))
				for p, v := range m {
					keys = append(keys, bpf.PolicyPolLpm4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()})
					vals = append(vals, v)
				}
				return putAll(mp, keys, vals)
			}
			keys := make([]bpf.PolicyPolLpm6, 0, len(m))
			for p, v := range m {
				keys = append(keys, bpf.PolicyPolLpm6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()})
				vals = append(vals, v)
			}
			return putAll(mp, keys, vals)
		}
	}
	ids := func(m map[uint32]bits) func(*ebpf.Map) error {
		return func(mp *ebpf.Map) error { return putMap(mp, m) }
	}
	for _, f := range []struct {
		name string
		n    int
		put  func(*ebpf.Map) error
	}{
		{"osec_pol_bin_exact", len(st.binExact), binaries(st.binExact)},
		{"osec_pol_bin_prefix", len(st.binPrefix), binaries(st.binPrefix)},
		{"osec_pol_bin_suffix", len(st.binSuffix), binaries(st.binSuffix)},
		{"osec_pol_par_exact", len(st.parExact), binaries(st.parExact)},
		{"osec_pol_par_prefix", len(st.parPrefix), binaries(st.parPrefix)},
		{"osec_pol_par_suffix", len(st.parSuffix), binaries(st.parSuffix)},
		{"osec_pol_path_exact", len(st.pathExact), paths(st.pathExact)},
		{"osec_pol_path_prefix", len(st.pathPrefix), paths(st.pathPrefix)},
		{"osec_pol_cidr4", len(st.trie4), cidrs(st.trie4, true)},
		{"osec_pol_cidr6", len(st.trie6), cidrs(st.trie6, false)},
		{"osec_pol_netx", len(st.netx), func(mp *ebpf.Map) error {
			keys := make([]uint32, len(st.netx))
			for i := range keys {
				keys[i] = uint32(i)
			}
			return putAll(mp, keys, st.netx)
		}},
		{"osec_pol_uids", len(st.uids), ids(st.uids)},
		{"osec_pol_euids", len(st.euids), ids(st.euids)},
		{"osec_pol_touids", len(st.touids), ids(st.touids)},
		{"osec_pol_cgroups", len(cg), func(mp *ebpf.Map) error { return putMap(mp, cg) }},
	} {
		if err := fill(f.name, f.n, f.put); err != nil {
			return nil, err
		}
	}
	return fds, nil
}

// putMap writes the entries of m (putAll).
func putMap[K comparable, V any](mp *ebpf.Map, m map[K]V) error {
	keys := make([]K, 0, len(m))
	vals := make([]V, 0, len(m))
	for k, v := range m {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return putAll(mp, keys, vals)
}

// putAll writes keys and values with batch updates where the kernel has them (hash maps),
// one by one otherwise (LPM tries have no batch operations).
func putAll[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	if len(keys) == 0 {
		return nil
	}
	if m.Type() == ebpf.Hash || m.Type() == ebpf.Array {
		if _, err := m.BatchUpdate(keys, vals, nil); err == nil {
			return nil
		} else if !errors.Is(err, ebpf.ErrNotSupported) {
			return err
		}
	}
	for i := range keys {
		if err := m.Put(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// putSparse writes the entries of one generation slot of an array keyed slot*65536 + k: the
// values of now, and zero for the keys the slot held (held) that now lacks. held is extended
// before the write, so that what a failed write left is cleared by the next one, and set to
// now's keys after it.
func putSparse[V any](m *ebpf.Map, slot uint32, held *[]uint16, now map[uint16]V) error {
	keys := make([]uint32, 0, len(*held)+len(now))
	vals := make([]V, 0, cap(keys))
	var zero V
	for _, k := range *held {
		if _, ok := now[k]; !ok {
			keys = append(keys, slot*65536+uint32(k))
			vals = append(vals, zero)
		}
	}
	for k, v := range now {
		keys = append(keys, slot*65536+uint32(k))
		vals = append(vals, v)
		*held = append(*held, k)
	}
	if err := putAll(m, keys, vals); err != nil {
		return err
	}
	*held = slices.Collect(maps.Keys(now))
	return nil
}

// writeSlot writes the header, rules, rate state, ports and inner maps of slot.
func (e *Enforcer) writeSlot(slot uint32, st *state, fds map[string]*ebpf.Map) error {
	base := slot * MaxRules
	keys := make([]uint32, MaxRules)
	rules := make([]bpf.PolicyPolRule, MaxRules)
	zero := make([]uint64, MaxRules)
	for i := range keys {
		keys[i] = base + uint32(i)
	}
	copy(rules, st.rules)
	if err := putAll(e.coll.Maps["osec_pol_rules"], keys, rules); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	if err := putAll(e.coll.Maps["osec_pol_rate"], keys, zero); err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	// Ports, and the CIDR lookups' /16s.
	if err := putSparse(e.coll.Maps["osec_pol_ports"], slot, &e.ports[slot], st.ports); err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	if err := putSparse(e.coll.Maps["osec_pol_net4"], slot, &e.net4[slot], st.net4); err != nil {
		return fmt.Errorf("CIDR lookup, IPv4 /16s: %w", err)
	}
	if err := putSparse(e.coll.Maps["osec_pol_net6"], slot, &e.net6[slot], st.net6); err != nil {
		return fmt.Errorf("CIDR lookup, IPv6 /16s: %w", err)
	}
	vk := make([]uint32, 256)
	vv := make([]bits, 256)
	for i := range vk {
		vk[i] = slot*256 + uint32(i)
	}
	for _, t := range []struct {
		m    string
		vals []bits
	}{{"osec_pol_net4val", st.net4val}, {"osec_pol_net6val", st.net6val}} {
		clear(vv)
		copy(vv, t.vals)
		if err := putAll(e.coll.Maps[t.m], vk, vv); err != nil {
			return fmt.Errorf("CIDR rules, %s: %w", t.m, err)
		}
	}
	for _, name := range outerMaps {
		if err := e.coll.Maps[name].Put(slot, fds[name]); err != nil {
			return fmt.Errorf("%s[%d]: %w", name, slot, err)
		}
	}
	if err := e.coll.Maps["osec_pol_args"].Put(slot, st.argsValue()); err != nil {
		return fmt.Errorf("argument strings: %w", err)
	}
	if err := e.coll.Maps["osec_pol_hdr"].Put(slot, &st.hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	return nil
}

// Decision names a decision record's rule: its set and state, by the generation and rule id
// the record carries. ok is false for a set no longer known.
func (e *Enforcer) Decision(generation uint64, ruleID uint32) (r *policy.Rule, rs RuleState, ok bool) {
	v, ok := e.sets.Load(generation)
	if !ok {
		return nil, RuleState{}, false
	}
	st := v.(*state)
	if ruleID == 0 || int(ruleID) > len(st.set.Rules) {
		return nil, RuleState{}, false
	}
	return &st.set.Rules[ruleID-1], st.states[ruleID-1], true
}

// Rules returns the state of each rule of the set in force.
func (e *Enforcer) Rules() []RuleState {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.on || e.cur[e.active] == nil {
		return nil
	}
	return slices.Clone(e.cur[e.active].states)
}

// MissedRuns returns, per policy program that has any, the runs the kernel skipped because
// that program was already running on the CPU (tracing programs only: BPF LSM and cgroup
// programs are never skipped): operations those runs would have decided were not.
func (e *Enforcer) MissedRuns() (map[string]uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	missed := make(map[string]uint64)
	if e.coll == nil {
		return missed, nil
	}
	for _, c := range append([]*ebpf.Collection{e.coll}, e.lazyColls...) {
		m, err := sensor.MissedRuns(c.Programs)
		if err != nil {
			return nil, err
		}
		maps.Copy(missed, m)
	}
	return missed, nil
}

// Sets counts the sets applied and refused.
func (e *Enforcer) Sets() (applied, refused uint64) { return e.applied.Load(), e.refused.Load() }

// LastError is the error of the last Apply, nil when it succeeded.
func (e *Enforcer) LastError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// Stats are the enforcer's kernel counters summed over CPUs.
type Stats struct {
	Evaluated, Matched [numHooks]uint64
	RateLimited        uint64
	Truncated          uint64 // decisions beyond the per-operation bound (not recorded)
	PathUnmatchable    uint64
	ArgsTruncated      uint64 // command lines longer than the 1024 bytes matched
	Muted              uint64 // images muted by enforced suppress rules (no decision record)
}

// Stats reads the kernel counters.
func (e *Enforcer) Stats() (Stats, error) {
	var per []bpf.PolicyPolStats
	if err := e.coll.Maps["osec_pol_stats"].Lookup(uint32(0), &per); err != nil {
		return Stats{}, fmt.Errorf("read policy stats: %w", err)
	}
	var s Stats
	for _, c := range per {
		for i, h := range c.Hook {
			s.Evaluated[i] += h.Evaluated
			s.Matched[i] += h.Matched
		}
		s.RateLimited += c.RateLimited
		s.Truncated += c.Truncated
		s.PathUnmatchable += c.PathUnmatchable
		s.ArgsTruncated += c.ArgsTruncated
		s.Muted += c.Muted
	}
	return s, nil
}

// ProgramIDs returns the ids of the loaded programs (for bpf_stats).
func (e *Enforcer) ProgramIDs() map[string]ebpf.ProgramID {
	ids := map[string]ebpf.ProgramID{}
	e.mu.Lock()
	progs := maps.Clone(e.coll.Programs)
	for _, c := range e.lazyColls {
		maps.Copy(progs, c.Programs)
	}
	e.mu.Unlock()
	for name, p := range progs {
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				ids[name] = id
			}
		}
	}
	return ids
}

// Map returns one of the enforcer's maps by name (tests read them back).
func (e *Enforcer) Map(name string) *ebpf.Map { return e.coll.Maps[name] }

// Detach detaches every program: nothing is enforced any more.
func (e *Enforcer) Detach() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detached = true
	var errs []error
	for i := len(e.links) - 1; i >= 0; i-- {
		if err := e.links[i].Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	e.links = nil
	return errors.Join(errs...)
}

// Close stops the resolver, detaches the programs and releases the maps.
func (e *Enforcer) Close() error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.wg.Wait()
	err := e.Detach()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pruneMutes(nil) // no policy, no muted process
	if err := e.setMuteOn(false); err != nil {
		e.logger.Warn("Could not switch the kernel's mute check off", zap.Error(err))
	}
	for i := range e.innerFDs {
		closeAll(e.innerFDs[i])
		e.innerFDs[i] = nil
	}
	for _, c := range e.lazyColls {
		c.Close()
	}
	e.lazyColls = nil
	if e.coll != nil {
		e.coll.Close()
		e.coll = nil
	}
	return err
}
