package schema

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNamesAreUniqueAndNamespaced(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range All {
		require.False(t, seen[a.Name], "duplicate %s", a.Name)
		seen[a.Name] = true
		require.NotEmpty(t, a.Events, a.Name)
		require.NotEmpty(t, a.Source, a.Name)
		require.NotEmpty(t, a.Presence, a.Name)
		require.Contains(t, []Type{String, Int, Bool, StringSlice, IntSlice}, a.Type, a.Name)
	}
	a, ok := Lookup(ExecID)
	require.True(t, ok)
	assert.False(t, a.SemConv())
	a, _ = Lookup(ProcessPID)
	assert.True(t, a.SemConv())
}

func TestReplaceTable(t *testing.T) {
	doc := []byte("# x\n<!-- attributes:begin -->\nold\n<!-- attributes:end -->\nafter\n")
	out, err := ReplaceTable(doc, EventProcessExit)
	require.NoError(t, err)
	assert.Contains(t, string(out), "| `process.exit.code` | int |")
	assert.NotContains(t, string(out), "old")
	assert.Contains(t, string(out), "<!-- attributes:end -->\nafter\n")
	_, err = ReplaceTable([]byte("no markers"))
	require.Error(t, err)
}
