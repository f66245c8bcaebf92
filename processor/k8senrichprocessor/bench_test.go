package k8senrichprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	s "github.com/otelsec/otelsec/internal/schema"
	"github.com/otelsec/otelsec/processor/k8senrichprocessor/internal/metadata"
)

// BenchmarkEnrich measures the processor's cost per log record: batches of 100 container
// resources (100 pods known to the cache, from a real API server) with 1 or 10 records each,
// every resource enriched with the default settings (all labels: 6 per pod) and owners.
// ns/record is the cost of one record; the copy of each input batch is not timed.
func BenchmarkEnrich(b *testing.B) {
	env := k8stest.Start(b)
	env.Namespace(b, "shop")
	const pods = 100
	var resources []map[string]any
	for i := range pods {
		id := newID()
		p := webPod(fmt.Sprintf("web-%03d", i))
		p.Labels["tier"], p.Labels["version"], p.Labels["zone"] = "front", "1.4.2", "eu-1a"
		p = env.CreatePod(b, p, running("web", id, imageDigest))
		resources = append(resources, map[string]any{s.ContainerID: id, s.K8sPodUID: string(p.UID), "host.name": testNode})
	}
	cfg := createDefaultConfig().(*Config)
	cfg.AuthType, cfg.Kubeconfig, cfg.NodeName = "kubeConfig", env.Kubeconfig, testNode
	lp, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, lp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, lp.Shutdown(context.Background())) }()
	h := lp.(*logsProcessor).handle.Load()
	require.Eventually(b, func() bool { return h.Stats().Pods == pods }, time.Minute, 10*time.Millisecond)

	for _, perResource := range []int{1, 10} {
		b.Run(fmt.Sprintf("records_per_resource=%d", perResource), func(b *testing.B) {
			in := logsOf(resources...)
			for _, rl := range in.ResourceLogs().All() {
				recs := rl.ScopeLogs().At(0).LogRecords()
				for recs.Len() < perResource {
					recs.At(0).CopyTo(recs.AppendEmpty())
				}
				recs.At(0).Attributes().PutStr(s.ProcessExecutablePath, "/usr/bin/curl")
			}
			records := pods * perResource
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				ld := plog.NewLogs()
				in.CopyTo(ld)
				b.StartTimer()
				if err := lp.ConsumeLogs(context.Background(), ld); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}
