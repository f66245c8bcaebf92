package ebpfsecurityreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelsec/otelsec/internal/proctree"
)

// TestContextCache checks that the prepared process contexts give the attributes context
// builds, and follow a pid to its next image and to another pid in the same slot.
func TestContextCache(t *testing.T) {
	c := proctree.New("node", "0123456789", 16)
	c.Seed(1, 0, 1_000_000, &proctree.Image{Executable: "/sbin/init", Args: []string{"/sbin/init"}})
	m := mapper{}
	check := func(p *proctree.Process) {
		t.Helper()
		want := pcommon.NewMap()
		putContext(want, p)
		for range 2 { // built, then copied from the cache
			got := pcommon.NewMap()
			m.context(got, p.PID, p, "")
			require.Equal(t, want.AsRaw(), got.AsRaw())
		}
	}
	a := c.Exec(200, 1, 0, 2_000_000, 2_000_000, &proctree.Image{Executable: "/usr/bin/bash", Args: []string{"bash", "-c", "x"}, Creds: proctree.Creds{EUID: 1000}})
	check(a)
	b := c.Exec(200+uint32(len(m.contexts)), 200, 0, 3_000_000, 3_000_000, &proctree.Image{Executable: "/usr/bin/cat"})
	check(b)
	a2 := c.Exec(200, 1, 0, 4_000_000, 2_000_000, &proctree.Image{Executable: "/usr/bin/vi", Args: []string{"vi"}})
	check(a2)
	check(b)
}
