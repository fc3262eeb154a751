public import AccountConsumer
public import AccountReadAPI
import AccountReadModel
public import Logging
public import ServiceLifecycle
public import Tracing
public import UnixSignals

/// Everything `accountservice` is configured with (docs/operations.md#configuration); the executable fills
/// it from flags and environment, tests fill it directly.
///
/// - `consumer`: broker, names, prefetch, reconnect backoff.
/// - `httpHost`, `httpPort`: where the read API listens. Default `0.0.0.0:6767`.
/// - `replicaName`: `X-Served-By` and `/stats` `replica`. Default: the host name.
/// - `parkingLimit`: out-of-order events held over all accounts. Default 10,000.
/// - `parkingByteLimit`: bytes those parked events may hold (bodies, properties, strings). Default 16 MiB.
/// - `http`: connection bounds of the read API.
/// - `snapshotDirectory`: where the projection's snapshot is kept; nil (the default): no snapshots.
/// - `snapshotInterval`: how often a snapshot is written while the offset moves. Default 30 s.
public struct ServiceSettings: Sendable {
    public var consumer: ConsumerSettings
    public var httpHost: String
    public var httpPort: Int
    public var replicaName: String
    public var parkingLimit: Int
    public var parkingByteLimit: Int = 16 << 20
    public var http: HTTPServer.Limits
    public var snapshotDirectory: String?
    public var snapshotInterval: Duration
    /// Cross-origin reads of the API (CORS_ALLOW_ORIGIN); nil (the default): off.
    public var cors: CORSPolicy?

    public init(
        consumer: ConsumerSettings,
        httpHost: String = "0.0.0.0",
        httpPort: Int = 6767,
        replicaName: String,
        parkingLimit: Int = 10_000,
        http: HTTPServer.Limits = HTTPServer.Limits(),
        snapshotDirectory: String? = nil,
        snapshotInterval: Duration = .seconds(30)
    ) {
        self.consumer = consumer
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.replicaName = replicaName
        self.parkingLimit = parkingLimit
        self.http = http
        self.snapshotDirectory = snapshotDirectory
        self.snapshotInterval = snapshotInterval
    }
}

/// The running parts of one `accountservice`: built the same way by the executable and the tests.
public struct AccountServiceApplication: Sendable {
    public let store: AccountStore
    public let consumer: StreamConsumer
    public let server: HTTPServer
    public let settings: ServiceSettings
    /// Nil when snapshots are off.
    public let snapshotter: Snapshotter?

    /// `tracer`: nil for no spans (the default build); with one, a consumer span per event
    /// and a server span per HTTP request.
    public init(settings: ServiceSettings, logger: Logger, tracer: (any Tracer)? = nil) {
        self.settings = settings
        let store = AccountStore(parkingLimit: settings.parkingLimit, parkingByteLimit: settings.parkingByteLimit)
        self.store = store
        let broker = settings.consumer.amqp.url
        store.setBroker(host: broker.host, port: broker.port, vhost: broker.vhost, tls: broker.isTLS)
        self.consumer = StreamConsumer(settings: settings.consumer, store: store, logger: logger, tracer: tracer)
        self.server = HTTPServer(
            host: settings.httpHost, port: settings.httpPort,
            api: ReadAPI(
                model: store, replicaName: settings.replicaName, metrics: store.metrics, tracer: tracer,
                cors: settings.cors),
            limits: settings.http)
        self.snapshotter = settings.snapshotDirectory.map { directory in
            Snapshotter(
                directory: directory, interval: settings.snapshotInterval,
                identity: Snapshotter.identity(
                    stream: settings.consumer.topology.stream, exchange: settings.consumer.topology.exchange,
                    parkingLimit: settings.parkingLimit),
                store: store, logger: logger)
        }
    }

    /// Binds the read API (so a taken port fails at once, before anything else starts),
    /// then runs the consumer and the server until SIGTERM/SIGINT or cancellation.
    ///
    /// With snapshots on, the snapshot is loaded first, before the consumer connects (so it
    /// resumes after the offset the snapshot covers), written periodically, and written
    /// once more after a graceful stop, when the consumer has stopped.
    /// `extraServices` run in the same group (a trace exporter, say).
    public func run(
        logger: Logger, gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        extraServices: [any Service] = []
    ) async throws {
        // The read API serves at once; /ready answers 503 LOADING until the snapshot is in.
        if snapshotter != nil { store.setLoading(true) }
        let address = try await server.start()
        logger.info(
            "read API listening on \(HTTPServer.describe(address))",
            metadata: [
                "replica": "\(settings.replicaName)", "host": "\(settings.httpHost)", "port": "\(settings.httpPort)",
            ])
        if let snapshotter {
            // Before the consumer starts: it resumes after the offset the snapshot covers.
            snapshotter.load()
            store.setLoading(false)
        }
        // A group stops its services in reverse order, each after the one before has finished: the
        // extra services (a trace exporter) come first, so they stop last and still export the spans
        // that end while the consumer and the server stop.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = extraServices.map { .init(service: $0) }
        services += [
            .init(service: consumer),
            .init(service: server),
        ]
        if let snapshotter { services.append(.init(service: snapshotter)) }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: gracefulShutdownSignals,
                cancellationSignals: [],
                logger: logger))
        try await group.run()
        snapshotter?.writeNow(reason: "on shutdown")
    }
}
