package proctree

import (
	"strconv"
	"sync/atomic"
)

// Cache holds the live processes of the node by pid and, up to its size, the most recently
// exited ones (their children's events still name them as ancestors). It is fed by one
// goroutine, the ring buffer reader; only Stats may be called concurrently.
//
// Live processes are evicted only when the cache is full of live processes; exited ones go
// first, least recently ended first. An evicted image that a live child still names as its
// parent stays reachable from that child, but drops its own parent link, so memory stays
// bounded by twice the size.
type Cache struct {
	node string
	boot string
	size int

	live   map[uint32]*Process
	exited map[uint32]*Process // the most recently exited image of each pid
	// exited images in order of their end: head is the oldest.
	head, tail *Process
	nExited    int

	evictions atomic.Uint64
	count     atomic.Int64
}

// New returns a cache holding at most size processes. node and bootID go into every exec id:
// the node name makes ids unique in a cluster, the boot id across reboots (boot-time clocks and
// pids start again at every boot).
func New(node, bootID string, size int) *Cache {
	if len(bootID) > 8 {
		bootID = bootID[:8]
	}
	return &Cache{
		node:   node,
		boot:   bootID,
		size:   size,
		live:   make(map[uint32]*Process),
		exited: make(map[uint32]*Process),
	}
}

// ExecID is "<node>:<boot id prefix>:<start time ns>:<pid>".
func (c *Cache) ExecID(pid uint32, start uint64) string {
	b := make([]byte, 0, len(c.node)+len(c.boot)+34)
	b = append(b, c.node...)
	b = append(b, ':')
	b = append(b, c.boot...)
	b = append(b, ':')
	b = strconv.AppendUint(b, start, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(pid), 10)
	return string(b)
}

// Get returns the live image of pid, or nil.
func (c *Cache) Get(pid uint32) *Process { return c.live[pid] }

// Exec records a new image in pid. The image it replaces (if any) ends.
func (c *Cache) Exec(pid, ppid, vpid uint32, start, creation uint64, img *Image) *Process {
	p := c.add(pid, ppid, start, creation, img, OriginExec)
	p.VPID = vpid
	return p
}

// add builds a process whose parent is ppid's live image, and inserts it.
func (c *Cache) add(pid, ppid uint32, start, creation uint64, img *Image, origin Origin) *Process {
	p := &Process{
		ExecID:       c.ExecID(pid, start),
		PID:          pid,
		PPID:         ppid,
		StartTime:    start,
		CreationTime: creation,
		Image:        img,
		Parent:       c.live[ppid],
		Origin:       origin,
	}
	c.insert(p)
	return p
}

// Fork records a new process that runs its parent's image.
func (c *Cache) Fork(pid, ppid uint32, start uint64) *Process {
	var img *Image
	if parent := c.live[ppid]; parent != nil {
		img = parent.Image
	}
	return c.add(pid, ppid, start, start, img, OriginFork)
}

// Exit ends the live image of pid. creation (the thread group leader's creation time) tells a
// repeated exit of the same process, which it reports with dup, from the exit of a process the
// cache never saw, which returns nil.
func (c *Cache) Exit(pid uint32, creation uint64) (p *Process, dup bool) {
	if p = c.live[pid]; p != nil && sameCreation(p.CreationTime, creation) {
		c.end(p)
		return p, false
	}
	if e := c.exited[pid]; e != nil && sameCreation(e.CreationTime, creation) {
		return e, true
	}
	return nil, false
}

// sameCreation compares creation times at the resolution of /proc (clock ticks of 10 ms), since
// seeded processes know theirs only to that resolution.
func sameCreation(a, b uint64) bool {
	const tick = 10_000_000
	return a/tick == b/tick
}

// Len is the number of processes held, live and exited.
func (c *Cache) Len() int { return len(c.live) + c.nExited }

// Stats returns the number of processes held and the evictions so far; safe for concurrent use.
func (c *Cache) Stats() (size int64, evictions uint64) {
	return c.count.Load(), c.evictions.Load()
}

func (c *Cache) insert(p *Process) {
	if old := c.live[p.PID]; old != nil {
		c.end(old)
	}
	c.live[p.PID] = p
	for c.Len() > c.size && c.evictOne() {
	}
	c.count.Store(int64(c.Len()))
}

// end moves a live image to the exited list.
func (c *Cache) end(p *Process) {
	delete(c.live, p.PID)
	p.exited = true
	if old := c.exited[p.PID]; old != nil {
		c.unlink(old)
	}
	c.exited[p.PID] = p
	p.prev, p.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = p
	} else {
		c.head = p
	}
	c.tail = p
	c.nExited++
	for c.Len() > c.size && c.evictOne() {
	}
	c.count.Store(int64(c.Len()))
}

func (c *Cache) unlink(p *Process) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		c.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		c.tail = p.prev
	}
	p.prev, p.next = nil, nil
	if c.exited[p.PID] == p {
		delete(c.exited, p.PID)
	}
	c.nExited--
}

// evictOne drops the oldest exited image, or a live one when none has exited.
func (c *Cache) evictOne() bool {
	var victim *Process
	if c.head != nil {
		victim = c.head
		c.unlink(victim)
	} else {
		for _, p := range c.live {
			victim = p
			break
		}
		if victim == nil {
			return false
		}
		delete(c.live, victim.PID)
	}
	victim.Parent = nil
	c.evictions.Add(1)
	return true
}

// Seed records a process read from /proc when the collector starts. start is its creation time
// (the only start /proc tells). A process the kernel already reported is left alone.
func (c *Cache) Seed(pid, ppid uint32, start uint64, img *Image) *Process {
	if p := c.live[pid]; p != nil && p.Origin != OriginProcfs {
		return p
	}
	return c.add(pid, ppid, start, start, img, OriginProcfs)
}

// Reap ends the live images whose process no longer exists, as alive reports. Exit records can
// be lost (a full ring buffer); without this their processes would stay "live" forever and
// crowd out real ones. It returns how many it ended.
func (c *Cache) Reap(alive func(pid uint32) bool) int {
	var dead []*Process
	for pid, p := range c.live {
		if !alive(pid) {
			dead = append(dead, p)
		}
	}
	for _, p := range dead {
		c.end(p)
	}
	return len(dead)
}
