package otelsecelasticsearchexporter

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/internal/schema"
)

// TestREADMEMappingTables fails when the README's event and mapping tables are not what
// internal/schema says: run `make generate`.
func TestREADMEMappingTables(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	want, err := schema.ReplaceMappingTables(doc)
	require.NoError(t, err)
	require.Equal(t, string(want), string(doc), "README.md's mapping tables are stale: run make generate")
}
