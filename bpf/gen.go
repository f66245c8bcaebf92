// Package bpf holds otelsec's BPF programs (one C file per sensor over lib/) and the Go bindings
// and objects that bpf2go generates from them. Run `make generate` after editing the C sources;
// CI rebuilds them and fails when the committed outputs differ.
package bpf

//go:generate go tool -modfile=../tools/go.mod bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -no-strip=false -target amd64,arm64 -type exec_event -type fork_event -type exit_event -type sensor_stats -type event_header -type event_kind -type exec_flags Process process.bpf.c -- -I./include -I./include/libbpf -I./lib
//go:generate go tool -modfile=../tools/go.mod bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -no-strip=false -target amd64,arm64 -type privilege_event -type namespace_event -type ns_set -type ptrace_event -type module_event -type bpf_prog_event -type mount_event -type priv_op -type privilege_flags -type ptrace_event_flags -type module_event_flags -type mount_event_flags Privilege privilege.bpf.c -- -I./include -I./include/libbpf -I./lib
//go:generate go tool -modfile=../tools/go.mod bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -no-strip=false -target amd64,arm64 -type net_event -type net_op -type net_flags -type net_stat -type net_stats -type sk_owner Network network.bpf.c -- -I./include -I./include/libbpf -I./lib
//go:generate go tool -modfile=../tools/go.mod bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -no-strip=false -target amd64,arm64 -type file_event -type file_op -type file_mask -type file_flags -type file_key -type file_rule -type file_wild -type file_first File file.bpf.c -- -I./include -I./include/libbpf -I./lib
