package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// workload forks and execs one program (by default /bin/true) and waits for it, as lightly as
// Go allows: syscall.ForkExec (a vfork-style clone), then wait4, no pipes, no environment.
type workload struct {
	path  string
	label string // how the summary names it
	argv  []string
	attr  *syscall.ProcAttr
	null  *os.File
}

func newWorkload(path string) (*workload, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fd := null.Fd()
	return &workload{
		path:  path,
		label: path,
		argv:  []string{path},
		attr:  &syscall.ProcAttr{Dir: "/", Env: []string{}, Files: []uintptr{fd, fd, fd}},
		null:  null,
	}, nil
}

func (w *workload) Close() error { return w.null.Close() }

// one runs the program once and returns the wall time from fork to reaped exit.
func (w *workload) one() (time.Duration, error) {
	t0 := time.Now()
	pid, err := syscall.ForkExec(w.path, w.argv, w.attr)
	if err != nil {
		return 0, fmt.Errorf("fork+exec %s: %w", w.path, err)
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("wait4 %d: %w", pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, fmt.Errorf("%s (pid %d) ended with status %v", w.path, pid, ws)
	}
	return d, nil
}

// sequential runs the program n times, one after the other, and returns each wall time.
func (w *workload) sequential(ctx context.Context, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return lat, ctx.Err()
		}
		d, err := w.one()
		if err != nil {
			return lat, err
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// pacedResult is what a paced run achieved.
type pacedResult struct {
	lat     []time.Duration
	elapsed time.Duration // from the first scheduled start to the last exit
	maxLag  time.Duration // the most a start was late against its schedule
}

// paced runs the program rate times a second for d: a pacer hands out one start every 1/rate s
// to a pool of workers (so a slow exec does not hold the next one back). When the workers cannot
// keep up, starts run late and the achieved rate, execs / elapsed, falls below the target.
// Starts still due when d has passed are not made.
func (w *workload) paced(ctx context.Context, rate int, d time.Duration, workers int) (pacedResult, error) {
	total := int(float64(rate) * d.Seconds())
	period := time.Second / time.Duration(rate)
	starts := make(chan time.Time)
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, total)
		firstErr error
		maxLag   time.Duration
		wg       sync.WaitGroup
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for due := range starts {
				lag := time.Since(due)
				dur, err := w.one()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					lat = append(lat, dur)
				}
				if lag > maxLag {
					maxLag = lag
				}
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	for i := 0; i < total; i++ {
		due := t0.Add(time.Duration(i) * period)
		if s := time.Until(due); s > 0 {
			time.Sleep(s)
		}
		// Starts that fall behind beyond the run's length are dropped: the run lasts d (plus the
		// execs under way), and a machine that cannot keep up shows a lower achieved rate.
		if ctx.Err() != nil || time.Since(t0) > d {
			break
		}
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		starts <- due
	}
	close(starts)
	wg.Wait()
	res := pacedResult{lat: lat, elapsed: time.Since(t0), maxLag: maxLag}
	if firstErr != nil {
		return res, firstErr
	}
	return res, ctx.Err()
}

// writeTinyTrue writes the smallest program that exits 0: a static x86-64 ELF of 129 bytes
// (mov eax, 60; xor edi, edi; syscall) with no dynamic loader and no libc. Its fork+exec is
// the kernel's own cost; /bin/true adds ld.so mapping and relocating libc, page faults that
// are expensive in a VM.
func writeTinyTrue(dir string) (string, error) {
	if runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("target tiny: only on amd64, not %s", runtime.GOARCH)
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	code := []byte{0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}
	size := uint64(ehsize + phsize + len(code))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	le := binary.LittleEndian
	binary.Write(&b, le, struct {
		Type, Machine              uint16
		Version                    uint32
		Entry, Phoff, Shoff        uint64
		Flags                      uint32
		Ehsize, Phentsize, Phnum   uint16
		Shentsize, Shnum, Shstrndx uint16
	}{2, 0x3e, 1, base + ehsize + phsize, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0})
	binary.Write(&b, le, struct {
		Type, Flags                             uint32
		Off, Vaddr, Paddr, Filesz, Memsz, Align uint64
	}{1, 5, 0, base, base, size, size, 0x1000})
	b.Write(code)
	path := filepath.Join(dir, "tiny-true")
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// resolveTarget turns "tiny" into the path of a freshly written tiny-true.
func resolveTarget(target, dir string) (string, error) {
	if target == "tiny" {
		return writeTinyTrue(dir)
	}
	return target, nil
}
