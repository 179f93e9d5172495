#!/usr/bin/env python3
"""bench/mint_tokens.py — HS256 development tokens, as `portal token` mints them.

Signs with the dev key the bench scripts write to PORTAL_DATA_DIR/dev-jwt-secret (base64),
with the claims the portal verifies (sub, tid, roles, pid, iat, exp, iss, aud), so the load
generator can use thousands of patients without running `portal token` per patient.

  mint_tokens.py patients SECRET_B64 TENANT_ID COUNT > tokens.tsv   # "<jwt>\t<Patient global ID>\t<uuid>"
  mint_tokens.py lab SECRET_B64 TENANT_ID > lab.jwt
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid

ISSUER = "portal-dev"
AUDIENCE = "portal"
TTL = 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret: bytes, claims: dict) -> str:
    header = b64url(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode()
    sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


def claims(sub, tenant, roles, pid=None):
    now = int(time.time())
    c = {"sub": sub, "tid": tenant, "roles": roles, "exp": now + TTL, "iat": now,
         "iss": ISSUER, "aud": AUDIENCE}
    if pid:
        c["pid"] = pid
    return c


def bench_patient_id(i: int) -> str:
    # Same as md5('bench-patient-' || i)::uuid in bench/sql/seed.sql.
    return str(uuid.UUID(hashlib.md5(f"bench-patient-{i}".encode()).hexdigest()))


def main():
    kind, secret_b64, tenant = sys.argv[1], sys.argv[2], sys.argv[3]
    secret = base64.b64decode(secret_b64)
    if kind == "patients":
        out = []
        for i in range(1, int(sys.argv[4]) + 1):
            pid = bench_patient_id(i)
            token = mint(secret, claims(f"bench-patient-{i}", tenant, ["patient"], pid))
            gid = b64url(f"Patient:{pid}".encode())
            out.append(f"{token}\t{gid}\t{pid}")
        print("\n".join(out))
    elif kind == "lab":
        print(mint(secret, claims("lis.riverside", tenant, ["lab"])))
    else:
        sys.exit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
