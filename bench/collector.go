package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// collector is one running _build/otelsec.
type collector struct {
	cmd     *exec.Cmd
	pid     int
	logPath string
	pidFile string
	done    chan struct{}
	waitErr error
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

func httpOK(url string) bool {
	resp, err := httpClient.Get(url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startCollector starts the collector and waits until its health check answers (every
// component started: the BPF programs are attached and the process cache is seeded).
func startCollector(ctx context.Context, o *options, logPath string) (*collector, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(o.bin, "--config", o.config)
	cmd.Stdout, cmd.Stderr = out, out
	// SIGKILL when the harness dies without cleaning up (main is locked to its OS thread, the
	// thread Pdeathsig watches); scripts/bench.sh also kills the pid in pidFile on exit.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.bin, err)
	}
	c := &collector{cmd: cmd, pid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	setCurrent(c)
	if o.outDir != "" {
		c.pidFile = o.outDir + "/collector.pid"
		os.WriteFile(c.pidFile, []byte(strconv.Itoa(c.pid)+"\n"), 0o644)
	}
	go func() { c.waitErr = cmd.Wait(); close(c.done) }()

	deadline := time.Now().Add(o.readyTimeout)
	for !httpOK(o.healthURL) {
		select {
		case <-c.done:
			c.clear()
			return nil, fmt.Errorf("collector exited (%v) before its health check answered; last lines of %s:\n%s", c.waitErr, logPath, tail(logPath, 15))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("collector health check %s not ready after %v; last lines of %s:\n%s", o.healthURL, o.readyTimeout, logPath, tail(logPath, 15))
		}
	}
	return c, nil
}

func (c *collector) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for a clean exit, SIGKILL after 15 s.
func (c *collector) stop() error {
	if c == nil {
		return nil
	}
	defer c.clear()
	if !c.alive() {
		return fmt.Errorf("collector had already exited: %v", c.waitErr)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
		c.kill()
		return errors.New("collector did not stop within 15 s of SIGTERM; killed")
	}
}

func (c *collector) kill() {
	if c != nil && c.alive() {
		c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *collector) clear() {
	if c.pidFile != "" {
		os.Remove(c.pidFile)
	}
	setCurrent(nil)
}

// hooks returns the "hooks" field of the receiver's start line, e.g.
// ["process.exec=tp_btf/sched_process_exec", ...].
func (c *collector) hooks() string {
	b, _ := os.ReadFile(c.logPath)
	m := regexp.MustCompile(`"hooks": (\[[^\]]*\])`).FindSubmatch(b)
	if m == nil {
		return "unknown"
	}
	return string(m[1])
}

// acceptedLogRecords scrapes the collector's own telemetry: log records the ebpfsecurity receiver
// handed to the pipeline (otelcol_receiver_accepted_log_records).
func acceptedLogRecords(url string) (uint64, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "otelcol_receiver_accepted_log_records") && strings.Contains(line, `receiver="ebpfsecurity"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, fmt.Errorf("parse %q: %w", line, err)
			}
			return uint64(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil // no record accepted yet: the counter is not exported before the first
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return "    " + strings.Join(lines, "\n    ")
}
