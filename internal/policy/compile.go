package policy

import (
	"cmp"
	"fmt"
	"slices"
)

// SetWide is Error.File for problems of the set as a whole (its limits).
const SetWide = "policy set"

// Compile validates policies and compiles them into a Set (Generation 0: a Source numbers
// the sets it publishes). It reports every error, or none and the Set: rules sorted by
// policy name then rule name, ids dense from 1.
//
// Besides each document's own checks, the set must have unique policy names per kind and no
// conflicting rules. Two rules conflict when they act on the same event with the same
// workloads and the same selectors (after normalization: lists sorted and deduplicated, CIDRs
// masked) but a different action, signal or mode: the same operation would be, say, both
// denied and only audited, and which one wins would depend on rule order. Rules that
// overlap without being identical (a prefix and an exact path below it) do not conflict: each
// acts on what it matches. Rules identical down to the action are allowed (redundant).
func Compile(policies []*Policy) (*Set, error) {
	var errs Errors
	var rules []Rule
	seen := map[string]*Policy{}
	for _, p := range policies {
		rs, es := p.validate()
		errs = append(errs, es...)
		if p.Kind == KindCluster || p.Kind == KindNamespaced {
			key := p.Kind + "/" + p.Name()
			if first, dup := seen[key]; dup && p.Metadata.Name != "" {
				errs = append(errs, p.errorf("metadata.name", "duplicate policy: %s %q is also defined in %s", p.Kind, p.Name(), where(first)))
			} else {
				seen[key] = p
			}
		}
		rules = append(rules, rs...)
	}
	errs = append(errs, conflicts(policies, rules)...)
	errs = append(errs, limits(rules)...)
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	slices.SortFunc(rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Policy, b.Policy), cmp.Compare(a.Name, b.Name))
	})
	for i := range rules {
		rules[i].ID = uint32(i + 1)
	}
	return &Set{Rules: rules}, nil
}

func where(p *Policy) string {
	if p.Index > 0 {
		return fmt.Sprintf("%s document %d", p.File, p.Index)
	}
	return p.File
}

// conflicts finds rules with the same event, workloads and selectors but another action,
// signal or mode.
func conflicts(policies []*Policy, rules []Rule) Errors {
	byName := map[string]*Policy{}
	for _, p := range policies {
		byName[p.Name()] = p
	}
	type first struct {
		r     *Rule
		index int
	}
	seen := map[string]first{}
	var errs Errors
	for i := range rules {
		r := &rules[i]
		k := selectorKey(r)
		f, ok := seen[k]
		if !ok {
			seen[k] = first{r, i}
			continue
		}
		if f.r.Action == r.Action && f.r.Signal == r.Signal && f.r.Mode == r.Mode {
			continue
		}
		p := byName[r.Policy]
		field := "spec.rules"
		for j, rs := range p.Spec.Rules {
			if rs.Name == r.Name {
				field = fmt.Sprintf("spec.rules[%d]", j)
			}
		}
		errs = append(errs, p.errorf(field, "conflicts with rule %q of policy %q (%s): same event, workloads and selectors, but %s %s vs %s %s",
			f.r.Name, f.r.Policy, f.r.Source, r.Action, r.Mode, f.r.Action, f.r.Mode))
	}
	return errs
}

// selectorKey is everything that says what a rule matches.
func selectorKey(r *Rule) string {
	c := *r
	c.ID, c.Policy, c.Name, c.Source = 0, "", "", ""
	c.Action, c.Signal, c.Mode, c.FallbackKill, c.Rate = "", 0, "", false, Rate{}
	return fmt.Sprintf("%#v", c)
}

// limits checks the set against the sizes the enforcer's maps hold.
func limits(rules []Rule) Errors {
	var paths, binaries, cidrs, ports, workloads int
	uids, euids := map[uint32]bool{}, map[uint32]bool{}
	args := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		for _, a := range r.ArgsContain {
			args[a] = true
		}
		for _, u := range r.UIDs {
			uids[u] = true
		}
		for _, u := range r.EUIDs {
			euids[u] = true
		}
		paths += len(r.Paths.Exact) + len(r.Paths.Prefix)
		for _, m := range []Match{r.Binary, r.ExceptBinary, r.ParentBinary} {
			binaries += len(m.Exact) + len(m.Prefix) + len(m.Suffix)
		}
		cidrs += len(r.CIDRs)
		ports += len(r.Ports)
		w := r.Workload
		workloads += len(w.Namespaces) + len(w.ContainerNames) + len(w.Images) + len(w.CgroupPaths)
	}
	var errs Errors
	for _, l := range []struct {
		what     string
		n, limit int
	}{
		{"rules", len(rules), MaxRules},
		{"file path patterns", paths, MaxPaths},
		{"binary patterns", binaries, MaxBinaries},
		{"CIDRs", cidrs, MaxCIDRs},
		{"port ranges", ports, MaxPortRanges},
		{"workload entries (namespaces, container names, images, cgroup paths)", workloads, MaxWorkloadEntries},
		{"distinct uids", len(uids), MaxIDEntries},
		{"distinct euids", len(euids), MaxIDEntries},
		{"distinct args.contain strings", len(args), MaxArgStrings},
	} {
		if l.n > l.limit {
			errs = append(errs, &Error{File: SetWide, Msg: fmt.Sprintf("too many %s: %d, at most %d in a set", l.what, l.n, l.limit)})
		}
	}
	return errs
}
