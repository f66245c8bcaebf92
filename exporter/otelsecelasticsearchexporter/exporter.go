package otelsecelasticsearchexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/exporter/otelsecelasticsearchexporter/internal/metadata"
	"github.com/otelsec/otelsec/internal/siem"
)

type esExporter struct {
	cfg       *Config
	set       exporter.Settings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	ecs       *siem.ECS

	client *elasticsearch.Client
	bufs   sync.Pool
}

func newExporter(cfg *Config, set exporter.Settings) (*esExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &esExporter{cfg: cfg, set: set, logger: set.Logger, telemetry: tb, ecs: siem.NewECS(cfg.Namespace)}
	e.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	return e, nil
}

func (e *esExporter) start(ctx context.Context, host component.Host) error {
	hc, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("otelsec_elasticsearch: HTTP client for %s: %w", e.cfg.ClientConfig.Endpoint, err)
	}
	e.client, err = elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{strings.TrimSuffix(e.cfg.ClientConfig.Endpoint, "/")},
		Username:  e.cfg.User,
		Password:  string(e.cfg.Password),
		APIKey:    string(e.cfg.APIKey),
		Transport: hc.Transport,
		// exporterhelper retries, with its queue and backoff; the client must not retry too.
		DisableRetry: true,
	})
	if err != nil {
		return fmt.Errorf("otelsec_elasticsearch: client for %s: %w", e.cfg.ClientConfig.Endpoint, err)
	}
	e.setup(ctx)
	return nil
}

func (e *esExporter) shutdown(ctx context.Context) error {
	e.telemetry.Shutdown()
	if e.client != nil {
		return e.client.Close(ctx)
	}
	return nil
}

// item is the outcome of one document.
type item struct {
	done    bool // Elasticsearch's answer (or the request's failure) is known
	failed  bool
	whole   bool   // the whole bulk request failed, not this document
	status  int    // the item's status, or the whole request's
	errType string // Elasticsearch's error type
	reason  string
	index   string
	err     error // a request that got no answer (network error, timeout)
}

// pushTransport sends one batch's bulk requests with the batch's context (the bulk indexer's
// workers use their own) and remembers each answer's status.
type pushTransport struct {
	client     *elasticsearch.Client
	ctx        context.Context
	lastStatus int
}

func (t *pushTransport) Perform(req *http.Request) (*http.Response, error) {
	t.lastStatus = 0
	res, err := t.client.Perform(req.WithContext(t.ctx))
	if res != nil {
		t.lastStatus = res.StatusCode
	}
	return res, err
}

func (e *esExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if e.cfg.ClientConfig.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.ClientConfig.Timeout)
		defer cancel()
	}
	bp := e.bufs.Get().(*[]byte)
	defer func() { e.bufs.Put(bp) }()
	buf := (*bp)[:0]
	n := ld.LogRecordCount()
	ends := make([]int, 0, n)
	indexes := make([]string, 0, n)
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				buf = e.ecs.Append(buf, rl.Resource(), lr)
				ends = append(ends, len(buf))
				indexes = append(indexes, e.ecs.DataStream(lr.EventName()))
			}
		}
	}
	*bp = buf

	var mu sync.Mutex
	items := make([]item, n)
	closed := false
	tr := &pushTransport{client: e.client, ctx: ctx}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        tr,
		NumWorkers:    1,
		FlushBytes:    e.cfg.FlushBytes,
		FlushInterval: time.Hour, // Close flushes
	})
	if err != nil {
		return err
	}
	start := 0
	for i := range n {
		doc := buf[start:ends[i]]
		start = ends[i]
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Action: "create", // data streams take create only
			Index:  indexes[i],
			Body:   bytes.NewReader(doc),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				mu.Lock()
				if !closed {
					items[i] = item{done: true}
				}
				mu.Unlock()
			},
			OnFailure: func(_ context.Context, it esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				mu.Lock()
				defer mu.Unlock()
				if closed {
					return
				}
				r := item{done: true, failed: true, index: it.Index, status: res.Status, errType: res.Error.Type, reason: res.Error.Reason, err: err}
				if res.Error.Cause.Reason != "" {
					r.reason += ": " + res.Error.Cause.Reason
				}
				if res.Status == 0 { // the whole request failed: its status, if it got one
					r.whole = true
					r.status = tr.lastStatus
					if err != nil {
						r.reason = err.Error()
					}
				}
				items[i] = r
			},
		})
		if err != nil {
			break // ctx done: the items not added get no outcome and are retried
		}
	}
	closeErr := bi.Close(ctx)
	mu.Lock()
	closed = true // a late callback (after a timeout) no longer writes
	mu.Unlock()
	return e.settle(ctx, ld, items, closeErr)
}

// settle drops the documents Elasticsearch rejected for good (logged and counted) and hands
// back the others that failed for a retry.
func (e *esExporter) settle(ctx context.Context, ld plog.Logs, items []item, closeErr error) error {
	retry := make([]bool, len(items))
	nRetry, nOK := 0, 0
	type group struct {
		status        int
		errType       string
		n             int
		reason, index string
	}
	groups := map[string]*group{}
	var firstRetry string
	for i, it := range items {
		switch {
		case it.done && !it.failed:
			nOK++
		case !it.done || retryable(it.status, !it.whole):
			retry[i] = true
			nRetry++
			if firstRetry == "" {
				firstRetry = describe(it, closeErr)
			}
		default:
			key := fmt.Sprint(it.status, it.errType)
			g := groups[key]
			if g == nil {
				g = &group{status: it.status, errType: it.errType, reason: it.reason, index: it.index}
				groups[key] = g
			}
			g.n++
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var dropped []error
	for _, k := range keys {
		g := groups[k]
		errType := g.errType
		if errType == "" {
			errType = http.StatusText(g.status)
		}
		e.telemetry.OtelsecExporterDroppedLogRecords.Add(ctx, int64(g.n), metric.WithAttributes(
			attribute.Int("http.response.status_code", g.status), attribute.String("error.type", errType)))
		e.logger.Error("Elasticsearch rejected documents; they are dropped (not retried)",
			zap.Int("documents", g.n), zap.Int("status", g.status), zap.String("error.type", errType),
			zap.String("reason", g.reason), zap.String("index", g.index), zap.String("hint", hints[g.status]))
		dropped = append(dropped, fmt.Errorf("elasticsearch rejected %d documents with %d %s: %s", g.n, g.status, errType, g.reason))
	}
	if nRetry > 0 {
		err := fmt.Errorf("elasticsearch: %d of %d documents not indexed, to retry: %s", nRetry, len(items), firstRetry)
		if nRetry == len(items) {
			return err
		}
		return consumererror.NewLogs(err, siem.Subset(ld, func(i int) bool { return retry[i] }))
	}
	if nOK == 0 && len(dropped) > 0 {
		return consumererror.NewPermanent(errors.Join(dropped...))
	}
	return nil // the rejected ones are logged and counted above
}

func describe(it item, closeErr error) string {
	switch {
	case !it.done && closeErr != nil:
		return closeErr.Error()
	case !it.done:
		return "no answer for the document"
	case it.errType != "":
		return fmt.Sprintf("%d %s: %s", it.status, it.errType, it.reason)
	}
	return it.reason
}

// retryable says whether a failure is worth retrying. Items: 429 only (a full write queue);
// other item errors (mapping errors, ...) would fail again. Whole requests: network errors,
// timeouts, 408, 429 and 5xx but 501 and 505.
func retryable(status int, itemError bool) bool {
	if itemError {
		return status == http.StatusTooManyRequests
	}
	switch status {
	case 0, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500
}

var hints = map[int]string{
	http.StatusBadRequest:            "the document does not fit the index's mappings: see reason",
	http.StatusUnauthorized:          "authentication failed: check user/password or api_key",
	http.StatusForbidden:             "not allowed: the user or API key needs create_doc on logs-otelsec.*",
	http.StatusNotFound:              "no such index or data stream: check the index templates",
	http.StatusRequestEntityTooLarge: "the bulk request is too large: lower flush_bytes",
}

// setup puts the index template and creates the data streams, as configured. Failures are
// logged, not fatal: documents still reach the built-in logs-*-* template.
func (e *esExporter) setup(ctx context.Context) {
	s := e.cfg.Setup
	if !s.IndexTemplate && !s.DataStreams {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if s.IndexTemplate {
		body, err := indexTemplate(s.TemplatePriority)
		if err == nil {
			err = e.do(ctx, http.MethodPut, "/_index_template/"+s.TemplateName, body, nil)
		}
		if err != nil {
			e.logger.Error("Elasticsearch index template setup failed; documents go to the built-in logs-*-* template",
				zap.String("template", s.TemplateName), zap.Error(err))
		} else {
			e.logger.Info("Elasticsearch index template set", zap.String("template", s.TemplateName))
		}
	}
	if s.DataStreams {
		for _, ds := range dataStreams(e.ecs) {
			err := e.do(ctx, http.MethodPut, "/_data_stream/"+ds, nil, []string{"resource_already_exists_exception"})
			if err != nil {
				e.logger.Error("Elasticsearch data stream setup failed", zap.String("data_stream", ds), zap.Error(err))
			} else {
				e.logger.Info("Elasticsearch data stream ready", zap.String("data_stream", ds))
			}
		}
	}
}

// do sends one request; an error answer whose type is in fine is not an error.
func (e *esExporter) do(ctx context.Context, method, path string, body []byte, fine []string) error {
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.client.Perform(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 300 {
		return nil
	}
	for _, f := range fine {
		if bytes.Contains(raw, []byte(`"`+f+`"`)) {
			return nil
		}
	}
	return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(raw))
}
