# syntax=docker/dockerfile:1.7
# mcp-v8-operator image. Build from the repository root (`make images`):
#   docker build -f images/mcp-v8-operator.Dockerfile -t ghcr.io/mcp-v8/mcp-v8-operator:0.1.0 .
# The binary uses rustls (no OpenSSL), so the runtime needs only glibc, libgcc and CA
# certificates: distroless cc, which has no shell and runs as nonroot (65532).

ARG RUST_IMAGE=docker.io/library/rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# .cargo/config.toml links with mold.
# Build-stage tools follow the pinned base image's Debian release; they never reach the
# runtime image, so their exact package versions are not pinned.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends mold \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target between builds; the binary is copied out of
# the cached target dir in the same step because the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mcp-v8-operator --bin mcp-v8-operator \
 && install -D -m 0755 target/release/mcp-v8-operator /out/mcp-v8-operator

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mcp-v8-operator" \
      org.opencontainers.image.description="Kubernetes operator for mcp-v8 executor clusters (McpV8Cluster, WasmModule)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/mcp-v8/mcp-v8-kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/mcp-v8-operator /usr/local/bin/mcp-v8-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mcp-v8-operator"]
