package enforce

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// BenchmarkClockHelpers measures what one call of the helpers a decision record uses costs on
// this machine: a socket filter calling the helper 100 times, run by BPF_PROG_TEST_RUN, against
// the same program without the calls (the figure is the difference / 100, ns per call). It
// tells whether the clock a record's timestamp and the rate limiter read is expensive here
// (kvm-clock in a VM can be).
func BenchmarkClockHelpers(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	const calls = 100
	load := func(fn asm.BuiltinFunc, n int) *ebpf.Program {
		insns := asm.Instructions{}
		for range n {
			insns = append(insns, fn.Call())
		}
		insns = append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return())
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, Instructions: insns, License: "GPL"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		return p
	}
	for _, c := range []struct {
		name string
		fn   asm.BuiltinFunc
	}{
		{"ktime_get_ns", asm.FnKtimeGetNs},
		{"ktime_get_boot_ns", asm.FnKtimeGetBootNs},
		{"ktime_get_coarse_ns", asm.FnKtimeGetCoarseNs},
		{"get_smp_processor_id", asm.FnGetSmpProcessorId},
	} {
		b.Run(c.name, func(b *testing.B) {
			empty, full := load(c.fn, 0), load(c.fn, calls)
			in := make([]byte, 64)
			var total float64
			for b.Loop() {
				_, d0, err := empty.Benchmark(in, 10000, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, d, err := full.Benchmark(in, 10000, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += float64(d-d0) / calls
			}
			b.ReportMetric(total/float64(b.N), "ns/call")
		})
	}
}
