package k8senrichprocessor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/internal/k8s"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/metadata"
)

// Outcomes, the values of the otelsec.k8senrich.outcome attribute of
// otelsec_k8senrich_records.
const (
	outcomeEnriched   = "enriched"    // the pod (and container) found
	outcomeDeletedPod = "deleted_pod" // found among deleted pods, within deleted_pod_grace
	outcomePodOnly    = "pod_only"    // the container id not found in time, its pod was
	outcomeNotFound   = "not_found"   // neither found (after holding, when it was held)
	outcomeOverflow   = "overflow"    // not held, the hold buffer was full: passed with what was known
	outcomeShutdown   = "shutdown"    // still held at shutdown: passed with what was known
	outcomeNoPod      = "no_pod"      // the resource names no container nor pod (host processes)
)

var outcomes = func() map[string]metric.AddOption {
	m := map[string]metric.AddOption{}
	for _, o := range []string{outcomeEnriched, outcomeDeletedPod, outcomePodOnly, outcomeNotFound, outcomeOverflow, outcomeShutdown, outcomeNoPod} {
		m[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("otelsec.k8senrich.outcome", o)))
	}
	return m
}()

// enricher is what the logs and metrics processors share: the pod cache handle, the
// attribute writer and the hold of data waiting for its container's metadata.
type enricher struct {
	cfg         *Config
	logger      *zap.Logger
	tb          *metadata.TelemetryBuilder
	labels      *keyFilter
	annotations *keyFilter
	nodeName    string

	handle atomic.Pointer[k8s.Handle] // nil: no cluster, data passes through
	hold   *holder
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newEnricher(set processor.Settings, cfg *Config) (*enricher, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &enricher{
		cfg:         cfg,
		logger:      set.Logger,
		tb:          tb,
		labels:      newKeyFilter(s.K8sPodLabelPrefix, cfg.PodLabels),
		annotations: newKeyFilter(s.K8sPodAnnotationPrefix, cfg.PodAnnotations),
		hold:        newHolder(cfg.MaxHeldRecords),
		stop:        make(chan struct{}),
	}
	errs := []error{
		tb.RegisterOtelsecK8senrichHeldCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(e.hold.records()))
			return nil
		}),
		tb.RegisterOtelsecK8senrichPodsCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := e.handle.Load(); h != nil && h.Reports() {
				st := h.Stats()
				o.Observe(int64(st.Pods), metric.WithAttributes(attribute.String("otelsec.k8senrich.pod.state", "live")))
				o.Observe(int64(st.Deleted), metric.WithAttributes(attribute.String("otelsec.k8senrich.pod.state", "deleted")))
			}
			return nil
		}),
		tb.RegisterOtelsecK8senrichPodsEvictedCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := e.handle.Load(); h != nil && h.Reports() {
				o.Observe(int64(h.Stats().DeletedEvicted))
			}
			return nil
		}),
		tb.RegisterOtelsecK8senrichOwnerLookupsCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := e.handle.Load(); h != nil && h.Reports() {
				st := h.Stats()
				o.Observe(int64(st.OwnerLookups-st.OwnerFailures), metric.WithAttributes(attribute.String("otelsec.k8senrich.result", "ok")))
				o.Observe(int64(st.OwnerFailures), metric.WithAttributes(attribute.String("otelsec.k8senrich.result", "failed")))
			}
			return nil
		}),
		tb.RegisterOtelsecK8senrichWatchErrorsCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := e.handle.Load(); h != nil && h.Reports() {
				o.Observe(int64(h.Stats().WatchErrors))
			}
			return nil
		}),
	}
	if err := errors.Join(errs...); err != nil {
		tb.Shutdown()
		return nil, err
	}
	return e, nil
}

// Start connects to the shared pod cache. Without a cluster the processor passes data
// through (the cache says so once in the log).
func (e *enricher) Start(ctx context.Context, _ component.Host) error {
	e.nodeName = e.cfg.NodeName
	if e.nodeName == "" {
		e.nodeName = os.Getenv("NODE_NAME")
	}
	key := k8s.Key{
		APIConfig: k8s.APIConfig{AuthType: e.cfg.AuthType, Kubeconfig: e.cfg.Kubeconfig, Context: e.cfg.Context},
		NodeName:  e.nodeName,
	}
	h, err := k8s.Acquire(ctx, key, e.cfg.DeletedPodGrace, e.logger)
	if errors.Is(err, k8s.ErrNoCluster) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("k8senrich: %w", err)
	}
	e.handle.Store(h)
	if e.cfg.WaitForMetadata > 0 {
		e.wg.Add(1)
		go e.releaseLoop(h)
	}
	return nil
}

// Shutdown passes on what is still held, with what is known about it, and releases the
// pod cache.
func (e *enricher) Shutdown(ctx context.Context) error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.wg.Wait()
	var err error
	if h := e.handle.Load(); h != nil && h.Reports() {
		err = e.release(ctx, time.Now(), true)
		h.Release()
	}
	e.tb.Shutdown()
	return err
}

func (e *enricher) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// resolution is what a resource's lookup found.
type resolution int

const (
	resolved  resolution = iota // the pod (and container) found
	waiting                     // a pod's container or pod not known (yet)
	noPod                       // the resource names no container nor pod
	notInAPod                   // a container id outside a pod cgroup, unknown: nothing to wait for
)

// resolve looks the resource's container (container.id) or pod (k8s.pod.uid) up.
func (e *enricher) resolve(c *k8s.Cache, res pcommon.Map, now time.Time) (k8s.Match, string, resolution) {
	cid, uid := str(res, s.ContainerID), str(res, s.K8sPodUID)
	switch {
	case cid != "":
		if m, ok := c.Container(cid); ok && e.fresh(m, now) {
			return m, cid, resolved
		}
		if uid == "" {
			// The receiver sets k8s.pod.uid for every process in a kubepods cgroup: a
			// container without it is not a pod's (docker run on the node).
			return k8s.Match{}, cid, notInAPod
		}
		return k8s.Match{}, cid, waiting
	case uid != "":
		if m, ok := c.Pod(uid); ok && e.fresh(m, now) {
			return m, uid, resolved
		}
		return k8s.Match{}, uid, waiting
	}
	return k8s.Match{}, "", noPod
}

// podOnly finds the resource's pod by k8s.pod.uid, for data whose container was not found.
func (e *enricher) podOnly(c *k8s.Cache, res pcommon.Map, now time.Time) (k8s.Match, bool) {
	uid := str(res, s.K8sPodUID)
	if uid == "" {
		return k8s.Match{}, false
	}
	m, ok := c.Pod(uid)
	if !ok || !e.fresh(m, now) {
		return k8s.Match{}, false
	}
	return k8s.Match{Pod: m.Pod, Deleted: m.Deleted}, true
}

func (e *enricher) fresh(m k8s.Match, now time.Time) bool {
	return m.Deleted.IsZero() || now.Sub(m.Deleted) <= e.cfg.DeletedPodGrace
}

func matchOutcome(m k8s.Match) string {
	if !m.Deleted.IsZero() {
		return outcomeDeletedPod
	}
	return outcomeEnriched
}

// process enriches one resource of n records in place, or hands it to the hold: take moves
// the resource's data out of its batch and returns its attributes and how to send it on.
// It reports whether the resource was taken.
func (e *enricher) process(ctx context.Context, h *k8s.Handle, res pcommon.Map, n int, now time.Time,
	take func() (pcommon.Map, func(context.Context) error),
) bool {
	m, key, r := e.resolve(h.Cache, res, now)
	switch r {
	case resolved:
		// Data of the same container still held goes first: keep their order.
		if e.hold.holds(key) && e.hold.reserve(n) {
			heldRes, send := take()
			e.hold.add(&pending{key: key, deadline: now, n: n, res: heldRes, send: send})
			e.tb.OtelsecK8senrichRecordsHeld.Add(ctx, int64(n))
			return true
		}
		e.apply(res, m)
		e.count(ctx, matchOutcome(m), n)
	case noPod:
		e.putNode(res, "")
		e.count(ctx, outcomeNoPod, n)
	case notInAPod:
		e.putNode(res, "")
		e.count(ctx, outcomeNotFound, n)
	case waiting:
		if e.cfg.WaitForMetadata > 0 && e.hold.reserve(n) {
			heldRes, send := take()
			e.hold.add(&pending{key: key, deadline: now.Add(e.cfg.WaitForMetadata), n: n, res: heldRes, send: send})
			e.tb.OtelsecK8senrichRecordsHeld.Add(ctx, int64(n))
			return true
		}
		outcome := outcomeOverflow
		if e.cfg.WaitForMetadata == 0 {
			outcome = outcomeNotFound
		}
		if pm, ok := e.podOnly(h.Cache, res, now); ok {
			e.apply(res, pm)
			if e.cfg.WaitForMetadata == 0 {
				outcome = outcomePodOnly
			}
		} else {
			e.putNode(res, "")
		}
		e.count(ctx, outcome, n)
	}
	return false
}

func (e *enricher) count(ctx context.Context, outcome string, n int) {
	e.tb.OtelsecK8senrichRecords.Add(ctx, int64(n), outcomes[outcome])
}

// releaseLoop sends held data on as soon as its metadata arrives or its wait is over.
func (e *enricher) releaseLoop(h *k8s.Handle) {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := h.Changed()
		if next, ok := e.hold.nextDeadline(); ok {
			timer.Reset(time.Until(next))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-e.stop:
			return
		case <-changed:
		case <-e.hold.kick:
		case <-timer.C:
		}
		_ = e.release(context.Background(), time.Now(), false)
	}
}

// release sends on the held data that resolved or waited long enough (all of it at
// shutdown), in the order it arrived.
func (e *enricher) release(ctx context.Context, now time.Time, all bool) error {
	h := e.handle.Load()
	type out struct {
		p       *pending
		m       k8s.Match
		outcome string
	}
	var ready []out
	e.hold.take(func(p *pending) bool {
		if m, _, r := e.resolve(h.Cache, p.res, now); r == resolved {
			ready = append(ready, out{p, m, matchOutcome(m)})
			return true
		}
		switch {
		case all:
			ready = append(ready, out{p: p, outcome: outcomeShutdown})
		case !now.Before(p.deadline):
			ready = append(ready, out{p: p, outcome: outcomeNotFound})
		default:
			return false
		}
		return true
	})
	var errs []error
	for _, o := range ready {
		switch {
		case o.m.Pod != nil:
			e.apply(o.p.res, o.m)
		default:
			if pm, ok := e.podOnly(h.Cache, o.p.res, now); ok {
				e.apply(o.p.res, pm)
				if o.outcome == outcomeNotFound {
					o.outcome = outcomePodOnly
				}
			} else {
				e.putNode(o.p.res, "")
			}
		}
		e.count(ctx, o.outcome, o.p.n)
		if err := o.p.send(ctx); err != nil {
			e.tb.OtelsecK8senrichRecordsLost.Add(ctx, int64(o.p.n))
			e.logger.Warn("The next component refused held data; it is lost",
				zap.Int("records", o.p.n), zap.String("key", o.p.key), zap.Error(err))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// apply writes the pod's (and container's) attributes on the resource.
func (e *enricher) apply(res pcommon.Map, m k8s.Match) {
	pod := m.Pod
	e.putNode(res, pod.NodeName)
	res.PutStr(s.K8sPodName, pod.Name)
	res.PutStr(s.K8sPodUID, pod.UID)
	res.PutStr(s.K8sNamespaceName, pod.Namespace)
	if c := m.Container; c != nil {
		res.PutStr(s.K8sContainerName, c.Name)
		if c.ImageName != "" {
			res.PutStr(s.ContainerImageName, c.ImageName)
		}
		if c.ImageTag != "" {
			res.PutEmptySlice(s.ContainerImageTags).AppendEmpty().SetStr(c.ImageTag)
		}
		if c.ImageRepoDigest != "" {
			res.PutEmptySlice(s.ContainerImageDigests).AppendEmpty().SetStr(c.ImageRepoDigest)
		}
	}
	putNonEmpty(res, s.K8sReplicaSetName, pod.ReplicaSet)
	putNonEmpty(res, s.K8sDeploymentName, pod.Deployment)
	putNonEmpty(res, s.K8sStatefulSetName, pod.StatefulSet)
	putNonEmpty(res, s.K8sDaemonSetName, pod.DaemonSet)
	putNonEmpty(res, s.K8sJobName, pod.Job)
	putNonEmpty(res, s.K8sCronJobName, pod.CronJob)
	for _, kv := range pod.Labels {
		if k, ok := e.labels.attr(kv.Key); ok {
			res.PutStr(k, kv.Value)
		}
	}
	for _, kv := range pod.Annotations {
		if k, ok := e.annotations.attr(kv.Key); ok {
			res.PutStr(k, kv.Value)
		}
	}
}

// putNode writes the attributes every resource gets while connected to a cluster.
func (e *enricher) putNode(res pcommon.Map, node string) {
	if node == "" {
		node = e.nodeName
	}
	res.PutStr(s.K8sNodeName, node)
	if e.cfg.ClusterName != "" {
		res.PutStr(s.K8sClusterName, e.cfg.ClusterName)
	}
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}

func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// logsProcessor is the k8senrich processor of a logs pipeline.
type logsProcessor struct {
	*enricher
	next consumer.Logs
}

func (p *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	h := p.handle.Load()
	if h == nil {
		return p.next.ConsumeLogs(ctx, ld)
	}
	now := time.Now()
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		n := 0
		for _, sl := range rl.ScopeLogs().All() {
			n += sl.LogRecords().Len()
		}
		return p.process(ctx, h, rl.Resource().Attributes(), n, now, func() (pcommon.Map, func(context.Context) error) {
			held := plog.NewLogs()
			rl.MoveTo(held.ResourceLogs().AppendEmpty())
			return held.ResourceLogs().At(0).Resource().Attributes(), func(ctx context.Context) error {
				return p.next.ConsumeLogs(ctx, held)
			}
		})
	})
	if ld.ResourceLogs().Len() == 0 {
		return nil
	}
	return p.next.ConsumeLogs(ctx, ld)
}

// metricsProcessor is the k8senrich processor of a metrics pipeline.
type metricsProcessor struct {
	*enricher
	next consumer.Metrics
}

func (p *metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	h := p.handle.Load()
	if h == nil {
		return p.next.ConsumeMetrics(ctx, md)
	}
	now := time.Now()
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		return p.process(ctx, h, rm.Resource().Attributes(), dataPoints(rm), now, func() (pcommon.Map, func(context.Context) error) {
			held := pmetric.NewMetrics()
			rm.MoveTo(held.ResourceMetrics().AppendEmpty())
			return held.ResourceMetrics().At(0).Resource().Attributes(), func(ctx context.Context) error {
				return p.next.ConsumeMetrics(ctx, held)
			}
		})
	})
	if md.ResourceMetrics().Len() == 0 {
		return nil
	}
	return p.next.ConsumeMetrics(ctx, md)
}

func dataPoints(rm pmetric.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				n += m.Gauge().DataPoints().Len()
			case pmetric.MetricTypeSum:
				n += m.Sum().DataPoints().Len()
			case pmetric.MetricTypeHistogram:
				n += m.Histogram().DataPoints().Len()
			case pmetric.MetricTypeExponentialHistogram:
				n += m.ExponentialHistogram().DataPoints().Len()
			case pmetric.MetricTypeSummary:
				n += m.Summary().DataPoints().Len()
			}
		}
	}
	return n
}

// keyFilter selects label or annotation keys and remembers, per key, the attribute name
// (or that the key is not taken), so that the regular expressions run once per key.
type keyFilter struct {
	prefix string
	keys   map[string]bool
	res    []*regexp.Regexp

	mu   sync.RWMutex
	memo map[string]string // key → attribute name; "" when not taken
}

const keyFilterMemo = 4096

func newKeyFilter(prefix string, f KeyFilter) *keyFilter {
	kf := &keyFilter{prefix: prefix, keys: map[string]bool{}, memo: map[string]string{}}
	for _, k := range f.Keys {
		kf.keys[k] = true
	}
	for _, re := range f.KeyRegex {
		if r, err := compileAnchored(re); err == nil { // Validate reported errors
			kf.res = append(kf.res, r)
		}
	}
	return kf
}

func (f *keyFilter) attr(key string) (string, bool) {
	if len(f.keys) == 0 && len(f.res) == 0 {
		return "", false
	}
	f.mu.RLock()
	name, ok := f.memo[key]
	f.mu.RUnlock()
	if ok {
		return name, name != ""
	}
	taken := f.keys[key]
	for _, r := range f.res {
		if taken {
			break
		}
		taken = r.MatchString(key)
	}
	if taken {
		name = f.prefix + key
	}
	f.mu.Lock()
	if len(f.memo) < keyFilterMemo {
		f.memo[key] = name
	}
	f.mu.Unlock()
	return name, taken
}
