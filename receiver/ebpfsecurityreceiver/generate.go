//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
//go:generate go run ../../internal/schema/gendoc README.md process.exec process.exit file.open file.unlink file.rename file.chmod file.chown file.truncate file.link file.symlink file.mkdir file.rmdir network.connect network.accept network.close network.listen network.send process.privilege_change process.namespace_change process.ptrace kernel.module_load bpf.program_load filesystem.mount filesystem.unmount policy.decision

package ebpfsecurityreceiver
