package ebpfsecurityreceiver

import (
	"path"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/otelsec/otelsec/internal/container"
	"github.com/otelsec/otelsec/internal/proctree"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/internal/sensor"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver/internal/metadata"
)

// batch accumulates log records, one ResourceLogs per container and one for host processes.
type batch struct {
	logs    plog.Logs
	scopes  map[string]plog.LogRecordSlice // by container id ("" for the host)
	n       int
	started time.Time
	node    nodeInfo
	version string
}

func newBatch(node nodeInfo, version string) *batch {
	return &batch{logs: plog.NewLogs(), scopes: make(map[string]plog.LogRecordSlice), node: node, version: version}
}

// take hands out the accumulated logs and starts a new batch.
func (b *batch) take() plog.Logs {
	l := b.logs
	b.logs = plog.NewLogs()
	clear(b.scopes)
	b.n = 0
	return l
}

// record appends a log record to the resource of c.
func (b *batch) record(c container.Info) plog.LogRecord {
	recs, ok := b.scopes[c.ID]
	if !ok {
		rl := b.logs.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr(s.HostName, b.node.name)
		if b.node.machineID != "" {
			res.PutStr(s.HostID, b.node.machineID)
		}
		res.PutStr(s.OSType, "linux")
		if c.ID != "" {
			res.PutStr(s.ContainerID, c.ID)
			if c.Runtime != "" {
				res.PutStr(s.ContainerRuntimeName, c.Runtime)
			}
			if c.PodUID != "" {
				res.PutStr(s.K8sPodUID, c.PodUID)
			}
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(metadata.ScopeName)
		sl.Scope().SetVersion(b.version)
		recs = sl.LogRecords()
		b.scopes[c.ID] = recs
	}
	if b.n == 0 {
		b.started = time.Now()
	}
	b.n++
	return recs.AppendEmpty()
}

// bootClock turns CLOCK_BOOTTIME, the kernel's event clock, into wall-clock time.
type bootClock struct{ offset int64 }

func newBootClock() bootClock {
	var c bootClock
	c.sync()
	return c
}

// sync measures the offset again: NTP steps move the wall clock, not the boot clock.
func (c *bootClock) sync() {
	var rt, bt unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &rt)
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt)
	c.offset = rt.Nano() - bt.Nano()
}

func (c bootClock) timestamp(boot uint64) pcommon.Timestamp {
	return pcommon.Timestamp(int64(boot) + c.offset)
}

func (c bootClock) rfc3339(boot uint64) string {
	return time.Unix(0, int64(boot)+c.offset).UTC().Format(time.RFC3339Nano)
}

// mapper turns process events into log records. It belongs to the reader's goroutine.
type mapper struct {
	clock         *bootClock
	ancestryDepth int
	contexts      contextCache
}

// contextCache holds the prepared process-context attributes (see context) of recently seen
// processes, one slot per pid modulo its size: the events of a busy process copy them instead
// of building them again. What they say cannot go stale: they come from the process's image,
// which is immutable, and its parent, whose link changes only when the cache drops the process
// (and Get no longer returns it). A slot holds the *Process it was built for; a new image in
// the same pid is another *Process, so it misses. It keeps at most its size of processes
// reachable after the process cache has let them go.
type contextCache [256]struct {
	p     *proctree.Process
	attrs pcommon.Map
}

// eventAttrs is the capacity an event's attributes are given up front, beyond its process
// context: the most that file and network events put (privilege events, rarer, may grow it
// once). Growing a map one Put at a time reallocates and copies it several times per event.
const eventAttrs = 16

func (m *mapper) exec(lr plog.LogRecord, e *sensor.Exec, p *proctree.Process) {
	m.header(lr, s.EventProcessExec, e.KTime)
	a := lr.Attributes()
	m.process(a, p)
	img := p.Image
	if img.Filename != "" {
		a.PutStr(s.ExecFilename, img.Filename)
	}
	if e.ExeMode&unix.S_ISUID != 0 {
		a.PutBool(s.ExecutableSetuid, true)
	}
	if e.ExeMode&unix.S_ISGID != 0 {
		a.PutBool(s.ExecutableSetgid, true)
	}
	if e.PrevKnown {
		var change []string
		if e.Prev.EUID != img.Creds.EUID {
			change = append(change, "setuid")
		}
		if e.Prev.EGID != img.Creds.EGID {
			change = append(change, "setgid")
		}
		if img.Creds.CapPermitted&^e.Prev.CapPermitted != 0 {
			change = append(change, "capabilities")
		}
		if len(change) > 0 {
			putStrs(a, s.CredentialsChange, change)
			a.PutInt(s.PrevUserID, int64(e.Prev.EUID))
			a.PutInt(s.PrevGroupID, int64(e.Prev.EGID))
			putStrs(a, s.PrevCapPermitted, proctree.CapabilityNames(e.Prev.CapPermitted))
		}
	}
	lr.Body().SetStr(summary("exec", p, ""))
}

func (m *mapper) exit(lr plog.LogRecord, x *sensor.Exit, p *proctree.Process) {
	m.header(lr, s.EventProcessExit, x.KTime)
	a := lr.Attributes()
	if p != nil {
		m.process(a, p)
		a.PutStr(s.Origin, p.Origin.String())
	} else {
		// A process that ended before the cache learned of it (started while the collector
		// was starting, or its records were lost): what the exit record itself says.
		a.PutInt(s.ProcessPID, int64(x.TGID))
		a.PutInt(s.ProcessParentPID, int64(x.PPID))
		a.PutStr(s.ProcessCreationTime, m.clock.rfc3339(x.StartBoottime))
		a.PutStr(s.Comm, x.Comm)
		a.PutInt(s.CgroupID, int64(x.CgroupID))
	}
	a.PutStr(s.ProcessExitTime, m.clock.rfc3339(x.KTime))
	var outcome string
	if sig := x.Signal(); sig != 0 {
		name := unix.SignalName(unix.Signal(sig))
		if name == "" {
			name = "SIG" + strconv.Itoa(sig)
		}
		a.PutStr(s.ExitSignal, name)
		if x.CoreDumped() {
			a.PutBool(s.ExitCoreDumped, true)
		}
		outcome = "killed by " + name
	} else {
		a.PutInt(s.ProcessExitCode, int64(x.Code()))
		outcome = "code " + strconv.Itoa(x.Code())
	}
	if p == nil {
		lr.Body().SetStr("exit " + x.Comm + " (pid " + strconv.FormatUint(uint64(x.TGID), 10) + ", " + outcome + ")")
		return
	}
	lr.Body().SetStr(summary("exit", p, outcome))
}

// event starts the log record of an event that a process caused (a file, network or
// privilege event): in the process's container resource, named name, at the kernel's time,
// with the process context every event carries. p is the process from the cache, nil when the
// cache does not know tgid; comm is the kernel's task name, used only then.
func (m *mapper) event(b *batch, name string, ktime uint64, tgid uint32, p *proctree.Process, comm string) plog.LogRecord {
	var c container.Info
	if p != nil && p.Image != nil {
		c = p.Image.Container
	}
	lr := b.record(c)
	m.header(lr, name, ktime)
	a := lr.Attributes()
	a.EnsureCapacity(contextAttrs + eventAttrs)
	m.context(a, tgid, p, comm)
	return lr
}

// contextAttrs is the most attributes context puts.
const contextAttrs = 9

// context puts the attributes that say which process did something: enough to answer "which
// process, started by what, in which container" from one record without the full image. a
// must be empty: the prepared attributes of a known process replace its contents.
func (m *mapper) context(a pcommon.Map, tgid uint32, p *proctree.Process, comm string) {
	if p == nil {
		a.PutInt(s.ProcessPID, int64(tgid))
		if comm != "" {
			a.PutStr(s.Comm, comm)
		}
		return
	}
	slot := &m.contexts[p.PID%uint32(len(m.contexts))]
	if slot.p != p {
		slot.p = p
		slot.attrs = pcommon.NewMap()
		slot.attrs.EnsureCapacity(contextAttrs)
		putContext(slot.attrs, p)
	}
	slot.attrs.CopyTo(a) // keeps a's capacity when it suffices
}

// putContext puts the context attributes of a process the cache knows.
func putContext(a pcommon.Map, p *proctree.Process) {
	a.PutInt(s.ProcessPID, int64(p.PID))
	a.PutInt(s.ProcessParentPID, int64(p.PPID))
	a.PutStr(s.ExecID, p.ExecID)
	if img := p.Image; img != nil {
		if img.Executable != "" {
			a.PutStr(s.ProcessExecutablePath, img.Executable)
			a.PutStr(s.ProcessExecutableName, path.Base(img.Executable))
		}
		if len(img.Args) > 0 {
			a.PutStr(s.ProcessCommandLine, strings.Join(img.Args, " "))
		}
		a.PutInt(s.ProcessUserID, int64(img.Creds.EUID))
	}
	if parent := p.Parent; parent != nil {
		a.PutStr(s.ParentExecID, parent.ExecID)
		if parent.Image != nil {
			a.PutStr(s.ParentExecutablePath, parent.Image.Executable)
		}
	}
}

func (m *mapper) header(lr plog.LogRecord, name string, ktime uint64) {
	lr.SetEventName(name)
	lr.SetTimestamp(m.clock.timestamp(ktime))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
}

// process puts what the cache knows of p: identity, image, credentials, ancestry.
func (m *mapper) process(a pcommon.Map, p *proctree.Process) {
	a.PutInt(s.ProcessPID, int64(p.PID))
	a.PutInt(s.ProcessParentPID, int64(p.PPID))
	if p.VPID != 0 {
		a.PutInt(s.ProcessVPID, int64(p.VPID))
	}
	a.PutStr(s.ExecID, p.ExecID)
	a.PutStr(s.ProcessCreationTime, m.clock.rfc3339(p.CreationTime))
	if img := p.Image; img != nil {
		m.image(a, img)
	}
	if parent := p.Parent; parent != nil {
		a.PutStr(s.ParentExecID, parent.ExecID)
		if parent.Image != nil {
			a.PutStr(s.ParentExecutablePath, parent.Image.Executable)
			a.PutStr(s.ParentCommandLine, strings.Join(parent.Image.Args, " "))
		}
	}
	if ancestors := p.Ancestors(m.ancestryDepth); len(ancestors) > 0 {
		ids := a.PutEmptySlice(s.AncestorExecIDs)
		pids := a.PutEmptySlice(s.AncestorPIDs)
		paths := a.PutEmptySlice(s.AncestorExecutablePaths)
		ids.EnsureCapacity(len(ancestors))
		pids.EnsureCapacity(len(ancestors))
		paths.EnsureCapacity(len(ancestors))
		for _, anc := range ancestors {
			ids.AppendEmpty().SetStr(anc.ExecID)
			pids.AppendEmpty().SetInt(int64(anc.PID))
			exe := ""
			if anc.Image != nil {
				exe = anc.Image.Executable
			}
			paths.AppendEmpty().SetStr(exe)
		}
	}
}

func (m *mapper) image(a pcommon.Map, img *proctree.Image) {
	if img.Executable != "" {
		a.PutStr(s.ProcessExecutablePath, img.Executable)
		a.PutStr(s.ProcessExecutableName, path.Base(img.Executable))
	}
	if img.ExecutableTruncated {
		a.PutBool(s.ExecutableTruncated, true)
	}
	if img.ExecutableDeleted {
		a.PutBool(s.ExecutableDeleted, true)
	}
	if len(img.Args) > 0 {
		putStrs(a, s.ProcessCommandArgs, img.Args)
		a.PutStr(s.ProcessCommandLine, strings.Join(img.Args, " "))
	}
	if img.ArgsTruncated {
		a.PutBool(s.CommandArgsTruncated, true)
	}
	if img.Cwd != "" {
		a.PutStr(s.ProcessWorkingDirectory, img.Cwd)
	}
	if img.CwdTruncated {
		a.PutBool(s.WorkingDirectoryTruncated, true)
	}
	c := &img.Creds
	a.PutInt(s.ProcessUserID, int64(c.EUID))
	a.PutInt(s.ProcessRealUserID, int64(c.UID))
	a.PutInt(s.ProcessSavedUserID, int64(c.SUID))
	a.PutInt(s.ProcessGroupID, int64(c.EGID))
	a.PutInt(s.ProcessRealGroupID, int64(c.GID))
	a.PutInt(s.ProcessSavedGroupID, int64(c.SGID))
	if c.FSUID != c.EUID {
		a.PutInt(s.FSUserID, int64(c.FSUID))
	}
	if c.FSGID != c.EGID {
		a.PutInt(s.FSGroupID, int64(c.FSGID))
	}
	putStrs(a, s.CapEffective, proctree.CapabilityNames(c.CapEffective))
	putStrs(a, s.CapPermitted, proctree.CapabilityNames(c.CapPermitted))
	if c.CapInheritable != 0 {
		putStrs(a, s.CapInheritable, proctree.CapabilityNames(c.CapInheritable))
	}
	if img.LoginUID != proctree.NoID {
		a.PutInt(s.AuditLoginUserID, int64(img.LoginUID))
	}
	if img.SessionID != proctree.NoID {
		a.PutInt(s.AuditSessionID, int64(img.SessionID))
	}
	if img.Cgroup != "" {
		a.PutStr(s.ProcessLinuxCgroup, "0::"+img.Cgroup)
	}
	if img.CgroupTruncated {
		a.PutBool(s.CgroupTruncated, true)
	}
	if img.CgroupID != 0 {
		a.PutInt(s.CgroupID, int64(img.CgroupID))
	}
	for _, ns := range [...]struct {
		key string
		v   uint32
	}{
		{s.NSMnt, img.NS.Mnt}, {s.NSPID, img.NS.PID}, {s.NSNet, img.NS.Net}, {s.NSUTS, img.NS.UTS},
		{s.NSIPC, img.NS.IPC}, {s.NSUser, img.NS.User}, {s.NSCgroup, img.NS.Cgroup}, {s.NSTime, img.NS.Time},
	} {
		if ns.v != 0 {
			a.PutInt(ns.key, int64(ns.v))
		}
	}
}

func putStrs(a pcommon.Map, key string, vals []string) {
	sl := a.PutEmptySlice(key)
	sl.EnsureCapacity(len(vals))
	for _, v := range vals {
		sl.AppendEmpty().SetStr(v)
	}
}

// summary is the record's body: one line a person reads in a log viewer.
func summary(verb string, p *proctree.Process, outcome string) string {
	var b strings.Builder
	b.WriteString(verb)
	b.WriteByte(' ')
	if p.Image != nil && p.Image.Executable != "" {
		b.WriteString(p.Image.Executable)
	} else {
		b.WriteString("?")
	}
	b.WriteString(" (pid ")
	b.WriteString(strconv.FormatUint(uint64(p.PID), 10))
	if outcome != "" {
		b.WriteString(", ")
		b.WriteString(outcome)
	}
	b.WriteByte(')')
	if verb == "exec" && p.Image != nil && len(p.Image.Args) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(p.Image.Args, " "))
	}
	return b.String()
}
