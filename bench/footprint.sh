#!/usr/bin/env bash
# bench/footprint.sh — scenario 4: the embedded default (SQLite, in-process bus, dev key,
# demo data): time from exec to the first 200 from /ready, and idle RSS. Measured on a
# first start (creates the database, migrates, seeds) and a restart on the same data.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS="${BENCH_RUNS:-5}"
ensure_portal

ROWS=()
one_start() {
    local label="$1" data="$2" port pid t0 t1 rss
    port="$(free_port)"
    t0="$(date +%s%N)"
    PORTAL_BIND="127.0.0.1:$port" PORTAL_MLLP_BIND=off PORTAL_DATA_DIR="$data" RUST_LOG=warn "$PORTAL_BIN" serve \
        >>"$BENCH_WORK/footprint.log" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    until curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "portal exited (see $BENCH_WORK/footprint.log)"
        sleep 0.005
    done
    t1="$(date +%s%N)"
    sleep "${BENCH_IDLE_SECONDS:-5}"
    rss="$(rss_kib "$pid")"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    ROWS+=("$label $(( (t1 - t0) / 1000000 )) $rss")
}

for i in $(seq 1 "$RUNS"); do
    data="$BENCH_WORK/data-$i"
    one_start first "$data"
    one_start restart "$data"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
summarize() {
    local lines ms rss n max
    lines="$(printf '%s\n' "${ROWS[@]}" | awk -v l="$1" '$1 == l')"
    n="$(wc -l <<<"$lines")"
    ms="$(awk '{ print $2 }' <<<"$lines" | median)"
    max="$(awk '{ print $2 }' <<<"$lines" | sort -n | tail -1)"
    rss="$(awk '{ print $3 }' <<<"$lines" | median)"
    printf '| %s | %d | %d | %d | %.1f |\n' "$1" "$n" "$ms" "$max" "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')"
}

echo
echo "## Scenario 4 — footprint of the embedded default ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
machine_line
echo "portal serve with no configuration (SQLite under a fresh PORTAL_DATA_DIR); RSS read from /proc after ${BENCH_IDLE_SECONDS:-5} s idle"
echo
echo "| start | runs | start → /ready, median ms | max ms | idle RSS, median MiB |"
echo "|---|---|---|---|---|"
summarize first
summarize restart
