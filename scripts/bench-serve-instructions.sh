#!/usr/bin/env bash
# bench-serve-instructions: instructions per 1,000-record Event Hub batch of
# serve (BenchmarkServe, memory state), counted by valgrind's callgrind, a
# figure a loaded machine does not change (CPU time does). The benchmark
# runs under callgrind with the instrumentation off; it turns it on for the
# measured batches alone (AZDETECT_BENCH_CALLGRIND, callgrind_control).
# Go's testing runs the benchmark with N=1 and then N=BATCHES; the N=1
# probe starts no serve (probeRun), so the total is the BATCHES measured
# batches' alone. GOMAXPROCS=1 and the
# GODEBUG settings let valgrind 3.19 run a Go binary. The client's own
# instructions (writing each request, reading the answer) are counted too:
# a few per cent. Usage:
#   make bench-serve-instructions     (BENCH_SERVE_BATCHES, BENCH_DIR keep the profile)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BATCHES=${BATCHES:-10}
WARM=${WARM:-3}
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 2; }
dir=${BENCH_DIR:-}
if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/azdetect-benchserve.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
$GO test -c -o "$dir/handler.test" ./handler
out="$dir/callgrind.out.serve"
# Callgrind 3.19 sometimes aborts on a signal the Go runtime takes
# ("threads.c:247 (vgCallgrind_post_signal): Assertion 'sigNum ==
# vgCallgrind_current_state.sig' failed", about one run in three here): a
# fault of the tool, not of serve, so such a run is tried again, up to
# three times, and said so; any other failure is reported at once.
for try in 1 2 3; do
	(cd handler && GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off AZDETECT_BENCH_CALLGRIND=1 AZDETECT_BENCH_WARM="$WARM" \
		valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
		"$dir/handler.test" -test.run '^$' -test.bench 'BenchmarkServe$' -test.benchtime "${BATCHES}x") >"$dir/bench.log" 2>"$dir/valgrind.log" || true
	grep -q "allocs/record" "$dir/bench.log" && break
	grep -q "vgCallgrind_post_signal): Assertion" "$dir/valgrind.log" || break
	echo "bench-serve-instructions: callgrind aborted on a signal (its own assertion, run $try of 3); running again" >&2
done
grep "allocs/record" "$dir/bench.log" || {
	echo "bench-serve-instructions: the benchmark failed; the end of its log and of valgrind's:" >&2
	tail -20 "$dir/bench.log" >&2
	grep -m3 "Assertion\|valgrind:" "$dir/valgrind.log" >&2
	exit 1
}
total=$(sed -n 's/^totals: //p' "$out")
if [ -z "$total" ]; then
	echo "bench-serve-instructions: no callgrind totals; the end of valgrind's log:" >&2
	tail -20 "$dir/valgrind.log" >&2
	exit 1
fi
echo "serve: $((total / BATCHES)) instructions per 1,000-record batch ($total over $BATCHES batches; callgrind, GOMAXPROCS=1)"
[ -n "${BENCH_DIR:-}" ] && echo "profile: $out (callgrind_annotate $out)"
exit 0
