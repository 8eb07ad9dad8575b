# syntax=docker/dockerfile:1
# The gateway, notifier and processor images, plus `migrate` (sb-migrate) for compose.prod.yml.
#
#   docker build --target gateway   -t switchboard-gateway .
#   docker build --target notifier  -t switchboard-notifier .
#   docker build --target processor -t switchboard-processor .
#   docker build --target migrate   -t switchboard-migrate .
#
# Templates, htmx and the stylesheet are compiled into the gateway binary, so the runtime images
# hold only the binaries. Each image is configured by its service's variables (GATEWAY_…,
# NOTIFIER_…, PROCESSOR_…); `<binary> --check-config` prints what it would run with.

# The build stage pins the toolchain the project is developed and tested with (`rustc --version`).
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config python3 zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# librdkafka (rdkafka-sys) and ring are built from source here; the caches keep later builds fast.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p switchboard-examples --example gateway --example notifier --example processor \
        -p switchboard-postgres --bin sb-migrate \
    && mkdir -p /out \
    && cp target/release/examples/gateway target/release/examples/notifier \
        target/release/examples/processor target/release/sb-migrate /out/

# The runtime base: glibc and zlib as in the build stage, CA roots, curl for HEALTHCHECK, no root.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin switchboard
WORKDIR /app
USER switchboard:switchboard
STOPSIGNAL SIGTERM

FROM runtime AS migrate
COPY --from=build /out/sb-migrate /usr/local/bin/sb-migrate
ENTRYPOINT ["/usr/local/bin/sb-migrate"]
CMD ["up"]

FROM runtime AS notifier
COPY --from=build /out/notifier /usr/local/bin/notifier
ENV NOTIFIER_ENV=prod NOTIFIER_SERVER_HOST=0.0.0.0 NOTIFIER_SERVER_PORT=8081
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8081/health"]
ENTRYPOINT ["/usr/local/bin/notifier"]

FROM runtime AS processor
COPY --from=build /out/processor /usr/local/bin/processor
ENV PROCESSOR_ENV=prod PROCESSOR_SERVER_HOST=0.0.0.0 PROCESSOR_SERVER_PORT=8082
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8082/health"]
ENTRYPOINT ["/usr/local/bin/processor"]

# Last, so a plain `docker build .` produces the gateway.
FROM runtime AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
ENV GATEWAY_ENV=prod GATEWAY_SERVER_HOST=0.0.0.0 GATEWAY_SERVER_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/gateway"]
