package ebpfsecurityreceiver

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/schema"
)

// TestREADMEAttributeTable fails when the README's table is not what internal/schema says:
// run `make generate`.
func TestREADMEAttributeTable(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	// The events of the table are those of generate.go's gendoc line.
	gen, err := os.ReadFile("generate.go")
	require.NoError(t, err)
	var events []string
	for _, line := range strings.Split(string(gen), "\n") {
		if _, args, ok := strings.Cut(line, "gendoc README.md "); ok {
			events = strings.Fields(args)
		}
	}
	require.Contains(t, events, schema.EventProcessExec, "generate.go has no gendoc line")
	want, err := schema.ReplaceTable(doc, events...)
	require.NoError(t, err)
	require.Equal(t, string(want), string(doc), "README.md's attribute table is stale: run make generate")
}
