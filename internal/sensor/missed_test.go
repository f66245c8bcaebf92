package sensor

import (
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/otelsec/otelsec/internal/kernel"
	"github.com/stretchr/testify/require"
)

// TestMissedRuns makes the kernel skip runs of a program for real and reads them back: a
// raw tracepoint program on bpf_trace_printk that itself calls bpf_trace_printk fires its own
// tracepoint while it runs, and the kernel skips that nested run (recursion_misses), exactly
// as it skips any program whose hook fires again on a CPU while the program runs there.
func TestMissedRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	printk := asm.Instructions{
		asm.Mov.Imm(asm.R1, 0x0a78), // "x\n"
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 3),
		asm.FnTracePrintk.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
	nested, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "osec_t_nested", Type: ebpf.RawTracepoint, License: "GPL", Instructions: printk})
	require.NoError(t, err)
	defer nested.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "bpf_trace_printk", Program: nested})
	if err != nil {
		t.Skipf("no raw tracepoint bpf_trace_printk on this kernel: %v", err)
	}
	defer l.Close()
	trigger, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "osec_t_trigger", Type: ebpf.SocketFilter, License: "GPL", Instructions: printk})
	require.NoError(t, err)
	defer trigger.Close()

	progs := map[string]*ebpf.Program{"nested": nested, "trigger": trigger}
	missed, err := MissedRuns(progs)
	require.NoError(t, err)
	require.Empty(t, missed, "no run skipped yet")

	const runs = 3
	for range runs {
		_, err := trigger.Run(&ebpf.RunOptions{Data: make([]byte, 14)})
		require.NoError(t, err)
	}
	missed, err = MissedRuns(progs)
	require.NoError(t, err)
	// Each trigger run: the nested program runs once (its printk fires the tracepoint again:
	// that run is skipped). The trigger program is never skipped.
	require.Equal(t, map[string]uint64{"nested": runs}, missed)
}

// TestSensorsMissedRuns: every loaded sensor has its entry, zero included (the metric's
// series exist before the first miss).
func TestSensorsMissedRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	f, err := kernel.Probe()
	require.NoError(t, err)
	s, err := Load(Options{ProcessHook: HookAuto, RingBufferSize: 1 << 20, WakeupEvery: 1, ArgsMaxBytes: 1024,
		Privilege: PrivilegeOptions{Enabled: true, Events: []string{"process.namespace_change"}}}, CapabilitiesOf(f))
	require.NoError(t, err)
	defer s.Close()
	bySensor, byProgram, err := s.MissedRuns()
	require.NoError(t, err)
	require.Equal(t, []string{"privilege", "process"}, slices.Sorted(maps.Keys(bySensor)))
	var sensors, programs uint64
	for _, n := range bySensor {
		sensors += n
	}
	for _, n := range byProgram {
		programs += n
	}
	require.Equal(t, programs, sensors, "the sensors' sums are their programs'")
	if sensors > 0 {
		t.Logf("runs skipped by now: %v, by program %v", bySensor, byProgram)
	}
}
