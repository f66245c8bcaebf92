//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
//go:generate go run ./internal/gendoc README.md

// Package k8senrichprocessor implements the k8senrich processor: it adds the Kubernetes
// metadata of the pod and container a telemetry resource comes from (found by its
// container.id or k8s.pod.uid) to the resource.
package k8senrichprocessor
