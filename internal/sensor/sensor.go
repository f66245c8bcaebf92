// Package sensor loads otelsec's BPF programs, attaches them to the best hooks this kernel
// offers, and reads their records from the shared ring buffer.
package sensor

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/kernel"
)

// Hook names the kind of kernel attach point a sensor uses.
type Hook string

const (
	// HookAuto lets the loader pick the best hook the kernel offers.
	HookAuto Hook = "auto"
	// HookTPBTF is a BTF-typed tracepoint (tp_btf), Linux 5.5+.
	HookTPBTF Hook = "tp_btf"
	// HookRawTP is a raw tracepoint: the same tracepoint with untyped arguments, Linux 4.17+.
	HookRawTP Hook = "raw_tp"
	// HookTracepoint is a classic (perf) tracepoint; attaching it needs tracefs.
	HookTracepoint Hook = "tracepoint"
	// HookLSM is a BPF LSM program (Linux 5.7+, bpf in the active LSMs).
	HookLSM Hook = "lsm"
	// HookCgroup is a cgroup program attached to the cgroup v2 root.
	HookCgroup Hook = "cgroup"
	// HookFentry and HookFexit are BPF trampolines on a kernel function's entry and return
	// (Linux 5.5+, where the kernel allows them).
	HookFentry Hook = "fentry"
	HookFexit  Hook = "fexit"
)

// Options are the load-time settings of the sensors.
type Options struct {
	// ProcessHook selects the process sensor's hooks; HookAuto picks tp_btf where it loads.
	ProcessHook Hook
	// RingBufferSize is the size in bytes of the ring buffer shared by all sensors: a power of
	// two and a multiple of the page size.
	RingBufferSize uint32
	// WakeupEvery forces a reader wakeup every N records per CPU (1: wake for every record).
	WakeupEvery uint32
	// ArgsMaxBytes bounds the argv bytes copied per exec (at most bpf's ARGS_MAX_BYTES).
	ArgsMaxBytes uint32

	File      FileOptions
	Network   NetworkOptions
	Privilege PrivilegeOptions

	// BeforeAttach, when set, is called once the shared maps exist and before any sensor
	// program is attached. The policy enforcer loads there: programs attached to one
	// tracepoint run in the order they were attached, and the enforcer's exec program must run
	// before the process sensor's (a suppress rule marks the process the exec record is then
	// flagged for). When it fails, Load fails.
	BeforeAttach func(*Sensors) error
}

// ArgsMaxBytesLimit is the compile-time bound of Options.ArgsMaxBytes.
const ArgsMaxBytesLimit = 8192

// Capabilities is what the loader learned about the kernel that decides the hooks.
type Capabilities struct {
	TPBTF         bool
	RawTracepoint bool
	// PrepareExec: the kernel has the sched_prepare_exec tracepoint (Linux 6.10+), where the
	// credentials an exec replaces are still in place.
	PrepareExec bool
	// SyscallTracepoints: syscalls/sys_enter_execve(at) can be attached (CONFIG_FTRACE_SYSCALLS
	// and tracefs mounted): the older way to see those credentials.
	SyscallTracepoints bool
	// LSM: BPF LSM programs load and run (bpf is an active LSM).
	LSM bool
	// Cgroup2Path is where the cgroup v2 hierarchy is mounted ("" when it is not).
	Cgroup2Path string
	// CgroupSockAddr: cgroup sock_addr programs (connect4/6, sendmsg4/6, bind4/6) load.
	CgroupSockAddr bool
	// Fentry: fentry/fexit programs load.
	Fentry bool
	// SockSendLength: the sock:sock_send_length tracepoint exists (not in 6.1; in 6.12 and later).
	SockSendLength bool
}

// CapabilitiesOf says what the loader can use of what the kernel probe found.
func CapabilitiesOf(f kernel.Features) Capabilities {
	return Capabilities{
		TPBTF:              f.TPBTF,
		RawTracepoint:      f.RawTracepoint,
		PrepareExec:        f.PrepareExec,
		SyscallTracepoints: f.Tracepoint,
		LSM:                f.LSM == kernel.LSMActive,
		Cgroup2Path:        f.Cgroup2Path,
		CgroupSockAddr:     f.CgroupSockAddr,
		Fentry:             f.Fentry,
		SockSendLength:     f.SockSendLength,
	}
}

// Attachment is one program attached to one kernel hook.
type Attachment struct {
	Event string // the event it produces, e.g. "process.exec"
	Hook  Hook
	Point string // the kernel attach point, e.g. "sched_process_exec"
}

// String renders the attachment as hook/point, e.g. "tp_btf/sched_process_exec".
func (a Attachment) String() string { return string(a.Hook) + "/" + a.Point }

// Sensors are the loaded and attached BPF programs and the maps userspace reads.
type Sensors struct {
	opts        Options
	colls       []*ebpf.Collection
	collNames   []string             // the sensor of each of colls: process, file, network, privilege
	shared      map[string]*ebpf.Map // the maps every object shares, created by the first one
	links       []link.Link
	attachments []Attachment
}

// sharedMaps are declared by bpf/lib/common.h in every object; one instance serves them all.
var sharedMaps = []string{"osec_events", "osec_stats", "osec_rb_seq", "osec_mute", "osec_mute_on", "osec_exec_dec"}

// programs of the process sensor, by hook.
var processPrograms = map[Hook]struct{ exec, fork, exit, prepare string }{
	HookTPBTF: {"osec_exec_btf", "osec_fork_btf", "osec_exit_btf", "osec_prep_btf"},
	HookRawTP: {"osec_exec_raw", "osec_fork_raw", "osec_exit_raw", "osec_prep_raw"},
}

// ChooseProcessHook resolves HookAuto against the kernel's capabilities and checks an explicit
// choice.
func ChooseProcessHook(want Hook, caps Capabilities) (Hook, error) {
	switch want {
	case HookAuto, "":
		if caps.TPBTF {
			return HookTPBTF, nil
		}
		if caps.RawTracepoint {
			return HookRawTP, nil
		}
		return "", errors.New("process sensor: the kernel supports neither tp_btf nor raw tracepoints")
	case HookTPBTF:
		if !caps.TPBTF {
			return "", errors.New("process sensor: hook tp_btf requested but this kernel cannot load tp_btf programs")
		}
	case HookRawTP:
		if !caps.RawTracepoint {
			return "", errors.New("process sensor: hook raw_tp requested but this kernel cannot load raw tracepoint programs")
		}
	default:
		return "", fmt.Errorf("process sensor: unknown hook %q", want)
	}
	return want, nil
}

// Load loads the enabled sensors and attaches them to the best hooks the kernel offers.
// Nothing stays loaded or attached when it fails.
func Load(opts Options, caps Capabilities) (_ *Sensors, err error) {
	if opts.ArgsMaxBytes == 0 || opts.ArgsMaxBytes > ArgsMaxBytesLimit {
		return nil, fmt.Errorf("args max bytes %d: must be in [1, %d]", opts.ArgsMaxBytes, ArgsMaxBytesLimit)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock rlimit: %w", err)
	}
	s := &Sensors{opts: opts}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, load := range []func(*Sensors, Capabilities) error{loadProcess, loadFile, loadNetwork, loadPrivilege} {
		if err := load(s, caps); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// loadObject loads one sensor's object with only the programs in keep, the load-time settings
// every object has, and the shared maps.
func (s *Sensors) loadObject(sensor string, spec *ebpf.CollectionSpec, keep map[string]bool) (*ebpf.Collection, error) {
	if s.opts.RingBufferSize != 0 {
		spec.Maps["osec_events"].MaxEntries = s.opts.RingBufferSize
	}
	if err := setVar(spec, "wakeup_every", s.opts.WakeupEvery); err != nil {
		return nil, fmt.Errorf("%s sensor: %w", sensor, err)
	}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: s.shared})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("%s sensor: load: %+v", sensor, verr)
		}
		return nil, fmt.Errorf("%s sensor: load: %w", sensor, err)
	}
	s.colls = append(s.colls, coll)
	s.collNames = append(s.collNames, sensor)
	if s.shared == nil {
		s.shared = make(map[string]*ebpf.Map, len(sharedMaps))
		for _, name := range sharedMaps {
			m, ok := coll.Maps[name]
			if !ok {
				return nil, fmt.Errorf("%s sensor: object has no map %s", sensor, name)
			}
			s.shared[name] = m
		}
	}
	return coll, nil
}

// loadProcess loads the process sensor: exec, fork and exit, and the credentials an exec
// replaces.
func loadProcess(s *Sensors, caps Capabilities) error {
	hook, err := ChooseProcessHook(s.opts.ProcessHook, caps)
	if err != nil {
		return err
	}
	spec, err := bpf.LoadProcess()
	if err != nil {
		return fmt.Errorf("process sensor: read BPF object: %w", err)
	}
	if err := setVar(spec, "args_max", s.opts.ArgsMaxBytes); err != nil {
		return err
	}
	progs := processPrograms[hook]
	keep := map[string]bool{progs.exec: true, progs.fork: true, progs.exit: true}
	switch {
	case caps.PrepareExec:
		keep[progs.prepare] = true
	case caps.SyscallTracepoints:
		keep["osec_execve"], keep["osec_execveat"] = true, true
	}
	coll, err := s.loadObject("process", spec, keep)
	if err != nil {
		return err
	}
	if s.opts.BeforeAttach != nil {
		if err := s.opts.BeforeAttach(s); err != nil {
			return err
		}
	}
	for _, a := range []struct{ event, prog, point string }{
		{"process.exec", progs.exec, "sched_process_exec"},
		{"process.fork", progs.fork, "sched_process_fork"},
		{"process.exit", progs.exit, "sched_process_exit"},
	} {
		if err := s.attachTracepoint(hook, a.event, coll.Programs[a.prog], a.point); err != nil {
			return fmt.Errorf("process sensor: %w", err)
		}
	}
	switch {
	case caps.PrepareExec:
		if err := s.attachTracepoint(hook, "process.exec", coll.Programs[progs.prepare], "sched_prepare_exec"); err != nil {
			return fmt.Errorf("process sensor: %w", err)
		}
	case caps.SyscallTracepoints:
		for _, sc := range []struct{ prog, point string }{
			{"osec_execve", "sys_enter_execve"},
			{"osec_execveat", "sys_enter_execveat"},
		} {
			l, err := link.Tracepoint("syscalls", sc.point, coll.Programs[sc.prog], nil)
			if err != nil {
				return fmt.Errorf("process sensor: attach tracepoint syscalls/%s: %w", sc.point, err)
			}
			s.addLink(l, Attachment{Event: "process.exec", Hook: HookTracepoint, Point: "syscalls/" + sc.point})
		}
	}
	return nil
}

// addLink keeps an attached link, to be closed by Detach, and says what it is.
func (s *Sensors) addLink(l link.Link, a Attachment) {
	s.links = append(s.links, l)
	s.attachments = append(s.attachments, a)
}

func (s *Sensors) attachTracepoint(hook Hook, event string, prog *ebpf.Program, point string) error {
	var (
		l   link.Link
		err error
	)
	switch hook {
	case HookTPBTF:
		l, err = link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	case HookRawTP:
		l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: point, Program: prog})
	}
	if err != nil {
		return fmt.Errorf("attach %s/%s: %w", hook, point, err)
	}
	s.addLink(l, Attachment{Event: event, Hook: hook, Point: point})
	return nil
}

func setVar(spec *ebpf.CollectionSpec, name string, v uint32) error {
	vs, ok := spec.Variables[name]
	if !ok {
		return fmt.Errorf("BPF object has no variable %q", name)
	}
	if err := vs.Set(v); err != nil {
		return fmt.Errorf("set BPF variable %s: %w", name, err)
	}
	return nil
}

// Attachments lists what is attached where.
func (s *Sensors) Attachments() []Attachment { return s.attachments }

// Events is the ring buffer every sensor writes to.
func (s *Sensors) Events() *ebpf.Map { return s.shared["osec_events"] }

// Stats sums the kernel's per-CPU counters: records sent and records the ring buffer refused,
// by event kind.
func (s *Sensors) Stats() (Stats, error) {
	var perCPU []bpf.ProcessSensorStats
	if err := s.shared["osec_stats"].Lookup(uint32(0), &perCPU); err != nil {
		return Stats{}, fmt.Errorf("read sensor stats: %w", err)
	}
	var st Stats
	for _, c := range perCPU {
		for k := range st.Sent {
			st.Sent[k] += c.Sent[k]
			st.Lost[k] += c.Lost[k]
			st.Filtered[k] += c.Filtered[k]
			st.Suppressed[k] += c.Suppressed[k]
		}
	}
	return st, nil
}

// MissedRuns returns, per loaded sensor (process, file, network, privilege; zero included),
// how often the kernel skipped running one of its programs because that program was already
// running on the CPU (bpf_prog_info.recursion_misses): the events those runs would have
// produced were lost before any counter of ours saw them. byProgram has the programs that
// had any.
func (s *Sensors) MissedRuns() (bySensor, byProgram map[string]uint64, err error) {
	bySensor, byProgram = make(map[string]uint64), make(map[string]uint64)
	for i, coll := range s.colls {
		missed, err := MissedRuns(coll.Programs)
		if err != nil {
			return nil, nil, fmt.Errorf("%s sensor: %w", s.collNames[i], err)
		}
		bySensor[s.collNames[i]] += 0
		for name, n := range missed {
			bySensor[s.collNames[i]] += n
			byProgram[name] += n
		}
	}
	return bySensor, byProgram, nil
}

// MissedRuns returns the recursion misses of each of progs that has any.
func MissedRuns(progs map[string]*ebpf.Program) (map[string]uint64, error) {
	missed := make(map[string]uint64)
	for name, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("read the statistics of program %s: %w", name, err)
		}
		if st.RecursionMisses > 0 {
			missed[name] = st.RecursionMisses
		}
	}
	return missed, nil
}

// Stats are kernel-side counters indexed by Kind: records sent, records the full ring buffer
// refused, events the in-kernel filters dropped, and events of processes a policy's suppress
// rule muted (dropped for the file, network, privilege and security kinds; for exec and exit,
// sent flagged and also counted in Sent).
type Stats struct {
	Sent, Lost, Filtered, Suppressed [NumKinds]uint64
}

// Mute is the map of processes muted by policy suppress rules (tgid -> bpf.ProcessMuteVal),
// shared by every sensor object and the policy enforcer.
func (s *Sensors) Mute() *ebpf.Map { return s.shared["osec_mute"] }

// ProgramIDs returns the ids of the loaded programs (for leak checks and bpf_stats).
func (s *Sensors) ProgramIDs() map[string]ebpf.ProgramID {
	ids := make(map[string]ebpf.ProgramID)
	for _, coll := range s.colls {
		for name, p := range coll.Programs {
			if info, err := p.Info(); err == nil {
				if id, ok := info.ID(); ok {
					ids[name] = id
				}
			}
		}
	}
	return ids
}

// Detach detaches every program: the kernel writes no more records, and the maps stay readable.
func (s *Sensors) Detach() error {
	var errs []error
	for i := len(s.links) - 1; i >= 0; i-- {
		if err := s.links[i].Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.links = nil
	return errors.Join(errs...)
}

// Close detaches every program and releases the programs and maps.
func (s *Sensors) Close() error {
	err := s.Detach()
	for _, coll := range s.colls {
		coll.Close()
	}
	s.colls, s.collNames, s.shared = nil, nil, nil
	return err
}
