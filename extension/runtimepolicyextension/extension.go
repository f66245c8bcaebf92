package runtimepolicyextension

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelsec/otelsec/extension/runtimepolicyextension/internal/metadata"
	"github.com/otelsec/otelsec/internal/policy"
)

// Reload results, the result attribute of otelsec_policy_reloads.
const (
	resultApplied   = "applied"   // a new set is in force
	resultUnchanged = "unchanged" // the set compiled to the rules in force: nothing published
	resultInvalid   = "invalid"   // the set did not validate: the previous stays
	resultRejected  = "rejected"  // a subscriber could not apply it: the previous stays
)

// Policy statuses, the status attribute of otelsec_policy_policies.
const (
	statusLoaded  = "loaded"  // in the set in force
	statusFailed  = "failed"  // the policy has errors
	statusBlocked = "blocked" // valid, but the set did not apply (another policy's errors, or a subscriber refused it)
)

// crdRetry is how often the set is rebuilt while the policy CRDs are not listed yet.
const crdRetry = time.Second

type subscriber struct {
	apply func(*policy.Set) error
}

// policyStatus is one policy's state after the last reload.
type policyStatus struct {
	name, source, status string
	rules                int
	reasons              []string
}

// runtimePolicy is the extension: a policy.Source.
type runtimePolicy struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	trigger chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	watch   *watcher
	crds    *crdSource

	// mu guards what follows and serializes the calls of the subscribers' apply.
	mu         sync.Mutex
	subs       []*subscriber
	current    *policy.Set
	generation uint64
	lastErr    string        // the errors last logged, so that each change is logged once
	rejected   []policy.Rule // the rules a subscriber last refused
	statuses   []policyStatus
}

var (
	_ extension.Extension = (*runtimePolicy)(nil)
	_ policy.Source       = (*runtimePolicy)(nil)
)

func newExtension(set extension.Settings, cfg *Config) (*runtimePolicy, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &runtimePolicy{cfg: cfg, logger: set.Logger, telemetry: tb, trigger: make(chan struct{}, 1)}
	err = errors.Join(
		tb.RegisterOtelsecPolicyRulesCallback(func(_ context.Context, o metric.Int64Observer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.current != nil {
				o.Observe(int64(len(e.current.Rules)))
			} else {
				o.Observe(0)
			}
			return nil
		}),
		tb.RegisterOtelsecPolicyGenerationCallback(func(_ context.Context, o metric.Int64Observer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.current != nil {
				o.Observe(int64(e.current.Generation))
			} else {
				o.Observe(0)
			}
			return nil
		}),
		tb.RegisterOtelsecPolicyPoliciesCallback(func(_ context.Context, o metric.Int64Observer) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, s := range e.statuses {
				o.Observe(1, metric.WithAttributes(attribute.String("policy", s.name), attribute.String("source", s.source),
					attribute.String("status", s.status)))
			}
			return nil
		}),
	)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return e, nil
}

// Start reads the policies and publishes the first set before it returns, so that a
// receiver subscribing in its own Start gets it at once. Policy errors do not fail Start
// (they are logged, and no set is published until the policies are fixed); an unusable
// watch or Kubernetes configuration does.
func (e *runtimePolicy) Start(ctx context.Context, _ component.Host) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if e.cfg.Watch && len(e.cfg.Paths) > 0 {
		w, err := newWatcher(e.cfg.Paths, e.logger)
		if err != nil {
			return fmt.Errorf("watch %v: %w", e.cfg.Paths, err)
		}
		e.watch = w
	}
	if e.cfg.Kubernetes.Enabled {
		c, err := startCRDs(ctx, loopCtx, e.cfg.Kubernetes, e.logger, e.poke)
		if err != nil {
			if e.watch != nil {
				_ = e.watch.close()
				e.watch = nil
			}
			return err
		}
		e.crds = c
	}
	synced := e.reload()
	e.wg.Add(1)
	go e.loop(loopCtx, synced)
	return nil
}

// Shutdown stops the watcher and the informers; the set in force stays with the
// subscribers.
func (e *runtimePolicy) Shutdown(context.Context) error {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	var err error
	if e.watch != nil {
		err = e.watch.close()
	}
	if e.crds != nil {
		e.crds.stop()
	}
	e.telemetry.Shutdown()
	return err
}

// Subscribe implements policy.Source. The subscribers share each *policy.Set: they must not
// modify it. apply runs with the extension's lock held (one call at a time): it must not call
// Subscribe or an unsubscribe function.
func (e *runtimePolicy) Subscribe(apply func(*policy.Set) error) func() {
	s := &subscriber{apply: apply}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, s)
	if e.current != nil {
		if err := apply(e.current); err != nil {
			e.logger.Error("A subscriber could not apply the policy set in force", zap.Uint64("generation", e.current.Generation), zap.Error(err))
			e.telemetry.OtelsecPolicyReloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", resultRejected)))
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.subs = slices.DeleteFunc(e.subs, func(x *subscriber) bool { return x == s })
		})
	}
}

// poke asks for a reload (after the quiet period).
func (e *runtimePolicy) poke() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

func (e *runtimePolicy) loop(ctx context.Context, synced bool) {
	defer e.wg.Done()
	debounce := time.NewTimer(0)
	<-debounce.C
	retry := time.NewTimer(crdRetry)
	if synced {
		retry.Stop()
	}
	defer debounce.Stop()
	defer retry.Stop()
	var events <-chan struct{}
	if e.watch != nil {
		events = e.watch.changed
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			debounce.Reset(e.cfg.ReloadDelay)
		case <-e.trigger:
			debounce.Reset(e.cfg.ReloadDelay)
		case <-debounce.C:
			if !e.reload() {
				retry.Reset(crdRetry)
			}
		case <-retry.C:
			// Nothing changed but the CRDs may be listed now: rebuild once they are.
			if e.crds != nil && !e.crds.hasSynced() {
				retry.Reset(crdRetry)
			} else if !e.reload() {
				retry.Reset(crdRetry)
			}
		}
	}
}

// reload builds the whole set (files and CRDs) and publishes it when it validates and
// differs from the set in force. It reports whether the CRDs were listed (always true
// without Kubernetes).
func (e *runtimePolicy) reload() (crdsSynced bool) {
	policies, errs := policy.Read(e.cfg.Paths...)
	crdsSynced = true
	if e.crds != nil {
		var ps []*policy.Policy
		var es policy.Errors
		ps, es, crdsSynced = e.crds.policies()
		policies = append(policies, ps...)
		errs = append(errs, es...)
	}
	set, err := policy.Compile(policies)
	if err != nil {
		errs = append(errs, err.(policy.Errors)...)
	}
	ctx := context.Background()
	count := func(result string) {
		e.telemetry.OtelsecPolicyReloads.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if len(errs) > 0 {
		errs.Sort()
		e.statuses = statuses(policies, errs, statusBlocked)
		if msg := errs.Error(); msg != e.lastErr {
			e.lastErr = msg
			lines := make([]string, len(errs))
			for i, x := range errs {
				lines[i] = x.Error()
			}
			e.logger.Error("Policy set invalid: the previous set stays in force", zap.Int("errors", len(errs)),
				zap.Strings("reasons", lines), zap.Uint64("generation_in_force", e.generationInForce()))
			e.logStatuses()
		}
		count(resultInvalid)
		return crdsSynced
	}
	e.lastErr = ""
	if e.current != nil && reflect.DeepEqual(e.current.Rules, set.Rules) {
		e.statuses = statuses(policies, nil, statusLoaded)
		count(resultUnchanged)
		return crdsSynced
	}
	if e.rejected != nil && reflect.DeepEqual(e.rejected, set.Rules) {
		// Refused already and logged: try again only when the policies change.
		count(resultRejected)
		return crdsSynced
	}
	e.generation++
	set.Generation = e.generation
	var took []*subscriber
	for _, s := range e.subs {
		err := s.apply(set)
		if err == nil {
			took = append(took, s)
			continue
		}
		// Back to the previous set for those that took the new one: all of it or none.
		for _, t := range took {
			if e.current != nil {
				if rerr := t.apply(e.current); rerr != nil {
					e.logger.Error("Restoring the previous policy set failed", zap.Uint64("generation", e.current.Generation), zap.Error(rerr))
				}
			}
		}
		e.rejected = set.Rules
		e.statuses = statuses(policies, nil, statusBlocked)
		for i := range e.statuses {
			e.statuses[i].reasons = []string{"rejected by a subscriber: " + err.Error()}
		}
		e.logger.Error("Policy set rejected by a subscriber: the previous set stays in force", zap.Uint64("generation", set.Generation),
			zap.Int("rules", len(set.Rules)), zap.Uint64("generation_in_force", e.generationInForce()), zap.Error(err))
		count(resultRejected)
		return crdsSynced
	}
	e.rejected = nil
	e.current = set
	e.statuses = statuses(policies, nil, statusLoaded)
	fields := []zap.Field{zap.Uint64("generation", set.Generation), zap.Int("policies", len(e.statuses)),
		zap.Int("rules", len(set.Rules)), zap.Int("subscribers", len(e.subs))}
	if e.crds != nil {
		fields = append(fields, zap.Bool("kubernetes_synced", crdsSynced))
	}
	e.logger.Info("Policy set applied", fields...)
	e.logStatuses()
	count(resultApplied)
	return crdsSynced
}

func (e *runtimePolicy) generationInForce() uint64 {
	if e.current == nil {
		return 0
	}
	return e.current.Generation
}

func (e *runtimePolicy) logStatuses() {
	for _, s := range e.statuses {
		fields := []zap.Field{zap.String("policy", s.name), zap.String("source", s.source), zap.String("status", s.status)}
		switch s.status {
		case statusLoaded:
			e.logger.Info("Policy loaded", append(fields, zap.Int("rules", s.rules))...)
		case statusFailed:
			e.logger.Error("Policy failed", append(fields, zap.Strings("reasons", s.reasons))...)
		default:
			e.logger.Warn("Policy valid but not applied", fields...)
		}
	}
}

// statuses says, per policy and per document that did not decode, whether it is loaded,
// failed (with its reasons) or valid but blocked; ok is the status of policies without
// errors.
func statuses(policies []*policy.Policy, errs policy.Errors, ok string) []policyStatus {
	type key struct {
		file       string
		doc        int
		kind, name string
	}
	keyOf := func(file string, doc int, kind, name string) key {
		if file == policy.SourceCRD {
			return key{file: file, kind: kind, name: name}
		}
		return key{file: file, doc: doc}
	}
	source := func(file string, doc int) string {
		if file == policy.SourceCRD || doc == 0 {
			return file
		}
		return file + "#" + strconv.Itoa(doc)
	}
	var out []policyStatus
	index := map[key]int{}
	for _, p := range policies {
		k := keyOf(p.File, p.Index, p.Kind, p.Name())
		index[k] = len(out)
		out = append(out, policyStatus{name: p.Name(), source: source(p.File, p.Index), status: ok, rules: len(p.Spec.Rules)})
	}
	var setWide []string
	for _, x := range errs {
		if x.File == policy.SetWide {
			setWide = append(setWide, x.Error())
			continue
		}
		k := keyOf(x.File, x.Document, x.Kind, x.Name)
		i, found := index[k]
		if !found {
			index[k] = len(out)
			i = len(out)
			out = append(out, policyStatus{name: x.Name, source: source(x.File, x.Document)})
		}
		out[i].status = statusFailed
		out[i].rules = 0
		out[i].reasons = append(out[i].reasons, x.Error())
	}
	for i := range out {
		if out[i].status == statusBlocked && len(setWide) > 0 {
			out[i].reasons = setWide
		}
	}
	return out
}
