// Tests of the built collector (_build/otelsec) on the SIEM routes: the Loki route of
// loki.yaml, and the persistent queue of the Splunk HEC and Elasticsearch exporters across
// restarts. They run the real receiver (as root) and a real VictoriaLogs.
package distribution_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.yaml.in/yaml/v3"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/testserver"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the collector's eBPF receiver loads BPF programs (run the tests with `make test` as root)")
	}
}

// collectorBinary returns the built distribution: $OTELSEC_BIN (a relative path is from the
// repository root, as make test sets it), else ../_build/otelsec, built with `make build` when
// missing (make test builds it before the Go tests).
func collectorBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OTELSEC_BIN"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join("..", p)
		}
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "_build", "otelsec"))
	require.NoError(t, err)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Logf("%s is missing: running make build", p)
	cmd := exec.Command("make", "--no-print-directory", "build")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make build:\n%s", out)
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// collector is a running otelsec process.
type collector struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startCollector runs the binary with the configuration files, waits for its health check on
// healthPort and stops it (SIGTERM) when the test ends; its output is shown when the test failed.
func startCollector(t *testing.T, env []string, healthPort int, configs ...string) *collector {
	t.Helper()
	c := &collector{t: t, log: filepath.Join(t.TempDir(), "otelsec.log"), exited: make(chan struct{})}
	f, err := os.Create(c.log)
	require.NoError(t, err)
	var args []string
	for _, cfg := range configs {
		args = append(args, "--config", cfg)
	}
	c.cmd = exec.Command(collectorBinary(t), args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	require.NoError(t, c.cmd.Start())
	go func() {
		_ = c.cmd.Wait()
		f.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(c.log)
			t.Logf("collector output:\n%s", tail(string(b), 60))
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", healthPort)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.exited:
			b, _ := os.ReadFile(c.log)
			t.Fatalf("collector exited before it was ready:\n%s", tail(string(b), 60))
		default:
		}
		require.True(t, time.Now().Before(deadline), "collector not ready after 90s")
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to end (SIGKILL after 20 s).
func (c *collector) stop(sig syscall.Signal) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.t.Errorf("collector still running 20s after %s", sig)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

func (c *collector) output() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// vlString is a value as VictoriaLogs stores it: numbers in decimal, arrays as JSON.
func vlString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
		b, _ := json.Marshal(v.AsRaw())
		return string(b)
	}
	return v.AsString()
}

// TestLokiRoute runs the built collector with loki.yaml, its otlp_http exporter pointed at a
// real VictoriaLogs, whose OTLP endpoint keeps resource attributes as stream fields the way
// Loki's makes index labels of them, and record attributes as plain fields the way Loki keeps
// structured metadata. A command's process.exec must arrive with exactly the indexed
// attributes on its stream (service.name, host.name, otelsec.event.family), every other
// attribute as a field, and the values the kernel saw.
func TestLokiRoute(t *testing.T) {
	requireRoot(t)
	vl := testserver.Start(t)
	proxy := testserver.NewProxy(t, vl.URL)
	health := freePort(t)
	overlay := writeYAML(t, map[string]any{
		"exporters": map[string]any{"otlp_http/loki": map[string]any{
			"logs_endpoint": proxy.URL + "/insert/opentelemetry/v1/logs",
		}},
		"extensions": map[string]any{
			"file_storage/loki": map[string]any{"directory": t.TempDir()},
			"health_check":      map[string]any{"endpoint": fmt.Sprintf("127.0.0.1:%d", health)},
		},
		"service": map[string]any{"telemetry": map[string]any{"metrics": map[string]any{"level": "none"}}},
	})
	const node = "otelsec-loki-route-test"
	startCollector(t, []string{"NODE_NAME=" + node}, health, "loki.yaml", overlay)

	marker := fmt.Sprintf("otelsec-loki-%d", time.Now().UnixNano())
	cmd := exec.Command("/bin/echo", marker)
	cmd.Dir = t.TempDir()
	require.NoError(t, cmd.Run())
	rows := vl.AwaitFor(t, marker, 1, 60*time.Second)
	require.Len(t, rows, 1)
	row := rows[0]

	// The stream: the attributes Loki indexes, nothing else (VictoriaLogs adds the record's
	// EventName as event_name; Loki drops it, hence the route's event.name attribute).
	assert.Equal(t, fmt.Sprintf(`{event_name="process.exec",host.name=%q,otelsec.event.family="process",service.name="otelsec"}`, node), row["_stream"])

	// The record as the route sent it (from the proxy's recording) and as stored.
	var sent pcommon.Map
	var res pcommon.Resource
	for _, r := range proxy.Requests() {
		req := plogotlp.NewExportRequest()
		require.NoError(t, req.UnmarshalProto(r.Body))
		for _, rl := range req.Logs().ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() == schema.EventProcessExec && strings.Contains(lr.Body().Str(), marker) {
						sent, res = lr.Attributes(), rl.Resource()
						assert.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
					}
				}
			}
		}
	}
	require.NotNil(t, sent.AsRaw(), "the process.exec of %s among the requests", marker)
	var resKeys []string
	for k := range res.Attributes().All() {
		resKeys = append(resKeys, k)
	}
	slices.Sort(resKeys)
	assert.Equal(t, []string{"host.name", "otelsec.event.family", "service.name"}, resKeys)
	for k, v := range sent.All() {
		if s := vlString(v); s != "" {
			assert.Equal(t, s, row[k], "field %s", k)
		}
	}
	machineID, _ := os.ReadFile("/etc/machine-id")
	for k, want := range map[string]string{
		"event.name":                schema.EventProcessExec,
		"host.id":                   strings.TrimSpace(string(machineID)),
		"os.type":                   "linux",
		"process.pid":               fmt.Sprint(cmd.Process.Pid),
		"process.parent_pid":        fmt.Sprint(os.Getpid()),
		"process.executable.path":   "/usr/bin/echo",
		"process.command_args":      `["/bin/echo","` + marker + `"]`,
		"process.working_directory": cmd.Dir,
		"process.user.id":           "0",
	} {
		assert.Equal(t, want, row[k], k)
	}
	for _, k := range []string{"host.name", "service.name", "otelsec.event.family"} {
		_, onRecord := sent.Get(k)
		assert.False(t, onRecord, "%s is on the stream only", k)
	}
	assert.Contains(t, row["_msg"], "exec /usr/bin/echo (pid ")
}

// TestPersistentQueueSurvivesRestart stops the server, runs commands, stops the collector
// (SIGTERM, or SIGKILL: no chance to flush) once their events are queued, brings the server
// back and starts the collector again on the same file_storage directory: every event arrives,
// once.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	requireRoot(t)
	for _, tt := range []struct {
		name     string
		exporter string
		sig      syscall.Signal
	}{
		{"splunk_hec/SIGTERM", "otelsec_splunk_hec", syscall.SIGTERM},
		{"elasticsearch/SIGKILL", "otelsec_elasticsearch", syscall.SIGKILL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vl := testserver.Start(t)
			target := vl.HECEndpoint()
			if tt.exporter == "otelsec_elasticsearch" {
				target = vl.ElasticsearchEndpoint()
			}
			proxy := testserver.NewProxy(t, target)
			queueDir := t.TempDir()
			health := freePort(t)
			exp := map[string]any{
				"endpoint": proxy.URL,
				// Ten consumers (the default): every batch is tried while the server is down,
				// which tells the test that its events are in the queue.
				"sending_queue": map[string]any{
					"storage": "file_storage", "num_consumers": 10,
					"batch": map[string]any{"flush_timeout": "100ms"},
				},
				"retry_on_failure": map[string]any{"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "0s"},
			}
			if tt.exporter == "otelsec_splunk_hec" {
				exp["token"] = "restart-test-token"
			} else {
				exp["headers"] = map[string]any{"VL-Time-Field": "@timestamp", "VL-Msg-Field": "message"}
			}
			config := writeYAML(t, map[string]any{
				"receivers":  map[string]any{"ebpfsecurity": map[string]any{"ring_buffer": map[string]any{"flush_interval": "20ms"}}},
				"exporters":  map[string]any{tt.exporter: exp},
				"extensions": map[string]any{"file_storage": map[string]any{"directory": queueDir}, "health_check": map[string]any{"endpoint": fmt.Sprintf("127.0.0.1:%d", health)}},
				"service": map[string]any{
					"extensions": []string{"file_storage", "health_check"},
					"pipelines":  map[string]any{"logs": map[string]any{"receivers": []string{"ebpfsecurity"}, "exporters": []string{tt.exporter}}},
					"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
				},
			})
			first := startCollector(t, nil, health, config)

			vl.Stop()
			prefix := fmt.Sprintf("otelsec-restart-%d", time.Now().UnixNano())
			const n = 20
			for i := range n {
				require.NoError(t, exec.Command("/usr/bin/printf", "%s", fmt.Sprintf("%s-%03d", prefix, i)).Run())
			}
			// Queued: each of them has been tried (and failed) at least once.
			require.Eventually(t, func() bool {
				seen := map[string]bool{}
				for _, r := range proxy.Requests() {
					for i := range n {
						if m := fmt.Sprintf("%s-%03d", prefix, i); strings.Contains(string(r.Body), m) {
							seen[m] = true
						}
					}
				}
				return len(seen) == n
			}, 30*time.Second, 50*time.Millisecond, "every event tried while the server is down")
			first.stop(tt.sig)
			// exporterhelper logs the batches a shutdown interrupts as dropped, but a persistent
			// queue keeps them for the next start (what the rest of the test checks); any other
			// drop is a loss.
			for _, line := range strings.Split(first.output(), "\n") {
				if strings.Contains(line, "Dropping data") {
					assert.Contains(t, line, "interrupted due to shutdown", "a drop at shutdown")
				}
			}

			vl.Restart()
			startCollector(t, nil, health, config)
			vl.AwaitFor(t, prefix, n, 60*time.Second)
			time.Sleep(time.Second)
			rows := vl.Query(t, prefix)
			var got []string
			for _, r := range rows {
				msg := r["_msg"]
				if tt.exporter == "otelsec_splunk_hec" {
					msg = r["event.process"]
				}
				got = append(got, msg[strings.Index(msg, prefix):])
			}
			var want []string
			for i := range n {
				want = append(want, fmt.Sprintf("%s-%03d", prefix, i))
			}
			assert.ElementsMatch(t, want, got, "every event once")
		})
	}
}
