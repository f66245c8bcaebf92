package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/bpf"
)

const (
	kindExec = 1
	kindFork = 2
	kindExit = 3
)

// sensorStats are the kernel's osec_stats counters summed over CPUs, indexed by event kind.
type sensorStats struct {
	Sent [8]uint64 `json:"sent"`
	Lost [8]uint64 `json:"lost"`
}

func (s sensorStats) sub(o sensorStats) sensorStats {
	var d sensorStats
	for k := range s.Sent {
		d.Sent[k] = s.Sent[k] - o.Sent[k]
		d.Lost[k] = s.Lost[k] - o.Lost[k]
	}
	return d
}

func (s sensorStats) lost() uint64 {
	var n uint64
	for _, v := range s.Lost {
		n += v
	}
	return n
}

// progStat is one program's cumulative bpf_stats counters.
type progStat struct {
	Runs            uint64        `json:"runs"`
	Runtime         time.Duration `json:"runtime_ns"`
	RecursionMisses uint64        `json:"recursion_misses"`
}

// bpfObjects are the collector's osec_* programs and its osec_stats map, opened by id. They are
// found through the collector's own file descriptors, so programs that other processes (tests
// running at the same time, another collector) loaded under the same names are never mixed in.
type bpfObjects struct {
	progs map[string]*ebpf.Program
	ids   map[ebpf.ProgramID]bool
	stats *ebpf.Map
}

func openCollectorBPF(pid int) (*bpfObjects, error) {
	progIDs, mapIDs, err := bpfFDs(pid)
	if err != nil {
		return nil, err
	}
	o := &bpfObjects{progs: map[string]*ebpf.Program{}, ids: map[ebpf.ProgramID]bool{}}
	for _, id := range progIDs {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			continue // unloaded since
		}
		info, err := p.Info()
		if err != nil || !strings.HasPrefix(info.Name, "osec_") {
			p.Close()
			continue
		}
		o.progs[info.Name] = p
		o.ids[ebpf.ProgramID(id)] = true
	}
	for _, id := range mapIDs {
		m, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			continue
		}
		info, err := m.Info()
		if err == nil && info.Name == "osec_stats" && o.stats == nil {
			o.stats = m
			continue
		}
		m.Close()
	}
	if len(o.progs) == 0 || o.stats == nil {
		o.Close()
		return nil, fmt.Errorf("collector (pid %d) holds %d osec_* programs and no osec_stats map: is the ebpfsecurity receiver in the pipeline?", pid, len(o.progs))
	}
	return o, nil
}

// Close releases the programs and the map; it may be called more than once.
func (o *bpfObjects) Close() {
	for name, p := range o.progs {
		p.Close()
		delete(o.progs, name)
	}
	if o.stats != nil {
		o.stats.Close()
		o.stats = nil
	}
}

// anyLoaded tells whether any of the programs is still loaded.
func anyLoaded(ids map[ebpf.ProgramID]bool) bool {
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return false
		}
		if ids[next] {
			return true
		}
		id = next
	}
}

func (o *bpfObjects) names() []string {
	var n []string
	for name := range o.progs {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}

func (o *bpfObjects) readStats() (sensorStats, error) {
	var perCPU []bpf.ProcessSensorStats
	if err := o.stats.Lookup(uint32(0), &perCPU); err != nil {
		return sensorStats{}, fmt.Errorf("read osec_stats: %w", err)
	}
	var s sensorStats
	for _, c := range perCPU {
		for k := range s.Sent {
			s.Sent[k] += c.Sent[k]
			s.Lost[k] += c.Lost[k]
		}
	}
	return s, nil
}

func (o *bpfObjects) readProgs() (map[string]progStat, error) {
	out := make(map[string]progStat, len(o.progs))
	for name, p := range o.progs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		out[name] = progStat{Runs: st.RunCount, Runtime: st.Runtime, RecursionMisses: st.RecursionMisses}
	}
	return out, nil
}

// foreignOsecPrograms counts the osec_* programs loaded on the machine that are not in mine:
// a test suite or another collector running at the same time, which would add its own cost to
// every exec of both the "off" and the "on" runs.
func foreignOsecPrograms(mine map[ebpf.ProgramID]bool) int {
	n := 0
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return n // ErrNotExist at the end
		}
		id = next
		if mine[id] {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		p.Close()
		if err == nil && strings.HasPrefix(info.Name, "osec_") {
			n++
		}
	}
}

const bpfStatsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// statsEnabler turns on the kernel's per-program run time accounting (the same static key as
// `sysctl kernel.bpf_stats_enabled=1`) with BPF_ENABLE_STATS: the kernel turns it off again when
// the returned file descriptor closes, even if this process is killed, so a failed benchmark can
// never leave it on. If that call is unavailable it falls back to the sysctl and restores it.
type statsEnabler struct {
	closer   interface{ Close() error }
	restored string // sysctl value to write back, when the sysctl was used
}

func enableBPFStats() (*statsEnabler, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err == nil {
		return &statsEnabler{closer: c}, nil
	}
	prev := readTrim(bpfStatsSysctl)
	if prev == "" {
		return nil, fmt.Errorf("enable bpf stats: %w (and %s is unreadable)", err, bpfStatsSysctl)
	}
	logf("BPF_ENABLE_STATS failed (%v): using the sysctl %s instead", err, bpfStatsSysctl)
	if werr := os.WriteFile(bpfStatsSysctl, []byte("1"), 0); werr != nil {
		return nil, errors.Join(fmt.Errorf("enable bpf stats: %w", err), werr)
	}
	return &statsEnabler{restored: prev}, nil
}

func (s *statsEnabler) Close() error {
	if s == nil {
		return nil
	}
	if s.closer != nil {
		err := s.closer.Close()
		s.closer = nil
		return err
	}
	if s.restored != "" {
		err := os.WriteFile(bpfStatsSysctl, []byte(s.restored), 0)
		s.restored = ""
		return err
	}
	return nil
}

type ebpfProgramID = ebpf.ProgramID
