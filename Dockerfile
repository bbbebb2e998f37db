# Build stage
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin cairn

# Runtime stage: no toolchain, non-root, data on a volume.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data cairn \
    && mkdir -p /data && chown cairn /data
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
USER cairn
VOLUME ["/data"]
EXPOSE 9000
ENV CAIRN_LISTEN=0.0.0.0:9000
# `cairn health` asks the node's /health/ready on loopback (exit 0 when ready).
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/cairn", "health", "--timeout", "5"]
ENTRYPOINT ["/usr/local/bin/cairn"]
CMD ["serve", "/data/disk{1...4}"]
