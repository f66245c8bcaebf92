package otelsecsplunkhecexporter

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelsec/otelsec/internal/siem"
)

// BenchmarkHECEncode measures the HEC encoding (envelope and CIM event) of real process
// events (siem.Workload), on one thread: events/cpu-s is events per second of one core, from
// the thread's CPU time (cpu-ns/event), which contention on a shared machine does not inflate
// as it does ns/op. It reports the bytes per event of a request body, raw and gzip-compressed
// as sent (the whole workload in one batch, gzip's default level as confighttp uses), and of
// the same records as OTLP protobuf (the Loki route's otlp_http), raw and gzip-compressed.
func BenchmarkHECEncode(b *testing.B) {
	ld, err := siem.Workload()
	if err != nil {
		b.Fatal(err)
	}
	batch := ld.LogRecordCount()
	cfg := createDefaultConfig().(*Config)
	cfg.ClientConfig.Endpoint = "http://unused"
	e, err := newExporter(cfg, exportertestSettings())
	if err != nil {
		b.Fatal(err)
	}
	rl := ld.ResourceLogs().At(0)
	recs := rl.ScopeLogs().At(0).LogRecords()

	var body []byte
	for i := range batch {
		body = e.appendEvent(body, rl.Resource(), recs.At(i))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(body)
	zw.Close()
	proto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	var zp bytes.Buffer
	zw = gzip.NewWriter(&zp)
	zw.Write(proto)
	zw.Close()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	gzipCPU, gzipAlone := gzipCost(body, batch)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := siem.ThreadCPU()
	buf := make([]byte, 0, 64<<10)
	for i := 0; b.Loop(); i++ {
		buf = e.appendEvent(buf[:0], rl.Resource(), recs.At(i%batch))
	}
	cpu = siem.ThreadCPU() - cpu
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(len(body))/float64(batch), "B/event")
	b.ReportMetric(float64(z.Len())/float64(batch), "gzipB/event")
	b.ReportMetric(gzipCPU, "gzip-cpu-ns/event")
	b.ReportMetric(gzipAlone, "gzipB/event-alone")
	b.ReportMetric(float64(len(proto))/float64(batch), "otlpB/event")
	b.ReportMetric(float64(zp.Len())/float64(batch), "otlpGzipB/event")
}

// gzipCost returns the CPU time per event of gzipping a body of n events (default level, on
// this thread, 20 times), and the mean gzip size of one event compressed alone.
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
	events := bytes.SplitAfter(body, []byte(`}}{"time"`)) // HEC events follow each other
	total := 0
	for _, e := range events {
		z.Reset()
		zw.Reset(&z)
		zw.Write(e)
		zw.Close()
		total += z.Len()
	}
	return cpuNsPerEvent, float64(total) / float64(len(events))
}
