import AccountConsumer
import AccountReadAPI

/// The defaults of the settings the launcher parses, in one place: the help and the start-up
/// log show these and the parser falls back to these, so the two cannot drift apart.
enum SettingDefaults {
    static let httpHost = "0.0.0.0"
    static let httpPort = 6767
    /// The read API's connection bounds (`HTTP_MAX_CONNECTIONS`, the `HTTP_*_TIMEOUT`s,
    /// `HTTP_OUTPUT_BUFFER`): the server's own.
    static let httpLimits = HTTPServer.Limits()
    static let prefetch = 1000
    static let parkedLimit = 10_000
    static let parkedMaxBytes = 16 << 20
    static let inFlightMaxBytes = ConsumerSettings.defaultMaxInFlightBytes
    static let ingestNice = 5
    static let ingestHeavyRate = ConsumerSettings.defaultIngestHeavyRate
    static let shutdownTimeoutSeconds = 8
    static let reconnectMaxDelaySeconds = 10
    static let snapshotIntervalSeconds = 30

    /// Whole seconds of a duration, as the help shows it.
    static func seconds(_ duration: Duration) -> String { "\(duration.components.seconds)" }
}
