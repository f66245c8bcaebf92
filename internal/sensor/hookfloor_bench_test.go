package sensor

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// BenchmarkSyscallHookFloor measures what each hook a syscall sensor can use on a kernel
// without BPF LSM, fentry or kprobes costs before its program does any work: the floor under
// the file sensor's per-open figure (BenchmarkFileOpenOverhead). Method (BENCHMARKS.md, "File
// sensor", "The hook's own cost"):
//
//   - three programs, each of a few instructions, built here (not the sensor's): "tp" at
//     tracepoint/syscalls/sys_exit_openat (the file sensor's kind of hook: one tracepoint per
//     syscall) returns at once; "raw" at raw_tracepoint/sys_exit and "btf" at tp_btf/sys_exit
//     (one hook for every syscall) read the syscall number from the registers (a
//     bpf_probe_read_kernel, a direct load) and return unless it is openat;
//   - rounds of four blocks in rotating order, nothing attached and each program attached
//     alone; a block is OTELSEC_HOOK_BENCH_CALLS (default 50,000) open+close pairs of one
//     file, then as many getppid calls (a syscall no sensor watches), on one locked thread,
//     timed by the thread's CPU time;
//   - "extra" = with − without in the same round; medians over OTELSEC_HOOK_BENCH_ROUNDS
//     (default 15) rounds.
//
// x86-64 only (the programs read orig_ax from struct pt_regs).
func BenchmarkSyscallHookFloor(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	if runtime.GOARCH != "amd64" {
		b.Skip("the programs read x86-64 registers (pt_regs.orig_ax)")
	}
	const origAX = 15 * 8 // offsetof(struct pt_regs, orig_ax)
	openat := int32(unix.SYS_OPENAT)
	tp, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.TracePoint, License: "GPL", Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}})
	require.NoError(b, err)
	defer tp.Close()
	raw, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, License: "GPL", Instructions: asm.Instructions{
		asm.LoadMem(asm.R3, asm.R1, 0, asm.DWord), // args[0]: struct pt_regs *
		asm.Add.Imm(asm.R3, origAX),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 8),
		asm.FnProbeReadKernel.Call(),
		asm.LoadMem(asm.R1, asm.R10, -8, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.JNE.Imm(asm.R1, openat, "out"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return().WithSymbol("out"),
	}})
	require.NoError(b, err)
	defer raw.Close()
	btf, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_exit",
		License: "GPL", Instructions: asm.Instructions{
			asm.LoadMem(asm.R3, asm.R1, 0, asm.DWord), // args[0]: struct pt_regs *, a BTF pointer
			asm.LoadMem(asm.R1, asm.R3, origAX, asm.DWord),
			asm.Mov.Imm(asm.R0, 0),
			asm.JNE.Imm(asm.R1, openat, "out"),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return().WithSymbol("out"),
		}})
	require.NoError(b, err)
	defer btf.Close()

	hooks := []struct {
		name   string
		attach func() (link.Link, error)
	}{
		{"tp", func() (link.Link, error) { return link.Tracepoint("syscalls", "sys_exit_openat", tp, nil) }},
		{"raw", func() (link.Link, error) {
			return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_exit", Program: raw})
		}},
		{"btf", func() (link.Link, error) { return link.AttachTracing(link.TracingOptions{Program: btf}) }},
	}
	calls := envInt("OTELSEC_HOOK_BENCH_CALLS", 50000)
	rounds := envInt("OTELSEC_HOOK_BENCH_ROUNDS", 15)
	target := filepath.Join(b.TempDir(), "f")
	require.NoError(b, os.WriteFile(target, nil, 0o644))

	// block returns the thread CPU time per open+close and per getppid.
	block := func() (open, ppid float64) {
		done := make(chan [2]float64)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for range calls {
				fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					panic(err)
				}
				unix.Close(fd)
			}
			t1 := threadCPU()
			for range calls {
				unix.Getppid()
			}
			t2 := threadCPU()
			done <- [2]float64{float64(t1-t0) / float64(calls), float64(t2-t1) / float64(calls)}
		}()
		r := <-done
		return r[0], r[1]
	}
	type sample struct{ open, ppid [4]float64 } // [0]: nothing attached
	samples := make([]sample, rounds)
	block() // warm-up
	for r := range samples {
		for k := range 4 {
			i := (k + r) % 4
			if i == 0 {
				samples[r].open[0], samples[r].ppid[0] = block()
				continue
			}
			l, err := hooks[i-1].attach()
			require.NoError(b, err, hooks[i-1].name)
			samples[r].open[i], samples[r].ppid[i] = block()
			require.NoError(b, l.Close())
		}
	}
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		return median(v)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(med(func(s sample) float64 { return s.open[0] }), "open-off-ns")
	b.ReportMetric(med(func(s sample) float64 { return s.ppid[0] }), "getppid-off-ns")
	for i, h := range hooks {
		b.ReportMetric(med(func(s sample) float64 { return s.open[i+1] - s.open[0] }), "open-extra-"+h.name+"-ns")
		b.ReportMetric(med(func(s sample) float64 { return s.ppid[i+1] - s.ppid[0] }), "getppid-extra-"+h.name+"-ns")
	}
}
