package otelsecelasticsearchexporter

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"testing"

	"github.com/otelsec/otelsec/internal/siem"
)

// BenchmarkECSEncode measures the ECS encoding of real process events (siem.Workload) as bulk
// items (action line and document), on one thread: events/cpu-s is events per second of one
// core, from the thread's CPU time (cpu-ns/event), which contention on a shared machine does
// not inflate as it does ns/op. It reports the bytes per event of a bulk body, raw and
// gzip-compressed as sent (the whole workload in one batch, gzip's default level as
// confighttp uses).
func BenchmarkECSEncode(b *testing.B) {
	ld, err := siem.Workload()
	if err != nil {
		b.Fatal(err)
	}
	batch := ld.LogRecordCount()
	enc := siem.NewECS("default")
	rl := ld.ResourceLogs().At(0)
	recs := rl.ScopeLogs().At(0).LogRecords()
	item := func(buf []byte, i int) []byte {
		lr := recs.At(i)
		buf = append(buf, `{"create":{"_index":"`...)
		buf = append(buf, enc.DataStream(lr.EventName())...)
		buf = append(buf, "\"}}\n"...)
		buf = enc.Append(buf, rl.Resource(), lr)
		return append(buf, '\n')
	}
	var body []byte
	for i := range batch {
		body = item(body, i)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(body)
	zw.Close()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	gzipCPU, gzipAlone := gzipCost(body, batch)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := siem.ThreadCPU()
	buf := make([]byte, 0, 64<<10)
	for i := 0; b.Loop(); i++ {
		buf = item(buf[:0], i%batch)
	}
	cpu = siem.ThreadCPU() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(len(body))/float64(batch), "B/event")
	b.ReportMetric(float64(z.Len())/float64(batch), "gzipB/event")
	b.ReportMetric(gzipCPU, "gzip-cpu-ns/event")
	b.ReportMetric(gzipAlone, "gzipB/event-alone")
}

// gzipCost returns the CPU time per event of gzipping a bulk body of n events (default
// level, on this thread, 20 times), and the mean gzip size of one bulk item compressed alone.
func gzipCost(body []byte, n int) (cpuNsPerEvent, aloneBytes float64) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	cpu := siem.ThreadCPU()
	for range 20 {
		z.Reset()
		zw.Reset(&z)
		zw.Write(body)
		zw.Close()
	}
	cpuNsPerEvent = float64((siem.ThreadCPU() - cpu).Nanoseconds()) / float64(20*n)
	lines := bytes.SplitAfter(body, []byte("\n"))
	total, items := 0, 0
	for i := 0; i+1 < len(lines); i += 2 {
		z.Reset()
		zw.Reset(&z)
		zw.Write(lines[i])
		zw.Write(lines[i+1])
		zw.Close()
		total += z.Len()
		items++
	}
	return cpuNsPerEvent, float64(total) / float64(items)
}
