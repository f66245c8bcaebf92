//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

// Package runtimepolicyextension implements the runtimepolicy extension: it reads otelsec's
// runtime policies (RuntimePolicy, RuntimePolicyNamespaced) from files and directories and,
// in a cluster, from their CRDs, validates and compiles them into one policy.Set, and
// publishes each new set to its subscribers (the ebpfsecurity receiver), all of it or none.
package runtimepolicyextension
