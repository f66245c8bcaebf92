package sensor

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelsec/otelsec/bpf"
)

func TestJoinLeafFirst(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "/",
		"bin\x00usr\x00":         "/usr/bin",
		"echo\x00bin\x00usr\x00": "/usr/bin/echo",
		"a b\x00":                "/a b",
		"x\x00":                  "/x",
	} {
		assert.Equal(t, want, joinLeafFirst([]byte(in)), "%q", in)
	}
}

func TestSplitArgs(t *testing.T) {
	assert.Nil(t, splitArgs(nil))
	assert.Equal(t, []string{"ls", "-l", ""}, splitArgs([]byte("ls\x00-l\x00\x00")))
	assert.Equal(t, []string{"ls", "-l"}, splitArgs([]byte("ls\x00-l\x00")))
	assert.Equal(t, []string{"ls", "-partial"}, splitArgs([]byte("ls\x00-partial")), "a truncated argv keeps its cut argument")
}

// exec builds a raw exec record the way the kernel lays it out.
func execRecord(sections ...string) []byte {
	var r bpf.ProcessExecEvent
	r.Hdr.Kind = uint8(KindExec)
	r.Hdr.Tgid, r.Hdr.Tid, r.Ppid = 42, 42, 7
	lens := []*uint16{&r.PathLen, &r.ArgsLen, &r.FilenameLen, &r.CwdLen, &r.CgroupLen}
	var data []byte
	for i, s := range sections {
		*lens[i] = uint16(len(s))
		data = append(data, s...)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.Comm[0])), 16), "curl")
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	return append(bytes.Clone(raw), data...)
}

func TestDecodeExec(t *testing.T) {
	raw := execRecord("curl\x00bin\x00usr\x00", "curl\x00-s\x00", "/bin/curl\x00", "tmp\x00", "x.scope\x00system.slice\x00")
	var e Exec
	require.NoError(t, DecodeExec(raw, &e))
	assert.Equal(t, KindExec, e.Kind)
	assert.Equal(t, uint32(42), e.TGID)
	assert.Equal(t, uint32(7), e.PPID)
	assert.Equal(t, "/usr/bin/curl", e.Image.Executable)
	assert.Equal(t, []string{"curl", "-s"}, e.Image.Args)
	assert.Equal(t, "/bin/curl", e.Image.Filename)
	assert.Equal(t, "/tmp", e.Image.Cwd)
	assert.Equal(t, "/system.slice/x.scope", e.Image.Cgroup)
	assert.Equal(t, "curl", e.Image.Comm)
}

func TestDecodeRejectsShortRecords(t *testing.T) {
	raw := execRecord("curl\x00bin\x00usr\x00", "curl\x00")
	var e Exec
	require.ErrorIs(t, DecodeExec(raw[:len(raw)-1], &e), ErrShortRecord, "sections longer than the record")
	require.ErrorIs(t, DecodeExec(raw[:10], &e), ErrShortRecord)
	var x Exit
	require.ErrorIs(t, DecodeExit(make([]byte, 8), &x), ErrShortRecord)
	_, err := PeekKind(nil)
	require.ErrorIs(t, err, ErrShortRecord)
}

func TestExitStatus(t *testing.T) {
	x := Exit{Status: 3 << 8}
	assert.Equal(t, 3, x.Code())
	assert.Equal(t, 0, x.Signal())
	x = Exit{Status: 9}
	assert.Equal(t, 9, x.Signal())
	assert.False(t, x.CoreDumped())
	x = Exit{Status: 11 | 0x80}
	assert.Equal(t, 11, x.Signal())
	assert.True(t, x.CoreDumped())
}

func FuzzDecodeExec(f *testing.F) {
	f.Add(execRecord("curl\x00bin\x00usr\x00", "curl\x00-s\x00", "/bin/curl\x00", "tmp\x00", "x\x00"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Copy into 8-aligned memory, as the ring buffer hands out.
		buf := make([]uint64, (len(raw)+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(raw)]
		copy(b, raw)
		var e Exec
		_ = DecodeExec(b, &e)
		var x Exit
		_ = DecodeExit(b, &x)
		var fk Fork
		_ = DecodeFork(b, &fk)
	})
}

// BenchmarkDecodeExec compares the generated-layout view with binary.Read, the usual way.
func BenchmarkDecodeExec(b *testing.B) {
	raw := execRecord("curl\x00bin\x00usr\x00", "curl\x00-s\x00http://example.com\x00", "/usr/bin/curl\x00", "alice\x00home\x00", "session-3.scope\x00user-1000.slice\x00user.slice\x00")
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		var e Exec
		for b.Loop() {
			if err := DecodeExec(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary.Read-header-only", func(b *testing.B) {
		b.ReportAllocs()
		var r bpf.ProcessExecEvent
		for b.Loop() {
			if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
