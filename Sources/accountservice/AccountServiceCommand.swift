import AMQP
import AccountMessaging
import AccountService
import ArgumentParser
import Logging

#if canImport(Glibc)
    import Glibc
#endif

@main
struct AccountServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accountservice",
        abstract: "Reads account events from a RabbitMQ stream into memory and serves them over HTTP.",
        discussion: """
            Every setting is a flag or the environment variable of the same name (a flag wins):
            --http-port is HTTP_PORT, --events-stream is EVENTS_STREAM, and so on.

            The service keeps serving while the broker is away: /health answers 200, /ready 503
            DISCONNECTED, and it retries with backoff. SIGTERM or SIGINT stop it cleanly: it stops
            consuming, acks what it applied, closes the connection and exits 0 within
            SHUTDOWN_TIMEOUT.

            Exit status: 0 after a clean stop, 2 for a bad setting, 1 when the read API cannot
            listen (say, the port is taken).
            """)

    @OptionGroup(title: "Broker")
    var broker: BrokerOptions

    @Option(name: .customLong("http-host"), help: "Address the read API binds [env: HTTP_HOST] (default: 0.0.0.0)")
    var httpHost: String?

    @Option(name: .customLong("http-port"), help: "Port of the read API [env: HTTP_PORT] (default: 6767)")
    var httpPort: Int?

    @Option(
        name: .customLong("replica-name"),
        help: "Name in X-Served-By and /stats [env: REPLICA_NAME] (default: the host name)")
    var replicaName: String?

    @Option(name: .customLong("exchange"), help: "Topic exchange of the events [env: EXCHANGE] (default: accounts)")
    var exchange: String?

    @Option(
        name: .customLong("events-stream"),
        help: "The event log, a RabbitMQ stream [env: EVENTS_STREAM] (default: accounts.events)")
    var eventsStream: String?

    @Option(
        name: .customLong("invalid-queue"),
        help: "Queue for events that cannot be applied [env: INVALID_QUEUE] (default: accounts.events.invalid)")
    var invalidQueue: String?

    @Option(
        name: .customLong("prefetch"),
        help: "Stream deliveries in flight, 1..65535 [env: PREFETCH] (default: 1000)")
    var prefetch: Int?

    @Option(
        name: .customLong("parked-limit"),
        help:
            "Out-of-order events held, over all accounts; past it the oldest goes out as sequence_gap [env: PARKED_LIMIT] (default: 10000)"
    )
    var parkedLimit: Int?

    @Option(
        name: .customLong("shutdown-timeout"),
        help: "Seconds a stop may take before the process exits anyway [env: SHUTDOWN_TIMEOUT] (default: 8)")
    var shutdownTimeout: Double?

    @Option(
        name: .customLong("reconnect-max-delay"),
        help: "Longest wait between connection attempts, in seconds [env: RECONNECT_MAX_DELAY] (default: 10)")
    var reconnectMaxDelay: Double?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical [env: LOG_LEVEL] (default: info)")
    var logLevel: String?

    func run() async throws {
        let environment = Environment.process
        let settings: ServiceSettings
        let level: Logger.Level
        let stopTimeout: Double
        do {
            level = try environment.setting(
                logLevel.flatMap(Logger.Level.init(rawValue:)), "LOG_LEVEL", default: .info,
                parse: Logger.Level.init(rawValue:), expected: "a log level")
            if let logLevel, Logger.Level(rawValue: logLevel) == nil {
                throw SettingError(setting: "--log-level", problem: "'\(logLevel)' is not a log level")
            }
            (settings, stopTimeout) = try makeSettings(environment)
        } catch {
            printError("accountservice: \(error)")
            throw ExitCode(2)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "accountservice")
        logger.info(
            "starting",
            metadata: [
                "replica": "\(settings.replicaName)", "broker": "\(settings.consumer.amqp.url)",
                "stream": "\(settings.consumer.topology.stream)", "exchange": "\(settings.consumer.topology.exchange)",
                "invalidQueue": "\(settings.consumer.topology.invalidQueue)",
                "prefetch": "\(settings.consumer.prefetch)",
                "parkedLimit": "\(settings.parkingLimit)",
            ])
        if settings.consumer.amqp.url.isTLS && !settings.consumer.amqp.tls.verifyPeer {
            logger.warning("AMQP_TLS_VERIFY=false: the broker's certificate and host name are not checked")
        }
        ShutdownWatchdog.arm(after: stopTimeout, logger: logger)
        let application = AccountServiceApplication(settings: settings, logger: logger)
        do {
            try await application.run(logger: logger)
        } catch {
            logger.error("accountservice stopped: \(error)")
            throw ExitCode(1)
        }
    }

    private func makeSettings(_ env: Environment) throws -> (ServiceSettings, Double) {
        let amqp = try broker.configuration(connectionName: "accountservice", environment: env)
        let topology = Topology(
            exchange: try env.setting(exchange, "EXCHANGE", default: "accounts", parse: nonEmpty, expected: "a name"),
            stream: try env.setting(
                eventsStream, "EVENTS_STREAM", default: "accounts.events", parse: nonEmpty, expected: "a name"),
            invalidQueue: try env.setting(
                invalidQueue, "INVALID_QUEUE", default: "accounts.events.invalid", parse: nonEmpty, expected: "a name"))
        let prefetch = try env.setting(prefetch, "PREFETCH", default: 1000, parse: { Int($0) }, expected: "a number")
        guard (1...65535).contains(prefetch) else {
            throw SettingError(setting: "PREFETCH / --prefetch", problem: "\(prefetch) is not in 1..65535")
        }
        let port = try env.setting(httpPort, "HTTP_PORT", default: 6767, parse: { Int($0) }, expected: "a port number")
        guard (0...65535).contains(port) else {
            throw SettingError(setting: "HTTP_PORT / --http-port", problem: "\(port) is not in 0..65535")
        }
        let parked = try env.setting(
            parkedLimit, "PARKED_LIMIT", default: 10_000, parse: { Int($0) }, expected: "a number")
        guard parked >= 0 else {
            throw SettingError(setting: "PARKED_LIMIT / --parked-limit", problem: "\(parked) is negative")
        }
        let stop = try env.setting(
            shutdownTimeout, "SHUTDOWN_TIMEOUT", default: 8, parse: { Double($0) }, expected: "a number of seconds")
        let maxDelay = try env.setting(
            reconnectMaxDelay, "RECONNECT_MAX_DELAY", default: 10, parse: { Double($0) },
            expected: "a number of seconds")
        guard stop > 0, maxDelay > 0 else {
            throw SettingError(setting: "SHUTDOWN_TIMEOUT / RECONNECT_MAX_DELAY", problem: "must be above 0")
        }
        let consumer = ConsumerSettings(
            amqp: amqp, topology: topology, prefetch: UInt16(prefetch),
            reconnect: Backoff(initial: .milliseconds(250), maximum: .milliseconds(Int64(maxDelay * 1000))))
        let settings = ServiceSettings(
            consumer: consumer,
            httpHost: try env.setting(
                httpHost, "HTTP_HOST", default: "0.0.0.0", parse: nonEmpty, expected: "an address"),
            httpPort: port,
            replicaName: try env.setting(
                replicaName, "REPLICA_NAME", default: hostName(), parse: nonEmpty, expected: "a name"),
            parkingLimit: parked)
        return (settings, stop)
    }
}

private func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

private func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "accountservice" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
