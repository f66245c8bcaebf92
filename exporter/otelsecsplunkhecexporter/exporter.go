package otelsecsplunkhecexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/exporter/otelsecsplunkhecexporter/internal/metadata"
	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/siem"
)

type hecExporter struct {
	cfg       *Config
	set       exporter.Settings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	cim       *siem.CIM
	eventURL  string
	healthURL string
	auth      string

	client *http.Client
	bufs   sync.Pool

	// The start-up health check runs in the background until Shutdown.
	cancelHealth context.CancelFunc
	wg           sync.WaitGroup
}

func newExporter(cfg *Config, set exporter.Settings) (*hecExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/")
	var skip []string
	for _, a := range []string{cfg.MetadataFromAttributes.Index, cfg.MetadataFromAttributes.Source, cfg.MetadataFromAttributes.Sourcetype} {
		if a != "" {
			skip = append(skip, a)
		}
	}
	e := &hecExporter{
		cfg: cfg, set: set, logger: set.Logger, telemetry: tb,
		cim:       siem.NewCIM(skip...),
		eventURL:  base + cfg.EventPath,
		healthURL: base + cfg.HealthPath,
		auth:      "Splunk " + string(cfg.Token),
	}
	e.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	return e, nil
}

func (e *hecExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("otelsec_splunk_hec: HTTP client for %s: %w", e.cfg.ClientConfig.Endpoint, err)
	}
	e.client = client
	if e.cfg.HealthCheckOnStart {
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		e.cancelHealth = cancel
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer cancel()
			e.checkHealth(hctx)
		}()
	}
	return nil
}

func (e *hecExporter) shutdown(context.Context) error {
	if e.cancelHealth != nil {
		e.cancelHealth()
	}
	e.wg.Wait()
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

// checkHealth asks HEC's health endpoint and logs what it says.
func (e *hecExporter) checkHealth(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.healthURL, http.NoBody)
	if err != nil {
		e.logger.Warn("Splunk HEC health check failed", zap.String("url", e.healthURL), zap.Error(err))
		return
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.logger.Warn("Splunk HEC health check failed; events are queued and retried until it answers",
				zap.String("url", e.healthURL), zap.Error(err))
		}
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		e.logger.Warn("Splunk HEC is not healthy; events are queued and retried until it is",
			zap.String("url", e.healthURL), zap.Int("status", resp.StatusCode), zap.String("reply", strings.TrimSpace(string(body))))
		return
	}
	e.logger.Info("Splunk HEC is healthy", zap.String("url", e.healthURL))
}

// chunk is a run of events sent in one request.
type chunk struct {
	start, end int // byte range in the encoded buffer
	first, n   int // index of the first record, number of records
}

func (e *hecExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	bp := e.bufs.Get().(*[]byte)
	defer func() { e.bufs.Put(bp) }()
	buf := (*bp)[:0]

	var chunks []chunk
	cur := chunk{}
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				before := len(buf)
				buf = e.appendEvent(buf, rl.Resource(), lr)
				if cur.n > 0 && len(buf)-cur.start > e.cfg.MaxContentLength {
					cur.end = before
					chunks = append(chunks, cur)
					cur = chunk{start: before, first: i}
				}
				cur.n++
				i++
			}
		}
	}
	if cur.n > 0 {
		cur.end = len(buf)
		chunks = append(chunks, cur)
	}
	*bp = buf

	var rejected []error
	for ci, c := range chunks {
		err := e.send(ctx, buf[c.start:c.end], c.n)
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			rejected = append(rejected, err)
			continue
		}
		if ci == 0 && len(chunks) == 1 {
			return err
		}
		// Retry only what was not delivered: this chunk and the ones after it.
		first := c.first
		return consumererror.NewLogs(err, siem.Subset(ld, func(j int) bool { return j >= first }))
	}
	if len(rejected) == len(chunks) {
		return errors.Join(rejected...) // permanent: exporterhelper counts them as failed too
	}
	return nil // the rejected requests are logged and counted in drop
}

// appendEvent appends one HEC event: the envelope (time, host, source, sourcetype, index) and
// the CIM event.
func (e *hecExporter) appendEvent(buf []byte, res pcommon.Resource, lr plog.LogRecord) []byte {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	buf = append(buf, `{"time":`...)
	buf = appendEpoch(buf, ts)
	m := e.metadata(res, lr)
	if m.host != "" {
		buf = appendField(buf, "host", m.host)
	}
	if source := or(m.source, e.cfg.Source); source != "" {
		buf = appendField(buf, "source", source)
	}
	sourcetype := or(m.sourcetype, e.cfg.Sourcetype)
	if sourcetype == "" {
		sourcetype = schema.Sourcetype(e.cim.Family(lr.EventName()))
	}
	buf = appendField(buf, "sourcetype", sourcetype)
	if index := or(m.index, e.cfg.Index); index != "" {
		buf = appendField(buf, "index", index)
	}
	buf = append(buf, `,"event":`...)
	buf = e.cim.Append(buf, res, lr)
	return append(buf, '}')
}

// appendEpoch writes ts as seconds since the epoch with microseconds, as HEC's time.
func appendEpoch(buf []byte, ts pcommon.Timestamp) []byte {
	ns := int64(ts)
	buf = strconv.AppendInt(buf, ns/1e9, 10)
	us := (ns % 1e9) / 1e3
	buf = append(buf, '.')
	for d := int64(100000); d > 0; d /= 10 {
		buf = append(buf, byte('0'+us/d%10))
	}
	return buf
}

func appendField(buf []byte, key, value string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, key...)
	buf = append(buf, '"', ':')
	return siem.AppendString(buf, value)
}

// hecMetadata is an event's metadata read from attributes.
type hecMetadata struct{ index, source, sourcetype, host string }

// metadata reads the metadata attributes of the record, else of its resource, in one pass
// over each (pcommon.Map lookups are linear).
func (e *hecExporter) metadata(res pcommon.Resource, lr plog.LogRecord) hecMetadata {
	var m hecMetadata
	keys := &e.cfg.MetadataFromAttributes
	for _, attrs := range [2]pcommon.Map{res.Attributes(), lr.Attributes()} { // the record's win
		for k, v := range attrs.All() {
			switch k {
			case "":
			case keys.Index:
				m.index = v.AsString()
			case keys.Source:
				m.source = v.AsString()
			case keys.Sourcetype:
				m.sourcetype = v.AsString()
			case keys.Host:
				m.host = v.AsString()
			}
		}
	}
	return m
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// hecReply is HEC's answer body.
type hecReply struct {
	Text string `json:"text"`
	Code int    `json:"code"`
}

func (r hecReply) String() string {
	if r.Text == "" {
		return "no HEC reply"
	}
	return fmt.Sprintf("%s (HEC code %d)", r.Text, r.Code)
}

// send posts one request of n events. Network errors, timeouts, 408, 429 and 5xx (but 501 and
// 505) are retryable; any other answer is permanent: the events are dropped, logged and
// counted.
func (e *hecExporter) send(ctx context.Context, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.eventURL, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	// Without it HEC implementations may store nothing (VictoriaLogs answers Success).
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", e.auth)
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("send %d events to Splunk HEC %s: %w", n, e.eventURL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var reply hecReply
	if json.Unmarshal(raw, &reply) != nil || reply.Text == "" {
		reply = hecReply{Text: strings.TrimSpace(string(raw)), Code: -1}
	}
	err = fmt.Errorf("splunk HEC %s answered %s to %d events: %s", e.eventURL, resp.Status, n, reply)
	if retryable(resp.StatusCode) {
		if d := retryAfter(resp.Header.Get("Retry-After")); d > 0 {
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	}
	e.drop(ctx, n, resp.StatusCode, reply)
	return consumererror.NewPermanent(err)
}

func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

var hints = map[int]string{
	http.StatusBadRequest:            "Splunk could not parse the events",
	http.StatusUnauthorized:          "the token is missing: set token",
	http.StatusForbidden:             "the token is invalid or disabled: check token",
	http.StatusNotFound:              "no HEC at this URL: check endpoint and event_path",
	http.StatusRequestEntityTooLarge: "the request is too large: lower max_content_length",
}

func (e *hecExporter) drop(ctx context.Context, n, status int, reply hecReply) {
	e.telemetry.OtelsecExporterDroppedLogRecords.Add(ctx, int64(n), metric.WithAttributes(
		attribute.Int("http.response.status_code", status),
		attribute.String("error.type", reply.Text),
	))
	e.logger.Error("Splunk HEC rejected events; they are dropped (not retried)",
		zap.Int("events", n), zap.Int("status", status), zap.String("reason", reply.Text), zap.Int("hec_code", reply.Code),
		zap.String("hint", hints[status]), zap.String("url", e.eventURL))
}
