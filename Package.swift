// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "accountservice",
    // Linux only (Glibc, eventfd, librabbitmq through pkg-config): no Apple platform is declared.
    products: [
        .executable(name: "accountservice", targets: ["accountservice"]),
        .executable(name: "accountctl", targets: ["accountctl"]),
        .library(name: "AMQP", targets: ["AMQP"]),
        .library(name: "JSON", targets: ["JSON"]),
        .library(name: "AccountProjection", targets: ["AccountProjection"]),
        .library(name: "AccountServiceLauncher", targets: ["AccountServiceLauncher"]),
        // For Benchmarks/ (a package of its own): the generator, the store and snapshots, the read API.
        .library(name: "AccountHistory", targets: ["AccountHistory"]),
        .library(name: "AccountConsumer", targets: ["AccountConsumer"]),
        .library(name: "AccountReadAPI", targets: ["AccountReadAPI"]),
        .library(name: "AccountReadModel", targets: ["AccountReadModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // CoreMetrics only (its `Metrics` module brings FoundationEssentials); Prometheus text from swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // DequeModule for the AMQP client's held publishes; already in the graph through swift-nio.
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
    ],
    targets: [
        // librabbitmq (rabbitmq-c 0.11) as a system library, with a header of small inline shims.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // OpenSSL (libssl, already linked through librabbitmq) for accountctl's https:// client.
        // No pkgConfig: its -L/usr/lib/… would come first on the link line and make the release
        // build (scripts/build-release) take the shared librabbitmq over the static one.
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),
        // glibc's <malloc.h> (malloc_trim), which Swift's Glibc module leaves out.
        .systemLibrary(name: "CMalloc"),
        // Our AMQP 0-9-1 client over librabbitmq: one thread per connection, an async Swift API;
        // the reconnection backoff both programs use.
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                "PercentEncoding",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Percent-encoding on bytes: one implementation for the broker URL, the read API and the CLI.
        .target(name: "PercentEncoding", swiftSettings: swiftSettings),
        // A strict RFC 8259 scanner, a JSON value reader and a byte writer: no domain, no I/O.
        // The scanner is public and `@inlinable` so that the event decoder inlines it as it did in
        // one module (`package` access is not inlined across modules: decode ran 1.6x slower).
        .target(
            name: "JSON",
            swiftSettings: swiftSettings
        ),
        // Pure: event decoding and validation, accounts, the projection rules, the release number. No I/O.
        .target(
            name: "AccountProjection",
            dependencies: ["JSON"],
            swiftSettings: swiftSettings
        ),
        // How account events travel on the broker: topology, message properties, broker
        // settings from flags and environment. Shared by the service and the CLI.
        .target(
            name: "AccountMessaging",
            dependencies: ["AMQP"],
            swiftSettings: swiftSettings
        ),
        // The deterministic event-history generator the CLI and the tests share.
        .target(
            name: "AccountHistory",
            dependencies: ["AccountProjection", "JSON"],
            swiftSettings: swiftSettings
        ),
        // The seam between the consumer and the read API: the `ReadModel` protocol and what it
        // returns (statistics, readiness, activity, operator status), and the service's metrics,
        // which the store records and `GET /metrics` serves. No AMQP, no HTTP.
        .target(
            name: "AccountReadModel",
            dependencies: [
                "AccountProjection",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The NIO HTTP read API and the status page over a `ReadModel`. It must not depend on
        // AMQP or AccountMessaging, not even transitively: the HTTP side cannot import the broker.
        // Its closure: AccountReadModel, AccountProjection, JSON (scripts/check-module-deps checks it).
        .target(
            name: "AccountReadAPI",
            dependencies: [
                "AccountReadModel",
                "PercentEncoding",
                "AccountProjection",
                "JSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker side: the stream consumer, the store it applies to (a `ReadModel`), the
        // invalid-event publisher, snapshots. The only service module that imports AMQP.
        .target(
            name: "AccountConsumer",
            dependencies: [
                "AMQP",
                "CMalloc",
                "AccountMessaging",
                "AccountProjection",
                "AccountReadModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wiring: settings, and the application that runs the consumer, the read API and the
        // snapshotter in one service group; the JSON/text log handler.
        .target(
            name: "AccountService",
            dependencies: [
                "AccountConsumer",
                "AccountReadAPI",
                "AccountReadModel",
                "JSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The program: flags, environment, logging, exit codes. A library, so that a build with a
        // trace exporter (OTel/) can run the same program. No argument parser here: it would
        // bring FoundationEssentials into the service's binary.
        .target(
            name: "AccountServiceLauncher",
            dependencies: [
                "AccountService", "AccountConsumer", "AccountReadAPI", "AccountReadModel", "AccountMessaging",
                "AMQP", "CMalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "accountservice",
            dependencies: ["AccountServiceLauncher"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "accountctl",
            dependencies: [
                "AMQP",
                "PercentEncoding",
                "AccountMessaging",
                "AccountProjection",
                "AccountHistory",
                "COpenSSL",
                "JSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the test targets share: the test broker, child processes, a raw HTTP client.
        .target(
            name: "TestSupport",
            dependencies: [
                "AMQP", "AccountMessaging", "AccountProjection", "JSON",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        // Unit targets (no broker; `scripts/test --unit`) and integration targets (`*IntegrationTests`:
        // a RabbitMQ at AMQP_TEST_URL, the built programs, brokers of their own): docs/testing.md.
        .testTarget(name: "AMQPIntegrationTests", dependencies: ["AMQP", "TestSupport"], swiftSettings: swiftSettings),
        // URLs, the connection's state machine, publish flow and delivery batcher: no broker needed.
        .testTarget(name: "AMQPUnitTests", dependencies: ["AMQP", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "AccountMessagingTests", dependencies: ["AccountMessaging"], swiftSettings: swiftSettings),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AccountProjectionTests", dependencies: ["AccountProjection", "JSON", "TestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "AccountHistoryTests", dependencies: ["AccountHistory", "AccountProjection", "JSON"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "AccountctlTests",
            dependencies: [
                "accountctl", "accountservice", "AccountHistory", "AccountProjection", "AMQP", "JSON", "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccountServiceTests",
            dependencies: [
                "AccountService", "AccountConsumer", "AccountReadAPI", "AccountReadModel", "AccountProjection", "AMQP",
                "JSON", "accountservice", "accountctl", "TestSupport",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccountctlIntegrationTests",
            dependencies: [
                "accountctl", "accountservice", "AccountHistory", "AccountProjection", "AMQP", "JSON", "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccountServiceIntegrationTests",
            dependencies: [
                "AccountService", "AccountConsumer", "AccountReadAPI", "AccountReadModel", "AccountProjection", "AMQP",
                "JSON", "accountservice", "accountctl", "TestSupport",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
