#!/usr/bin/env bash
# Installs a real Prometheus server for the tests (the Grafana dashboards' metric coverage test,
# distribution/grafana) and prints the path of its binary:
#
#   export PROMETHEUS_BIN=$(scripts/prometheus-test-env.sh)
#
# The binary comes from Debian's `prometheus` package (2.42 on bookworm), fetched with
# `apt-get download` and unpacked with dpkg-deb under $OTELSEC_CACHE (default
# $HOME/.cache/otelsec), so nothing is installed system-wide and no Prometheus service is
# started; it is reused while it runs. It needs only libc.
#
# Environment: OTELSEC_CACHE. Progress goes to stderr; stdout carries only the path.
set -euo pipefail

cache=${OTELSEC_CACHE:-$HOME/.cache/otelsec}
dir=$cache/prometheus
bin=$dir/bin/prometheus

log() { echo "prometheus-test-env: $*" >&2; }
fail() {
	echo "prometheus-test-env: FAIL: $*" >&2
	exit 1
}

mkdir -p "$dir"
# One install at a time, even when two test runs start together.
exec 9>"$dir/.lock"
flock 9

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

command -v apt-get >/dev/null || fail "apt-get not found: set PROMETHEUS_BIN to a Prometheus 2.x binary"
work=$(mktemp -d -t otelsec-prometheus.XXXXXX)
trap 'rm -rf "$work"' EXIT
# As root, apt fetches as the _apt user, which must be able to write the download directory.
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
log "fetching Debian's prometheus package"
if ! (cd "$work" && apt-get download prometheus >&2); then
	# A fresh machine may have no package lists yet; refreshing them needs root.
	[ "$(id -u)" -eq 0 ] || fail "apt-get download prometheus failed; run 'apt-get update' as root, then retry"
	log "refreshing the package lists (apt-get update)"
	apt-get update >&2
	(cd "$work" && apt-get download prometheus >&2) || fail "apt-get download prometheus failed"
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$dir/bin"
install -m 0755 "$work/root/usr/bin/prometheus" "$bin.tmp"
mv "$bin.tmp" "$bin"
"$bin" --version 2>&1 | head -n 1 >&2
echo "$bin"
