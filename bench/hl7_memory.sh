#!/usr/bin/env bash
# bench/hl7_memory.sh — the MLLP door's memory: for each pathological shape (issue 26) a
# fresh `portal serve` (embedded default, SQLite) takes three ordinary ORU^R01, then one
# message of that shape just under the 1 MiB frame limit; reported is the growth of its
# peak RSS (VmHWM) over the ordinary ORU, and the ACK code.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_portal
FIXTURE="$REPO_DIR/hl7/tests/fixtures/oru_r01_v251_cbc.hl7"
SHAPES="${BENCH_SHAPES:-ordinary fields components repetitions subcomponents escapes mixed short-segments huge-field unsupported unparseable}"

# send.py PORT SHAPE: frames the message, prints MSA-1.
cat >"$BENCH_WORK/send.py" <<'PY'
import socket, sys
port, shape, fixture = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = open(fixture, "rb").read()
n = 1_000_000
tails = {
    "ordinary": b"", "fields": b"NTE|1||" + b"|" * n, "components": b"NTE|1||" + b"^" * n,
    "repetitions": b"NTE|1||" + b"~" * n, "subcomponents": b"NTE|1||" + b"&" * n,
    "escapes": b"NTE|1||" + b"\\F\\" * (n // 3), "mixed": b"NTE|1||" + b"|^~&" * (n // 4),
    "short-segments": b"NTE|1\r" * (n // 6), "huge-field": b"NTE|1||" + b"A" * n,
    "unsupported": b"NTE|1||" + b"|" * n, "unparseable": b"not a segment|" + b"|" * n,
}
message = base + tails[shape]
if shape == "unsupported":
    message = message.replace(b"ORU^R01^ORU_R01", b"ZZZ^Z99", 1)
control = sys.argv[4].encode()
message = message.replace(b"LAB20260301-0001", control, 1)
message = message.replace(b"LAB-77120", b"ACC-" + control).replace(b"ORD-448812", b"ORD-" + control)
message = message[: 1024 * 1024]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"\x0b" + message + b"\x1c\x0d")
ack = b""
while not ack.endswith(b"\x1c\x0d"):
    chunk = s.recv(4096)
    if not chunk:
        break
    ack += chunk
msa = [seg for seg in ack.strip(b"\x0b\x1c\r").split(b"\r") if seg.startswith(b"MSA|")]
print(msa[0].split(b"|")[1].decode() if msa else "closed")
PY

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

printf '%-16s %-5s %12s %12s\n' shape ack "baseline KiB" "growth KiB"
for shape in $SHAPES; do
    port="$(free_port)"; mllp="$(free_port)"; data="$BENCH_WORK/data-$shape"
    PORTAL_BIND="127.0.0.1:$port" PORTAL_MLLP_BIND="127.0.0.1:$mllp" PORTAL_DATA_DIR="$data" RUST_LOG=warn \
        "$PORTAL_BIN" serve >>"$BENCH_WORK/portal.log" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    until curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "portal exited (see $BENCH_WORK/portal.log)"
        sleep 0.05
    done
    for i in 1 2 3; do python3 "$BENCH_WORK/send.py" "$mllp" ordinary "$FIXTURE" "WARM-$i" >/dev/null; done
    base="$(hwm_kib "$pid")"
    ack="$(python3 "$BENCH_WORK/send.py" "$mllp" "$shape" "$FIXTURE" "SHAPE-1")"
    peak="$(hwm_kib "$pid")"
    printf '%-16s %-5s %12s %12s\n' "$shape" "$ack" "$base" "$((peak - base))"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done
