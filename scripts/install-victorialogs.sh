#!/usr/bin/env bash
# Installs the VictoriaLogs server the exporter tests run (internal/testserver), once, into
# ${OTELSEC_CACHE:-$HOME/.cache/otelsec}/bin/victoria-logs: `go install` of the pinned release
# from the Go module proxy (~45 s and ~22 MB the first time; nothing afterwards). make test runs it.
set -euo pipefail

version=v1.52.1
cache=${OTELSEC_CACHE:-$HOME/.cache/otelsec}
bin=$cache/bin/victoria-logs
go=${GO:-go}

# The binary records the module version it was built from (its -version flag prints nothing
# for a `go install` build).
if [ -x "$bin" ] && "$go" version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+github.com/VictoriaMetrics/VictoriaLogs\s+$version\s"; then
	exit 0
fi
echo "install-victorialogs: installing VictoriaLogs $version into $bin"
mkdir -p "$cache/bin"
# Outside the repository, so that its go.mod has no say in the install.
cd "$cache"
GOBIN="$cache/bin" GOFLAGS= "$go" install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$version"
"$go" version -m "$bin" | head -n 3
