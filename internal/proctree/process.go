// Package proctree keeps what otelsec knows about the processes of one node: each program image
// and the image that started it, so that every event can carry its ancestry.
package proctree

import (
	"github.com/otelsec/otelsec/internal/container"
)

// Creds are a process's credentials (numeric ids as the kernel holds them, in the initial user
// namespace) and capability sets.
type Creds struct {
	UID, GID, EUID, EGID, SUID, SGID, FSUID, FSGID uint32
	CapEffective, CapPermitted, CapInheritable     uint64
}

// Namespaces are the inode numbers of a process's namespaces.
type Namespaces struct {
	Mnt, PID, Net, UTS, IPC, User, Cgroup, Time uint32
}

// NoID is the kernel's "unset" value for loginuid and sessionid.
const NoID = ^uint32(0)

// Image describes one program image: what an exec set up. It is immutable once built and shared
// by the processes that fork from it without exec'ing.
type Image struct {
	Executable          string
	ExecutableTruncated bool // the path lost components: it is a suffix of the real one
	ExecutableDeleted   bool // the file was unlinked (deleted binary, memfd)
	Args                []string
	ArgsTruncated       bool
	Filename            string // the path given to execve, before resolution ("" when unknown)
	Cwd                 string
	CwdTruncated        bool
	Creds               Creds
	LoginUID, SessionID uint32 // audit loginuid and session id (NoID when unset)
	NS                  Namespaces
	CgroupID            uint64
	Cgroup              string // path on the cgroup v2 hierarchy, from its root
	CgroupTruncated     bool
	Container           container.Info
	Comm                string
}

// Origin says how the cache learned of a process.
type Origin uint8

const (
	// OriginExec: an exec seen in the kernel.
	OriginExec Origin = iota + 1
	// OriginFork: a fork seen in the kernel; the image is the parent's.
	OriginFork
	// OriginProcfs: read from /proc when the collector started.
	OriginProcfs
)

func (o Origin) String() string {
	switch o {
	case OriginExec:
		return "exec"
	case OriginFork:
		return "fork"
	case OriginProcfs:
		return "procfs"
	}
	return "unknown"
}

// Process is one program image running (or having run) in one process.
type Process struct {
	// ExecID names this image uniquely on the node, across reboots: see Cache.ExecID.
	ExecID string
	PID    uint32
	// PPID is the parent's pid when this image started (the kernel's real_parent).
	PPID uint32
	// VPID is the pid in the process's own pid namespace (0 when unknown).
	VPID uint32
	// StartTime is when this image started, in CLOCK_BOOTTIME ns: the exec for exec'd images,
	// the fork for forked ones, the process start for those read from /proc.
	StartTime uint64
	// CreationTime is when the process (task) was created, in CLOCK_BOOTTIME ns.
	CreationTime uint64
	// Image is nil only when the process was forked from a parent the cache does not know.
	Image *Image
	// Parent is the image that was the parent when this one started; nil when unknown.
	Parent *Process
	Origin Origin

	exited bool
	prev   *Process // the exited-LRU list links
	next   *Process
}

// Exited reports whether the cache saw this image end (by exit or by a later exec).
func (p *Process) Exited() bool { return p.exited }

// Ancestors returns up to depth ancestors, nearest first.
func (p *Process) Ancestors(depth int) []*Process {
	var out []*Process
	for a := p.Parent; a != nil && len(out) < depth; a = a.Parent {
		out = append(out, a)
	}
	return out
}
