# The account service and its CLI, each in an image of its own, `FROM scratch`:
#   docker build -t accountservice .                        the service (the last stage)
#   docker build --target accountctl -t accountctl .        the CLI (publish, verify, ...)
# Build stage: the official Swift image (a stand-in of the same name where no registry is
# reachable: deploy/stand-ins/make-images); both programs built by scripts/build-release
# (static-pie: the Swift runtime, librabbitmq, OpenSSL, libstdc++ and glibc linked in, stripped).
ARG SWIFT_IMAGE=swift:6.3-bookworm
FROM ${SWIFT_IMAGE} AS build
RUN dpkg -s librabbitmq-dev libssl-dev pkg-config >/dev/null 2>&1 || { apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends librabbitmq-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*; }
WORKDIR /src
# The pinned dependencies first (a layer of their own: a change to the code keeps it).
COPY Package.swift Package.resolved ./
RUN swift package resolve
# Package.swift names every target, the test targets too: their sources must be there for
# the build to load the package (none of them is built).
COPY Tests ./Tests
COPY Sources ./Sources
COPY scripts/build-release scripts/install-deps scripts/accountservice.order scripts/local-text.ld ./scripts/
RUN SKIP_INSTALL_DEPS=1 scripts/build-release
# Each program's root: itself (no shared library to bring), the CA bundle, a passwd entry
# (scripts/runtime-root-check runs the service in the same root).
COPY deploy/runtime-root ./deploy/
RUN deploy/runtime-root /roots/accountservice .build/dist/accountservice \
 && deploy/runtime-root /roots/accountctl .build/dist/accountctl

# The CLI: the Compose publisher, `verify` against the replicas.
FROM scratch AS accountctl
COPY --from=build /roots/accountctl/ /
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/accountctl"]

# The service, non-root. Its HEALTHCHECK is the service binary itself asking /health on the
# loopback (liveness, not /ready: a broker outage must not get every replica restarted).
FROM scratch AS accountservice
COPY --from=build /roots/accountservice/ /
USER 10001:10001
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=6767
EXPOSE 6767
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/accountservice", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/accountservice"]
