// Command gendoc writes the table of the attributes the k8senrich processor adds (from
// internal/schema's K8s list) into README.md, between "<!-- attributes:begin -->" and
// "<!-- attributes:end -->".
//
//	gendoc FILE
package main

import (
	"fmt"
	"os"

	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/doc"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendoc FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err == nil {
		b, err = doc.ReplaceTable(b)
	}
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendoc: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
