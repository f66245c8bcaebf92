package testserver

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/receiver/ebpfsecurityreceiver"
)

// Sensor is the real ebpfsecurity receiver, run by a test: its BPF programs see every exec
// and exit on this machine.
type Sensor struct {
	// Sink holds every log record the receiver emitted.
	Sink *consumertest.LogsSink
}

// Event is one record with its resource.
type Event struct {
	Resource pcommon.Resource
	Record   plog.LogRecord
}

// Attr returns a record attribute (an empty value when absent).
func (e Event) Attr(key string) pcommon.Value {
	v, _ := e.Record.Attributes().Get(key)
	return v
}

// StartSensor starts the receiver, which hands a copy of its logs to next (may be nil) and
// keeps them in Sink; it stops when the test ends. It needs root and skips the test without.
func StartSensor(t testing.TB, next consumer.Logs) *Sensor {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the ebpfsecurity receiver loads BPF programs (make test runs the tests as root)")
	}
	s := &Sensor{Sink: new(consumertest.LogsSink)}
	tee := consumerFunc(func(ctx context.Context, ld plog.Logs) error {
		if err := s.Sink.ConsumeLogs(ctx, ld); err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		cp := plog.NewLogs()
		ld.CopyTo(cp)
		return next.ConsumeLogs(ctx, cp)
	})
	f := ebpfsecurityreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*ebpfsecurityreceiver.Config)
	cfg.RingBuffer.FlushInterval = 20 * time.Millisecond
	r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, tee)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("ebpfsecurity receiver shutdown: %v", err)
		}
	})
	return s
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Run runs argv (argv[0] an absolute path) from /bin/sh in dir and waits until the receiver
// has emitted its process.exec and process.exit records, which it returns.
func (s *Sensor) Run(t testing.TB, dir string, argv ...string) (exec, exit Event) {
	t.Helper()
	cmd := osExec(argv, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run %v: %v: %s", argv, err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		exec, ok1 := s.find(schema.EventProcessExec, argv, "")
		if ok1 {
			exit, ok2 := s.find(schema.EventProcessExit, nil, exec.Attr(schema.ExecID).Str())
			if ok2 {
				return exec, exit
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process.exec and process.exit records for %v after 15s", argv)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func osExec(argv []string, dir string) *exec.Cmd {
	// "; exit 0" keeps the shell from exec'ing the command in place: its parent is the shell.
	script := ""
	for _, a := range argv {
		script += "'" + a + "' "
	}
	cmd := exec.Command("/bin/sh", "-c", script+"; exit 0")
	cmd.Dir = dir
	return cmd
}

// find returns the record named name whose arguments are argv, or whose exec id is execID.
func (s *Sensor) find(name string, argv []string, execID string) (Event, bool) {
	for _, ld := range s.Sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if lr.EventName() != name {
						continue
					}
					e := Event{Resource: rl.Resource(), Record: lr}
					if execID != "" && e.Attr(schema.ExecID).Str() == execID {
						return e, true
					}
					if argv != nil {
						args := e.Attr(schema.ProcessCommandArgs)
						if args.Type() == pcommon.ValueTypeSlice && slices.Equal(strs(args.Slice()), argv) {
							return e, true
						}
					}
				}
			}
		}
	}
	return Event{}, false
}

func strs(s pcommon.Slice) []string {
	out := make([]string, 0, s.Len())
	for _, v := range s.All() {
		out = append(out, v.Str())
	}
	return out
}

// Logs returns a plog.Logs holding copies of the events, each with its resource.
func Logs(events ...Event) plog.Logs {
	ld := plog.NewLogs()
	for _, e := range events {
		rl := ld.ResourceLogs().AppendEmpty()
		e.Resource.CopyTo(rl.Resource())
		e.Record.CopyTo(rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	}
	return ld
}
