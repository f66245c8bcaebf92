//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml

package ebpfsecurityreceiver
