// Package testserver starts real servers for tests: VictoriaLogs, which accepts the Splunk HTTP
// Event Collector, Elasticsearch bulk, Loki push and OTLP logs protocols and answers LogsQL
// queries, and a fault-injecting reverse proxy to put in front of it.
//
//	vl := testserver.Start(t)          // stopped by t.Cleanup
//	... export to vl.HECEndpoint(), vl.ElasticsearchEndpoint(), vl.OTLPEndpoint() ...
//	rows := vl.Await(t, `marker`, 1)   // LogsQL; each row maps field names to values
//
// The binary is installed once by scripts/install-victorialogs.sh (make test runs it) into
// ${OTELSEC_CACHE:-$HOME/.cache/otelsec}/bin; OTELSEC_VICTORIALOGS names another binary.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the VictoriaLogs release the tests run.
const Version = "v1.52.1"

// Binary returns the path of the VictoriaLogs binary, or an error saying how to install it.
func Binary() (string, error) {
	if p := os.Getenv("OTELSEC_VICTORIALOGS"); p != "" {
		return p, nil
	}
	cache := os.Getenv("OTELSEC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "otelsec")
	}
	p := filepath.Join(cache, "bin", "victoria-logs")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("VictoriaLogs %s is not installed at %s: run scripts/install-victorialogs.sh (make test does)", Version, p)
	}
	return p, nil
}

// VictoriaLogs is a VictoriaLogs server run by a test.
type VictoriaLogs struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	t       testing.TB
	bin     string
	addr    string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start starts VictoriaLogs on a free local port with an empty store, waits until it is ready
// and stops it when the test ends. It fails the test when the binary is missing.
func Start(t testing.TB) *VictoriaLogs {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v := &VictoriaLogs{t: t, bin: bin, addr: freeAddr(t), dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "victoria-logs.log")}
	v.URL = "http://" + v.addr
	v.start()
	t.Cleanup(v.Stop)
	return v
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (v *VictoriaLogs) start() {
	v.t.Helper()
	logf, err := os.OpenFile(v.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		v.t.Fatal(err)
	}
	v.cmd = exec.Command(v.bin,
		"-httpListenAddr="+v.addr,
		"-storageDataPath="+v.dataDir,
		"-retentionPeriod=30d",
		"-loggerLevel=WARN",
		"-inmemoryDataFlushInterval=1s",
	)
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	if err := v.cmd.Start(); err != nil {
		logf.Close()
		v.t.Fatalf("start VictoriaLogs: %v", err)
	}
	v.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}(v.cmd, v.exited)

	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(v.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-v.exited:
			v.t.Fatalf("VictoriaLogs exited at start:\n%s", v.Log())
		default:
		}
		if time.Now().After(deadline) {
			v.Stop()
			v.t.Fatalf("VictoriaLogs not ready at %s after 30s:\n%s", v.URL, v.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s). Stored logs stay for Restart.
func (v *VictoriaLogs) Stop() {
	if v.cmd == nil {
		return
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.exited
	}
	v.cmd = nil
}

// Restart starts a stopped server again, on the same address with the same store.
func (v *VictoriaLogs) Restart() {
	v.t.Helper()
	if v.cmd != nil {
		v.t.Fatal("VictoriaLogs is running")
	}
	v.start()
}

// Log returns the server's own log.
func (v *VictoriaLogs) Log() string {
	b, _ := os.ReadFile(v.logPath)
	return string(b)
}

// Addr is the server's host:port.
func (v *VictoriaLogs) Addr() string { return v.addr }

// HECEndpoint is the base URL of the Splunk HTTP Event Collector API: events are posted to
// /services/collector/event and the health check is /services/collector/health. Stored HEC
// events keep the envelope's host, source, sourcetype, index and time; the event's fields are
// named event.<field>. The request must say Content-Type: application/json, otherwise
// VictoriaLogs answers Success and stores nothing.
func (v *VictoriaLogs) HECEndpoint() string { return v.URL }

// ElasticsearchEndpoint is the base URL of the Elasticsearch API (/_bulk under it). The
// bulk action's _index is not stored; documents are flattened to dotted field names. Send the
// header VL-Time-Field: @timestamp (and VL-Msg-Field: message) so that ECS documents keep
// their time and message.
func (v *VictoriaLogs) ElasticsearchEndpoint() string { return v.URL + "/insert/elasticsearch" }

// OTLPEndpoint is the OTLP/HTTP logs endpoint's base, for the otlp_http exporter's
// logs_endpoint use OTLPEndpoint()+"/v1/logs". Resource attributes become the stream fields
// (_stream), as Loki's OTLP endpoint makes index labels of them; record attributes become
// plain fields (Loki's structured metadata).
func (v *VictoriaLogs) OTLPEndpoint() string { return v.URL + "/insert/opentelemetry" }

// LokiPushURL is the Loki push API.
func (v *VictoriaLogs) LokiPushURL() string { return v.URL + "/insert/loki/api/v1/push" }

// Flush makes everything ingested so far searchable.
func (v *VictoriaLogs) Flush(t testing.TB) {
	t.Helper()
	resp, err := http.Get(v.URL + "/internal/force_flush")
	if err != nil {
		t.Fatalf("VictoriaLogs force flush: %v", err)
	}
	resp.Body.Close()
}

// Query flushes, then runs a LogsQL query over all stored logs and returns the rows, each a
// map of field name to value (VictoriaLogs stores every value as a string; arrays and objects
// as JSON), ordered by _time.
func (v *VictoriaLogs) Query(t testing.TB, logsql string) []map[string]string {
	t.Helper()
	rows, err := v.query(logsql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (v *VictoriaLogs) query(logsql string) ([]map[string]string, error) {
	if resp, err := http.Get(v.URL + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	form := url.Values{"query": {logsql + " | sort by (_time)"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.URL+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("VictoriaLogs query %q: %w", logsql, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("VictoriaLogs query %q: %s: %s", logsql, resp.Status, b)
	}
	var rows []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		row := map[string]string{}
		if err := json.Unmarshal(line, &row); err != nil {
			return nil, fmt.Errorf("VictoriaLogs query %q: row %q: %w", logsql, line, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// Await runs the query until it returns at least n rows, for up to 30 s, and returns them.
func (v *VictoriaLogs) Await(t testing.TB, logsql string, n int) []map[string]string {
	t.Helper()
	return v.AwaitFor(t, logsql, n, 30*time.Second)
}

// AwaitFor is Await with a deadline.
func (v *VictoriaLogs) AwaitFor(t testing.TB, logsql string, n int, timeout time.Duration) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows, err := v.query(logsql)
		if err == nil && len(rows) >= n {
			return rows
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("timed out")
			}
			t.Fatalf("VictoriaLogs: %d rows for %q after %s, want %d (%v)", len(rows), logsql, timeout, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
