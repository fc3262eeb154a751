public import AMQP

/// The broker objects of docs/events.md#broker-topology, declared idempotently by the service and the CLI.
///
/// - `exchange`: topic exchange the producers publish to (default `accounts`).
/// - `stream`: the event log, a queue with `x-queue-type: stream`, bound with `account.#`
///   (default `accounts.events`).
/// - `invalidQueue`: durable queue for events that cannot be applied (default
///   `accounts.events.invalid`).
/// - `streamArguments`: extra arguments used only when the stream is created here
///   (by default 8 MiB segments, `streamArguments(initialClusterSize:maxSegmentSizeBytes:)`); an
///   existing stream is used as it is.
public struct Topology: Sendable, Equatable {
    public static let defaultExchange = "accounts"
    public static let defaultStream = "accounts.events"
    public static let defaultInvalidQueue = "accounts.events.invalid"

    public var exchange: String
    public var stream: String
    public var invalidQueue: String
    public var bindingKey: String
    public var streamArguments: AMQPTable

    public init(
        exchange: String = Topology.defaultExchange,
        stream: String = Topology.defaultStream,
        invalidQueue: String = Topology.defaultInvalidQueue,
        bindingKey: String = "account.#",
        streamArguments: AMQPTable = Topology.streamArguments(initialClusterSize: nil)
    ) {
        self.exchange = exchange
        self.stream = stream
        self.invalidQueue = invalidQueue
        self.bindingKey = bindingKey
        self.streamArguments = streamArguments
    }

    /// Declares the exchange, the stream (passively first: an existing stream is used as
    /// it is), the binding and the invalid-events queue. Opens and closes its own channels.
    ///
    /// A 404 that is not "no queue" (right after a broker restart: "home node … down or
    /// inaccessible") is thrown as it is, for the caller to retry: the stream is never
    /// re-created because of it.
    public func declare(on connection: AMQPConnection) async throws(AMQPError) {
        try await declareStream(on: connection)
        try await declareInvalidQueue(on: connection)
    }

    /// The exchange, the stream and its binding: what consuming and publishing need.
    public func declareStream(on connection: AMQPConnection) async throws(AMQPError) {
        let channel = try await connection.openChannel()
        try await channel.declareExchange(exchange, type: "topic", durable: true)
        try await Self.declareQueuePassivelyFirst(
            on: connection, name: stream,
            arguments: streamArguments.merging(["x-queue-type": .string("stream")]))
        try await channel.bindQueue(stream, to: exchange, routingKey: bindingKey)
        try await channel.close()
    }

    /// The invalid-events queue, passively first: an existing one (a classic queue from
    /// before, say) is used as it is; a missing one is created as a quorum queue, replicated
    /// over the cluster's nodes, so that no single node's loss takes it away.
    public func declareInvalidQueue(on connection: AMQPConnection) async throws(AMQPError) {
        try await Self.declareQueuePassivelyFirst(on: connection, name: invalidQueue, arguments: Self.replicatedQueue)
    }

    /// Segment size of a stream created here (`STREAM_MAX_SEGMENT_SIZE`), 8 MiB: a new leader
    /// reads its whole last segment before it serves (1.5 s for 22 MB on 2 cores; RabbitMQ's own
    /// 500 MB would be half a minute), so the segment bounds a failover (docs/operations.md).
    public static let defaultMaxSegmentSizeBytes = 8 << 20

    /// The stream's arguments when it is created here: `x-initial-cluster-size` for
    /// `STREAM_INITIAL_CLUSTER_SIZE` (nil leaves it to RabbitMQ: every node, up to its limit) and
    /// `x-stream-max-segment-size-bytes` for `STREAM_MAX_SEGMENT_SIZE`. An existing stream is
    /// used as it is.
    public static func streamArguments(
        initialClusterSize: Int?, maxSegmentSizeBytes: Int = defaultMaxSegmentSizeBytes
    ) -> AMQPTable {
        var arguments: AMQPTable = ["x-stream-max-segment-size-bytes": .int64(Int64(maxSegmentSizeBytes))]
        if let initialClusterSize { arguments["x-initial-cluster-size"] = .int64(Int64(initialClusterSize)) }
        return arguments
    }

    /// `STREAM_MAX_SEGMENT_SIZE`'s value: a whole number of bytes, at least 1 MiB (smaller
    /// segments mean more files for nothing: an event is a few hundred bytes).
    public static func parseMaxSegmentSize(_ text: String) -> Int? {
        guard let size = Int(text), size >= 1 << 20 else { return nil }
        return size
    }

    /// `STREAM_INITIAL_CLUSTER_SIZE`'s value: a whole number of at least 1.
    public static func parseInitialClusterSize(_ text: String) -> Int? {
        guard let size = Int(text), size >= 1 else { return nil }
        return size
    }

    /// The arguments of the queues this service creates beside the stream.
    public static let replicatedQueue: AMQPTable = ["x-queue-type": .string("quorum")]

    /// Declares `name` passively; when there is no such queue, declares it durable with
    /// `arguments`. Returns the declare's answer (message and consumer counts).
    @discardableResult
    public static func declareQueuePassivelyFirst(
        on connection: AMQPConnection, name: String, arguments: AMQPTable
    )
        async throws(AMQPError) -> QueueDeclareResult
    {
        // A failed passive declare closes its channel, so it gets one of its own.
        let probe = try await connection.openChannel()
        do {
            let declared = try await probe.declareQueue(name, passive: true)
            try await probe.close()
            return declared
        } catch .channelClosed(404, let reply) where Self.saysNoQueue(reply) {
            let channel = try await connection.openChannel()
            let declared = try await channel.declareQueue(name, durable: true, arguments: arguments)
            try await channel.close()
            return declared
        }
    }
}

extension Topology {
    /// Whether a NOT_FOUND reply says the queue does not exist (not, say, that its home node
    /// is down). Searched by hand: `String.contains(_:)` lives in _StringProcessing, whose code
    /// would then be paged in at every start.
    static func saysNoQueue(_ reply: String) -> Bool {
        let text = Array(reply.utf8)
        let needle = Array("no queue".utf8)
        guard text.count >= needle.count else { return false }
        return (0...(text.count - needle.count)).contains { text[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

extension AMQPTable {
    /// This table with the entries of `other` added, replacing any with the same key.
    public func merging(_ other: AMQPTable) -> AMQPTable {
        var result = self
        for entry in other.entries { result[entry.key] = entry.value }
        return result
    }
}
