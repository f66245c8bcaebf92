// Command otelsec is otelsec's offline tool. `otelsec policy validate FILE|DIR...` checks
// policy files (RuntimePolicy, RuntimePolicyNamespaced) without a kernel or a cluster: it
// decodes, validates and compiles them as the runtimepolicy extension does, prints every
// error and exits 1, or prints the compiled rules and exits 0.
//
// The collector itself is the distribution built with ocb (_build/otelsec); this command is
// separate so that policies can be checked in CI and on a workstation.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otelsec/otelsec/internal/policy"
)

const usage = `usage: otelsec policy validate [-q] FILE|DIR...

Checks otelsec policy files offline (a directory's *.yaml and *.yml files). Prints every
error and exits 1, or prints the compiled rules and exits 0. Exit 2: wrong usage.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "policy" || args[1] != "validate" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("otelsec policy validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	quiet := fs.Bool("q", false, "print errors only")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	set, err := policy.Load(fs.Args()...)
	if err != nil {
		var errs policy.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d error(s)\n", len(errs))
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	if !*quiet {
		for _, r := range set.Rules {
			mode := ""
			if r.Mode == policy.ModeMonitor {
				mode = " (monitor)"
			}
			fmt.Fprintf(stdout, "%4d  %-50s %-25s %s%s  [%s]\n", r.ID, r.SecurityRuleName(), r.Event, r.Action, mode, r.Source)
		}
	}
	policies := map[string]bool{}
	for _, r := range set.Rules {
		policies[r.Policy] = true
	}
	fmt.Fprintf(stdout, "OK: %d policies, %d rules in %s\n", len(policies), len(set.Rules), strings.Join(fs.Args(), " "))
	return 0
}
