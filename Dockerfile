# syntax=docker/dockerfile:1
# The Sluice image: `sluice` (CLI, `sluice operator`, `sluice job run`) and `kubectl-sluice`.
# The operator's backfill Jobs run this same image with args `job run --plan ID --model M`.
#
#   docker build -t ghcr.io/sluice-dev/sluice:dev .          (`make image`)
#
# DuckDB is linked from DuckDB's official prebuilt libduckdb.so, fetched and verified (checksum
# and version) by scripts/libduckdb exactly as the Makefile does, into /opt/duckdb/lib; the
# binaries' rpath points there (operator/warehouse/build.rs) and the runtime stage puts the library at the
# same place. Where no prebuilt library exists (non-x86_64 builds), DuckDB is compiled from
# source instead (`duckdb-bundled`, about 30 minutes on 2 cores).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl openssl g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Fetched in its own layer: the library changes only when the DuckDB version does.
COPY scripts/libduckdb scripts/libduckdb
RUN mkdir -p /opt/duckdb/lib \
    && if SLUICE_LIBDUCKDB_DIR=/opt/duckdb/lib scripts/libduckdb >/tmp/duckdb-dir; then \
         echo "linking the prebuilt DuckDB in $(cat /tmp/duckdb-dir)"; \
       else \
         echo "no prebuilt DuckDB for this platform: it will be compiled from source"; \
       fi
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    if [ -f /opt/duckdb/lib/libduckdb.so ]; then \
        export DUCKDB_LIB_DIR=/opt/duckdb/lib; features=""; \
    else \
        features="--features sluice/duckdb-bundled"; \
    fi; \
    cargo build --release --locked -p sluice -p sluice-plugin --bins $features; \
    mkdir -p /out; \
    cp target/release/sluice target/release/kubectl-sluice /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# git: Plans with a git source are fetched with it; CA certificates for HTTPS remotes and TLS to
# PostgreSQL; ssh for ssh:// remotes.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 sluice \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin sluice
COPY --from=build /opt/duckdb/lib /opt/duckdb/lib
COPY --from=build /out/sluice /out/kubectl-sluice /usr/local/bin/
# Fails the build if a binary cannot find a library it needs (libduckdb.so through the rpath).
RUN ! ldd /usr/local/bin/sluice | grep -q 'not found' && /usr/local/bin/sluice --version
USER 65532:65532
ENV HOME=/tmp
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["operator"]
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Reviewed, tested, approved releases of SQL models: the Sluice operator, CLI and kubectl plugin" \
      org.opencontainers.image.source="https://github.com/sluice-dev/sluice" \
      org.opencontainers.image.licenses="Apache-2.0"
