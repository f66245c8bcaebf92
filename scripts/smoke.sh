#!/usr/bin/env bash
# Smoke test of the built distribution, end to end on this host (needs root):
# start _build/otelsec with distribution/config.yaml, wait for its health check, run a command
# carrying a random marker, wait until the debug exporter prints that marker, then stop the
# collector with SIGTERM and require a clean exit.
#
# Environment: OTELSEC_BIN, OTELSEC_CONFIG, HEALTH_URL, READY_TIMEOUT (s, default 60),
# EVENT_TIMEOUT (s, default 30), STOP_TIMEOUT (s, default 10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=${OTELSEC_BIN:-_build/otelsec}
config=${OTELSEC_CONFIG:-distribution/config.yaml}
health_url=${HEALTH_URL:-http://127.0.0.1:13133/}
ready_timeout=${READY_TIMEOUT:-60}
event_timeout=${EVENT_TIMEOUT:-30}
stop_timeout=${STOP_TIMEOUT:-10}

log() { echo "smoke: $*"; }
fail() {
	echo "smoke: FAIL: $*" >&2
	if [ -n "${out:-}" ] && [ -s "$out" ]; then
		echo "----- last 40 lines of collector output ($out), cut at 300 columns -----" >&2
		tail -n 40 "$out" | cut -c1-300 >&2
		echo "-----" >&2
	fi
	exit 1
}
alive() { kill -0 "$pid" 2>/dev/null; }
healthy() { curl -fsS -o /dev/null --max-time 2 "$health_url" 2>/dev/null; }

[ -x "$bin" ] || fail "$bin not found: run 'make build' first"
[ "$(id -u)" -eq 0 ] || fail "needs root: the eBPF receiver loads BPF programs"
healthy && fail "something already answers on $health_url: stop it first"

workdir=$(mktemp -d -t otelsec-smoke.XXXXXX)
out=$workdir/collector.log
pid=
cleanup() {
	if [ -n "$pid" ] && alive; then kill -KILL "$pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

"$bin" --config "$config" >"$out" 2>&1 &
pid=$!
log "started $bin (pid $pid), output in $out"

# Ready: health check answers (all components started, BPF programs attached).
deadline=$((SECONDS + ready_timeout))
until healthy; do
	alive || { wait "$pid" && rc=0 || rc=$?; pid=; fail "collector exited with status $rc before becoming ready"; }
	[ "$SECONDS" -lt "$deadline" ] || fail "health check $health_url not ready after ${ready_timeout}s"
	sleep 0.5
done
log "health check ready after ${SECONDS}s"

# The marker goes through a file (grep -f), never through another command's argv, so only the
# exec of /bin/echo below can put it into the collector's output.
marker="otelsec-smoke-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$marker" >"$workdir/marker"
/bin/echo "$marker" >/dev/null
log "ran /bin/echo <marker>; waiting up to ${event_timeout}s for the marker in the debug exporter output"

deadline=$((SECONDS + event_timeout))
until grep -qFf "$workdir/marker" "$out"; do
	alive || fail "collector exited while waiting for the marker"
	[ "$SECONDS" -lt "$deadline" ] || fail "marker $(<"$workdir/marker") not in the collector output after ${event_timeout}s"
	sleep 0.5
done
log "marker seen; the events as printed (cut at 300 columns):"
grep -F -f "$workdir/marker" "$out" | cut -c1-300 | sed 's/^/    /' | head -n 20

# Stop: SIGTERM must shut the collector down cleanly (status 0) within stop_timeout.
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + stop_timeout))
while alive; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		# SIGQUIT makes the Go runtime dump every goroutine; show those in otelsec's own code.
		kill -QUIT "$pid" 2>/dev/null || true
		sleep 2
		echo "----- otelsec goroutines after SIGQUIT (full dump in $out) -----" >&2
		awk -v RS= '/^goroutine / && /github.com\/otelsec\/otelsec\/[a-z]/ {print; print ""}' "$out" |
			grep -v -e '^runtime\.' -e '^	runtime/' >&2
		out= fail "collector still running ${stop_timeout}s after SIGTERM"
	fi
	sleep 0.2
done
wait "$pid" && rc=0 || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "collector exited with status $rc after SIGTERM (want 0)"
log "collector stopped cleanly after SIGTERM; its last lines:"
tail -n 3 "$out" | cut -c1-300 | sed 's/^/    /'
log "PASS"
rm -rf "$workdir"
