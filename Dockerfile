# syntax=docker/dockerfile:1
#
# graph-gateway container image: a release build on Debian bookworm, copied into
# distroless (glibc + libgcc, no shell, no package manager), running as the
# non-root user 65532.
#
#   docker build -t graph-gateway:$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2) .
#
# protoc is vendored by the build (protoc-bin-vendored): no system protoc needed.
# TLS to the Graph API uses rustls with bundled roots: no CA package needed.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# BuildKit caches keep the registry and target/ between builds; the binary is
# copied out of the cached target/ because cache mounts are not in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin graph-gateway \
    && cp target/release/graph-gateway /graph-gateway

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="graph-gateway" \
      org.opencontainers.image.description="A gRPC gateway in front of Meta's Graph API for business asset management" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /graph-gateway /graph-gateway
USER 65532:65532
# gRPC, and Prometheus metrics when [metrics] is configured.
EXPOSE 50051 9090
ENTRYPOINT ["/graph-gateway"]
CMD ["serve", "--config", "/etc/graph-gateway/config.toml"]
