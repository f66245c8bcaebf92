//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
//go:generate go run ../../internal/schema/gendoc README.md process.exec process.exit

package ebpfsecurityreceiver
