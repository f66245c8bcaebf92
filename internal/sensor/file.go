package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"

	"github.com/otelsec/otelsec/bpf"
)

// FileBackend names where the file sensor's paths come from.
type FileBackend string

const (
	// FileBackendAuto picks LSM where BPF LSM is active, else the syscall tracepoints.
	FileBackendAuto FileBackend = "auto"
	// FileBackendLSM: BPF LSM hooks (file_open, path_unlink, path_rename, ...) report the
	// object the kernel operates on; the syscall tracepoints add each call's result and report
	// the calls that fail before their hook.
	FileBackendLSM FileBackend = "lsm"
	// FileBackendTracepoint: the syscall exit tracepoints alone (syscalls/sys_exit_*, which
	// read the call's arguments from the registers it entered the kernel with). A successful
	// open's path comes from its new fd, an fd-based call's from its fd; the other paths are
	// the dirfd's or cwd's path joined lexically with the caller's string.
	FileBackendTracepoint FileBackend = "tracepoint"
)

// FileOps is a set of file operations, as the in-kernel filters know them: opens are split
// into opens for reading only and opens that may change the file.
type FileOps uint32

const (
	// FileOpenRead: an open without write access, O_TRUNC, or a file it created.
	FileOpenRead = FileOps(bpf.FileFileMaskFILE_MASK_OPEN_READ)
	// FileOpenWrite: an open with write access or O_TRUNC, or one that created the file (or
	// failed with O_CREAT).
	FileOpenWrite = FileOps(bpf.FileFileMaskFILE_MASK_OPEN_WRITE)
	FileUnlink    = FileOps(bpf.FileFileMaskFILE_MASK_UNLINK)
	FileRename    = FileOps(bpf.FileFileMaskFILE_MASK_RENAME)
	FileChmod     = FileOps(bpf.FileFileMaskFILE_MASK_CHMOD)
	FileChown     = FileOps(bpf.FileFileMaskFILE_MASK_CHOWN)
	FileTruncate  = FileOps(bpf.FileFileMaskFILE_MASK_TRUNCATE)
	FileLink      = FileOps(bpf.FileFileMaskFILE_MASK_LINK)
	FileSymlink   = FileOps(bpf.FileFileMaskFILE_MASK_SYMLINK)
	FileMkdir     = FileOps(bpf.FileFileMaskFILE_MASK_MKDIR)
	FileRmdir     = FileOps(bpf.FileFileMaskFILE_MASK_RMDIR)
	// FileOpsAll is every operation.
	FileOpsAll = FileOps(bpf.FileFileMaskFILE_MASK_ALL)
	// FileOpsModify is every operation but reading.
	FileOpsModify = FileOpsAll &^ FileOpenRead
)

// fileOpNames are the names ParseFileOps accepts, with the sets they stand for.
var fileOpNames = []struct {
	name string
	ops  FileOps
}{
	{"all", FileOpsAll},
	{"modify", FileOpsModify},
	{"open", FileOpenRead | FileOpenWrite},
	{"open_read", FileOpenRead},
	{"open_write", FileOpenWrite},
	{"unlink", FileUnlink},
	{"rename", FileRename},
	{"chmod", FileChmod},
	{"chown", FileChown},
	{"truncate", FileTruncate},
	{"link", FileLink},
	{"symlink", FileSymlink},
	{"mkdir", FileMkdir},
	{"rmdir", FileRmdir},
}

// FileOpNames lists the operation names ParseFileOps accepts.
func FileOpNames() []string {
	names := make([]string, len(fileOpNames))
	for i, n := range fileOpNames {
		names[i] = n.name
	}
	return names
}

// ParseFileOps turns operation names (FileOpNames) into a set. No names is an error: a rule
// that reports nothing is a mistake.
func ParseFileOps(names []string) (FileOps, error) {
	if len(names) == 0 {
		return 0, errors.New("no operations")
	}
	var ops FileOps
	for _, n := range names {
		i := slices.IndexFunc(fileOpNames, func(o struct {
			name string
			ops  FileOps
		}) bool {
			return o.name == n
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown operation %q (known: %s)", n, strings.Join(FileOpNames(), ", "))
		}
		ops |= fileOpNames[i].ops
	}
	return ops, nil
}

// FileRule is one watched (or excluded) path prefix and the operations it applies to. A
// prefix matches itself and everything below it, at component boundaries (/etc matches
// /etc/passwd, not /etcd). One component may be "*", matching any one name
// (/home/*/.ssh).
type FileRule struct {
	Prefix string
	Ops    FileOps
}

// FileOptions configure the file sensor.
type FileOptions struct {
	Enabled bool
	Backend FileBackend
	// Include: the events reported are those whose path (either path, for rename and link)
	// is under an include prefix whose operations (its own and its ancestors') contain the
	// event's, and under no exclude prefix with that operation: exclude beats include.
	Include []FileRule
	Exclude []FileRule
	// BinaryInclude, when not empty, keeps only the events of processes whose executable
	// path is under one of these prefixes; BinaryExclude drops those of processes whose
	// executable is under one of them (and beats BinaryInclude). Executable paths are as
	// the kernel resolves them (/usr/bin/python3.12, not /usr/bin/python3).
	BinaryInclude []string
	BinaryExclude []string
}

// Limits of the file filters.
const (
	// FilePrefixMaxBytes bounds a prefix: the tries compare the first 256 bytes of a path,
	// and a prefix is stored with a trailing '/'.
	FilePrefixMaxBytes = int(unsafe.Sizeof(bpf.FileFileKey{}.Data)) - 1
	// FilePrefixesMax bounds the prefixes of each list.
	FilePrefixesMax = 1 << 20
)

// ChooseFileBackend resolves FileBackendAuto against the kernel's capabilities and checks an
// explicit choice.
func ChooseFileBackend(want FileBackend, caps Capabilities) (FileBackend, error) {
	switch want {
	case FileBackendAuto, "":
		if caps.LSM {
			return FileBackendLSM, nil
		}
		if caps.SyscallTracepoints {
			return FileBackendTracepoint, nil
		}
		return "", errors.New("file sensor: this kernel has neither BPF LSM (bpf in the active LSMs) nor syscall tracepoints (CONFIG_FTRACE_SYSCALLS and tracefs mounted): mount tracefs (mount -t tracefs nodev /sys/kernel/tracing), boot with lsm=...,bpf, or disable the file sensor")
	case FileBackendLSM:
		if !caps.LSM {
			return "", errors.New("file sensor: backend lsm requested but BPF LSM is not active on this kernel (bpf must be in the lsm= boot parameter, CONFIG_BPF_LSM=y)")
		}
	case FileBackendTracepoint:
		if !caps.SyscallTracepoints {
			return "", errors.New("file sensor: backend tracepoint requested but the syscall tracepoints cannot be attached (CONFIG_FTRACE_SYSCALLS and tracefs mounted at /sys/kernel/tracing are needed)")
		}
	default:
		return "", fmt.Errorf("file sensor: unknown backend %q (auto, lsm, tracepoint)", want)
	}
	return want, nil
}

// fileSyscalls are the syscalls the file sensor watches (each has an exit program osec_<name>),
// with the event each produces and the operations of the LSM hooks it reaches. Those an
// architecture does not have (arm64 has only the *at calls) or a kernel lacks (fchmodat2 before
// 6.6) are skipped.
var fileSyscalls = []struct {
	name, event string
	ops         []FileOp
}{
	{"open", "file.open", []FileOp{FileOpOpen}}, {"creat", "file.open", []FileOp{FileOpOpen}},
	{"openat", "file.open", []FileOp{FileOpOpen}}, {"openat2", "file.open", []FileOp{FileOpOpen}},
	{"unlink", "file.unlink", []FileOp{FileOpUnlink}}, {"unlinkat", "file.unlink", []FileOp{FileOpUnlink, FileOpRmdir}},
	{"rmdir", "file.rmdir", []FileOp{FileOpRmdir}},
	{"rename", "file.rename", []FileOp{FileOpRename}}, {"renameat", "file.rename", []FileOp{FileOpRename}},
	{"renameat2", "file.rename", []FileOp{FileOpRename}},
	{"chmod", "file.chmod", []FileOp{FileOpChmod}}, {"fchmod", "file.chmod", []FileOp{FileOpChmod}},
	{"fchmodat", "file.chmod", []FileOp{FileOpChmod}}, {"fchmodat2", "file.chmod", []FileOp{FileOpChmod}},
	{"chown", "file.chown", []FileOp{FileOpChown}}, {"lchown", "file.chown", []FileOp{FileOpChown}},
	{"fchown", "file.chown", []FileOp{FileOpChown}}, {"fchownat", "file.chown", []FileOp{FileOpChown}},
	{"truncate", "file.truncate", []FileOp{FileOpTruncate}}, {"ftruncate", "file.truncate", []FileOp{FileOpTruncate}},
	{"link", "file.link", []FileOp{FileOpLink}}, {"linkat", "file.link", []FileOp{FileOpLink}},
	{"symlink", "file.symlink", []FileOp{FileOpSymlink}}, {"symlinkat", "file.symlink", []FileOp{FileOpSymlink}},
	{"mkdir", "file.mkdir", []FileOp{FileOpMkdir}}, {"mkdirat", "file.mkdir", []FileOp{FileOpMkdir}},
}

// fileSyscallsMax bounds the syscall numbers the BPF side maps to operations.
const fileSyscallsMax = 1024

// fileHooks are the LSM hooks of the lsm backend: program, hook, its number of arguments (the
// program reads the previous programs' verdict after them), event. A hook the kernel lacks
// (file_truncate before 6.2), or whose arguments differ, is left out: its operation is then
// resolved at the syscall's exit, as in the tracepoint backend.
var fileHooks = []struct {
	prog, hook string
	nargs      int
	event      string
}{
	{"osec_l_open", "file_open", 1, "file.open"},
	{"osec_l_unlink", "path_unlink", 2, "file.unlink"},
	{"osec_l_rmdir", "path_rmdir", 2, "file.rmdir"},
	{"osec_l_rename", "path_rename", 5, "file.rename"},
	{"osec_l_chmod", "path_chmod", 2, "file.chmod"},
	{"osec_l_chown", "path_chown", 3, "file.chown"},
	{"osec_l_trunc", "path_truncate", 1, "file.truncate"},
	{"osec_l_ftrunc", "file_truncate", 1, "file.truncate"},
	{"osec_l_link", "path_link", 3, "file.link"},
	{"osec_l_symlink", "path_symlink", 3, "file.symlink"},
	{"osec_l_mkdir", "path_mkdir", 3, "file.mkdir"},
}

// loadFile loads the file sensor when it is enabled.
func loadFile(s *Sensors, caps Capabilities) error {
	o := s.opts.File
	if !o.Enabled {
		return nil
	}
	backend, err := ChooseFileBackend(o.Backend, caps)
	if err != nil {
		return err
	}
	if err := features.HaveProgramHelper(ebpf.TracePoint, asm.FnLoop); err != nil {
		return fmt.Errorf("file sensor: needs the bpf_loop helper (Linux 5.17+): %w", err)
	}
	if len(fileSyscallNumbers) == 0 {
		return errors.New("file sensor: not supported on this architecture (amd64 and arm64 are)")
	}
	f, err := compileFileFilters(o)
	if err != nil {
		return fmt.Errorf("file sensor: %w", err)
	}
	spec, err := bpf.LoadFile()
	if err != nil {
		return fmt.Errorf("file sensor: read BPF object: %w", err)
	}
	syscalls := caps.SyscallTracepoints
	bools := func(b bool) uint32 {
		if b {
			return 1
		}
		return 0
	}
	for name, v := range map[string]uint32{
		"ops_any":       uint32(f.opsAny),
		"have_excl":     bools(len(f.excl) > 0),
		"have_wild":     bools(len(f.wild) > 0),
		"have_bin_in":   bools(len(f.binIn) > 0),
		"have_bin_ex":   bools(len(f.binEx) > 0),
		"have_first":    bools(f.first != nil),
		"have_syscalls": bools(syscalls),
		"have_lsm":      bools(backend == FileBackendLSM),
	} {
		if err := setVar(spec, name, v); err != nil {
			return fmt.Errorf("file sensor: %w", err)
		}
	}
	for name, n := range map[string]int{
		"osec_f_incl": len(f.incl), "osec_f_excl": len(f.excl), "osec_f_wild": len(f.wild),
		"osec_f_bin_in": len(f.binIn), "osec_f_bin_ex": len(f.binEx),
	} {
		spec.Maps[name].MaxEntries = uint32(max(n, 1))
	}

	keep := map[string]bool{}
	if syscalls {
		for _, sc := range fileSyscalls {
			if _, ok := fileSyscallNumbers[sc.name]; ok {
				keep["osec_"+sc.name] = true
			}
		}
	}
	var hooks []int
	if backend == FileBackendLSM {
		kspec, err := btf.LoadKernelSpec()
		if err != nil {
			return fmt.Errorf("file sensor: kernel BTF: %w", err)
		}
		for i, h := range fileHooks {
			if lsmHookArgs(kspec, h.hook) == h.nargs {
				keep[h.prog] = true
				hooks = append(hooks, i)
			}
		}
	}
	coll, err := s.loadObject("file", spec, keep)
	if err != nil {
		return err
	}
	if err := f.fill(coll); err != nil {
		return fmt.Errorf("file sensor: %w", err)
	}

	return attachFile(s, coll, syscalls, hooks)
}

// attachFile attaches the loaded file sensor's programs: the syscalls' exit programs, then the
// LSM hooks (hooks: indexes in fileHooks).
func attachFile(s *Sensors, coll *ebpf.Collection, syscalls bool, hooks []int) error {
	if syscalls {
		// Each syscall's exit program, and its number for the LSM hooks (before they can meet
		// a call of it: the hooks treat an unknown syscall as none).
		for _, sc := range fileSyscalls {
			nr, ok := fileSyscallNumbers[sc.name]
			if !ok {
				continue // not a syscall of this architecture
			}
			l, err := link.Tracepoint("syscalls", "sys_exit_"+sc.name, coll.Programs["osec_"+sc.name], nil)
			if errors.Is(err, os.ErrNotExist) {
				continue // not a syscall of this kernel
			}
			if err != nil {
				return fmt.Errorf("file sensor: attach tracepoint syscalls/sys_exit_%s: %w", sc.name, err)
			}
			if nr < 0 || nr >= fileSyscallsMax {
				l.Close()
				return fmt.Errorf("file sensor: syscall %s has number %d, beyond %d", sc.name, nr, fileSyscallsMax)
			}
			var ops uint32
			for _, op := range sc.ops {
				ops |= 1 << op
			}
			if err := coll.Maps["osec_f_sysops"].Put(uint32(nr), ops); err != nil {
				l.Close()
				return fmt.Errorf("file sensor: syscall numbers: %w", err)
			}
			s.addLink(l, Attachment{Event: sc.event, Hook: HookTracepoint, Point: "syscalls/sys_exit_" + sc.name})
		}
	}
	// The LSM hooks last: by then they know every watched syscall by its number.
	for _, i := range hooks {
		h := fileHooks[i]
		l, err := link.AttachLSM(link.LSMOptions{Program: coll.Programs[h.prog]})
		if err != nil {
			return fmt.Errorf("file sensor: attach lsm/%s: %w", h.hook, err)
		}
		s.addLink(l, Attachment{Event: h.event, Hook: HookLSM, Point: h.hook})
	}
	return nil
}

// lsmHookArgs returns the number of arguments of an LSM hook in the kernel's BTF, -1 when the
// kernel has no such hook.
func lsmHookArgs(kspec *btf.Spec, hook string) int {
	var fn *btf.Func
	if err := kspec.TypeByName("bpf_lsm_"+hook, &fn); err != nil {
		return -1
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return -1
	}
	return len(proto.Params)
}

// FileBackend says which backend the loaded file sensor uses ("" when it is not loaded), and
// whether its records carry their syscall's result (always with tracepoints; with LSM only
// when the syscall tracepoints are attached too).
func (s *Sensors) FileBackend() (backend FileBackend, results bool) {
	for _, a := range s.attachments {
		if !strings.HasPrefix(a.Event, "file.") {
			continue
		}
		switch a.Hook {
		case HookLSM:
			backend = FileBackendLSM
		case HookTracepoint:
			results = true
			if backend == "" {
				backend = FileBackendTracepoint
			}
		}
	}
	return backend, results
}

// fileFilters are the trie contents compiled from the options.
type fileFilters struct {
	incl, excl   map[string]FileOps // trie key (a prefix with its trailing '/') -> operations
	wild         map[string]uint32  // wildcard base -> its length
	binIn, binEx []string           // trie keys
	opsAny       FileOps
	// first is the first-component filter: the bits of the include prefixes' first
	// components; nil when one of them is "/" or "*" (every path may match).
	first *bpf.FileFileFirst
}

// compileFileFilters checks the prefixes and turns them into trie keys: each prefix's
// operations include its ancestors' (a longer prefix never narrows a shorter one: that is
// what exclude is for).
func compileFileFilters(o FileOptions) (*fileFilters, error) {
	f := &fileFilters{incl: map[string]FileOps{}, excl: map[string]FileOps{}, wild: map[string]uint32{}}
	if len(o.Include) == 0 {
		return nil, errors.New("include: no prefixes: nothing would be reported (use / to watch everything)")
	}
	for _, l := range []struct {
		name  string
		rules []FileRule
		into  map[string]FileOps
	}{{"include", o.Include, f.incl}, {"exclude", o.Exclude, f.excl}} {
		if len(l.rules) > FilePrefixesMax {
			return nil, fmt.Errorf("%s: %d prefixes, at most %d", l.name, len(l.rules), FilePrefixesMax)
		}
		for i, r := range l.rules {
			key, base, err := FilePrefixKey(r.Prefix, true)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", l.name, i, err)
			}
			if r.Ops == 0 || r.Ops&^FileOpsAll != 0 {
				return nil, fmt.Errorf("%s[%d] %s: invalid operations %#x", l.name, i, r.Prefix, uint32(r.Ops))
			}
			l.into[key] |= r.Ops
			if base != "" {
				f.wild[base] = uint32(len(base))
			}
			if l.name == "include" {
				f.opsAny |= r.Ops
			}
		}
	}
	bases := make([]string, 0, len(f.wild))
	for b := range f.wild {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for i := 1; i < len(bases); i++ {
		if strings.HasPrefix(bases[i], bases[i-1]) {
			return nil, fmt.Errorf("wildcard prefixes whose fixed parts nest are not supported: %s* and %s*", bases[i-1], bases[i])
		}
	}
	for _, m := range []map[string]FileOps{f.incl, f.excl} {
		inherit(m)
	}
	f.first = new(bpf.FileFileFirst)
	for k := range f.incl {
		first, _, _ := strings.Cut(k[1:], "/")
		if first == "" || first == "*" {
			f.first = nil // "/" or "/*/...": any first component
			break
		}
		h := fileFirstHash(first)
		f.first.Bits[h/64] |= 1 << (h % 64)
	}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]string
	}{{"binary include", o.BinaryInclude, &f.binIn}, {"binary exclude", o.BinaryExclude, &f.binEx}} {
		if len(l.in) > FilePrefixesMax {
			return nil, fmt.Errorf("%s: %d prefixes, at most %d", l.name, len(l.in), FilePrefixesMax)
		}
		for i, p := range l.in {
			key, _, err := FilePrefixKey(p, false)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", l.name, i, err)
			}
			*l.out = append(*l.out, key)
		}
	}
	return f, nil
}

// fileFirstHash is the BPF side's first_component_hash: the first 8 bytes of a path's first
// component, little-endian, multiplied by 2^64/φ, top 16 bits.
func fileFirstHash(component string) uint32 {
	var v uint64
	for i := 0; i < 8 && i < len(component); i++ {
		v |= uint64(component[i]) << (8 * i)
	}
	return uint32((v * 0x9E3779B97F4A7C15) >> 48)
}

// CheckFileOptions checks the file sensor's filters as Load does, without a kernel: for
// configuration validation.
func CheckFileOptions(o FileOptions) error {
	_, err := compileFileFilters(o)
	return err
}

// inherit adds to each prefix the operations of the prefixes above it.
func inherit(m map[string]FileOps) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // an ancestor sorts before its descendants
	for i, k := range keys {
		for _, a := range keys[:i] {
			if strings.HasPrefix(k, a) {
				m[k] |= m[a]
			}
		}
	}
}

// FilePrefixKey checks a path prefix and returns its trie key (the clean path with a trailing
// '/') and, for a prefix with a "*" component, the wildcard base (the key up to the "*").
func FilePrefixKey(p string, wildcards bool) (key, base string, err error) {
	if !strings.HasPrefix(p, "/") {
		return "", "", fmt.Errorf("%q: must be an absolute path", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", "", fmt.Errorf("%q: contains a NUL byte", p)
	}
	clean := path.Clean(p)
	key = clean + "/"
	if clean == "/" {
		key = "/"
	}
	if len(key) > FilePrefixMaxBytes+1 {
		return "", "", fmt.Errorf("%q: longer than %d bytes", p, FilePrefixMaxBytes)
	}
	parts := strings.Split(clean, "/")
	stars := 0
	for i, c := range parts {
		if strings.Contains(c, "*") {
			if c != "*" {
				return "", "", fmt.Errorf("%q: a wildcard must be a whole component (/home/*/.ssh)", p)
			}
			if !wildcards {
				return "", "", fmt.Errorf("%q: wildcards are not supported here", p)
			}
			stars++
			base = strings.Join(parts[:i], "/") + "/"
		}
	}
	if stars > 1 {
		return "", "", fmt.Errorf("%q: at most one wildcard component", p)
	}
	return key, base, nil
}

// fill writes the compiled filters into the loaded object's tries.
func (f *fileFilters) fill(coll *ebpf.Collection) error {
	put := func(m string, key string, v any) error {
		var k bpf.FileFileKey
		n := copy(k.Data[:], key)
		k.Prefixlen = uint32(n * 8)
		if err := coll.Maps[m].Put(&k, v); err != nil {
			return fmt.Errorf("fill %s with %q: %w", m, key, err)
		}
		return nil
	}
	for _, l := range []struct {
		m    string
		keys map[string]FileOps
	}{{"osec_f_incl", f.incl}, {"osec_f_excl", f.excl}} {
		for k, ops := range l.keys {
			if err := put(l.m, k, bpf.FileFileRule{Mask: uint32(ops)}); err != nil {
				return err
			}
		}
	}
	for k, n := range f.wild {
		if err := put("osec_f_wild", k, bpf.FileFileWild{BaseLen: n}); err != nil {
			return err
		}
	}
	if f.first != nil {
		if err := coll.Maps["osec_f_first"].Put(uint32(0), f.first); err != nil {
			return fmt.Errorf("fill osec_f_first: %w", err)
		}
	}
	for _, l := range []struct {
		m    string
		keys []string
	}{{"osec_f_bin_in", f.binIn}, {"osec_f_bin_ex", f.binEx}} {
		for _, k := range l.keys {
			if err := put(l.m, k, uint32(1)); err != nil {
				return err
			}
		}
	}
	return nil
}

// FileOp is the operation of a file record.
type FileOp uint8

const (
	FileOpOpen     = FileOp(bpf.FileFileOpFILE_OP_OPEN)
	FileOpUnlink   = FileOp(bpf.FileFileOpFILE_OP_UNLINK)
	FileOpRename   = FileOp(bpf.FileFileOpFILE_OP_RENAME)
	FileOpChmod    = FileOp(bpf.FileFileOpFILE_OP_CHMOD)
	FileOpChown    = FileOp(bpf.FileFileOpFILE_OP_CHOWN)
	FileOpTruncate = FileOp(bpf.FileFileOpFILE_OP_TRUNCATE)
	FileOpLink     = FileOp(bpf.FileFileOpFILE_OP_LINK)
	FileOpSymlink  = FileOp(bpf.FileFileOpFILE_OP_SYMLINK)
	FileOpMkdir    = FileOp(bpf.FileFileOpFILE_OP_MKDIR)
	FileOpRmdir    = FileOp(bpf.FileFileOpFILE_OP_RMDIR)
)

var fileOpStrings = [...]string{
	FileOpOpen: "open", FileOpUnlink: "unlink", FileOpRename: "rename", FileOpChmod: "chmod",
	FileOpChown: "chown", FileOpTruncate: "truncate", FileOpLink: "link", FileOpSymlink: "symlink",
	FileOpMkdir: "mkdir", FileOpRmdir: "rmdir",
}

// String is the operation's name, the suffix of its event name (file.<operation>).
func (o FileOp) String() string {
	if int(o) < len(fileOpStrings) && fileOpStrings[o] != "" {
		return fileOpStrings[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// EventName is the record's event name, file.<operation>.
func (o FileOp) EventName() string { return "file." + o.String() }

// File is a decoded file record.
type File struct {
	Header
	Op FileOp
	// Path is the absolute path the operation acted on: for rename and link the new name,
	// for symlink the link. "" when unresolved.
	Path string
	// Path2 is rename's and link's original path, symlink's target (as given, not resolved).
	Path2 string
	// Lexical: the paths were joined from the dirfd's or cwd's path and the caller's string
	// without following symbolic links in it (see FileBackendTracepoint).
	Lexical bool
	// FromLSM: the paths are those of the kernel objects an LSM hook saw.
	FromLSM bool
	// NoSyscall: an LSM hook outside a watched syscall (io_uring, a kernel thread, or no
	// syscall tracepoints): no result.
	NoSyscall bool

	PathTruncated, PathUnresolved   bool
	Path2Truncated, Path2Unresolved bool

	// Result is the syscall's return value (a new fd, 0, or -errno) when ResultKnown.
	Result      int64
	ResultKnown bool
	// Flags are open's O_* flags, rename's RENAME_* flags, the AT_* flags of the other *at
	// calls (0 when the call has none).
	Flags uint32
	// Created: the open created the file.
	Created bool
	// Mode: open's inode mode (type and permissions), chmod's and mkdir's new permissions.
	Mode      uint32
	ModeKnown bool
	// UID and GID: open's inode owner, chown's new owner (each only when it changes).
	UID, GID           uint32
	UIDKnown, GIDKnown bool
	Inode              uint64
	InodeKnown         bool
	// Size is truncate's new length.
	Size      int64
	SizeKnown bool
	Comm      string
}

// DecodeFile decodes a file record into f.
func DecodeFile(raw []byte, f *File) error {
	r, err := view[bpf.FileFileEvent](raw)
	if err != nil {
		return err
	}
	data := raw[unsafe.Sizeof(*r):]
	if n := int(r.PathLen) + int(r.Path2Len); n > len(data) {
		return fmt.Errorf("%w: file paths need %d bytes after the header, record has %d", ErrShortRecord, n, len(data))
	}
	if r.Op == 0 || r.Op >= uint32(bpf.FileFileOpFILE_OP_MAX) {
		return fmt.Errorf("file record: unknown operation %d", r.Op)
	}
	flags := bpf.FileFileFlags(r.Flags)
	has := func(b bpf.FileFileFlags) bool { return flags&b != 0 }
	*f = File{
		Header:          header((*bpf.ProcessEventHeader)(unsafe.Pointer(&r.Hdr))),
		Op:              FileOp(r.Op),
		Path:            cPath(data[:r.PathLen]),
		Path2:           cPath(data[r.PathLen : int(r.PathLen)+int(r.Path2Len)]),
		Lexical:         has(bpf.FileFileFlagsFILE_PATH_LEXICAL),
		FromLSM:         has(bpf.FileFileFlagsFILE_FROM_LSM),
		NoSyscall:       has(bpf.FileFileFlagsFILE_NO_SYSCALL),
		PathTruncated:   has(bpf.FileFileFlagsFILE_PATH_TRUNCATED),
		PathUnresolved:  has(bpf.FileFileFlagsFILE_PATH_UNRESOLVED),
		Path2Truncated:  has(bpf.FileFileFlagsFILE_PATH2TRUNCATED),
		Path2Unresolved: has(bpf.FileFileFlagsFILE_PATH2UNRESOLVED),
		ResultKnown:     has(bpf.FileFileFlagsFILE_RESULT_KNOWN),
		Flags:           r.OpenFlags,
		Created:         has(bpf.FileFileFlagsFILE_CREATED),
		ModeKnown:       has(bpf.FileFileFlagsFILE_MODE_KNOWN),
		UIDKnown:        has(bpf.FileFileFlagsFILE_UID_KNOWN),
		GIDKnown:        has(bpf.FileFileFlagsFILE_GID_KNOWN),
		InodeKnown:      has(bpf.FileFileFlagsFILE_INODE_KNOWN),
		SizeKnown:       has(bpf.FileFileFlagsFILE_SIZE_KNOWN),
		Comm:            cString(r.Comm[:]),
	}
	if f.ResultKnown {
		f.Result = r.Result
	}
	if f.ModeKnown {
		f.Mode = r.Mode
	}
	if f.UIDKnown {
		f.UID = r.Uid
	}
	if f.GIDKnown {
		f.GID = r.Gid
	}
	if f.InodeKnown {
		f.Inode = r.Ino
	}
	if f.SizeKnown {
		f.Size = r.Size
	}
	return nil
}

// cPath is a NUL-terminated path from a record, "" for none.
func cPath(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
