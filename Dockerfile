# accountservice and accountctl in a small runtime image.
#   docker build -t accountservice .
# Build stage: the official Swift image; both programs built by scripts/build-release
# (Swift runtime, librabbitmq, OpenSSL and libstdc++ linked statically, stripped; lld lays
# the code out in the order of scripts/accountservice.order).
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librabbitmq-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY scripts/build-release scripts/install-deps scripts/accountservice.order ./scripts/
RUN SKIP_INSTALL_DEPS=1 scripts/build-release

# Runtime stage: Debian slim (glibc, all the link left dynamic) and the CA bundle for
# amqps://. Keep this package list in step with scripts/runtime-root-check, which proves it
# is complete.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin accounts
COPY --from=build /src/.build/dist/accountservice /src/.build/dist/accountctl /usr/local/bin/
USER 10001:10001
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=6767
EXPOSE 6767
# No curl in the image: accountctl asks /health on the loopback.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/accountctl", "health", "--url", "http://127.0.0.1:6767"]
ENTRYPOINT ["/usr/local/bin/accountservice"]
