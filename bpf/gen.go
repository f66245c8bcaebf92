// Package bpf holds otelsec's BPF programs (one C file per sensor over lib/) and the Go bindings
// and objects that bpf2go generates from them. Run `make generate` after editing the C sources;
// CI rebuilds them and fails when the committed outputs differ.
package bpf

//go:generate go tool -modfile=../tools/go.mod bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -no-strip=false -target amd64,arm64 -type exec_event -type fork_event -type exit_event -type sensor_stats -type event_header -type event_kind -type exec_flags Process process.bpf.c -- -I./include -I./include/libbpf -I./lib
