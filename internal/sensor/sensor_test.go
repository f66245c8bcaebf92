package sensor

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/require"
)

func TestExecRecord(t *testing.T) {
	s, err := Load(Options{ProcessHook: HookTPBTF, RingBufferSize: 1 << 22, WakeupEvery: 1, ArgsMaxBytes: 1024},
		Capabilities{TPBTF: true, RawTracepoint: true, PrepareExec: true})
	require.NoError(t, err)
	defer s.Close()
	rd, err := ringbuf.NewReader(s.Events())
	require.NoError(t, err)
	defer rd.Close()

	dir := t.TempDir()
	cmd := exec.Command("/bin/echo", "hello", "otelsec world")
	cmd.Dir = dir
	require.NoError(t, cmd.Run())

	deadline := time.Now().Add(5 * time.Second)
	rd.SetDeadline(deadline)
	for {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("no exec record")
		}
		require.NoError(t, err)
		k, err := PeekKind(rec.RawSample)
		require.NoError(t, err)
		if k != KindExec {
			continue
		}
		var e Exec
		require.NoError(t, DecodeExec(rec.RawSample, &e))
		if e.TGID != uint32(cmd.Process.Pid) {
			continue
		}
		t.Logf("%+v", e)
		require.Equal(t, "/usr/bin/echo", e.Image.Executable)
		require.Equal(t, []string{"/bin/echo", "hello", "otelsec world"}, e.Image.Args)
		require.Equal(t, dir, e.Image.Cwd)
		require.Equal(t, uint32(os.Getpid()), e.PPID)
		require.Equal(t, "/bin/echo", e.Image.Filename)
		require.True(t, e.PrevKnown)
		return
	}
}
