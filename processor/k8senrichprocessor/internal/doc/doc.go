// Package doc renders the README's table of the attributes the k8senrich processor adds.
package doc

import (
	"fmt"
	"strings"

	"github.com/otelsec/otelsec/internal/schema"
)

const (
	begin = "<!-- attributes:begin -->\n"
	end   = "<!-- attributes:end -->"
)

// Table renders schema.K8s as a Markdown table.
func Table() string {
	var b strings.Builder
	b.WriteString("| Attribute | Type | Present | Source | Example | ECS | Description |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, a := range schema.K8s {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", a.Name, a.Type, a.Presence, a.Source,
			code(a.Example), code(a.ECS), a.Description)
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// ReplaceTable returns doc with the table between its markers.
func ReplaceTable(doc []byte) ([]byte, error) {
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %q ... %q markers", strings.TrimSpace(begin), end)
	}
	return []byte(s[:i+len(begin)] + Table() + s[j:]), nil
}
