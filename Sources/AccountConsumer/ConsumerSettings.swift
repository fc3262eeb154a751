public import AMQP
public import AccountMessaging

/// What the stream consumer needs to know.
///
/// - `amqp`: the broker and how to talk to it.
/// - `topology`: exchange, stream and invalid-queue names (docs/events.md#broker-topology).
/// - `prefetch`: deliveries in flight from the stream (basic.qos). Default 1000.
/// - `reconnect`: backoff between connection attempts. Default 250 ms doubling to 10 s, jittered.
/// - `maxInFlightBytes`: bytes the deliveries in flight may hold at most. A delivery keeps at most
///   64 KiB of its body (the decoder's limit) and its properties (at most one frame), so the prefetch
///   used is lowered to fit this many of the largest. Default 48 MiB.
public struct ConsumerSettings: Sendable {
    public var amqp: AMQPConfiguration
    public var topology: Topology
    public var prefetch: UInt16
    public var reconnect: Backoff
    public var maxInFlightBytes: Int = ConsumerSettings.defaultMaxInFlightBytes
    /// Nice value of the connection's thread and of the thread that applies heavy ingest
    /// (``IngestRate``; `INGEST_NICE`); 0 leaves them as they are.
    public var ingestNice: Int32 = 0
    /// Events per second from which ingest counts as heavy (``IngestRate``; `INGEST_HEAVY_RATE`).
    public var ingestHeavyRate: Int = ConsumerSettings.defaultIngestHeavyRate

    public static let defaultMaxInFlightBytes = 48 << 20
    public static let defaultIngestHeavyRate = IngestRate.defaultHeavyRate

    /// The prefetch asked of the broker: `prefetch`, lowered so that that many of the largest
    /// deliveries (a body excerpt and a frame of properties) fit in `maxInFlightBytes`.
    public var effectivePrefetch: UInt16 {
        let largest = StreamConsumer.bodyExcerptBytes + amqp.frameMax
        return UInt16(clamping: max(1, min(Int(prefetch), maxInFlightBytes / largest)))
    }

    public init(
        amqp: AMQPConfiguration,
        topology: Topology = Topology(),
        prefetch: UInt16 = 1000,
        reconnect: Backoff = Backoff()
    ) {
        self.amqp = amqp
        self.topology = topology
        self.prefetch = prefetch
        self.reconnect = reconnect
    }
}
