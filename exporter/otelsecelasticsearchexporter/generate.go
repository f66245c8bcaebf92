//go:generate go tool -modfile=../../tools/go.mod mdatagen metadata.yaml
//go:generate go run ../../internal/schema/genmapping README.md

// Package otelsecelasticsearchexporter sends otelsec's events to Elasticsearch data streams as
// Elastic Common Schema documents, through the bulk API.
package otelsecelasticsearchexporter
