package siem

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"
)

// Workload returns, for benchmarks, the records the real receiver emitted while a shell ran a
// few dozen ordinary commands (testdata/workload.pb.gz, written by testdata/capture): process
// exec and exit events of distinct programs, as a node sends them.
func Workload() (plog.Logs, error) {
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "testdata", "workload.pb.gz"))
	if err != nil {
		return plog.Logs{}, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return plog.Logs{}, err
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, zr); err != nil {
		return plog.Logs{}, err
	}
	return (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b.Bytes())
}

// ThreadCPU returns the CPU time the calling OS thread has used (user and system). Benchmarks
// lock their goroutine to its thread and report CPU time per event, which, unlike wall time,
// does not grow when other processes compete for the CPU.
func ThreadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
