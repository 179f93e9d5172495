# The portal's container image: `portal serve` (default), `portal worker`, `portal migrate`.
#
# Build: docker build -t portal:<version> .   (or: podman build -t portal:<version> .)
# Run:   docker run --read-only --user 10001:10001 -e PORTAL_ENV=production ... portal:<version> serve
#
# Stage 1 compiles the locked workspace; stage 2 holds the binary and what it links against
# (glibc, libgcc_s) plus the CA certificates for rustls (SMTP, JWKS, Redis and public-health
# TLS) and nothing else: no shell, no package manager. deploy/check-image.sh builds the same
# runtime stage over a Debian base made by mmdebstrap and runs it read-only as 10001.

# The toolchain at least as new as the workspace's rust-version (Cargo.toml).
FROM docker.io/library/rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin portal \
 && install -D -m 0755 target/release/portal /out/portal

# distroless/cc: glibc, libgcc_s, CA certificates, /etc/passwd with nonroot; nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/portal /usr/local/bin/portal
# Production defaults; the Deployment and compose.yaml set the rest.
ENV PORTAL_ENV=production \
    PORTAL_BIND=0.0.0.0:8080 \
    PORTAL_WORKER_BIND=0.0.0.0:8081 \
    PORTAL_LOG_FORMAT=json \
    PORTAL_DATA_DIR=/tmp/portal
# A numeric, non-root user (Kubernetes' runAsNonRoot can only check a number).
USER 10001:10001
EXPOSE 8080 8081 2575
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: the image has no HTTP client by design; the orchestrator probes GET /health and GET /ready (deploy/kubernetes, deploy/compose.yaml)
ENTRYPOINT ["/usr/local/bin/portal"]
CMD ["serve"]
