package ebpfsecurityreceiver

import (
	"context"
	"errors"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// closingLogs is a logs consumer that, like a pipeline's processors once shut down, must not be
// called after close; a call then is counted (and would block forever in a real collector: the
// batch processor's loop is gone).
type closingLogs struct {
	sink  consumertest.LogsSink
	shut  atomic.Bool
	after atomic.Int64
}

func (c *closingLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *closingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if c.shut.Load() {
		c.after.Add(1)
		return errors.New("consumer shut down")
	}
	return c.sink.ConsumeLogs(ctx, ld)
}

// TestLogsPipelineShutsDownFirst: the collector shuts each pipeline's receiver down and then that
// pipeline's processors, in an order that may put the logs pipeline's processors before the
// metrics pipeline's receiver. The shared receiver must stop handing logs on when its logs
// handle shuts down, not when the last handle does (seen in the smoke test as a collector hung
// in shutdown, the reader blocked in the batch processor's channel).
func TestLogsPipelineShutsDownFirst(t *testing.T) {
	next := &closingLogs{}
	h := startHarness(t, nil, next)
	require.NoError(t, exec.Command("/bin/true").Run())
	require.Eventually(t, func() bool { return next.sink.LogRecordCount() > 0 }, 10*time.Second, 20*time.Millisecond)

	logsHandle, metricsHandle := h.comps[0], h.comps[1]
	require.NoError(t, logsHandle.Shutdown(context.Background()))
	next.shut.Store(true)
	for range 20 {
		require.NoError(t, exec.Command("/bin/true").Run())
	}
	metricsBefore := len(h.metrics.AllMetrics())
	time.Sleep(300 * time.Millisecond) // several flush intervals and collection intervals
	assert.Zero(t, next.after.Load(), "log records handed on after the logs pipeline shut down")
	assert.Greater(t, len(h.metrics.AllMetrics()), metricsBefore, "the metrics pipeline still runs")

	require.NoError(t, metricsHandle.Shutdown(context.Background()))
	h.stopped = true
	assert.Nil(t, h.receiver(), "the last handle released the receiver")
}
