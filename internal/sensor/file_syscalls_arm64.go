package sensor

import "golang.org/x/sys/unix"

// fileSyscallNumbers are this architecture's numbers of the file sensor's syscalls: the LSM
// hooks recognize the syscall they run in by its number. arm64 has only the *at calls.
var fileSyscallNumbers = map[string]int{
	"openat": unix.SYS_OPENAT, "openat2": unix.SYS_OPENAT2,
	"unlinkat": unix.SYS_UNLINKAT,
	"renameat": unix.SYS_RENAMEAT, "renameat2": unix.SYS_RENAMEAT2,
	"fchmod": unix.SYS_FCHMOD, "fchmodat": unix.SYS_FCHMODAT, "fchmodat2": unix.SYS_FCHMODAT2,
	"fchown": unix.SYS_FCHOWN, "fchownat": unix.SYS_FCHOWNAT,
	"truncate": unix.SYS_TRUNCATE, "ftruncate": unix.SYS_FTRUNCATE,
	"linkat": unix.SYS_LINKAT, "symlinkat": unix.SYS_SYMLINKAT,
	"mkdirat": unix.SYS_MKDIRAT,
}
