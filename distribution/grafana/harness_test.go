package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The repository root, from this package's directory.
const repoRoot = "../.."

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the collector's eBPF receiver loads BPF programs (run the tests with `make test` as root)")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// collectorBinary returns the built distribution: $OTELSEC_BIN, else _build/otelsec, built with
// `make build` when missing (~7 s warm, several minutes cold).
func collectorBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OTELSEC_BIN"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join(repoRoot, "_build", "otelsec"))
	require.NoError(t, err)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Logf("%s is missing: running make build", p)
	cmd := exec.Command("make", "--no-print-directory", "build")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make build:\n%s", out)
	return p
}

// prometheusBinary returns a Prometheus 2.x server: $PROMETHEUS_BIN, else the one
// scripts/prometheus-test-env.sh installs under $OTELSEC_CACHE, else prometheus on PATH.
// Without one the test is skipped, naming what is missing, unless OTELSEC_REQUIRE_PROMETHEUS
// is set (make test), where it fails.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS_BIN"); p != "" {
		return p
	}
	cache := os.Getenv("OTELSEC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		cache = filepath.Join(home, ".cache", "otelsec")
	}
	if p := filepath.Join(cache, "prometheus", "bin", "prometheus"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	why := "no Prometheus server: run scripts/prometheus-test-env.sh (make test does) or set PROMETHEUS_BIN"
	if os.Getenv("OTELSEC_REQUIRE_PROMETHEUS") != "" {
		t.Fatalf("OTELSEC_REQUIRE_PROMETHEUS is set but %s", why)
	}
	t.Skip(why)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// process is a server the test started; it is stopped (SIGTERM, then SIGKILL) when the test
// ends, and its output is shown when the test failed.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	require.NoError(t, err)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(t, p.cmd.Start(), "start %s", name)
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("%s still running 15s after SIGTERM: killed", name)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s output (last 40 lines):\n%s", name, p.tail(40))
		}
	})
	return p
}

func (p *process) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 400 {
			lines[i] = l[:400] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// waitReady polls url until it answers 200, failing when the process exits or after timeout.
func (p *process) waitReady(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.tail(40))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after %s (last error %v):\n%s", p.name, url, timeout, err, p.tail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// blackHole accepts TCP connections and never answers: an exporter sending to it times out.
func blackHole(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { // read and discard, so the client's writes never block
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().(*net.TCPAddr).Port
}

// promAPI is a client of Prometheus's HTTP API.
type promAPI struct{ base string }

type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func (p promAPI) get(ctx context.Context, path string, params url.Values) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r promResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// metricNames returns every metric name Prometheus holds.
func (p promAPI) metricNames(ctx context.Context) (map[string]bool, error) {
	data, err := p.get(ctx, "/api/v1/label/__name__/values", nil)
	if err != nil {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m, nil
}

// series returns the label sets of a metric's series.
func (p promAPI) series(ctx context.Context, metric string) ([]map[string]string, error) {
	data, err := p.get(ctx, "/api/v1/series", url.Values{"match[]": {metric},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}})
	if err != nil {
		return nil, err
	}
	var s []map[string]string
	return s, json.Unmarshal(data, &s)
}

// query runs an instant query and returns its result's type and the number of its series.
func (p promAPI) query(ctx context.Context, q string) (string, int, error) {
	data, err := p.get(ctx, "/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		return "", 0, err
	}
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", 0, err
	}
	if r.ResultType != "vector" && r.ResultType != "matrix" {
		return r.ResultType, 1, nil // scalar or string
	}
	var s []json.RawMessage
	if err := json.Unmarshal(r.Result, &s); err != nil {
		return "", 0, err
	}
	return r.ResultType, len(s), nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}
