// Package container derives container and Kubernetes pod identity from a
// process's cgroup v2 path.
//
// Container runtimes name the cgroup they create after the container id, so
// the path alone identifies the container without asking the runtime. The
// parser is called once per exec event, so it works on substrings with no
// regexp and allocates only when a pod UID has to be rewritten from the
// systemd underscore form to dashes.
package container

import "strings"

// Runtime names reported in Info.Runtime.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker"
	RuntimePodman     = "podman"
)

// Info is what a cgroup path says about the container a process runs in.
//
// ID and PodUID may share memory with the path passed to FromCgroupPath;
// clone them (strings.Clone) if that path aliases a reused buffer.
type Info struct {
	// ID is the full container id (64 lowercase hex), "" for host processes.
	ID string
	// Runtime is "containerd", "cri-o", "docker" or "podman" when the
	// cgroup naming says which runtime created the container, "" when
	// unknown (for example a bare 64-hex directory under /kubepods, which
	// containerd and dockershim both produce) or when ID is "".
	Runtime string
	// PodUID is the Kubernetes pod UID from the nearest kubepods pod
	// slice/directory enclosing the container (or enclosing the process,
	// when ID is ""). Regular pods have a UUID, returned with dashes;
	// static pods have a 32-hex config hash, returned as is. "" when the
	// path has no pod cgroup.
	PodUID string
}

// FromCgroupPath parses a cgroup v2 path: the part after "0::" in
// /proc/PID/cgroup, or a path rebuilt in the kernel by walking up to the
// root, e.g.
//
//	/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c8a3e_..._....slice/cri-containerd-<64hex>.scope
//
// The path is scanned from the leaf up and the innermost container wins, so
// nested setups (kind, docker-in-docker) report the container the process
// actually runs in, and sub-cgroups a container creates below its own
// (systemd in a container: docker-<id>.scope/init.scope) are skipped.
//
// Recognised container components, where <id> is exactly 64 lowercase hex:
//
//	cri-containerd-<id>.scope   containerd, systemd driver
//	crio-<id>.scope, crio-<id>  CRI-O (systemd / cgroupfs driver)
//	docker-<id>.scope           Docker, systemd driver
//	libpod-<id>.scope           Podman
//	nerdctl-<id>.scope          nerdctl (containerd)
//	<other>-<id>[.scope]        unknown runtime: ID set, Runtime ""
//	<id>                        cgroupfs driver; Runtime "docker" under /docker, else ""
//	<slice>:<prefix>:<id>       runc's systemd-style name used with cgroupfs
//
// conmon (crio-conmon-<id>, libpod-conmon-<id>) is deliberately not a
// container: it is the runtime's monitor, runs in the host namespaces and
// never executes container code, so it is reported like any host process
// (ID "", Runtime ""), but keeps the PodUID of the pod slice it lives in.
func FromCgroupPath(path string) Info {
	var info Info
	end := len(path)
	for end > 0 {
		start := strings.LastIndexByte(path[:end], '/') + 1
		comp := path[start:end]
		end = start - 1 // index of the '/' before comp (-1 at the top)

		if info.ID == "" {
			if id, rt, pod, ok := parseContainer(comp, parent(path, start)); ok {
				info.ID, info.Runtime = id, rt
				// A pod found below the container belongs to a nested
				// cluster (kind); the container's own pod is above it.
				info.PodUID = pod
				if pod != "" {
					break
				}
				continue
			}
		}
		if info.PodUID == "" {
			if uid, ok := parsePod(comp, parent(path, start)); ok {
				info.PodUID = uid
				if info.ID != "" {
					break
				}
			}
		}
	}
	return info
}

// parent returns the path component before the one starting at start.
func parent(path string, start int) string {
	if start < 2 {
		return ""
	}
	end := start - 1
	return path[strings.LastIndexByte(path[:end], '/')+1 : end]
}

// parseContainer reports whether comp names a container cgroup. pod is only
// set for the "<slice>:<prefix>:<id>" form, which carries its pod slice in
// the same component.
func parseContainer(comp, parent string) (id, runtime, pod string, ok bool) {
	if len(comp) < 64 {
		return "", "", "", false
	}
	if i := strings.IndexByte(comp, ':'); i >= 0 {
		// runc's systemd cgroup name "slice:prefix:name" shows up verbatim
		// as a directory when containerd uses cgroupfs with systemd-style
		// cgroup parents.
		slice, rest := comp[:i], comp[i+1:]
		j := strings.IndexByte(rest, ':')
		if j < 0 || !isID(rest[j+1:]) {
			return "", "", "", false
		}
		prefix, id := rest[:j], rest[j+1:]
		rt, isContainer := prefixRuntime(prefix)
		if !isContainer {
			return "", "", "", false
		}
		pod, _ = parsePod(slice, "")
		return id, rt, pod, true
	}
	comp = strings.TrimSuffix(comp, ".scope")
	if isID(comp) {
		if parent == "docker" {
			return comp, RuntimeDocker, "", true
		}
		return comp, "", "", true
	}
	n := len(comp) - 64
	if n < 2 || comp[n-1] != '-' || !isID(comp[n:]) {
		return "", "", "", false
	}
	rt, isContainer := prefixRuntime(comp[:n-1])
	return comp[n:], rt, "", isContainer
}

// prefixRuntime maps the prefix before "-<id>" to a runtime. Unknown
// prefixes are still containers (a 64-hex id is a container id); conmon
// scopes are not (see FromCgroupPath).
func prefixRuntime(prefix string) (runtime string, isContainer bool) {
	switch prefix {
	case "cri-containerd", "nerdctl":
		return RuntimeContainerd, true
	case "crio":
		return RuntimeCRIO, true
	case "docker":
		return RuntimeDocker, true
	case "libpod":
		return RuntimePodman, true
	}
	if strings.HasSuffix(prefix, "conmon") {
		return "", false
	}
	return "", true
}

// parsePod recognises the pod cgroup of both kubelet cgroup drivers:
//
//	systemd:  kubepods-burstable-pod6f1c8a3e_1b2c_4d5e_8f90_0a1b2c3d4e5f.slice
//	          (also kind's kubelet-kubepods-...-pod<uid>.slice)
//	cgroupfs: pod6f1c8a3e-1b2c-4d5e-8f90-0a1b2c3d4e5f under kubepods, burstable or besteffort
func parsePod(comp, parent string) (string, bool) {
	var uid string
	if s, ok := strings.CutSuffix(comp, ".slice"); ok {
		i := strings.LastIndex(s, "-pod")
		if i < 0 || !strings.Contains(s[:i], "kubepods") {
			return "", false
		}
		uid = s[i+len("-pod"):]
	} else {
		if parent != "kubepods" && parent != "burstable" && parent != "besteffort" {
			return "", false
		}
		var ok bool
		if uid, ok = strings.CutPrefix(comp, "pod"); !ok {
			return "", false
		}
	}
	switch {
	case len(uid) == 32 && isHex(uid): // static pod: md5 of its manifest
		return uid, true
	case len(uid) != 36 || !isHex(uid[0:8]) || !isHex(uid[9:13]) || !isHex(uid[14:18]) ||
		!isHex(uid[19:23]) || !isHex(uid[24:36]):
		return "", false
	}
	sep := uid[8]
	if (sep != '-' && sep != '_') || uid[13] != sep || uid[18] != sep || uid[23] != sep {
		return "", false
	}
	if sep == '_' {
		// systemd uses '-' for hierarchy in slice names, so kubelet
		// escapes the UUID's dashes as underscores.
		var b [36]byte
		copy(b[:], uid)
		b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
		uid = string(b[:])
	}
	return uid, true
}

func isID(s string) bool { return len(s) == 64 && isHex(s) }

// isHex reports whether s is non-empty lowercase hex. Runtimes always print
// ids in lowercase; uppercase is treated as "not an id".
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
