package k8senrichprocessor

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/doc"
)

// TestREADMEAttributeTable fails when the README's table is not what internal/schema says:
// run `make generate`.
func TestREADMEAttributeTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	want, err := doc.ReplaceTable(b)
	require.NoError(t, err)
	require.Equal(t, string(want), string(b), "README.md's attribute table is stale: run make generate")
}
