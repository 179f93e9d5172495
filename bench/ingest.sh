#!/usr/bin/env bash
# bench/ingest.sh — scenario 2: addTestResult and addTestResults (batches of 100) as a lab on
# PostgreSQL, with outbox and notification rows; then the morning burst: BENCH_BURST results
# as fast as accepted, timed until every email reached the SMTP sink and every subscriber
# event arrived, checked for loss and duplicates. See bench/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SINGLE_COUNT="${BENCH_SINGLE_COUNT:-5000}"
BATCH_COUNT="${BENCH_BATCH_COUNT:-20000}"
BURST="${BENCH_BURST:-100000}"
BURST_SUBS="${BENCH_BURST_SUBS:-1000}"
DRAIN_TIMEOUT="${BENCH_DRAIN_TIMEOUT:-1800}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"

ensure_portal
# The load generator is built with the portal: next to PORTAL_BIN unless PORTAL_BENCH_BIN says.
BB="${PORTAL_BENCH_BIN:-$(dirname "$PORTAL_BIN")/portal-bench}"
[[ -x "$BB" ]] || die "no $BB"
setup_dataset

# The SMTP sink counts messages per recipient.
SMTP_PORT="$(free_port)"
SINK="$BENCH_WORK/smtp-sink"
"$BB" smtp-sink --bind "127.0.0.1:$SMTP_PORT" --out "$SINK" &
BENCH_PIDS+=($!)

PORT="$(free_port)"
read -r -a EXTRA_ENV <<<"${BENCH_PORTAL_ENV:-}"
start_portal portal "$PORT" DATABASE_URL="$APP_DB_URL" DATABASE_MIGRATION_URL="$DB_URL" SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" \
    DATABASE_MAX_CONNECTIONS="${BENCH_DB_POOL:-16}" "${EXTRA_ENV[@]}"
wait_ready "$PORT" "$PORTAL_PID"
URL="http://127.0.0.1:$PORT/graphql"

ROWS=()
ingest() { # NAME COUNT BATCH CONCURRENCY
    local c0 p0 l0 s0 x0 out c1 p1 l1 s1 x1 secs ok
    c0="$(cpu_ticks "$PORTAL_PID")"; p0="$(pg_ticks)"; l0="$(self_ticks)"; s0="$(pg_statements)"; x0="$(pg_xacts)"
    perf_begin
    out="$("$BB" ingest --url "$URL" --token-file "$LAB_TOKEN_FILE" --patients "$TOKENS" \
        --facility "$FACILITY_GID" --analytes "$ANALYTES" --count "$2" --batch "$3" --concurrency "$4" | grep '^results_ok')"
    c1="$(cpu_ticks "$PORTAL_PID")"; p1="$(pg_ticks)"; l1="$(self_ticks)"; s1="$(pg_statements)"; x1="$(pg_xacts)"
    perf_end "ingest $1"
    log "$1: $out"
    secs="$(kv "$out" seconds)"
    ok="$(kv "$out" results_ok)"
    # Per stored result, everything the database ran meanwhile (the relay, notification and
    # audit workers included).
    per() { awk -v n="$1" -v d="$ok" 'BEGIN { if (d > 0) printf "%.1f", n / d; else print "-" }'; }
    ROWS+=("| $1 | $ok | $(kv "$out" results_failed) | $(kv "$out" results_per_s) | $(kv "$out" p50_ms) / $(kv "$out" p99_ms) | $(per $((s1 - s0))) / $(per $((x1 - x0))) | server $(cpu_pct $((c1 - c0)) "$secs")%, postgres $(cpu_pct $((p1 - p0)) "$secs")%, driver $(cpu_pct $((l1 - l0)) "$secs")% |")
    LAST_OUT="$out"
}

sent_count() { psql_q "$DB_URL" -Atc "SELECT count(*) FILTER (WHERE status = 'SENT'), count(*) FROM notifications"; }
# wait_sent: until every notification row is SENT (or the timeout); prints seconds waited.
wait_sent() {
    local t0 now counts
    t0="$(date +%s.%N)"
    while :; do
        counts="$(sent_count)"
        [[ "${counts%|*}" == "${counts#*|}" ]] && break
        now="$(date +%s.%N)"
        awk -v a="$t0" -v b="$now" -v m="$DRAIN_TIMEOUT" 'BEGIN { exit !(b - a > m) }' && { log "drain timeout: $counts"; break; }
        sleep 0.5
    done
}

ingest "addTestResult (1 per request, $CONCURRENCY in flight)" "$SINGLE_COUNT" 1 "$CONCURRENCY"
ingest "addTestResults (100 per request, 4 in flight)" "$BATCH_COUNT" 100 4
log "waiting until the notifications of the first two runs are sent"
wait_sent

# --- the morning burst ------------------------------------------------------------------
log "burst: $BURST_SUBS resultReady subscriptions (one per patient, first $BURST_SUBS bench patients)"
SUBS_OUT="$BENCH_WORK/subs.out"
"$BB" subs --url "ws://127.0.0.1:$PORT/graphql" --patients "$TOKENS" --patient-limit "$BURST_SUBS" \
    --subs "$BURST_SUBS" --out "$BENCH_WORK/subs.lat" >"$SUBS_OUT" &
SUBS_PID=$!
BENCH_PIDS+=("$SUBS_PID")
until grep -q '^READY' "$SUBS_OUT" 2>/dev/null; do kill -0 "$SUBS_PID" || die "subs exited"; sleep 0.2; done
log "$(grep '^READY' "$SUBS_OUT")"
sleep 2
BURST_START_DB="$(psql_q "$DB_URL" -Atc 'SELECT now()')"
T0="$(date +%s.%N)"
ingest "morning burst: addTestResults (100 per request, 4 in flight)" "$BURST" 100 4
T_ACCEPTED="$(date +%s.%N)"
wait_sent
T_SENT="$(date +%s.%N)"
SUB_PATIENTS="SELECT md5('bench-patient-' || i)::uuid FROM generate_series(1, $BURST_SUBS) i"
EXPECTED_EVENTS="$(psql_q "$DB_URL" -Atc "SELECT count(*) FROM test_results WHERE created_at >= '$BURST_START_DB' AND patient_id IN ($SUB_PATIENTS)")"
# Every subscriber event: poll the subscriber process' count via its final report.
deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
while (( $(date +%s) < deadline )); do
    pending="$(psql_q "$DB_URL" -Atc 'SELECT count(*) FROM outbox_events WHERE published_at IS NULL')"
    [[ "$pending" == 0 ]] && break
    sleep 0.5
done
T_PUBLISHED="$(date +%s.%N)"
sleep 2 # the relay marks an event published after delivering it to local subscribers
kill -INT "$SUBS_PID"; wait "$SUBS_PID" 2>/dev/null || true
DONE_LINE="$(grep '^DONE' "$SUBS_OUT" || echo 'DONE missing')"
log "subscribers: $DONE_LINE (expected $EXPECTED_EVENTS)"

# --- loss and duplicate check at the SMTP sink ------------------------------------------
sleep 1
psql_q "$DB_URL" -Atc "SELECT count(*) || ' ' || p.email FROM notifications n JOIN patients p ON p.id = n.patient_id WHERE n.channel = 'EMAIL' AND n.status = 'SENT' GROUP BY p.email ORDER BY p.email" | sort >"$BENCH_WORK/db.rcpt"
sort -k2 "$SINK.rcpt" | sort >"$BENCH_WORK/sink.rcpt"
DB_EMAILS="$(psql_q "$DB_URL" -Atc "SELECT count(*) FROM notifications WHERE channel = 'EMAIL'")"
DB_SENT="$(psql_q "$DB_URL" -Atc "SELECT count(*) FROM notifications WHERE channel = 'EMAIL' AND status = 'SENT'")"
SINK_TOTAL="$(cat "$SINK")"
RCPT_DIFF="$(diff "$BENCH_WORK/db.rcpt" "$BENCH_WORK/sink.rcpt" | grep -c '^[<>]' || true)"
STORED="$(psql_q "$DB_URL" -Atc "SELECT count(*) FROM test_results WHERE created_at >= '$BURST_START_DB'")"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo
echo "## Scenario 2 — ingestion ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
machine_line
echo "one portal replica on PostgreSQL, SMTP_URL → portal-bench smtp-sink; extra portal env: '${BENCH_PORTAL_ENV:-}'"
echo "each result: CBC panel, 5 observations, a new order, an outbox event, 1 email notification (every bench patient chose EMAIL)"
echo
echo "| run | results stored | failed | results/s | request p50 / p99 ms | statements / transactions per result (all work) | CPU (% of one core) |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Morning burst: $BURST results ($STORED stored), $BURST_SUBS subscribers (one per patient)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| accepted (all mutations answered) | $(secs "$T0" "$T_ACCEPTED") s |"
echo "| every notification SENT | $(secs "$T0" "$T_SENT") s |"
echo "| every outbox event published | $(secs "$T0" "$T_PUBLISHED") s |"
echo "| emails: notification rows / SENT / received by the sink | $DB_EMAILS / $DB_SENT / $SINK_TOTAL |"
echo "| recipients whose sink count differs from the database | $RCPT_DIFF lines of diff |"
echo "| subscriber events expected / delivered / duplicates / errors | $EXPECTED_EVENTS / $(kv "$DONE_LINE" deliveries) / $(kv "$DONE_LINE" duplicates) / $(kv "$DONE_LINE" errors) |"
echo "| commit → subscriber p50 / p99 during the burst | $(kv "$DONE_LINE" p50_ms) / $(kv "$DONE_LINE" p99_ms) ms |"
if [[ "$DB_EMAILS" == "$DB_SENT" && "$DB_SENT" == "$SINK_TOTAL" && "$RCPT_DIFF" == 0 \
      && "$(kv "$DONE_LINE" deliveries)" == "$EXPECTED_EVENTS" && "$(kv "$DONE_LINE" duplicates)" == 0 ]]; then
    echo "| verdict | none lost, none duplicated |"
else
    echo "| verdict | MISMATCH: see the counts above |"
fi
