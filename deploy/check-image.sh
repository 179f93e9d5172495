#!/usr/bin/env bash
# The container check, for machines without a registry (run by hand before a release; it
# takes a few minutes, so it is not part of .ci/run). It builds the Dockerfile's runtime
# stage with Debian's podman over a Debian base made by mmdebstrap — the same directives
# (ENV, USER, EXPOSE, ENTRYPOINT, CMD), with a portal binary built on the host instead of the
# build stage — then, against a throwaway PostgreSQL, runs `portal migrate`, `portal serve`
# and `portal worker` with a read-only root file system as user 10001, and waits for /ready.
#
#   deploy/check-image.sh [PORTAL_BINARY]     # default: target/debug/portal
#
# Needs (Debian): podman, runc, mmdebstrap, postgresql, openssl, curl; root.
# runc, not crun: crun fails on hybrid cgroups and on raising rlimits on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-${CARGO_TARGET_DIR:-target}/debug/portal}
[ -x "$binary" ] || { echo "no portal binary at $binary (cargo build --bin portal)" >&2; exit 2; }
for tool in podman runc mmdebstrap openssl curl; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
pg_bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1 || command -v initdb)")
podman=(podman --runtime "$(command -v runc)")
run_flags=(--network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --read-only --user 10001)

work=$(mktemp -d)
chmod 755 "$work"
containers=()
cleanup() {
  for c in "${containers[@]}"; do "${podman[@]}" rm -f "$c" >/dev/null 2>&1 || true; done
  [ -f "$work/pg/postmaster.pid" ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== base image (mmdebstrap: libc, libgcc, CA certificates)"
if ! "${podman[@]}" image exists localhost/portal-base:check; then
  mmdebstrap --quiet --variant=essential --include=ca-certificates --format=tar bookworm "$work/base.tar"
  "${podman[@]}" import --quiet "$work/base.tar" localhost/portal-base:check >/dev/null
fi

echo "== runtime stage (the Dockerfile's directives after its runtime FROM)"
mkdir "$work/context"
cp "$binary" "$work/context/portal"
{
  echo "FROM localhost/portal-base:check"
  echo "COPY portal /usr/local/bin/portal"
  # The runtime stage: from its FROM to the end, without the FROM and the build stage's COPY.
  sed -n '/^FROM .* AS runtime$/,$p' Dockerfile | grep -v -e '^FROM ' -e '^COPY --from=build'
} > "$work/context/Containerfile"
"${podman[@]}" build --quiet -t localhost/portal:check -f "$work/context/Containerfile" "$work/context" >/dev/null
user=$("${podman[@]}" image inspect localhost/portal:check --format '{{.Config.User}}')
entry=$("${podman[@]}" image inspect localhost/portal:check --format '{{json .Config.Entrypoint}}')
echo "image user: $user, entrypoint: $entry"
[ "$user" = "10001:10001" ] || { echo "the image's user is not 10001:10001" >&2; exit 1; }

echo "== throwaway PostgreSQL"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg" -U portal --auth=trust >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -w -l "$work/pg/log" \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg" start >/dev/null
database_url="postgres://portal@127.0.0.1:$pg_port/postgres"

openssl genrsa -out "$work/jwt.key" 2048 2>/dev/null
openssl rsa -in "$work/jwt.key" -pubout -out "$work/jwt.pem" 2>/dev/null
chmod 644 "$work/jwt.pem"
env_flags=(-e "DATABASE_URL=$database_url" -e JWT_PUBLIC_KEY_FILE=/etc/portal/jwt.pem
  -e JWT_ISSUER=check -e JWT_AUDIENCE=portal -e PORTAL_PUBLIC_URL=https://portal.example.org
  -e PORTAL_MLLP_BIND=off
  # The throwaway cluster's only role is a superuser; a deployment uses portal_app.
  -e PORTAL_ALLOW_RLS_BYPASS=true
  -v "$work/jwt.pem:/etc/portal/jwt.pem:ro")

echo "== portal migrate (read-only, user 10001)"
"${podman[@]}" run --rm "${run_flags[@]}" "${env_flags[@]}" localhost/portal:check migrate

wait_ready() {
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$1/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "no /ready on port $1" >&2
  "${podman[@]}" logs "$2" >&2 || true
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== portal serve (read-only, user 10001)"
api_port=$(free_port)
api=$("${podman[@]}" run -d "${run_flags[@]}" "${env_flags[@]}" -e "PORTAL_BIND=127.0.0.1:$api_port" \
  -e PORTAL_BACKGROUND=false localhost/portal:check)
containers+=("$api")
wait_ready "$api_port" "$api"
curl -fsS "http://127.0.0.1:$api_port/ready"; echo

echo "== portal worker (read-only, user 10001)"
worker_port=$(free_port)
worker=$("${podman[@]}" run -d "${run_flags[@]}" "${env_flags[@]}" -e "PORTAL_WORKER_BIND=127.0.0.1:$worker_port" \
  localhost/portal:check worker)
containers+=("$worker")
wait_ready "$worker_port" "$worker"
curl -fsS "http://127.0.0.1:$worker_port/ready"; echo

echo "== SIGTERM: graceful exit"
"${podman[@]}" stop --time 60 "$api" >/dev/null
code=$("${podman[@]}" inspect "$api" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { echo "portal serve exited $code after SIGTERM" >&2; exit 1; }
echo "container check passed"
