package ebpfsecurityreceiver

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/schema"
)

// TestREADMEAttributeTable fails when the README's table is not what internal/schema says:
// run `make generate`.
func TestREADMEAttributeTable(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	want, err := schema.ReplaceTable(doc, schema.EventProcessExec, schema.EventProcessExit)
	require.NoError(t, err)
	require.Equal(t, string(want), string(doc), "README.md's attribute table is stale: run make generate")
}
