package proctree

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func img(exe string) *Image { return &Image{Executable: exe} }

func TestExecIDFormat(t *testing.T) {
	c := New("worker-1", "5b0c2f1e9d8c4b7a", 64)
	assert.Equal(t, "worker-1:5b0c2f1e:1834529873000:4242", c.ExecID(4242, 1834529873000))
}

func TestAncestryAcrossExecAndFork(t *testing.T) {
	c := New("n", "b", 64)
	initP := c.Seed(1, 0, 100, img("/sbin/init"))
	bash := c.Exec(10, 1, 10, 1000, 900, img("/bin/bash"))
	child := c.Fork(11, 10, 2000) // bash forks
	assert.Same(t, bash.Image, child.Image, "a fork runs its parent's image")
	assert.Same(t, bash, child.Parent)
	curl := c.Exec(11, 10, 11, 3000, 2000, img("/usr/bin/curl"))
	assert.Same(t, bash, curl.Parent, "an exec's parent is the parent process, not the image it replaced")
	assert.True(t, child.Exited(), "the exec ended the forked image")
	assert.Equal(t, []*Process{bash, initP}, curl.Ancestors(5))
	assert.Equal(t, []*Process{bash}, curl.Ancestors(1))
	assert.Empty(t, curl.Ancestors(0))
	assert.Same(t, curl, c.Get(11))
	assert.NotEqual(t, child.ExecID, curl.ExecID)
}

func TestExitAndDuplicateExit(t *testing.T) {
	c := New("n", "b", 64)
	p := c.Exec(20, 1, 20, 5_000_000_000, 4_990_000_000, img("/bin/true"))
	got, dup := c.Exit(20, 4_990_000_000)
	assert.Same(t, p, got)
	assert.False(t, dup)
	assert.Nil(t, c.Get(20))
	got, dup = c.Exit(20, 4_990_000_000)
	assert.Same(t, p, got)
	assert.True(t, dup, "a second exit of the same process is a duplicate")
	got, dup = c.Exit(20, 9_000_000_000)
	assert.Nil(t, got, "a different process with a reused pid is unknown")
	assert.False(t, dup)
}

func TestExitMatchesSeededAtTickResolution(t *testing.T) {
	c := New("n", "b", 64)
	p := c.Seed(30, 1, 1_230_000_000, img("/bin/sleep")) // /proc: 123 ticks
	got, _ := c.Exit(30, 1_234_567_891)                  // kernel: ns
	assert.Same(t, p, got)
}

func TestEvictionPrefersExited(t *testing.T) {
	c := New("n", "b", 64)
	root := c.Seed(1, 0, 1, img("/sbin/init"))
	for pid := uint32(100); pid < 200; pid++ {
		c.Exec(pid, 1, pid, uint64(pid), uint64(pid), img("/bin/true"))
		c.Exit(pid, uint64(pid))
	}
	size, evictions := c.Stats()
	assert.Equal(t, int64(64), size)
	assert.Equal(t, uint64(101-64), evictions)
	assert.Same(t, root, c.Get(1), "live processes outlive exited ones")
	_, dup := c.Exit(199, 199)
	assert.True(t, dup, "the most recent exits are kept")
	p, _ := c.Exit(100, 100)
	assert.Nil(t, p, "the oldest exits were evicted")
}

func TestEvictionOfLiveWhenFull(t *testing.T) {
	c := New("n", "b", 64)
	for pid := uint32(1); pid <= 100; pid++ {
		c.Exec(pid, 0, pid, uint64(pid), uint64(pid), img("/bin/sleep"))
	}
	size, evictions := c.Stats()
	assert.Equal(t, int64(64), size)
	assert.Equal(t, uint64(36), evictions)
	assert.Equal(t, 64, c.Len())
}

func TestEvictedAncestorKeepsChildsParentButDropsItsOwn(t *testing.T) {
	c := New("n", "b", 64)
	gp := c.Exec(1, 0, 1, 1, 1, img("/gp"))
	parent := c.Exec(2, 1, 2, 2, 2, img("/parent"))
	child := c.Exec(3, 2, 3, 3, 3, img("/child"))
	c.Exit(2, 2)
	for pid := uint32(100); pid < 300; pid++ { // push the parent out
		c.Exec(pid, 0, pid, uint64(pid), uint64(pid), img("/x"))
		c.Exit(pid, uint64(pid))
	}
	require.Same(t, parent, child.Parent)
	assert.Nil(t, parent.Parent, "an evicted image no longer holds its ancestors")
	_ = gp
}

func TestSeedDoesNotOverrideKernel(t *testing.T) {
	c := New("n", "b", 64)
	p := c.Exec(5, 1, 5, 10, 9, img("/bin/new"))
	assert.Same(t, p, c.Seed(5, 1, 9, img("/bin/old")))
	assert.Equal(t, "/bin/new", c.Get(5).Image.Executable)
}

func TestCapabilityNames(t *testing.T) {
	assert.Equal(t, []string{}, CapabilityNames(0))
	assert.Equal(t, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}, CapabilityNames(1|1<<21))
	assert.Equal(t, []string{"CAP_CHECKPOINT_RESTORE", "CAP_41"}, CapabilityNames(1<<40|1<<41))
	assert.Len(t, CapabilityNames(1<<41-1), 41)
}

func TestReap(t *testing.T) {
	c := New("n", "b", 64)
	c.Exec(1, 0, 1, 1, 1, img("/init"))
	gone := c.Exec(2, 1, 2, 2, 2, img("/gone"))
	assert.Equal(t, 1, c.Reap(func(pid uint32) bool { return pid != 2 }))
	assert.Nil(t, c.Get(2))
	assert.True(t, gone.Exited())
	assert.NotNil(t, c.Get(1))
	assert.Equal(t, 0, c.Reap(func(uint32) bool { return true }))
}
