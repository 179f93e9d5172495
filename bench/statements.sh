#!/usr/bin/env bash
# bench/statements.sh — profiling aid for scenario 1: which SQL statements one patient
# read runs, from pg_stat_statements over BENCH_REQUESTS (200) sequential requests on the
# generated dataset. Prints calls per request, mean time and the statement.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REQUESTS="${BENCH_REQUESTS:-200}"
ensure_wrk
ensure_portal
setup_dataset
PORT="$(free_port)"
read -r -a EXTRA_ENV <<<"${BENCH_PORTAL_ENV:-}"
start_portal portal "$PORT" DATABASE_URL="$APP_DB_URL" DATABASE_MIGRATION_URL="$DB_URL" NOTIFY_WORKER=false PORTAL_RELAY_INTERVAL_MS=3600000 "${EXTRA_ENV[@]}"
wait_ready "$PORT" "$PORTAL_PID"
URL="http://127.0.0.1:$PORT/graphql"
head -"$REQUESTS" "$TOKENS" >"$BENCH_WORK/some.tsv"
wrk -t1 -c1 -d3s -s "$BENCH_DIR/wrk/read.lua" "$URL" -- "$BENCH_WORK/some.tsv" portal >/dev/null
psql_q "$DB_URL" -c 'SELECT pg_stat_statements_reset()' >/dev/null
while IFS=$'\t' read -r token gid _; do
    curl -fs "$URL" -H 'content-type: application/json' -H "authorization: Bearer $token" \
        -d "$(printf '{"query":"query($p: ID!) { patient(id: $p) { results(first: 20) { edges { node { id status issuedAt test { code displayName } observations { code displayName valueNumeric unit interpretation } } } } } }","variables":{"p":"%s"}}' "$gid")" >/dev/null
done <"$BENCH_WORK/some.tsv"
echo
echo "## SQL statements of one patient read ($REQUESTS sequential requests, $(date -u +%Y-%m-%dT%H:%MZ))"
echo
machine_line
echo
echo '| calls / request | mean ms | statement |'
echo '|---|---|---|'
psql_q "$DB_URL" -At -F $'\t' -c "SELECT round(calls::numeric / $REQUESTS, 2), round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 160) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench' AND s.toplevel AND query NOT ILIKE '%pg_stat_%' ORDER BY calls DESC, query" \
    | awk -F'\t' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }'
