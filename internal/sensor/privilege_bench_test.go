package sensor

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/kernel"
)

// BenchmarkPrivilegeSensorCost measures what the privilege sensor adds to the calling process:
// a syscall it does not follow (getppid: attaching syscall tracepoints puts every syscall on
// the kernel's tracing path), one it follows without a change (setuid to the current uid: the
// enter and exit programs run, no record), and a fork+exec+exit+wait of true(1)
// (sched_process_fork compares the namespaces of parent and child). Each runs with only the
// process sensor loaded ("process") and with the privilege sensor added ("privilege").
//
// Besides wall time per operation it reports cpu-ns/op, the CPU time of this process and its
// reaped children (getrusage), which a busy shared machine disturbs far less than wall time,
// and for each privilege program that ran, its average run time per call from the kernel's BPF
// statistics (<program>-ns/call; the programs run for every process of the machine, so this is
// a per-call figure, not a per-operation one). Root only.
func BenchmarkPrivilegeSensorCost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	if err != nil {
		b.Fatal(err)
	}
	caps := CapabilitiesOf(f)
	trueBin, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name string
		op   func(b *testing.B)
	}{
		{"getppid", func(*testing.B) { unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0) }},
		{"setuid_unchanged", func(*testing.B) { unix.RawSyscall(unix.SYS_SETUID, 0, 0, 0) }},
		{"fork_exec_exit", func(b *testing.B) {
			if err := exec.Command(trueBin).Run(); err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, op := range ops {
		for _, variant := range []struct {
			name string
			opts PrivilegeOptions
		}{
			{"process", PrivilegeOptions{}},
			{"privilege", PrivilegeOptions{Enabled: true}},
		} {
			b.Run(op.name+"/"+variant.name, func(b *testing.B) {
				s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 22, WakeupEvery: 64, ArgsMaxBytes: 1024, Privilege: variant.opts}, caps)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err != nil {
					b.Fatal(err)
				}
				defer stats.Close()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				bpf0 := privilegeRunTimes(b, s)
				cpu0 := cpuTime()
				n := 0
				for b.Loop() {
					op.op(b)
					n++
				}
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
				for name, st := range privilegeRunTimes(b, s) {
					if calls := st.RunCount - bpf0[name].RunCount; calls > 0 {
						b.ReportMetric(float64((st.Runtime-bpf0[name].Runtime).Nanoseconds())/float64(calls), name+"-ns/call")
					}
				}
			})
		}
	}
}

// cpuTime is the CPU time of this process and its reaped children, in ns.
func cpuTime() int64 {
	var self, children unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &children)
	return self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano()
}

// privilegeRunTimes returns the kernel's statistics of the privilege sensor's programs.
func privilegeRunTimes(b *testing.B, s *Sensors) map[string]*ebpf.ProgramStats {
	out := map[string]*ebpf.ProgramStats{}
	for _, coll := range s.colls {
		for name, p := range coll.Programs {
			if processProgram(name) {
				continue
			}
			st, err := p.Stats()
			if err != nil {
				b.Fatal(err)
			}
			out[name] = st
		}
	}
	return out
}

func processProgram(name string) bool {
	for _, p := range processPrograms {
		if name == p.exec || name == p.fork || name == p.exit || name == p.prepare {
			return true
		}
	}
	return name == "osec_execve" || name == "osec_execveat"
}
