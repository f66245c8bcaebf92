// Package grafana holds otelsec's Grafana dashboards (dashboards/*.json) and the files that
// provision them and their datasources into Grafana (provisioning/). It has no code: its tests
// check the dashboards' structure, that every metric a panel queries is exported by a running
// collector into a real Prometheus, and that every Loki field a panel uses is one the Loki
// route produces. See README.md.
package grafana
