public import Logging
import ServiceLifecycle
public import UnixSignals

/// Everything `accountservice` is configured with (CONTRACT §5); the executable fills
/// it from flags and environment, tests fill it directly.
///
/// - `consumer`: broker, names, prefetch, reconnect backoff.
/// - `httpHost`, `httpPort`: where the read API listens. Default `0.0.0.0:6767`.
/// - `replicaName`: `X-Served-By` and `/stats` `replica`. Default: the host name.
/// - `parkingLimit`: out-of-order events held over all accounts. Default 10,000.
/// - `http`: connection bounds of the read API.
public struct ServiceSettings: Sendable {
    public var consumer: ConsumerSettings
    public var httpHost: String
    public var httpPort: Int
    public var replicaName: String
    public var parkingLimit: Int
    public var http: HTTPServer.Limits

    public init(
        consumer: ConsumerSettings,
        httpHost: String = "0.0.0.0",
        httpPort: Int = 6767,
        replicaName: String,
        parkingLimit: Int = 10_000,
        http: HTTPServer.Limits = HTTPServer.Limits()
    ) {
        self.consumer = consumer
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.replicaName = replicaName
        self.parkingLimit = parkingLimit
        self.http = http
    }
}

/// The running parts of one `accountservice`: built the same way by the executable and the tests.
public struct AccountServiceApplication: Sendable {
    public let store: AccountStore
    public let consumer: StreamConsumer
    public let server: HTTPServer
    public let settings: ServiceSettings

    public init(settings: ServiceSettings, logger: Logger) {
        self.settings = settings
        let store = AccountStore(parkingLimit: settings.parkingLimit) { store in
            ServiceMetrics.render(store.snapshot())
        }
        self.store = store
        self.consumer = StreamConsumer(settings: settings.consumer, store: store, logger: logger)
        self.server = HTTPServer(
            host: settings.httpHost, port: settings.httpPort,
            api: ReadAPI(model: store, replicaName: settings.replicaName), limits: settings.http)
    }

    /// Binds the read API (so a taken port fails at once, before anything else starts),
    /// then runs the consumer and the server until SIGTERM/SIGINT or cancellation.
    public func run(logger: Logger, gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let address = try await server.start()
        logger.info(
            "read API listening on \(address)",
            metadata: [
                "replica": "\(settings.replicaName)", "host": "\(settings.httpHost)", "port": "\(settings.httpPort)",
            ])
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: consumer),
                    .init(service: server),
                ],
                gracefulShutdownSignals: gracefulShutdownSignals,
                cancellationSignals: [],
                logger: logger))
        try await group.run()
    }
}
