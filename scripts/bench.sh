#!/usr/bin/env bash
# Overhead benchmark of the built distribution on this host (needs root); see BENCHMARKS.md.
#
# Builds _build/otelsec when it is missing or lacks the nop exporter, builds the harness
# (./bench), and runs it: fork+exec of /bin/true without and with the collector
# (distribution/bench.yaml: ebpfsecurity -> memory_limiter -> batch -> nop), alternating, then
# sustained paced runs, then a CPU profile of the collector. Prints a Markdown summary.
#
# Usage: scripts/bench.sh [-w] [-- extra harness flags]
#   -w   also rewrite the results section of BENCHMARKS.md (same as BENCH_WRITE=1)
#
# Environment (defaults keep the whole run under ~3 minutes on a 2-CPU VM):
#   BENCH_N=1000                   fork+execs per alternating run
#   BENCH_ROUNDS=5                 rounds of (without, with) the collector
#   BENCH_RATE=500                 execs/s of the sustained runs
#   BENCH_DURATION=10s             length of each sustained run
#   BENCH_SUSTAINED=/bin/true,tiny programs of the sustained runs (tiny: a 129-byte static ELF)
#   BENCH_WORKERS=4                workers of the paced runs
#   BENCH_PROFILE=10s              CPU profile of the collector (0 to skip)
#   BENCH_QUIET_WAIT=5s            wait at most this long before each run for a quiet machine
#   BENCH_OUT=<temp dir>           where collector logs, cpu.pprof and results.json go
#   BENCH_WRITE=1                  as -w
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

write=${BENCH_WRITE:-0}
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	-w) write=1 ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown argument $1 (try -h)" >&2; exit 2 ;;
	esac
	shift
done

log() { echo "bench.sh: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "needs root: the collector loads BPF programs"; exit 1; }

out=${BENCH_OUT:-$(mktemp -d -t otelsec-bench.XXXXXX)}
mkdir -p "$out"
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo "")

# Whatever happens to the harness, leave no collector running and bpf_stats as it was. (The
# harness does both itself; this covers it being killed with SIGKILL.)
cleanup() {
	local pid
	if [ -f "$out/collector.pid" ]; then
		pid=$(<"$out/collector.pid")
		if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = otelsec ]; then
			log "stopping collector pid $pid left by the harness"
			kill -TERM "$pid" 2>/dev/null || true
			sleep 2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rm -f "$out/collector.pid"
	fi
	if [ -n "$stats_before" ] && [ "$(cat /proc/sys/kernel/bpf_stats_enabled)" != "$stats_before" ]; then
		log "restoring kernel.bpf_stats_enabled=$stats_before"
		echo "$stats_before" >/proc/sys/kernel/bpf_stats_enabled || true
	fi
}
trap cleanup EXIT

if [ ! -x _build/otelsec ] || ! grep -q nopexporter _build/components.go 2>/dev/null; then
	log "building the distribution (make build)"
	make --no-print-directory build >&2
fi
go build -o "$out/bench" ./bench

md=$out/summary.md
"$out/bench" \
	-bin _build/otelsec -config distribution/bench.yaml -out "$out" -md "$md" \
	-n "${BENCH_N:-1000}" -rounds "${BENCH_ROUNDS:-5}" \
	-rate "${BENCH_RATE:-500}" -duration "${BENCH_DURATION:-10s}" \
	-sustained-targets "${BENCH_SUSTAINED:-/bin/true,tiny}" -workers "${BENCH_WORKERS:-4}" \
	-profile "${BENCH_PROFILE:-10s}" -quiet-wait "${BENCH_QUIET_WAIT:-5s}" \
	${extra[@]+"${extra[@]}"}

if [ "$write" = 1 ]; then
	begin='<!-- bench:results:begin -->'
	end='<!-- bench:results:end -->'
	grep -qF "$begin" BENCHMARKS.md && grep -qF "$end" BENCHMARKS.md ||
		{ log "BENCHMARKS.md has no $begin ... $end section"; exit 1; }
	awk -v begin="$begin" -v end="$end" -v md="$md" '
		$0 == begin { print; print ""; while ((getline line < md) > 0) print line; print ""; skip = 1; next }
		$0 == end { skip = 0 }
		!skip { print }
	' BENCHMARKS.md >"$out/BENCHMARKS.md"
	cp "$out/BENCHMARKS.md" BENCHMARKS.md
	log "rewrote the results section of BENCHMARKS.md"
fi
log "logs, cpu.pprof and results.json in $out"
