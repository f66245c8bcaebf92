package k8s

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// owners resolves the owner of a ReplicaSet (its Deployment) or of a Job (its CronJob) with
// one GET per ReplicaSet or Job, remembered by UID: pods of the same workload, and every
// event of those pods, reuse the answer. Entries go when no pod has named them for an hour.
// A failed lookup is remembered for the retry period, then tried again.
type owners struct {
	client kubernetes.Interface
	retry  time.Duration

	mu sync.Mutex
	m  map[string]*owner // by the ReplicaSet's or Job's UID

	lookups  atomic.Uint64
	failures atomic.Uint64
}

type owner struct {
	parent   string // the Deployment's or CronJob's name, "" when it has none
	failed   time.Time
	lastUsed time.Time
}

const ownerIdle = time.Hour

func newOwners(client kubernetes.Interface, retry time.Duration) *owners {
	return &owners{client: client, retry: retry, m: map[string]*owner{}}
}

func (o *owners) stats() (lookups, failures uint64) { return o.lookups.Load(), o.failures.Load() }

// parent returns the name of the Deployment owning a ReplicaSet, or of the CronJob owning a
// Job. When the ReplicaSet cannot be read (no RBAC, API server down), a ReplicaSet named
// <deployment>-<pod-template-hash> still names its Deployment: the Deployment controller
// always names them so.
func (o *owners) parent(namespace, kind, name, uid, templateHash string) string {
	now := time.Now()
	o.mu.Lock()
	e := o.m[uid]
	if e != nil && (e.failed.IsZero() || now.Sub(e.failed) < o.retry) {
		e.lastUsed = now
		parent, failed := e.parent, !e.failed.IsZero()
		o.mu.Unlock()
		if failed {
			return fallback(kind, name, templateHash)
		}
		return parent
	}
	o.mu.Unlock()

	parent, err := o.get(namespace, kind, name, uid)
	o.mu.Lock()
	defer o.mu.Unlock()
	e = &owner{parent: parent, lastUsed: now}
	if err != nil {
		e.failed = now
	}
	o.m[uid] = e
	if err != nil {
		return fallback(kind, name, templateHash)
	}
	return parent
}

func fallback(kind, name, templateHash string) string {
	if kind == "ReplicaSet" && templateHash != "" {
		if d, ok := strings.CutSuffix(name, "-"+templateHash); ok {
			return d
		}
	}
	return ""
}

// get reads the object and returns its controlling owner of the expected kind.
func (o *owners) get(namespace, kind, name, uid string) (string, error) {
	o.lookups.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var meta metav1.ObjectMeta
	want := "Deployment"
	switch kind {
	case "ReplicaSet":
		rs, err := o.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			o.failures.Add(1)
			return "", err
		}
		meta = rs.ObjectMeta
	case "Job":
		want = "CronJob"
		job, err := o.client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			o.failures.Add(1)
			return "", err
		}
		meta = job.ObjectMeta
	}
	if string(meta.UID) != uid {
		// Replaced by a namesake since the pod was created: its owner is not the pod's.
		return "", nil
	}
	if ref := controller(meta.OwnerReferences); ref != nil && ref.Kind == want {
		return ref.Name, nil
	}
	return "", nil
}

// expire drops entries no pod has asked for in an hour (their workloads are gone).
func (o *owners) expire(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for uid, e := range o.m {
		if now.Sub(e.lastUsed) > ownerIdle {
			delete(o.m, uid)
		}
	}
}
