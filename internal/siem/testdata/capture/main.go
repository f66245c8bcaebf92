// Command capture writes, as the real ebpfsecurity receiver emits them, testdata/process.json:
// the process.exec and process.exit records of one command (OTLP JSON), for the siem tests;
// and testdata/workload.pb.gz: every record of a shell running a few dozen ordinary commands
// (OTLP protobuf, gzip), for the benchmarks' bytes per event. Run it as root from internal/siem:
// go run ./testdata/capture
package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	f := ebpfsecurityreceiver.NewFactory()
	sink := new(consumertest.LogsSink)
	r, err := f.CreateLogs(ctx, receivertest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		return err
	}
	if err := r.Start(ctx, componenttest.NewNopHost()); err != nil {
		return err
	}
	defer r.Shutdown(ctx)

	// A shell running a command with arguments: the shape of most events.
	cmd := exec.Command("/bin/bash", "-c", "/usr/bin/env LC_ALL=C /usr/bin/ls -l --color=never /usr/share/doc >/dev/null; exit 0")
	cmd.Dir = "/tmp"
	if err := cmd.Run(); err != nil {
		return err
	}
	out := plog.NewLogs()
	deadline := time.Now().Add(10 * time.Second)
	for out.LogRecordCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		out = plog.NewLogs()
		for _, l := range sink.AllLogs() {
			for _, rl := range l.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						exe, _ := lr.Attributes().Get(schema.ProcessExecutablePath)
						if exe.Str() != "/usr/bin/ls" {
							continue
						}
						if out.ResourceLogs().Len() == 0 {
							nrl := out.ResourceLogs().AppendEmpty()
							rl.Resource().CopyTo(nrl.Resource())
							sl.Scope().CopyTo(nrl.ScopeLogs().AppendEmpty().Scope())
						}
						lr.CopyTo(out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty())
					}
				}
			}
		}
	}
	if out.LogRecordCount() != 2 {
		return fmt.Errorf("want the exec and exit of /usr/bin/ls, got %d records", out.LogRecordCount())
	}
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile("testdata/process.json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return workload(sink)
}

// workload runs a shell script of ordinary commands and keeps every record of its processes.
func workload(sink *consumertest.LogsSink) error {
	const script = `cd /usr/share; ls -la doc >/dev/null; id; uname -a; date +%s; hostname
cat /etc/os-release | grep -i pretty; head -c 64 /dev/urandom | sha256sum; find /etc -maxdepth 1 -name '*.conf' | wc -l
ps -e | tail -n 3; df -h / ; du -sh /usr/share/doc 2>/dev/null; env | sort | head -n 3; whoami; getent passwd root
for f in /etc/hostname /etc/hosts /etc/resolv.conf; do stat -c '%n %s' "$f"; done; sleep 0.1; true; false || true
awk 'BEGIN{print 1+1}'; sed -n 1p /etc/passwd; tr a-z A-Z </etc/hostname; sort -r /etc/shells | uniq | head -n 2
mktemp -d /tmp/otelsec-capture.XXXX | xargs rmdir; basename /usr/bin/env; dirname /usr/bin/env; readlink -f /bin/sh
printf '%s\n' "a b c" | cut -d' ' -f2; seq 3 | paste -sd+ | bc 2>/dev/null || true; tar --version | head -n1; exit 0`
	cmd := exec.Command("/bin/bash", "-c", script)
	cmd.Dir = "/tmp"
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := int64(cmd.Process.Pid)
	_ = cmd.Wait()
	time.Sleep(time.Second)
	out := plog.NewLogs()
	var rootID string
	for _, l := range sink.AllLogs() {
		for _, rl := range l.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					p, _ := lr.Attributes().Get(schema.ProcessPID)
					id, _ := lr.Attributes().Get(schema.ExecID)
					if p.Int() == pid && lr.EventName() == schema.EventProcessExec {
						rootID = id.Str()
					}
					anc, hasAnc := lr.Attributes().Get(schema.AncestorExecIDs)
					mine := rootID != "" && id.Str() == rootID
					if hasAnc && anc.Type() == pcommon.ValueTypeSlice {
						for _, a := range anc.Slice().All() {
							mine = mine || (rootID != "" && a.Str() == rootID)
						}
					}
					if !mine {
						continue
					}
					if out.ResourceLogs().Len() == 0 { // host processes: one resource
						nrl := out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(nrl.Resource())
						sl.Scope().CopyTo(nrl.ScopeLogs().AppendEmpty().Scope())
					}
					lr.CopyTo(out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty())
				}
			}
		}
	}
	if out.LogRecordCount() < 40 {
		return fmt.Errorf("workload: %d records, want at least 40", out.LogRecordCount())
	}
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(out)
	if err != nil {
		return err
	}
	fmt.Printf("workload: %d records\n", out.LogRecordCount())
	f, err := os.Create("testdata/workload.pb.gz")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
