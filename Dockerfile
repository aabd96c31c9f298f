# syntax=docker/dockerfile:1
# driftgate's image: a release build on Debian bookworm, run on distroless (glibc, CA roots,
# no shell, no package manager) as the distroless `nonroot` user 65532.
#
#   docker build -t driftgate:0.1.0 .
#
# Git is read with gix (no `git` binary); kustomize directories are rendered by the `kustomize`
# binary copied in below (the shipped config sets `kustomizeCommand: [kustomize, build]`).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
# aws-lc-sys (rustls' default crypto) builds with cmake; SQLite is compiled in by sqlx.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# sqlx's query macros read the checked-in metadata instead of a live database.
ENV SQLX_OFFLINE=true
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin driftgate \
 && install -D -m 0755 target/release/driftgate /out/driftgate

FROM debian:bookworm-slim AS kustomize
ARG KUSTOMIZE_VERSION=v5.5.0
# Set by BuildKit to the platform being built (amd64, arm64); amd64 for the legacy builder.
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/kustomize
RUN base="https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2F${KUSTOMIZE_VERSION}" \
 && file="kustomize_${KUSTOMIZE_VERSION}_linux_${TARGETARCH:-amd64}.tar.gz" \
 && curl -fsSLO "${base}/${file}" \
 && curl -fsSLO "${base}/checksums.txt" \
 && grep " ${file}\$" checksums.txt | sha256sum -c - \
 && tar -xzf "${file}" kustomize \
 && install -D -m 0755 kustomize /out/kustomize

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/driftgate /usr/local/bin/driftgate
COPY --from=kustomize /out/kustomize /usr/local/bin/kustomize
# The root filesystem is mounted read-only in the cluster; kustomize and the Git cache write to
# the emptyDirs at /tmp and /var/cache/driftgate.
ENV HOME=/tmp
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/driftgate", "serve", "--config", "/etc/driftgate/driftgate.yaml"]
