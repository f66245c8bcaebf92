package kernel

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// TracefsPath is where tracefs is mounted when it is not mounted anywhere yet.
const TracefsPath = "/sys/kernel/tracing"

// EnsureTracefs mounts tracefs at TracefsPath when no tracefs is mounted, so that classic
// tracepoints (the syscall tracepoints) can be attached: attaching one needs its id from
// tracefs. It reports whether it mounted it. Call it before anything looks for tracefs:
// cilium/ebpf remembers the first answer for the life of the process.
func EnsureTracefs() (mounted bool, err error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	mounts, err := parseMountinfo(mi)
	mi.Close()
	if err != nil {
		return false, err
	}
	if tracefsDir(mounts) != "" {
		return false, nil
	}
	if err := unix.Mount("nodev", TracefsPath, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return false, nil
		}
		return false, fmt.Errorf("mount tracefs at %s: %w", TracefsPath, err)
	}
	return true, nil
}
