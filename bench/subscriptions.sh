#!/usr/bin/env bash
# bench/subscriptions.sh — scenario 3: BENCH_SUBS resultReady subscriptions over
# graphql-transport-ws, spread over 3 portal replicas sharing PostgreSQL and Redis; server
# RSS per idle subscription; commit→client latency while a lab writes BENCH_EVENT_RATE
# results/s for BENCH_EVENT_SECONDS (deadline-bound: what the server does not take by then is
# not written). See bench/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SUBS="${BENCH_SUBS:-50000}"
REPLICAS="${BENCH_REPLICAS:-3}"
PER_CLIENT="${BENCH_SUBS_PER_CLIENT:-15000}"
EVENT_RATE="${BENCH_EVENT_RATE:-1000}"
EVENT_SECONDS="${BENCH_EVENT_SECONDS:-20}"
SOURCES="${BENCH_SOURCES:-127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9}"

ensure_portal
BB="${BENCH_BENCH_BIN:-$REPO_DIR/target/release/portal-bench}"
[[ -x "$BB" ]] || die "no $BB"
# Raised before anything starts: the replicas (one socket per subscription) and the clients
# inherit it. Default: the hard limit.
ulimit -n "${BENCH_NOFILE:-$(ulimit -Hn)}" || die "cannot raise the open-file limit (ulimit -n)"
setup_dataset
start_redis
SUB_PATIENTS="$(( SUBS < BENCH_PATIENTS ? SUBS : BENCH_PATIENTS ))"

PORTS=() PIDS=() WS=() HTTP=()
read -r -a EXTRA_ENV <<<"${BENCH_PORTAL_ENV:-}"
for r in $(seq 1 "$REPLICAS"); do
    port="$(free_port)"
    start_portal "replica$r" "$port" DATABASE_URL="$APP_DB_URL" DATABASE_MIGRATION_URL="$DB_URL" REDIS_URL="$REDIS_URL" NOTIFY_WORKER=false \
        DATABASE_MAX_CONNECTIONS="${BENCH_DB_POOL:-16}" "${EXTRA_ENV[@]}"
    PORTS+=("$port"); PIDS+=("$PORTAL_PID")
    WS+=("ws://127.0.0.1:$port/graphql"); HTTP+=("http://127.0.0.1:$port/graphql")
done
for i in "${!PORTS[@]}"; do wait_ready "${PORTS[$i]}" "${PIDS[$i]}"; done
sleep 2
rss_sum() { local t=0 p; for p in "${PIDS[@]}"; do t=$((t + $(rss_kib "$p"))); done; echo "$t"; }
RSS0="$(rss_sum)"
log "replicas ready; RSS before subscriptions: $((RSS0 / 1024)) MiB in all"

# --- open the subscriptions -------------------------------------------------------------
CLIENTS=() OUTS=()
ws_list="$(IFS=,; echo "${WS[*]}")"
offset=0 c=0
T_OPEN0="$(date +%s.%N)"
while (( offset < SUBS )); do
    n=$(( SUBS - offset < PER_CLIENT ? SUBS - offset : PER_CLIENT ))
    out="$BENCH_WORK/subs-$c.out"
    "$BB" subs --url "$ws_list" --patients "$TOKENS" --patient-limit "$SUB_PATIENTS" --offset "$offset" \
        --subs "$n" --sources "$SOURCES" --out "$BENCH_WORK/subs-$c.lat" >"$out" 2>"$BENCH_WORK/subs-$c.err" &
    CLIENTS+=($!); OUTS+=("$out"); BENCH_PIDS+=($!)
    offset=$((offset + n)); c=$((c + 1))
done
for i in "${!CLIENTS[@]}"; do
    until grep -q '^READY' "${OUTS[$i]}" 2>/dev/null; do
        kill -0 "${CLIENTS[$i]}" 2>/dev/null || die "subscriber client $i exited: $(cat "$BENCH_WORK/subs-$i.err")"
        sleep 0.5
    done
done
CONNECTED=0 FAILED=0
for o in "${OUTS[@]}"; do
    line="$(grep '^READY' "$o")"
    CONNECTED=$((CONNECTED + $(kv "$line" connected))); FAILED=$((FAILED + $(kv "$line" failed)))
done
# A socket is acknowledged before its subscription is authorized, audited and registered
# with the replica's hub: wait until the hubs hold them all (portal_subscriptions_open).
open_gauge() { for p in "${PORTS[@]}"; do curl -fs "http://127.0.0.1:$p/metrics" | awk '/^portal_subscriptions_open/ { print $2 }'; done | awk '{ s += $1 } END { print s + 0 }'; }
# Stops early when the gauge has not moved for 15 s (subscriptions that failed never register;
# their errors are counted in portal_ws_errors_total).
last=-1 still=0
for _ in $(seq 1 "${BENCH_REGISTER_TIMEOUT:-600}"); do
    now="$(open_gauge)"
    (( now >= CONNECTED )) && break
    if (( now == last )); then still=$((still + 1)); else still=0; fi
    (( still >= 15 )) && break
    last="$now"
    sleep 1
done
WS_ERRORS="$(for p in "${PORTS[@]}"; do curl -fs "http://127.0.0.1:$p/metrics" | awk '/^portal_ws_errors_total/ { print $2 }'; done | awk '{ s += $1 } END { print s + 0 }')"
T_OPEN1="$(date +%s.%N)"
FIRST_ERR="$(cat "$BENCH_WORK"/subs-*.err | grep -m1 'first connect error' || true)"
log "subscriptions open: $CONNECTED connected, $FAILED failed ${FIRST_ERR}"
sleep "${BENCH_IDLE_SECONDS:-10}"
RSS1="$(rss_sum)"
OPEN_GAUGE="$(open_gauge)"
PER_SUB="$(awk -v a="$RSS0" -v b="$RSS1" -v n="$CONNECTED" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "n/a" }')"
log "RSS with $CONNECTED idle subscriptions: $((RSS1 / 1024)) MiB ($PER_SUB KiB each); portal_subscriptions_open=$OPEN_GAUGE"

# --- events at fixed rates, one phase per rate over the same subscriptions -------------
# Each subscribed patient has exactly SUBS / SUB_PATIENTS subscriptions when that divides
# (subscription i follows patient i mod SUB_PATIENTS), so every released result written to
# them must reach that many: the expected count is exact, and lost = expected − received.
read -r -a RATES <<<"${BENCH_EVENT_RATES:-$EVENT_RATE}"
PER_PATIENT="$(( SUBS / SUB_PATIENTS ))"
EXACT=1
(( SUBS % SUB_PATIENTS == 0 && FAILED == 0 )) || EXACT=0
hub_events() { for p in "${PORTS[@]}"; do curl -fs "http://127.0.0.1:$p/metrics" | awk '/^portal_hub_events_total/ { print $2 }'; done | awk '{ s += $1 } END { printf "%d", s }'; }
released() { psql_q "$DB_URL" -Atc "SELECT count(*) FROM outbox_events WHERE event_type = 'result.released'"; }
http_list="$(IFS=,; echo "${HTTP[*]}")"
PHASE_ROWS=() PREV_D=0 PREV_U=0 PREV_E=0 PREV_C=0 PHASE=0 TOTAL_LOST=0 TOTAL_ERRS=0 TOTAL_DUPS=0
for rate in "${RATES[@]}"; do
    PHASE=$((PHASE + 1))
    R0="$(released)"
    C0="$(cpu_ticks "${PIDS[@]}")"; P0="$(pg_ticks)"; K0="$(cpu_ticks "${CLIENTS[@]}")"
    log "phase $PHASE: writing $rate results/s for ${EVENT_SECONDS}s to the subscribed patients"
    W_OUT="$("$BB" ingest --url "$http_list" --token-file "$LAB_TOKEN_FILE" --patients "$TOKENS" \
        --patient-limit "$SUB_PATIENTS" --facility "$FACILITY_GID" --analytes "$ANALYTES" \
        --count "$((rate * EVENT_SECONDS))" --rate "$rate" --seconds "$EVENT_SECONDS" \
        --concurrency "${BENCH_WRITE_CONCURRENCY:-64}" | grep '^results_ok')"
    log "writer: $W_OUT"
    W_SECS="$(kv "$W_OUT" seconds)"
    C1="$(cpu_ticks "${PIDS[@]}")"; P1="$(pg_ticks)"; K1="$(cpu_ticks "${CLIENTS[@]}")"
    for _ in $(seq 1 240); do
        [[ "$(psql_q "$DB_URL" -Atc 'SELECT count(*) FROM outbox_events WHERE published_at IS NULL')" == 0 ]] && break
        sleep 0.5
    done
    # The hubs may still be working through what the relay published: wait until their
    # event counters (portal_hub_events_total) stand still, then for deliveries in flight.
    last=-1 still=0
    for _ in $(seq 1 "${BENCH_DRAIN_TIMEOUT:-600}"); do
        now="$(hub_events)"
        if (( now == last )); then still=$((still + 1)); else still=0; fi
        (( still >= 5 )) && break
        last="$now"
        sleep 1
    done
    sleep "${BENCH_SETTLE_SECONDS:-5}"
    R1="$(released)"
    for p in "${CLIENTS[@]}"; do kill -USR1 "$p"; done
    D=0 U=0 E=0 CL=0
    for o in "${OUTS[@]}"; do
        until grep -q "^PHASE $PHASE " "$o" 2>/dev/null; do sleep 0.2; done
        line="$(grep "^PHASE $PHASE " "$o")"
        D=$((D + $(kv "$line" deliveries))); U=$((U + $(kv "$line" duplicates)))
        E=$((E + $(kv "$line" errors))); CL=$((CL + $(kv "$line" closed)))
    done
    d=$((D - PREV_D)) u=$((U - PREV_U)) e=$((E - PREV_E)) cl=$((CL - PREV_C))
    PREV_D=$D PREV_U=$U PREV_E=$E PREV_C=$CL
    expected=$(( (R1 - R0) * PER_PATIENT ))
    lost=$(( expected > d ? expected - d : 0 ))
    TOTAL_LOST=$((TOTAL_LOST + lost)); TOTAL_ERRS=$((TOTAL_ERRS + e)); TOTAL_DUPS=$((TOTAL_DUPS + u))
    LAT="$(cat "$BENCH_WORK"/subs-*."$PHASE" 2>/dev/null | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a"; exit }
        p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
        printf "%.1f %.1f", p50 / 1000, p99 / 1000 }')"
    mark=""; (( EXACT == 1 )) || mark=" (≈)"
    PHASE_ROWS+=("| $rate | $(kv "$W_OUT" results_per_s) ($(kv "$W_OUT" results_failed) failed) | $((R1 - R0)) | $expected$mark | $d | $lost | $u | $e | $cl | $(cut -d' ' -f1 <<<"$LAT") / $(cut -d' ' -f2 <<<"$LAT") | replicas $(cpu_pct $((C1 - C0)) "$W_SECS")%, postgres $(cpu_pct $((P1 - P0)) "$W_SECS")%, clients $(cpu_pct $((K1 - K0)) "$W_SECS")% |")
    log "phase $PHASE: ${PHASE_ROWS[-1]}"
done
for p in "${CLIENTS[@]}"; do kill -INT "$p"; done
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null || true; done

echo
echo "## Scenario 3 — subscriptions ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
machine_line
echo "$REPLICAS portal replicas (PostgreSQL + Redis bus), $SUBS connections asked for (one resultReady each) over $SUB_PATIENTS patients, from ${#CLIENTS[@]} client processes bound to $SOURCES"
echo "extra portal env: '${BENCH_PORTAL_ENV:-}'"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| subscriptions connected / failed | $CONNECTED / $FAILED ${FIRST_ERR:+($FIRST_ERR)} |"
echo "| time to open and register them | $(awk -v a="$T_OPEN0" -v b="$T_OPEN1" 'BEGIN { printf "%.0f", b - a }') s |"
echo "| portal_subscriptions_open (sum over replicas) / errors sent at subscribe | $OPEN_GAUGE / $WS_ERRORS |"
echo "| replicas' RSS before / with idle subscriptions | $((RSS0 / 1024)) / $((RSS1 / 1024)) MiB |"
echo "| RSS per idle subscription | $PER_SUB KiB |"
echo "| machine load (uptime) at the end | $(uptime | sed 's/.*load average: //') |"
echo
echo "Per write rate (one phase each, same subscriptions; expected = released results written × $PER_PATIENT subscriptions per patient; lost = expected − received; CPU while the writer ran, % of one core):"
echo
echo "| results/s asked | reached | released results | deliveries expected | received | lost | duplicates | errors | closed | commit → client p50 / p99 ms | CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${PHASE_ROWS[@]}"
echo
echo "all phases: lost $TOTAL_LOST, duplicates $TOTAL_DUPS, errors $TOTAL_ERRS (subscribe errors $WS_ERRORS)"
