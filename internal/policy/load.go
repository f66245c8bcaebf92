package policy

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Files lists the policy files of paths: a file as given, a directory's *.yaml and *.yml
// files (not its subdirectories, nor hidden files such as a ConfigMap volume's ..data
// links), sorted by name.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var files []string
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				continue
			}
			full := filepath.Join(p, name)
			// A ConfigMap volume's files are symbolic links: follow them.
			if st, err := os.Stat(full); err != nil || st.IsDir() {
				continue
			}
			files = append(files, full)
		}
		slices.Sort(files)
		out = append(out, files...)
	}
	return out, nil
}

// Read parses every policy file of paths (see Files). It returns the documents that decoded
// and the errors of all files; a file that cannot be read is an error naming it.
func Read(paths ...string) ([]*Policy, Errors) {
	var out []*Policy
	var errs Errors
	for _, p := range paths {
		files, err := Files(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Msg: unwrapPathError(err)})
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, &Error{File: f, Msg: unwrapPathError(err)})
				continue
			}
			ps, es := Parse(f, data)
			out = append(out, ps...)
			errs = append(errs, es...)
		}
	}
	return out, errs
}

func unwrapPathError(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return fmt.Sprintf("cannot %s: %v", pe.Op, pe.Err)
	}
	return err.Error()
}

// Load reads and compiles the policy files of paths: the Set, or every error (decoding and
// validation, of all files) as Errors.
func Load(paths ...string) (*Set, error) {
	ps, errs := Read(paths...)
	set, err := Compile(ps)
	if err != nil {
		errs = append(errs, err.(Errors)...)
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return set, nil
}

// Sort orders errors by file and document (stable: a document's errors keep their field
// order); errors of the set as a whole come last.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if (a.File == SetWide) != (b.File == SetWide) {
			if a.File == SetWide {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Document, b.Document))
	})
}
