//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
//go:generate go run ../../internal/schema/genmapping README.md

// Package otelsecsplunkhecexporter sends otelsec's events to Splunk's HTTP Event Collector as
// Common Information Model events.
package otelsecsplunkhecexporter
