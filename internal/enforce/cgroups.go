package enforce

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/otelsec/otelsec/bpf"
	"github.com/otelsec/otelsec/internal/container"
	"github.com/otelsec/otelsec/internal/k8s"
	"github.com/otelsec/otelsec/internal/policy"
)

// PodSource is the node's pod cache (*k8s.Cache, or a k8s.Handle) as the enforcer uses it.
type PodSource interface {
	Pods(fn func(*k8s.Pod) bool)
	Changed() <-chan struct{}
}

// A workload resolves to cgroup ids: a cgroup id is the inode number of the cgroup's directory
// under the cgroup2 mount.
//   - CgroupPaths: the directory's id, with the subtree flag (the kernel also looks at the
//     ancestors of the current cgroup, so cgroups created below later are selected at once).
//   - Host: every cgroup that is not a container's (container.FromCgroupPath finds no id),
//     exactly (not their subtrees: container cgroups live below host ones).
//   - Namespaces, PodSelector, ContainerNames, Images: the pods of the node's pod cache that
//     match all of them, their containers that match the names and images, and each
//     container's cgroup directory (found by its id) with the subtree flag.
// The three kinds are alternatives: a process is selected when any selects it.
//
// Resolution runs at Apply, whenever the pod cache changes, and every ResolveInterval (new
// containers whose pods the cache already knew, new host cgroups); the active generation's
// cgroup map is then replaced as a whole when its content changed.

type cgroupDir struct {
	rel string // "/kubepods.slice/..." ("/" for the root)
	id  uint64
}

func (e *Enforcer) walkCgroups() ([]cgroupDir, error) {
	if e.cgroupRoot == "" {
		return nil, errors.New("no cgroup2 hierarchy is mounted")
	}
	var dirs []cgroupDir
	err := filepath.WalkDir(e.cgroupRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == e.cgroupRoot {
				return err
			}
			return nil // a cgroup removed during the walk
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := strings.TrimPrefix(p, e.cgroupRoot)
		if rel == "" {
			rel = "/"
		}
		dirs = append(dirs, cgroupDir{rel: rel, id: st.Ino})
		return nil
	})
	return dirs, err
}

// resolve computes the cgroup map of st's workloads.
func (e *Enforcer) resolve(st *state) (map[uint64]bpf.PolicyPolCgroup, error) {
	cg := map[uint64]bpf.PolicyPolCgroup{}
	if len(st.workloads) == 0 {
		return cg, nil
	}
	var errs []error
	for _, w := range st.workloads {
		if needsPods(w.w) && e.pods == nil {
			r := &st.set.Rules[w.rule]
			errs = append(errs, fmt.Errorf("rule %s (%s): the workload selects Kubernetes pods but the collector has no pod cache (no cluster)", r.SecurityRuleName(), r.Source))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dirs, err := e.walkCgroups()
	if err != nil {
		return nil, fmt.Errorf("resolve workloads: %w", err)
	}
	byPath := make(map[string]uint64, len(dirs))
	byContainer := map[string][]uint64{}
	var host []uint64
	for _, d := range dirs {
		byPath[d.rel] = d.id
		if c := container.FromCgroupPath(d.rel); c.ID != "" {
			byContainer[c.ID] = append(byContainer[c.ID], d.id)
		} else {
			host = append(host, d.id)
		}
	}
	add := func(id uint64, rule int, subtree bool) {
		v := cg[id]
		if subtree {
			set(&v.Subtree, rule)
		} else {
			set(&v.Self, rule)
		}
		cg[id] = v
	}
	for _, w := range st.workloads {
		for _, p := range w.w.CgroupPaths {
			p = "/" + strings.Trim(filepath.Clean("/"+p), "/")
			if id, ok := byPath[p]; ok {
				add(id, w.rule, true)
			}
		}
		if w.w.Host {
			for _, id := range host {
				add(id, w.rule, false)
			}
		}
		if needsPods(w.w) {
			sel, err := labels.Parse(w.w.PodSelector)
			if err != nil {
				return nil, fmt.Errorf("rule %s: pod selector %q: %w", st.set.Rules[w.rule].SecurityRuleName(), w.w.PodSelector, err)
			}
			e.pods.Pods(func(p *k8s.Pod) bool {
				if len(w.w.Namespaces) > 0 && !slices.Contains(w.w.Namespaces, p.Namespace) {
					return true
				}
				if !sel.Empty() {
					ls := labels.Set{}
					for _, kv := range p.Labels {
						ls[kv.Key] = kv.Value
					}
					if !sel.Matches(ls) {
						return true
					}
				}
				for _, c := range p.Containers {
					if len(w.w.ContainerNames) > 0 && !slices.Contains(w.w.ContainerNames, c.Name) {
						continue
					}
					if len(w.w.Images) > 0 && !imageMatches(w.w.Images, &c) {
						continue
					}
					for _, id := range byContainer[c.ID] {
						add(id, w.rule, true)
					}
				}
				return true
			})
		}
	}
	return cg, nil
}

func needsPods(w policy.Workload) bool {
	return len(w.Namespaces) > 0 || w.PodSelector != "" || len(w.ContainerNames) > 0 || len(w.Images) > 0
}

// imageMatches: an image is "repository" (any tag), "repository:tag" or "repository@digest" /
// "@digest".
func imageMatches(images []string, c *k8s.Container) bool {
	for _, img := range images {
		switch {
		case strings.Contains(img, "@"):
			if c.ImageRepoDigest != "" && (c.ImageRepoDigest == img || strings.HasSuffix(c.ImageRepoDigest, img)) {
				return true
			}
		case img == c.ImageName, img == c.ImageName+":"+c.ImageTag:
			return true
		}
	}
	return false
}

// resolveLoop resolves the active set's workloads again on pod changes and periodically.
func (e *Enforcer) resolveLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.interval)
	defer t.Stop()
	var changed <-chan struct{}
	if e.pods != nil {
		changed = e.pods.Changed()
	}
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-changed:
			changed = e.pods.Changed()
		}
		if err := e.Reresolve(); err != nil {
			e.logger.Warn("Resolving the cgroups of policy workloads failed", zap.Error(err))
		}
	}
}

// Reresolve resolves the workloads of the set in force again and replaces its cgroup map
// when the result changed.
func (e *Enforcer) Reresolve() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.on || e.coll == nil {
		return nil
	}
	st := e.cur[e.active]
	if st == nil || len(st.workloads) == 0 {
		return nil
	}
	cg, err := e.resolve(st)
	if err != nil {
		return err
	}
	if sameCgroups(cg, e.cgroups[e.active]) {
		return nil
	}
	ms := e.inner["osec_pol_cgroups"].Copy()
	ms.MaxEntries = uint32(max(len(cg), 1))
	m, err := newMap(ms)
	if err != nil {
		return err
	}
	if err := putMap(m, cg); err != nil {
		m.Close()
		return err
	}
	if err := e.coll.Maps["osec_pol_cgroups"].Put(e.active, m); err != nil {
		m.Close()
		return err
	}
	if old := e.innerFDs[e.active]["osec_pol_cgroups"]; old != nil {
		old.Close()
	}
	e.innerFDs[e.active]["osec_pol_cgroups"] = m
	e.cgroups[e.active] = cg
	e.logger.Debug("Policy workloads resolved again", zap.Int("cgroups", len(cg)))
	return nil
}

func sameCgroups(a, b map[uint64]bpf.PolicyPolCgroup) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func newMap(ms *ebpf.MapSpec) (*ebpf.Map, error) {
	ms.Name = ""
	m, err := ebpf.NewMap(ms)
	if err != nil {
		return nil, fmt.Errorf("create cgroup map (%d entries): %w", ms.MaxEntries, err)
	}
	return m, nil
}
