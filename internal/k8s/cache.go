package k8s

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Options configure a Cache.
type Options struct {
	// NodeName limits the informer to the pods scheduled on this node (required).
	NodeName string
	// Retention is how long a deleted pod, or a container id its pod no longer lists, stays
	// resolvable. Handles can raise it (the largest retention of the current users applies).
	Retention time.Duration
	// MaxDeleted bounds the deleted pods and replaced container ids retained at once; past
	// it the oldest are dropped early (counted in Stats.DeletedEvicted). Default 16384.
	MaxDeleted int
	// SyncTimeout bounds how long Start waits for the first list of pods. Default 10s.
	SyncTimeout time.Duration
	// OwnerRetry is how long a failed owner lookup is remembered before it is tried again.
	// Default 30s.
	OwnerRetry time.Duration
	Logger     *zap.Logger
}

// Match is what a lookup found.
type Match struct {
	Pod *Pod
	// Container is nil for a lookup by pod UID.
	Container *Container
	// Deleted is when the pod was deleted, or the container id dropped from its pod; zero
	// while it is current.
	Deleted time.Time
}

// Stats are the Cache's counters.
type Stats struct {
	Pods           int    // live pods on the node
	Deleted        int    // deleted pods and replaced container ids retained
	DeletedEvicted uint64 // retained entries dropped before their retention ended (MaxDeleted)
	OwnerLookups   uint64 // ReplicaSet and Job lookups against the API server
	OwnerFailures  uint64 // lookups that failed (the owner's owner is then unknown)
	WatchErrors    uint64 // list/watch failures of the pod informer (it retries with backoff)
}

// Cache is the pod metadata of one node. Safe for concurrent use.
type Cache struct {
	client kubernetes.Interface
	opts   Options
	log    *zap.Logger
	owners *owners

	mu         sync.RWMutex
	byID       map[string]entry // container id → current container
	byUID      map[string]*Pod  // pod UID → current pod
	goneByID   map[string]entry // container id → retained after deletion
	goneByUID  map[string]entry // pod UID → retained after deletion
	gone       []tomb           // in deletion order, for expiry
	retention  time.Duration
	changed    chan struct{}
	synced     atomic.Bool
	evicted    atomic.Uint64
	watchErrs  atomic.Uint64
	started    bool
	stop       chan struct{}
	wg         sync.WaitGroup
	closeConns func()
}

type entry struct {
	pod     *Pod
	c       int // index in pod.Containers, -1 for the pod itself
	deleted time.Time
}

func (e entry) match() Match {
	m := Match{Pod: e.pod, Deleted: e.deleted}
	if e.c >= 0 {
		m.Container = &e.pod.Containers[e.c]
	}
	return m
}

// tomb records one deletion: a pod (uid set) and/or container ids.
type tomb struct {
	at  time.Time
	uid string
	ids []string
}

// New returns a Cache reading pods through client. Start runs it.
func New(client kubernetes.Interface, opts Options) *Cache {
	if opts.MaxDeleted <= 0 {
		opts.MaxDeleted = 16384
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 10 * time.Second
	}
	if opts.OwnerRetry <= 0 {
		opts.OwnerRetry = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Cache{
		client:    client,
		opts:      opts,
		log:       opts.Logger,
		owners:    newOwners(client, opts.OwnerRetry),
		byID:      map[string]entry{},
		byUID:     map[string]*Pod{},
		goneByID:  map[string]entry{},
		goneByUID: map[string]entry{},
		retention: opts.Retention,
		changed:   make(chan struct{}),
		stop:      make(chan struct{}),
	}
}

// Start runs the pod informer and waits until it has listed the node's pods, or for
// Options.SyncTimeout: after that lookups miss until the list arrives (the informer keeps
// retrying), which Start reports in the log but not as an error.
func (c *Cache) Start(ctx context.Context) error {
	if c.opts.NodeName == "" {
		return errors.New("k8s: the node name is empty")
	}
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("k8s: cache already started")
	}
	c.started = true
	c.mu.Unlock()

	factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", c.opts.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	if err := inf.SetTransform(StripPod); err != nil {
		return fmt.Errorf("k8s: pod informer transform: %w", err)
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		c.watchErrs.Add(1)
		c.log.Warn("Kubernetes pod watch failed; retrying", zap.String("node", c.opts.NodeName), zap.Error(err))
	}); err != nil {
		return fmt.Errorf("k8s: pod informer error handler: %w", err)
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.upsert(obj) },
		UpdateFunc: func(_, obj any) { c.upsert(obj) },
		DeleteFunc: c.remove,
	}); err != nil {
		return fmt.Errorf("k8s: pod informer handler: %w", err)
	}
	c.wg.Add(2)
	go func() { defer c.wg.Done(); inf.Run(c.stop) }()
	go func() { defer c.wg.Done(); c.expireLoop() }()

	wait, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-wait.Done():
		}
	}()
	if cache.WaitForCacheSync(wait.Done(), inf.HasSynced) {
		c.synced.Store(true)
		c.log.Info("Kubernetes pod metadata synced", zap.String("node", c.opts.NodeName), zap.Int("pods", c.Stats().Pods))
	} else {
		c.log.Warn("Kubernetes pods not listed yet; lookups miss until they are (the informer keeps trying)",
			zap.String("node", c.opts.NodeName), zap.Duration("waited", c.opts.SyncTimeout))
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if cache.WaitForCacheSync(c.stop, inf.HasSynced) {
				c.synced.Store(true)
				c.log.Info("Kubernetes pod metadata synced", zap.String("node", c.opts.NodeName))
			}
		}()
	}
	return nil
}

// Stop stops the informer and waits for its goroutines.
func (c *Cache) Stop() {
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	if started {
		c.wg.Wait()
	}
	if c.closeConns != nil {
		c.closeConns()
	}
}

// Synced reports whether the informer has listed the node's pods.
func (c *Cache) Synced() bool { return c.synced.Load() }

// Container looks a container id up (any form ContainerID accepts). A deleted pod's
// containers and replaced container ids resolve, with Match.Deleted set, until the retention
// ends.
func (c *Cache) Container(id string) (Match, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.byID[id]; ok {
		return e.match(), true
	}
	if e, ok := c.goneByID[id]; ok {
		return e.match(), true
	}
	if norm := ContainerID(id); norm != id {
		if e, ok := c.byID[norm]; ok {
			return e.match(), true
		}
		if e, ok := c.goneByID[norm]; ok {
			return e.match(), true
		}
	}
	return Match{}, false
}

// Pod looks a pod up by UID, deleted pods included until the retention ends.
func (c *Cache) Pod(uid string) (Match, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if p, ok := c.byUID[uid]; ok {
		return Match{Pod: p}, true
	}
	if e, ok := c.goneByUID[uid]; ok {
		return e.match(), true
	}
	return Match{}, false
}

// Pods calls fn for each live pod on the node until it returns false.
func (c *Cache) Pods(fn func(*Pod) bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.byUID {
		if !fn(p) {
			return
		}
	}
}

// Changed returns a channel closed at the next change that may make a lookup succeed
// (a pod or container id added).
func (c *Cache) Changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changed
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.RLock()
	s := Stats{Pods: len(c.byUID), Deleted: len(c.goneByID) + len(c.goneByUID)}
	c.mu.RUnlock()
	s.DeletedEvicted = c.evicted.Load()
	s.OwnerLookups, s.OwnerFailures = c.owners.stats()
	s.WatchErrors = c.watchErrs.Load()
	return s
}

// setRetention changes the retention of deleted entries.
func (c *Cache) setRetention(d time.Duration) {
	c.mu.Lock()
	c.retention = d
	c.mu.Unlock()
}

func (c *Cache) upsert(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	pod := newPod(p)
	c.resolveOwners(pod, p)
	now := time.Now()

	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byUID[pod.UID]
	c.byUID[pod.UID] = pod
	added := old == nil
	for i := range pod.Containers {
		id := pod.Containers[i].ID
		if _, known := c.byID[id]; !known {
			added = true
		}
		c.byID[id] = entry{pod: pod, c: i}
		delete(c.goneByID, id)
	}
	if old != nil {
		// Ids the pod no longer lists (a container restarted twice) stay resolvable for the
		// retention, with the pod as it was.
		var dropped []string
		for i, oc := range old.Containers {
			if e, ok := c.byID[oc.ID]; ok && e.pod == old {
				delete(c.byID, oc.ID)
				c.goneByID[oc.ID] = entry{pod: old, c: i, deleted: now}
				dropped = append(dropped, oc.ID)
			}
		}
		if len(dropped) > 0 {
			c.bury(tomb{at: now, ids: dropped})
		}
	}
	if added {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *Cache) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj // deleted while the watch was down: the last state the informer knew
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	// The final state can name containers no update announced (a pod that ran briefly).
	final := newPod(p)
	c.mu.RLock()
	old := c.byUID[final.UID]
	c.mu.RUnlock()
	if old != nil {
		final.ReplicaSet, final.Deployment, final.StatefulSet = old.ReplicaSet, old.Deployment, old.StatefulSet
		final.DaemonSet, final.Job, final.CronJob = old.DaemonSet, old.Job, old.CronJob
	} else {
		c.resolveOwners(final, p)
	}

	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byUID, final.UID)
	c.goneByUID[final.UID] = entry{pod: final, c: -1, deleted: now}
	t := tomb{at: now, uid: final.UID}
	for i, fc := range final.Containers {
		delete(c.byID, fc.ID)
		c.goneByID[fc.ID] = entry{pod: final, c: i, deleted: now}
		t.ids = append(t.ids, fc.ID)
	}
	if old != nil {
		for i, oc := range old.Containers {
			if e, ok := c.byID[oc.ID]; ok && e.pod == old {
				delete(c.byID, oc.ID)
				c.goneByID[oc.ID] = entry{pod: old, c: i, deleted: now}
				t.ids = append(t.ids, oc.ID)
			}
		}
	}
	c.bury(t)
}

// bury queues a deletion for expiry and drops the oldest past MaxDeleted. Called with mu held.
func (c *Cache) bury(t tomb) {
	c.gone = append(c.gone, t)
	for len(c.goneByID)+len(c.goneByUID) > c.opts.MaxDeleted && len(c.gone) > 0 {
		c.evicted.Add(uint64(c.forget(c.gone[0])))
		c.gone[0] = tomb{}
		c.gone = c.gone[1:]
	}
}

// forget drops a deletion's retained entries, unless they were revived or re-buried since.
// Called with mu held; returns how many it dropped.
func (c *Cache) forget(t tomb) int {
	n := 0
	if t.uid != "" {
		if e, ok := c.goneByUID[t.uid]; ok && e.deleted.Equal(t.at) {
			delete(c.goneByUID, t.uid)
			n++
		}
	}
	for _, id := range t.ids {
		if e, ok := c.goneByID[id]; ok && e.deleted.Equal(t.at) {
			delete(c.goneByID, id)
			n++
		}
	}
	return n
}

// expireLoop drops retained entries once their retention is over, and owner lookups no
// pod refers to any more.
func (c *Cache) expireLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-tick.C:
			c.expire(now)
		}
	}
}

func (c *Cache) expire(now time.Time) {
	c.mu.Lock()
	i := 0
	for ; i < len(c.gone) && now.Sub(c.gone[i].at) > c.retention; i++ {
		c.forget(c.gone[i])
		c.gone[i] = tomb{}
	}
	c.gone = c.gone[i:]
	if cap(c.gone) > 1024 && len(c.gone) < cap(c.gone)/4 {
		c.gone = append([]tomb(nil), c.gone...)
	}
	c.mu.Unlock()
	c.owners.expire(now)
}

// resolveOwners fills in the pod's workload from its controlling owner reference.
func (c *Cache) resolveOwners(pod *Pod, p *corev1.Pod) {
	ref := controller(p.OwnerReferences)
	if ref == nil {
		return
	}
	switch ref.Kind {
	case "ReplicaSet":
		pod.ReplicaSet = ref.Name
		pod.Deployment = c.owners.parent(p.Namespace, "ReplicaSet", ref.Name, string(ref.UID), p.Labels["pod-template-hash"])
	case "Job":
		pod.Job = ref.Name
		pod.CronJob = c.owners.parent(p.Namespace, "Job", ref.Name, string(ref.UID), "")
	case "StatefulSet":
		pod.StatefulSet = ref.Name
	case "DaemonSet":
		pod.DaemonSet = ref.Name
	}
}
