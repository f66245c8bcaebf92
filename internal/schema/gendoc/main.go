// Command gendoc writes the attribute table of internal/schema into a Markdown file, between
// the lines "<!-- attributes:begin -->" and "<!-- attributes:end -->".
//
//	gendoc FILE EVENT...
package main

import (
	"fmt"
	"os"

	"github.com/otelsec/otelsec/internal/schema"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gendoc FILE EVENT...")
		os.Exit(2)
	}
	file := os.Args[1]
	b, err := os.ReadFile(file)
	if err == nil {
		b, err = schema.ReplaceTable(b, os.Args[2:]...)
	}
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendoc: %s: %v\n", file, err)
		os.Exit(1)
	}
}
