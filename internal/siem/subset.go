package siem

import "go.opentelemetry.io/collector/pdata/plog"

// Subset returns a copy of the records of ld for which keep is true, keep being given each
// record's index in ld (resource by resource, scope by scope, in order), with their resources
// and scopes. Exporters hand it to consumererror.NewLogs so that a retry resends only the
// records that were not delivered.
func Subset(ld plog.Logs, keep func(i int) bool) plog.Logs {
	out := plog.NewLogs()
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		var orl plog.ResourceLogs
		hasRL := false
		for _, sl := range rl.ScopeLogs().All() {
			var osl plog.ScopeLogs
			hasSL := false
			for _, lr := range sl.LogRecords().All() {
				if keep(i) {
					if !hasRL {
						orl = out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(orl.Resource())
						orl.SetSchemaUrl(rl.SchemaUrl())
						hasRL = true
					}
					if !hasSL {
						osl = orl.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(osl.Scope())
						osl.SetSchemaUrl(sl.SchemaUrl())
						hasSL = true
					}
					lr.CopyTo(osl.LogRecords().AppendEmpty())
				}
				i++
			}
		}
	}
	return out
}
