# syntax=docker/dockerfile:1.7
# mcp-v8 executor image. Build from the repository root with the prebuilt V8 library as
# the named build context `v8` (`make images` passes ../shared/v8):
#   docker build -f images/mcp-v8.Dockerfile --build-context v8=../shared/v8 \
#     -t ghcr.io/mcp-v8/mcp-v8:0.1.0 .
# On a machine with internet, `--build-context v8=images/no-v8` (an empty directory) lets
# the v8 crate download the same library itself.
#
# V8 is linked statically with its own libc++, so the runtime needs only glibc, libgcc and
# CA certificates (S3 over TLS, fetch): distroless cc, no shell, user 65532.

ARG RUST_IMAGE=docker.io/library/rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# mold: .cargo/config.toml links with it; protoc: etcd-client's build script (cluster crate).
# Build-stage tools follow the pinned base image's Debian release; they never reach the
# runtime image, so their exact package versions are not pinned.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends mold protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
# Seed cargo's download cache exactly like the root Makefile's v8-cache target: the v8
# build script looks for a file named after its download URL under $CARGO_HOME/.rusty_v8.
ARG V8_LIB=librusty_v8_simdutf_release_x86_64-unknown-linux-gnu.a.gz
ARG V8_CACHED=https___github_com_denoland_rusty_v8_releases_download_v150_4_0_librusty_v8_simdutf_release_x86_64_unknown_linux_gnu_a_gz
# `v8` is a named build context (--build-context), not a stage.
# hadolint ignore=DL3022
COPY --from=v8 . /v8/
WORKDIR /v8
RUN if [ -f "${V8_LIB}" ]; then \
      sha256sum --quiet -c SHA256SUMS \
      && mkdir -p "${CARGO_HOME}/.rusty_v8" \
      && cp "${V8_LIB}" "${CARGO_HOME}/.rusty_v8/${V8_CACHED}"; \
    else echo "no V8 library in the v8 context: the v8 crate will download it"; fi
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mcp-v8 --bin mcp-v8 \
 && install -D -m 0755 target/release/mcp-v8 /out/mcp-v8 \
 && install -d -o 65532 -g 65532 /out/var/lib/mcp-v8 /out/var/cache/mcp-v8

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcp-v8" \
      org.opencontainers.image.description="V8 JavaScript/TypeScript sandboxes for AI agents over MCP, with persistent heap snapshots" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/mcp-v8/mcp-v8-kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/mcp-v8 /usr/local/bin/mcp-v8
# Data and cache directories owned by the runtime user (volumes mount over them in pods).
COPY --from=build --chown=65532:65532 /out/var/ /var/
USER 65532:65532
# 8080: MCP (/mcp, /sse), /api/exec, /healthz, /readyz, /metrics; 7000: raft peers.
EXPOSE 8080 7000
ENTRYPOINT ["/usr/local/bin/mcp-v8"]
