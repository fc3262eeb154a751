import AMQP
import AccountConsumer
import AccountMessaging
import AccountReadAPI
import AccountReadModel
import AccountService
public import Logging
import NIOCore
public import ServiceLifecycle
public import Tracing

#if canImport(Glibc)
    import Glibc
#endif

/// The `accountservice` program: flags and environment, logging, the application, exit codes.
/// The default executable runs it without tracing; a build with an exporter (`OTel/`)
/// hands it a tracing backend.
public enum AccountServiceCommand {
    static let abstract = "Reads account events from a RabbitMQ stream into memory and serves them over HTTP."
    static let discussion = """
        Every setting is a flag or the environment variable of the same name (a flag wins):
        --http-port is HTTP_PORT, --events-stream is EVENTS_STREAM, and so on.

        The service keeps serving while the broker is away: /health answers 200, /ready 503
        DISCONNECTED, and it retries with backoff. SIGTERM or SIGINT stop it cleanly: it stops
        consuming, acks what it applied, closes the connection and exits 0 within
        SHUTDOWN_TIMEOUT.

        Exit status: 0 after a clean stop, 2 for a bad setting, 1 when the read API cannot
        listen (say, the port is taken).

        `accountservice healthcheck [--ready] [--http-port N]` asks a running service's /health
        (or /ready) on 127.0.0.1 and exits 0 on 200, else 1: a container's HEALTHCHECK.
        """

    static let settings: [SettingDescriptor] =
        [
            .init(
                flag: "http-host", variable: "HTTP_HOST", defaultText: SettingDefaults.httpHost,
                help: "Address the read API binds",
                valueName: "address"),
            .init(
                flag: "http-port", variable: "HTTP_PORT", defaultText: "\(SettingDefaults.httpPort)",
                help: "Port of the read API",
                valueName: "port"),
            .init(
                flag: "http-threads", variable: "HTTP_THREADS", defaultText: "cores - 1, at least 1",
                help: "Event loop threads of the read API; the rest of the cores are left to ingest",
                valueName: "count"),
            .init(
                flag: "http-max-connections", variable: "HTTP_MAX_CONNECTIONS",
                defaultText: "\(SettingDefaults.httpLimits.maxConnections)",
                help: "Connections open at once; past it a new one closes the one longest without a request",
                valueName: "count"),
            .init(
                flag: "http-idle-timeout", variable: "HTTP_IDLE_TIMEOUT",
                defaultText: SettingDefaults.seconds(SettingDefaults.httpLimits.idleTimeout),
                help: "Seconds a connection may send nothing before it is closed", valueName: "seconds"),
            .init(
                flag: "http-header-timeout", variable: "HTTP_HEADER_TIMEOUT",
                defaultText: SettingDefaults.seconds(SettingDefaults.httpLimits.headerTimeout),
                help: "Seconds from a request's first byte to the end of its header fields", valueName: "seconds"),
            .init(
                flag: "http-request-timeout", variable: "HTTP_REQUEST_TIMEOUT",
                defaultText: SettingDefaults.seconds(SettingDefaults.httpLimits.requestTimeout),
                help: "Seconds from a request's first byte to its end, body included", valueName: "seconds"),
            .init(
                flag: "http-output-buffer", variable: "HTTP_OUTPUT_BUFFER",
                defaultText: "\(SettingDefaults.httpLimits.outputBufferBytes)",
                help: "Answer bytes queued per connection before answers wait for the client to read",
                valueName: "bytes"),
            .init(
                flag: "replica-name", variable: "REPLICA_NAME", defaultText: "the host name",
                help: "Name in X-Served-By and /stats", valueName: "name"),
            .init(
                flag: "exchange", variable: "EXCHANGE", defaultText: Topology.defaultExchange,
                help: "Topic exchange of the events",
                valueName: "name"),
            .init(
                flag: "events-stream", variable: "EVENTS_STREAM", defaultText: Topology.defaultStream,
                help: "The event log, a RabbitMQ stream", valueName: "name"),
            .init(
                flag: "invalid-queue", variable: "INVALID_QUEUE", defaultText: Topology.defaultInvalidQueue,
                help: "Queue for events that cannot be applied", valueName: "name"),
            .init(
                flag: "stream-initial-cluster-size", variable: "STREAM_INITIAL_CLUSTER_SIZE",
                defaultText: "as RabbitMQ decides",
                help: "Nodes that hold the stream when it is created here (x-initial-cluster-size)", valueName: "count"),
            .init(
                flag: "stream-max-segment-size", variable: "STREAM_MAX_SEGMENT_SIZE",
                defaultText: "\(Topology.defaultMaxSegmentSizeBytes)",
                help: "Segment size of a stream created here (x-stream-max-segment-size-bytes); bounds a failover",
                valueName: "bytes"),
            .init(
                flag: "ingest-nice", variable: "INGEST_NICE", defaultText: "\(SettingDefaults.ingestNice)",
                help: "Nice value of the threads that read the stream and apply its backlog, 0..19: readers go first",
                valueName: "n"),
            .init(
                flag: "ingest-heavy-rate", variable: "INGEST_HEAVY_RATE",
                defaultText: "\(SettingDefaults.ingestHeavyRate)",
                help: "Events/s from which ingest is a backlog, applied at INGEST_NICE (light below half of it)",
                valueName: "events"),
            .init(
                flag: "prefetch", variable: "PREFETCH", defaultText: "\(SettingDefaults.prefetch)",
                help: "Stream deliveries in flight, 1..65535", valueName: "count"),
            .init(
                flag: "parked-limit", variable: "PARKED_LIMIT", defaultText: "\(SettingDefaults.parkedLimit)",
                help: "Out-of-order events held over all accounts; past it the oldest goes out as sequence_gap",
                valueName: "count"),
            .init(
                flag: "parked-max-bytes", variable: "PARKED_MAX_BYTES",
                defaultText: "\(SettingDefaults.parkedMaxBytes)",
                help: "Bytes out-of-order events may hold; past it the oldest goes out as sequence_gap",
                valueName: "bytes"),
            .init(
                flag: "inflight-max-bytes", variable: "INFLIGHT_MAX_BYTES",
                defaultText: "\(SettingDefaults.inFlightMaxBytes)",
                help: "Bytes stream deliveries in flight may hold; lowers the prefetch to fit the largest",
                valueName: "bytes"),
            .init(
                flag: "shutdown-timeout", variable: "SHUTDOWN_TIMEOUT",
                defaultText: "\(SettingDefaults.shutdownTimeoutSeconds)",
                help: "Seconds a stop may take before the process exits anyway", valueName: "seconds"),
            .init(
                flag: "reconnect-max-delay", variable: "RECONNECT_MAX_DELAY",
                defaultText: "\(SettingDefaults.reconnectMaxDelaySeconds)",
                help: "Longest wait between connection attempts, in seconds", valueName: "seconds"),
            .init(
                flag: "snapshot-dir", variable: "SNAPSHOT_DIR", defaultText: "off",
                help: "Directory of the projection's snapshot, loaded at start and written periodically and on stop",
                valueName: "dir"),
            .init(
                flag: "snapshot-interval", variable: "SNAPSHOT_INTERVAL",
                defaultText: "\(SettingDefaults.snapshotIntervalSeconds)",
                help: "Seconds between snapshots while events arrive", valueName: "seconds"),
            .init(
                flag: "cors-allow-origin", variable: "CORS_ALLOW_ORIGIN", defaultText: "off",
                help: "Origin allowed to read the API from a browser: * or scheme://host[:port]", valueName: "origin"),
            .init(
                flag: "log-level", variable: "LOG_LEVEL", defaultText: "info",
                help: "trace, debug, info, notice, warning, error or critical", valueName: "level"),
            .init(
                flag: "log-format", variable: "LOG_FORMAT", defaultText: "text on a terminal, else json",
                help: "json (one object per line) or text", valueName: "format"),
        ] + BrokerSettings.descriptors

    /// A tracer and the background service that exports its spans (run beside the others).
    public struct TracingBackend {
        public var tracer: any Tracer
        public var service: any Service

        public init(tracer: any Tracer, service: any Service) {
            self.tracer = tracer
            self.service = service
        }
    }

    /// Runs the program on the concurrency runtime's threads and parks the main thread until
    /// it exits. Call it from synchronous top-level code: an `async` top level ends the main
    /// thread with `pthread_exit`, whose forced unwinding reads the binary's unwind tables
    /// (about 1 MB more resident memory for the life of the process).
    public static func runAndExit(makeTracing: (@Sendable (Logger) throws -> TracingBackend)? = nil) -> Never {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "healthcheck" { exit(HealthCheck.run(Array(arguments.dropFirst()))) }
        MallocArenas.apply()
        Task.detached {
            await main(makeTracing: makeTracing)
            exit(0)
        }
        while true { pause() }
    }

    /// Runs the program; `makeTracing`, when given, is called once settings and logging are set up.
    public static func main(makeTracing: (@Sendable (Logger) throws -> TracingBackend)? = nil) async {
        let flags: [String: String]
        do {
            flags = try CommandLineFlags.parse(Array(CommandLine.arguments.dropFirst()), known: settings)
        } catch .version {
            print("accountservice \(BuildInfo.version)")
            exit(0)
        } catch .help {
            print(
                CommandLineFlags.help(
                    usage: "accountservice [--<option> <value>]...", abstract: abstract, settings: settings,
                    discussion: discussion),
                terminator: "")
            exit(0)
        } catch {
            printError("accountservice: \(error)")
            exit(2)
        }
        let environment = Environment.process
        let settings: ServiceSettings
        let level: Logger.Level
        let format: LogFormat
        let stopTimeout: Double
        let httpThreads: Int
        do {
            level = try environment.setting(
                flags["log-level"], "LOG_LEVEL", default: "info", parse: { $0 }, expected: "a log level"
            ).logLevel()
            format = try environment.setting(
                flags["log-format"], "LOG_FORMAT", default: LogFormat.automatic().rawValue,
                parse: { LogFormat(rawValue: $0)?.rawValue }, expected: "json or text"
            ).logFormat()
            (settings, stopTimeout) = try makeSettings(flags: flags, environment: environment)
            httpThreads = try readAPIThreads(flags: flags, environment: environment)
        } catch {
            printError("accountservice: \(error)")
            exit(2)
        }
        // Before a trace exporter can touch NIO's shared group: the size is taken at its first use.
        ReadAPIThreads.apply(httpThreads)
        LoggingSystem.bootstrap { label in
            ServiceLogHandler(label: label, level: level, format: format)
        }
        let logger = Logger(label: "accountservice")
        logger.info(
            "starting accountservice \(BuildInfo.version)",
            metadata: [
                "configuration": .dictionary(
                    EffectiveConfiguration.describe(
                        Self.settings, flags: flags, environment: environment,
                        shown: [
                            "AMQP_URL": "\(settings.consumer.amqp.url)", "REPLICA_NAME": settings.replicaName,
                            "HTTP_THREADS": "\(httpThreads)",
                        ]))
            ])
        if settings.consumer.amqp.url.isTLS && !settings.consumer.amqp.tls.verifyPeer {
            logger.warning("AMQP_TLS_VERIFY=false: the broker's certificate and host name are not checked")
        }
        ShutdownWatchdog.arm(after: stopTimeout, logger: logger)
        var tracing: TracingBackend?
        do {
            tracing = try makeTracing?(logger)
        } catch {
            logger.error("tracing cannot start: \(error); check the OTEL_* settings")
            exit(2)
        }
        if tracing != nil { logger.info("tracing on: a consumer span per event, a server span per request") }
        let application = AccountServiceApplication(settings: settings, logger: logger, tracer: tracing?.tracer)
        do {
            try await application.run(logger: logger, extraServices: tracing.map { [$0.service] } ?? [])
        } catch HTTPServer.ServerError.addressInUse(let host, let port) {
            printError(
                "accountservice: HTTP_PORT / --http-port: \(port) on \(host) is already in use (another process"
                    + " listens there); choose another port or stop it")
            exit(2)
        } catch {
            logger.error("accountservice stopped: \(error)")
            exit(1)
        }
    }

    private static func readAPIThreads(flags: [String: String], environment: Environment) throws -> Int {
        let fallback = ReadAPIThreads.defaultCount(cores: System.coreCount)
        let value = try environment.setting(
            flags["http-threads"], "HTTP_THREADS", default: "\(fallback)", parse: { $0 }, expected: "a number")
        guard let count = Int(value), (1...256).contains(count) else {
            throw SettingError(
                setting: "HTTP_THREADS / --http-threads", problem: "'\(value)' is not a whole number in 1...256")
        }
        return count
    }

    private static func makeSettings(
        flags: [String: String], environment env: Environment
    ) throws
        -> (ServiceSettings, Double)
    {
        let amqp = try BrokerSettings.configuration(
            connectionName: "accountservice", flags: { flags[$0] }, environment: env)
        func text(_ flag: String, _ variable: String, _ fallback: String) throws -> String {
            try env.setting(flags[flag], variable, default: fallback, parse: nonEmpty, expected: "a name")
        }
        func number<T: LosslessStringConvertible>(_ flag: String, _ variable: String, _ fallback: T) throws -> T {
            let value = try env.setting(
                flags[flag], variable, default: "\(fallback)", parse: { T($0) == nil ? nil : $0 }, expected: "a number")
            guard let number = T(value) else {
                throw SettingError(setting: "\(variable) / --\(flag)", problem: "'\(value)' is not a number")
            }
            return number
        }
        var initialClusterSize: Int? = nil
        if let size = flags["stream-initial-cluster-size"] ?? env["STREAM_INITIAL_CLUSTER_SIZE"] {
            guard let parsed = Topology.parseInitialClusterSize(size) else {
                throw SettingError(
                    setting: "STREAM_INITIAL_CLUSTER_SIZE / --stream-initial-cluster-size",
                    problem: "'\(size)' is not a whole number of nodes, at least 1")
            }
            initialClusterSize = parsed
        }
        var maxSegmentSize = Topology.defaultMaxSegmentSizeBytes
        if let size = flags["stream-max-segment-size"] ?? env["STREAM_MAX_SEGMENT_SIZE"] {
            guard let parsed = Topology.parseMaxSegmentSize(size) else {
                throw SettingError(
                    setting: "STREAM_MAX_SEGMENT_SIZE / --stream-max-segment-size",
                    problem: "'\(size)' is not a whole number of bytes, at least 1048576 (1 MiB)")
            }
            maxSegmentSize = parsed
        }
        let topology = Topology(
            exchange: try text("exchange", "EXCHANGE", Topology.defaultExchange),
            stream: try text("events-stream", "EVENTS_STREAM", Topology.defaultStream),
            invalidQueue: try text("invalid-queue", "INVALID_QUEUE", Topology.defaultInvalidQueue),
            streamArguments: Topology.streamArguments(
                initialClusterSize: initialClusterSize, maxSegmentSizeBytes: maxSegmentSize))
        let prefetch: Int = try number("prefetch", "PREFETCH", SettingDefaults.prefetch)
        guard (1...65535).contains(prefetch) else {
            throw SettingError(setting: "PREFETCH / --prefetch", problem: "\(prefetch) is not in 1..65535")
        }
        let port: Int = try number("http-port", "HTTP_PORT", SettingDefaults.httpPort)
        guard (0...65535).contains(port) else {
            throw SettingError(setting: "HTTP_PORT / --http-port", problem: "\(port) is not in 0..65535")
        }
        let parked: Int = try number("parked-limit", "PARKED_LIMIT", SettingDefaults.parkedLimit)
        guard parked >= 0 else {
            throw SettingError(setting: "PARKED_LIMIT / --parked-limit", problem: "\(parked) is negative")
        }
        let parkedBytes: Int = try number("parked-max-bytes", "PARKED_MAX_BYTES", SettingDefaults.parkedMaxBytes)
        let inFlightBytes: Int = try number(
            "inflight-max-bytes", "INFLIGHT_MAX_BYTES", SettingDefaults.inFlightMaxBytes)
        guard parkedBytes >= 0, inFlightBytes >= 0 else {
            throw SettingError(
                setting: "PARKED_MAX_BYTES / INFLIGHT_MAX_BYTES", problem: "must not be negative")
        }
        let stop: Double = try number(
            "shutdown-timeout", "SHUTDOWN_TIMEOUT", Double(SettingDefaults.shutdownTimeoutSeconds))
        let maxDelay: Double = try number(
            "reconnect-max-delay", "RECONNECT_MAX_DELAY", Double(SettingDefaults.reconnectMaxDelaySeconds))
        guard stop > 0, maxDelay > 0 else {
            throw SettingError(setting: "SHUTDOWN_TIMEOUT / RECONNECT_MAX_DELAY", problem: "must be above 0")
        }
        // Empty or "off": no snapshots.
        let snapshotDirectory: String = try env.setting(
            flags["snapshot-dir"], "SNAPSHOT_DIR", default: "off", parse: { $0 }, expected: "a directory")
        let snapshotInterval: Double = try number(
            "snapshot-interval", "SNAPSHOT_INTERVAL", Double(SettingDefaults.snapshotIntervalSeconds))
        guard snapshotInterval > 0 else {
            throw SettingError(setting: "SNAPSHOT_INTERVAL / --snapshot-interval", problem: "must be above 0")
        }
        let http = try httpLimits(number)
        var consumer = ConsumerSettings(
            amqp: amqp, topology: topology, prefetch: UInt16(prefetch),
            reconnect: Backoff(initial: .milliseconds(250), maximum: .milliseconds(Int64(maxDelay * 1000))))
        consumer.maxInFlightBytes = inFlightBytes
        let ingestNice: Int = try number("ingest-nice", "INGEST_NICE", SettingDefaults.ingestNice)
        guard (0...19).contains(ingestNice) else {
            throw SettingError(setting: "INGEST_NICE / --ingest-nice", problem: "\(ingestNice) is not in 0..19")
        }
        consumer.ingestNice = Int32(ingestNice)
        let heavyRate: Int = try number("ingest-heavy-rate", "INGEST_HEAVY_RATE", SettingDefaults.ingestHeavyRate)
        guard (2...10_000_000).contains(heavyRate) else {
            throw SettingError(
                setting: "INGEST_HEAVY_RATE / --ingest-heavy-rate", problem: "\(heavyRate) is not in 2..10000000")
        }
        consumer.ingestHeavyRate = heavyRate
        var settings = ServiceSettings(
            consumer: consumer,
            httpHost: try text("http-host", "HTTP_HOST", SettingDefaults.httpHost),
            httpPort: port,
            replicaName: try text("replica-name", "REPLICA_NAME", hostName()),
            parkingLimit: parked,
            http: http,
            snapshotDirectory: snapshotDirectory == "off" || snapshotDirectory.isEmpty ? nil : snapshotDirectory,
            snapshotInterval: .milliseconds(Int64(snapshotInterval * 1000)))
        settings.parkingByteLimit = parkedBytes
        let corsOrigin: String = try env.setting(
            flags["cors-allow-origin"], "CORS_ALLOW_ORIGIN", default: "off", parse: { $0 }, expected: "an origin")
        if corsOrigin != "off" && !corsOrigin.isEmpty {
            guard let policy = CORSPolicy(allowOrigin: corsOrigin) else {
                throw SettingError(
                    setting: "CORS_ALLOW_ORIGIN / --cors-allow-origin",
                    problem: "'\(corsOrigin)' is neither * nor an origin like https://dash.example.org")
            }
            settings.cors = policy
        }
        return (settings, stop)
    }
}

/// The read API's connection bounds; `number` reads one setting as a number.
private func httpLimits(_ number: (String, String, Double) throws -> Double) throws -> HTTPServer.Limits {
    var limits = SettingDefaults.httpLimits
    func shown(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
    func count(_ flag: String, _ variable: String, _ fallback: Int) throws -> Int {
        let value = try number(flag, variable, Double(fallback))
        guard value >= 1, value <= 1_000_000_000, value == value.rounded() else {
            throw SettingError(
                setting: "\(variable) / --\(flag)", problem: "\(shown(value)) is not a whole number in 1...1000000000")
        }
        return Int(value)
    }
    func seconds(_ flag: String, _ variable: String, _ fallback: Duration) throws -> Duration {
        let value = try number(flag, variable, Double(fallback.components.seconds))
        guard value > 0, value <= 86_400 else {
            throw SettingError(
                setting: "\(variable) / --\(flag)",
                problem: "\(shown(value)) is not above 0 and at most 86400 (seconds)")
        }
        return .milliseconds(Int64(value * 1000))
    }
    limits.maxConnections = try count("http-max-connections", "HTTP_MAX_CONNECTIONS", limits.maxConnections)
    limits.idleTimeout = try seconds("http-idle-timeout", "HTTP_IDLE_TIMEOUT", limits.idleTimeout)
    limits.headerTimeout = try seconds("http-header-timeout", "HTTP_HEADER_TIMEOUT", limits.headerTimeout)
    limits.requestTimeout = try seconds("http-request-timeout", "HTTP_REQUEST_TIMEOUT", limits.requestTimeout)
    limits.outputBufferBytes = try count("http-output-buffer", "HTTP_OUTPUT_BUFFER", limits.outputBufferBytes)
    return limits
}

extension String {
    fileprivate func logFormat() throws(SettingError) -> LogFormat {
        guard let format = LogFormat(rawValue: self) else {
            throw SettingError(setting: "LOG_FORMAT / --log-format", problem: "'\(self)' is not json or text")
        }
        return format
    }

    fileprivate func logLevel() throws(SettingError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: self) else {
            throw SettingError(setting: "LOG_LEVEL / --log-level", problem: "'\(self)' is not a log level")
        }
        return level
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
