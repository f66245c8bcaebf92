package runtimepolicyextension

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/policy"
)

// The policy CRDs' resources.
var (
	clusterGVR    = schema.GroupVersionResource{Group: policy.Group, Version: policy.Version, Resource: policy.ResourceCluster}
	namespacedGVR = schema.GroupVersionResource{Group: policy.Group, Version: policy.Version, Resource: policy.ResourceNamespaced}
)

// crdSource lists and watches RuntimePolicy and RuntimePolicyNamespaced objects with a
// dynamic informer each.
type crdSource struct {
	factory    dynamicinformer.DynamicSharedInformerFactory
	informers  []cache.SharedIndexInformer
	httpClient *http.Client
	logger     *zap.Logger

	mu        sync.Mutex
	lastWatch string // the last list/watch error logged, so that a failing API server is logged once per error
}

// startCRDs starts the informers (they run until loopCtx ends) and waits for their first
// list for at most cfg.SyncTimeout (or until startCtx ends): an unreachable API server does
// not block Start. changed is called on every add, update and delete.
func startCRDs(startCtx, loopCtx context.Context, cfg KubernetesConfig, logger *zap.Logger, changed func()) (*crdSource, error) {
	rc, err := k8s.RESTConfig(k8s.APIConfig{AuthType: cfg.AuthType, Kubeconfig: cfg.Kubeconfig, Context: cfg.Context})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	// Our own HTTP client, so that Shutdown closes its connections (no goroutine outlives
	// the extension).
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	client, err := dynamic.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	c := &crdSource{factory: dynamicinformer.NewDynamicSharedInformerFactory(client, 0), httpClient: hc, logger: logger}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { changed() },
		UpdateFunc: func(any, any) { changed() },
		DeleteFunc: func(any) { changed() },
	}
	for _, gvr := range []schema.GroupVersionResource{clusterGVR, namespacedGVR} {
		inf := c.factory.ForResource(gvr).Informer()
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
		if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) { c.watchError(gvr, err) }); err != nil {
			return nil, err
		}
		c.informers = append(c.informers, inf)
	}
	c.factory.Start(loopCtx.Done())
	waitCtx, cancel := context.WithTimeout(startCtx, cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(waitCtx.Done(), c.hasSynced) {
		logger.Warn("Policy CRDs not listed yet: starting with the file policies; the CRDs join the set when the API server answers",
			zap.Duration("sync_timeout", cfg.SyncTimeout), zap.String("host", rc.Host))
	}
	return c, nil
}

func (c *crdSource) hasSynced() bool {
	for _, inf := range c.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

func (c *crdSource) watchError(gvr schema.GroupVersionResource, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := gvr.Resource + ": " + err.Error()
	if msg == c.lastWatch {
		return
	}
	c.lastWatch = msg
	c.logger.Warn("Listing or watching the policy CRDs failed (retrying with backoff); are the CRDs installed and the RBAC granted?",
		zap.String("resource", gvr.Resource+"."+gvr.Group), zap.Error(err))
}

// policies decodes every listed object (sorted by kind, namespace, name). synced is false
// while an informer has not listed its objects yet: the set then holds none of its policies.
func (c *crdSource) policies() (out []*policy.Policy, errs policy.Errors, synced bool) {
	if !c.hasSynced() {
		return nil, nil, false
	}
	var objs []*unstructured.Unstructured
	for _, inf := range c.informers {
		for _, o := range inf.GetStore().List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				objs = append(objs, u)
			}
		}
	}
	slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(a.GetKind(), b.GetKind()), cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	for _, u := range objs {
		js, err := u.MarshalJSON()
		if err != nil {
			errs = append(errs, &policy.Error{File: policy.SourceCRD, Kind: u.GetKind(), Name: u.GetName(), Msg: err.Error()})
			continue
		}
		p, es := policy.FromJSON(js)
		errs = append(errs, es...)
		if p != nil {
			out = append(out, p)
		}
	}
	return out, errs, true
}

func (c *crdSource) stop() {
	c.factory.Shutdown()
	c.httpClient.CloseIdleConnections()
}
