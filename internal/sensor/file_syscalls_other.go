//go:build !amd64 && !arm64

package sensor

// fileSyscallNumbers: the file sensor supports amd64 and arm64 (the BPF objects' targets).
var fileSyscallNumbers = map[string]int{}
