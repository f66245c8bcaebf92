package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clkTck is USER_HZ, the unit of /proc/PID/stat and /proc/stat times (sysconf(_SC_CLK_TCK) is
// 100 on every Linux architecture Go supports; the kernel's ABI fixes it).
const clkTck = 100

func ticksToDuration(t uint64) time.Duration { return time.Duration(t) * time.Second / clkTck }

// procCPU is utime+stime of a process from /proc/PID/stat, in clock ticks.
func procCPU(pid int) (uint64, error) {
	u, s, err := procUserSys(pid)
	return u + s, err
}

// procUserSys is utime and stime of a process from /proc/PID/stat, in clock ticks.
func procUserSys(pid int) (utime, stime uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return ut, st, nil
}

// procSchedNs sums the on-CPU time (ns) of every live thread of a process from
// /proc/PID/task/*/schedstat: the same quantity as utime+stime at ns resolution, a cross-check
// of the tick counts (it misses threads that ended, which a Go program rarely has).
func procSchedNs(pid int) uint64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseUint(f[0], 10, 64)
			sum += v
		}
	}
	return sum
}

// procMem returns VmHWM and VmRSS of a process in KiB.
func procMem(pid int) (hwm, rss uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *uint64
		}{{"VmHWM:", &hwm}, {"VmRSS:", &rss}} {
			if strings.HasPrefix(line, k.name) {
				fs := strings.Fields(line[len(k.name):])
				if len(fs) > 0 {
					*k.dst, _ = strconv.ParseUint(fs[0], 10, 64)
				}
			}
		}
	}
	return hwm, rss, sc.Err()
}

// bpfFDs lists the ids of the BPF programs and maps a process holds, from /proc/PID/fdinfo
// (links carry their program's id too; duplicates are removed).
func bpfFDs(pid int) (progs, maps []uint32, err error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	seenP, seenM := map[uint32]bool{}, map[uint32]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch k {
			case "prog_id":
				if !seenP[uint32(id)] {
					seenP[uint32(id)] = true
					progs = append(progs, uint32(id))
				}
			case "map_id":
				if !seenM[uint32(id)] {
					seenM[uint32(id)] = true
					maps = append(maps, uint32(id))
				}
			}
		}
	}
	return progs, maps, nil
}

// sysCPU is the machine-wide CPU time from /proc/stat, in ticks.
type sysCPU struct{ busy, steal uint64 }

func readSysCPU() (sysCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return sysCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var v [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	return sysCPU{busy: v[0] + v[1] + v[2] + v[5] + v[6], steal: v[7]}, nil
}

// selfCPU is the CPU time of this process and of its reaped children (the workload).
func selfCPU() (self, children time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return self, children
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
