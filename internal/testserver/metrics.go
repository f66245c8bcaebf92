package testserver

import (
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// CounterSum sums the data points of the int64 counter name whose attributes include attrs;
// 0 when the component has not recorded it.
func CounterSum(tel *componenttest.Telemetry, name string, attrs ...attribute.KeyValue) int64 {
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for _, a := range attrs {
			v, has := dp.Attributes.Value(a.Key)
			ok = ok && has && v == a.Value
		}
		if ok {
			n += dp.Value
		}
	}
	return n
}
