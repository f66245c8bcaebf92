// Command genmapping writes the event and attribute mapping tables of internal/schema (ECS and
// Splunk CIM) into a Markdown file, between "<!-- events:begin -->" / "<!-- events:end -->"
// and "<!-- mapping:begin -->" / "<!-- mapping:end -->".
//
//	genmapping FILE
package main

import (
	"fmt"
	"os"

	"github.com/otelsec/otelsec/internal/schema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genmapping FILE")
		os.Exit(2)
	}
	file := os.Args[1]
	b, err := os.ReadFile(file)
	if err == nil {
		b, err = schema.ReplaceMappingTables(b)
	}
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "genmapping: %s: %v\n", file, err)
		os.Exit(1)
	}
}
