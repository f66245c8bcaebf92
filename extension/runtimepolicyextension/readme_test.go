package runtimepolicyextension

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/xconfmap"

	"github.com/otelsec/otelsec/internal/policy"
)

// yamlBlock returns the first ```yaml block after heading.
func yamlBlock(t *testing.T, readme, heading string) string {
	t.Helper()
	i := strings.Index(readme, heading)
	require.GreaterOrEqual(t, i, 0, heading)
	rest := readme[i:]
	start := strings.Index(rest, "```yaml\n")
	require.GreaterOrEqual(t, start, 0)
	rest = rest[start+len("```yaml\n"):]
	end := strings.Index(rest, "```")
	require.GreaterOrEqual(t, end, 0)
	return rest[:end]
}

// TestREADMEExamples: the README's configuration example is a valid configuration and its
// policy document compiles to the rules it describes.
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(b)

	conf, err := confmap.NewRetrievedFromYAML([]byte(yamlBlock(t, readme, "### Complete example")))
	require.NoError(t, err)
	m, err := conf.AsConf()
	require.NoError(t, err)
	sub, err := m.Sub("extensions::runtimepolicy")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, xconfmap.Validate(cfg))
	assert.Equal(t, []string{"/etc/otelsec/policies", "/usr/share/otelsec/policies/crypto-miners.yaml"}, cfg.Paths)
	assert.True(t, cfg.Kubernetes.Enabled)

	docs, errs := policy.Parse("README.md", []byte(yamlBlock(t, readme, "## Policy documents")))
	require.Empty(t, errs)
	set, err := policy.Compile(docs)
	require.NoError(t, err)
	var names []string
	for _, r := range set.Rules {
		names = append(names, r.Name+":"+string(r.Event)+":"+string(r.Action)+":"+string(r.Mode))
	}
	assert.Equal(t, []string{"deny-imds:network.connect:deny:enforce", "etc-writes:file:audit:enforce", "kill-miners:process.exec:kill:monitor",
		"reverse-shell:process.exec:kill:enforce", "root-outside-sudo:process.privilege_change:audit:enforce"}, names)
	assert.True(t, set.Rules[0].FallbackKill)
	assert.Equal(t, policy.Workload{Containers: true, Namespaces: []string{"shop"}, PodSelector: "app=web,tier notin (db)",
		ContainerNames: []string{"web"}, Images: []string{"registry.example.com/shop/web:1.2"}, CgroupPaths: []string{"/kubepods.slice/"}}, set.Rules[2].Workload)
}
