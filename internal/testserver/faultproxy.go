package testserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Proxy is a reverse proxy in front of a real server that records every request and injects
// the faults its Fault function chooses: a status code with a body, a delay, a dropped
// connection, or per-item failures of an Elasticsearch bulk request (the failed items are
// removed before the rest is forwarded, as a real cluster would not index them).
type Proxy struct {
	// URL is the proxy's base URL; paths are forwarded unchanged.
	URL string

	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	mu       sync.Mutex
	fault    func(*Request) *Fault
	requests []*Request
}

// Request is one request the proxy received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the decompressed body; WireBytes its size as sent.
	Body      []byte
	WireBytes int
	// Status is what the client was answered (0 for a dropped connection).
	Status int
	// Injected says the proxy answered (or failed items) instead of the server.
	Injected bool
}

// Fault is what the proxy does with one request. The zero Fault forwards it.
type Fault struct {
	// Delay waits before answering or forwarding (the client may give up first).
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Status answers with this status, Body and Header instead of forwarding.
	Status int
	Body   string
	Header map[string]string
	// BulkItem fails items of an Elasticsearch bulk request: for the i-th item (its action
	// and document lines) it returns 0 to index it, or the status, error type and reason of
	// its failure.
	BulkItem func(i int, action, doc []byte) (status int, errType, reason string)
}

// NewProxy starts a proxy to target (a base URL), closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	return newProxy(t, target, false)
}

// NewTLSProxy is NewProxy serving HTTPS with a certificate for 127.0.0.1 signed by its own CA,
// whose PEM file it returns (for a client's tls::ca_file).
func NewTLSProxy(t testing.TB, target string) (*Proxy, string) {
	t.Helper()
	p := newProxy(t, target, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, ca
}

func newProxy(t testing.TB, target string, tls bool) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: u}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	// The server down: the client's connection is closed without an answer, as when nothing
	// listens (a load balancer would answer 502 or 503 instead; inject those with a Fault).
	p.rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	if tls {
		p.srv.StartTLS()
	} else {
		p.srv.Start()
	}
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// SetFault sets the function choosing each request's fault (nil: forward everything).
func (p *Proxy) SetFault(f func(*Request) *Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Requests returns the requests received so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.requests))
	for i, r := range p.requests {
		out[i] = *r
	}
	return out
}

// Reset forgets the recorded requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.requests = nil
	p.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "proxy: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	body := wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, "proxy: gunzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	req := &Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, WireBytes: len(wire)}
	p.mu.Lock()
	p.requests = append(p.requests, req)
	faultFn := p.fault
	p.mu.Unlock()

	var f Fault
	if faultFn != nil {
		if ff := faultFn(req); ff != nil {
			f = *ff
		}
	}
	setStatus := func(s int, injected bool) {
		p.mu.Lock()
		req.Status, req.Injected = s, injected
		p.mu.Unlock()
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			setStatus(0, true)
			return
		}
	}
	switch {
	case f.Drop:
		setStatus(0, true)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		setStatus(f.Status, true)
	case f.BulkItem != nil:
		p.bulk(w, r, req, f.BulkItem)
	default:
		r.Body = io.NopCloser(bytes.NewReader(wire))
		r.ContentLength = int64(len(wire))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p.rp.ServeHTTP(sw, r)
		setStatus(sw.status, false)
	}
}

type bulkItemResult struct {
	Index  string `json:"_index"`
	Status int    `json:"status"`
	Result string `json:"result,omitempty"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error,omitempty"`
}

// bulk forwards the items BulkItem lets through and answers for all of them as Elasticsearch
// would: 201 for the indexed ones, the injected status and error for the others.
func (p *Proxy) bulk(w http.ResponseWriter, r *http.Request, req *Request, itemFn func(int, []byte, []byte) (int, string, string)) {
	var forward bytes.Buffer
	var results []map[string]bulkItemResult
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(req.Body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	if len(lines)%2 != 0 {
		http.Error(w, "proxy: bulk body has an action without a document", http.StatusBadRequest)
		return
	}
	failed := false
	for i := 0; i < len(lines); i += 2 {
		action, doc := lines[i], lines[i+1]
		var meta map[string]struct {
			Index string `json:"_index"`
		}
		_ = json.Unmarshal(action, &meta)
		op, index := "create", ""
		for k, v := range meta {
			op, index = k, v.Index
		}
		res := bulkItemResult{Index: index, Status: http.StatusCreated, Result: "created"}
		if status, typ, reason := itemFn(i/2, action, doc); status != 0 {
			failed = true
			res = bulkItemResult{Index: index, Status: status}
			res.Error = &struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			}{typ, reason}
		} else {
			forward.Write(action)
			forward.WriteByte('\n')
			forward.Write(doc)
			forward.WriteByte('\n')
		}
		results = append(results, map[string]bulkItemResult{op: res})
	}
	if forward.Len() > 0 {
		fr, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.target.JoinPath(r.URL.Path).String()+"?"+r.URL.RawQuery, &forward)
		if err != nil {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		fr.Header = r.Header.Clone()
		fr.Header.Del("Content-Encoding")
		fr.Header.Del("Content-Length")
		resp, err := http.DefaultClient.Do(fr)
		if err != nil {
			panic(http.ErrAbortHandler) // the server is down: as in NewProxy
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			w.WriteHeader(resp.StatusCode)
			w.Write(b)
			return
		}
	}
	out, _ := json.Marshal(map[string]any{"took": 1, "errors": failed, "items": results})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	p.mu.Lock()
	req.Status, req.Injected = http.StatusOK, failed
	p.mu.Unlock()
}

// HECError is the answer Splunk's HTTP Event Collector gives with status (400, 401, 403, 429,
// 500, 503), with its JSON body (text and code).
func HECError(status int) *Fault {
	text, code := map[int]string{
		http.StatusBadRequest:          "Invalid data format",
		http.StatusUnauthorized:        "Token is required",
		http.StatusForbidden:           "Invalid token",
		http.StatusTooManyRequests:     "Too many requests",
		http.StatusInternalServerError: "Internal server error",
		http.StatusServiceUnavailable:  "Server is busy",
	}[status], map[int]int{400: 6, 401: 2, 403: 4, 429: 9, 500: 8, 503: 9}[status]
	body := fmt.Sprintf(`{"text":%q,"code":%d}`, text, code)
	if status == http.StatusBadRequest {
		body = fmt.Sprintf(`{"text":%q,"code":%d,"invalid-event-number":0}`, text, code)
	}
	return &Fault{Status: status, Body: body, Header: map[string]string{"Content-Type": "application/json"}}
}

// ElasticsearchError is the answer Elasticsearch gives a whole bulk request with status.
func ElasticsearchError(status int, errType, reason string) *Fault {
	body := fmt.Sprintf(`{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`,
		errType, reason, errType, reason, status)
	return &Fault{Status: status, Body: body, Header: map[string]string{
		"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}}
}
