# bench/lib/common.sh — shared helpers of the benchmark scripts (sourced, not run).
#
# Starts throwaway servers on free loopback ports under one work directory
# ($BENCH_WORK, default a new /tmp/portal-bench.XXXX), and stops every one of them on
# exit, Ctrl-C or failure (one trap). Every function prints to stderr; results go to stdout.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
PORTAL_BIN="${PORTAL_BIN:-$REPO_DIR/target/release/portal}"
BENCH_WORK="${BENCH_WORK:-$(mktemp -d /tmp/portal-bench.XXXXXX)}"
BENCH_KEEP="${BENCH_KEEP:-0}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
# The dev signing key the portal and mint_tokens.py share (base64 of 32 fixed bytes).
BENCH_DEV_SECRET="${BENCH_DEV_SECRET:-YmVuY2gtZGV2LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm}"

BENCH_PIDS=()
PG_DATA=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${BENCH_PIDS[$i]}" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$PG_DATA" && -f "$PG_DATA/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [[ "$BENCH_KEEP" != 1 ]]; then rm -rf "$BENCH_WORK"; else log "kept $BENCH_WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"; }

# wrk is the HTTP load generator; install it from Debian when it is missing.
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return
    log "installing wrk (apt-get)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; } \
        || die "cannot install wrk"
}

ensure_portal() {
    if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
        log "building the release binaries (cargo build --release -p portal-api -p portal-bench)"
        (cd "$REPO_DIR" && cargo build --release --locked -p portal-api -p portal-bench >&2)
    fi
    [[ -x "$PORTAL_BIN" ]] || die "no release binary at $PORTAL_BIN"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres OS user when we are root (initdb/postgres refuse root).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_pg: a throwaway cluster in $BENCH_WORK/pg; sets PG_PORT, PG_URL (admin), PG_PID.
start_pg() {
    [[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL server binaries not found (PG_BIN=$PG_BIN; Debian: postgresql)"
    PG_PORT="$(free_port)"
    PG_DATA="$BENCH_WORK/pg/data"
    mkdir -p "$BENCH_WORK/pg"
    [[ "$(id -u)" == 0 ]] && chown -R postgres: "$BENCH_WORK/pg" && chmod 755 "$BENCH_WORK"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
    cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$BENCH_WORK/pg'
max_connections = 300
shared_buffers = '${PG_SHARED_BUFFERS:-1GB}'
fsync = ${PG_FSYNC:-on}
synchronous_commit = ${PG_SYNCHRONOUS_COMMIT:-on}
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
max_wal_size = '4GB'
EOF
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$BENCH_WORK/pg/postgres.log" -w start >/dev/null
    PG_PID="$(head -1 "$PG_DATA/postmaster.pid")"
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
    log "PostgreSQL on 127.0.0.1:$PG_PORT (pid $PG_PID)"
}

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

start_redis() {
    need redis-server "Debian package redis-server"
    REDIS_PORT="$(free_port)"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --maxclients 10000 --logfile "$BENCH_WORK/redis.log" &
    BENCH_PIDS+=($!)
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    log "redis on 127.0.0.1:$REDIS_PORT"
}

# write_dev_secret DIR: the fixed dev key, so tokens minted beforehand verify.
write_dev_secret() {
    mkdir -p "$1"
    printf '%s' "$BENCH_DEV_SECRET" >"$1/dev-jwt-secret"
    chmod 600 "$1/dev-jwt-secret"
}

# start_portal NAME PORT [VAR=value ...]: `portal serve` with the given environment;
# sets PORTAL_PID. Logs to $BENCH_WORK/NAME.log.
start_portal() {
    local name="$1" port="$2"
    shift 2
    local data="$BENCH_WORK/$name-data"
    write_dev_secret "$data"
    env PORTAL_BIND="127.0.0.1:$port" PORTAL_MLLP_BIND=off PORTAL_DATA_DIR="$data" RUST_LOG="${BENCH_RUST_LOG:-warn}" \
        "$@" "$PORTAL_BIN" serve >"$BENCH_WORK/$name.log" 2>&1 &
    PORTAL_PID=$!
    BENCH_PIDS+=("$PORTAL_PID")
}

# wait_ready PORT PID: until GET /ready answers 200 (dies if the process exits).
wait_ready() {
    local port="$1" pid="$2"
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before /ready (see $BENCH_WORK/*.log)"
        sleep 0.05
    done
    die "no /ready on port $port after 30 s"
}

# cpu_ticks PID...: summed utime+stime (clock ticks) of the processes.
cpu_ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        fields="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null)" || continue
        total=$((total + $(awk '{print $12 + $13}' <<<"$fields")))
    done
    echo "$total"
}
# cpu_ticks_tree PID: utime+stime of the process and its children that were waited for.
cpu_ticks_tree() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'
}
CLK_TCK="$(getconf CLK_TCK)"
# cpu_pct TICKS SECONDS: CPU use in % of one core.
cpu_pct() { awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", 100 * t / hz / s }'; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# pg_ticks: CPU of the whole PostgreSQL server: the postmaster with its reaped children
# (backends that ended) plus the live backends.
pg_ticks() {
    local live
    live="$(cpu_ticks $(pgrep -P "$PG_PID" || true))"
    echo $(($(cpu_ticks_tree "$PG_PID") + live))
}
# self_ticks: CPU of the children this script waited for (the load generators run in the
# foreground, so a delta around one run is that run's CPU).
self_ticks() { cpu_ticks_tree "$$"; }

# BENCH_PERF=DIR: each measured phase is profiled machine-wide (`perf record -a`, 499 Hz, no
# call graphs) and its flat report — self time by process, library and symbol — goes to
# DIR/NAME.txt. Off by default: the sampling costs a few percent of the figures it profiles.
PERF_PID=""
perf_begin() {
    [[ -n "${BENCH_PERF:-}" ]] || return 0
    command -v perf >/dev/null || die "BENCH_PERF is set but perf is not installed"
    mkdir -p "$BENCH_PERF"
    perf record -a -F 499 -o "$BENCH_WORK/perf.data" -q >/dev/null 2>&1 &
    PERF_PID=$!
    BENCH_PIDS+=("$PERF_PID")
}
perf_end() { # NAME
    [[ -n "$PERF_PID" ]] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
    local file
    file="$BENCH_PERF/$(tr -cs 'A-Za-z0-9' '-' <<<"$1" | sed 's/-*$//').txt"
    {
        echo "# by process and library"
        perf report -i "$BENCH_WORK/perf.data" --no-children --sort comm,dso --percent-limit 0.5 --stdio 2>/dev/null \
            | grep -v '^#' | grep -v '^$' || true
        echo "# by symbol"
        perf report -i "$BENCH_WORK/perf.data" --no-children --sort comm,dso,sym --percent-limit 0.3 --stdio 2>/dev/null \
            | grep -v '^#' | grep -v '^$' || true
    } >"$file"
    log "profile of '$1': $file"
}

machine_line() {
    local cpu
    cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    printf 'machine: nproc=%s, %s, RAM %s GiB; commit %s\n' "$(nproc)" "$cpu" \
        "$(awk '/^MemTotal:/ {printf "%.0f", $2/1048576}' /proc/meminfo)" \
        "$(git -C "$REPO_DIR" rev-parse --short HEAD)$(git -C "$REPO_DIR" diff --quiet HEAD -- . ':!bench' || echo '+dirty')"
}

# setup_dataset: a throwaway PostgreSQL with the portal's schema, the demo tenant and the
# generated dataset (bench/sql/seed.sql); sets DB_URL (the owner, a superuser), APP_DB_URL
# (the portals' role, under row-level security), TENANT_ID, FACILITY_GID, ANALYTES,
# TOKENS (patients' tokens file) and LAB_TOKEN_FILE.
setup_dataset() {
    start_pg
    psql_q "$PG_URL/postgres" -c 'CREATE DATABASE bench'
    DB_URL="$PG_URL/bench"
    psql_q "$DB_URL" -c 'CREATE EXTENSION pg_stat_statements'
    local data="$BENCH_WORK/setup-data" t0 t1
    write_dev_secret "$data"
    log "portal migrate + portal seed (demo tenant and catalog)"
    env DATABASE_URL="$DB_URL" PORTAL_DATA_DIR="$data" RUST_LOG=warn "$PORTAL_BIN" migrate >&2
    env DATABASE_URL="$DB_URL" PORTAL_DATA_DIR="$data" RUST_LOG=warn "$PORTAL_BIN" seed >&2
    log "generating ${BENCH_PATIENTS:=10000} patients x ${BENCH_RESULTS_PER_PATIENT:=20} results x 5 observations"
    t0=$(date +%s.%N)
    psql_q "$DB_URL" -v patients="$BENCH_PATIENTS" -v results_per_patient="$BENCH_RESULTS_PER_PATIENT" \
        -f "$BENCH_DIR/sql/seed.sql" >&2
    t1=$(date +%s.%N)
    SEED_SECONDS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')"
    log "dataset generated in ${SEED_SECONDS} s; VACUUM ANALYZE and CHECKPOINT"
    # Without this the first target measured pays for the bulk load: hint bits set on first
    # read, autovacuum and the seed's checkpoint all run during its measurement.
    psql_q "$DB_URL" -c 'VACUUM (ANALYZE)' -c 'CHECKPOINT'
    # The portals connect as an application role under row-level security, as in production
    # (docs/operations.md, "Database roles and row-level security"): NOSUPERUSER NOBYPASSRLS, DML only.
    psql_q "$DB_URL" >&2 <<'SQL'
CREATE ROLE portal_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
GRANT USAGE ON SCHEMA public TO portal_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO portal_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO portal_app;
SQL
    APP_DB_URL="postgres://portal_app@127.0.0.1:$PG_PORT/bench"
    TENANT_ID="$(psql_q "$DB_URL" -Atc 'SELECT id FROM tenants ORDER BY created_at LIMIT 1')"
    local facility
    facility="$(psql_q "$DB_URL" -Atc "SELECT id FROM facilities WHERE tenant_id = '$TENANT_ID' ORDER BY name LIMIT 1")"
    FACILITY_GID="$(printf 'Facility:%s' "$facility" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
    ANALYTES="$(psql_q "$DB_URL" -Atc "SELECT string_agg(a.code, ',' ORDER BY a.position) FROM catalog_analytes a JOIN test_catalog c ON c.id = a.test_id WHERE c.tenant_id = '$TENANT_ID' AND c.code = '58410-2'")"
    TOKENS="$BENCH_WORK/tokens.tsv"
    python3 "$BENCH_DIR/mint_tokens.py" patients "$BENCH_DEV_SECRET" "$TENANT_ID" "$BENCH_PATIENTS" >"$TOKENS"
    LAB_TOKEN_FILE="$BENCH_WORK/lab.jwt"
    python3 "$BENCH_DIR/mint_tokens.py" lab "$BENCH_DEV_SECRET" "$TENANT_ID" >"$LAB_TOKEN_FILE"
}

# pg_statements: statements run so far in the bench database, from pg_stat_statements
# (top-level statements, BEGIN/COMMIT included; the bench's own queries excluded).
pg_statements() {
    psql_q "$DB_URL" -Atc "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'bench' AND s.toplevel AND query NOT ILIKE '%pg_stat_%'"
}
pg_xacts() {
    psql_q "$DB_URL" -Atc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench'"
}

# kv LINE KEY: the value of KEY=value in a summary line.
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
