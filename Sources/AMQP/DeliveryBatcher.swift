/// Groups deliveries per consumer before they are handed over.
///
/// The loop reads what the socket holds, then asks ``takeAfterRead(socketDrained:)`` what to
/// hand over. A batch goes out when one consumer's reaches its limit (a fifth of its prefetch,
/// at most 512), as soon as the socket has nothing more to read, and at the latest
/// ``maxLinger`` after the oldest delivery arrived while the socket keeps having more. During
/// a replay the socket always has more, so that is one hand-over (a wake-up of the consuming
/// task) per few hundred messages; a live message goes out with the read that brought it
/// (waiting for company would only add latency: at a steady 5,000 events/s a 1 ms linger never
/// saw a quiet millisecond and made every event wait for the 5 ms cap). The clock is injected,
/// so the bounds are testable without waiting.
struct DeliveryBatcher {
    static let maxLinger: Duration = .milliseconds(5)
    static let maxBatch = 512

    /// Deliveries handed over at once for a channel with this prefetch (0: none set).
    static func batchLimit(prefetch: UInt16) -> Int {
        prefetch == 0 ? maxBatch : max(1, min(maxBatch, Int(prefetch) / 5))
    }

    struct Batch {
        let consumerTag: String
        let deliveries: [AMQPDelivery]
    }

    private struct Pending {
        let consumerTag: String
        var deliveries: [AMQPDelivery]
    }

    /// Monotonic nanoseconds.
    private let now: () -> UInt64
    /// In order of their first pending delivery; few consumers per connection, so an array.
    private var pending: [Pending] = []
    private var oldestPending: UInt64?

    init(now: @escaping () -> UInt64) {
        self.now = now
    }

    var isEmpty: Bool { pending.isEmpty }

    /// Adds a delivery; true when its consumer's batch is full, so everything should go out now.
    mutating func append(_ delivery: consuming AMQPDelivery, consumerTag: String, batchLimit: Int) -> Bool {
        if oldestPending == nil { oldestPending = now() }
        if let index = pending.firstIndex(where: { $0.consumerTag == consumerTag }) {
            pending[index].deliveries.append(delivery)
            return pending[index].deliveries.count >= batchLimit
        }
        var deliveries: [AMQPDelivery] = []
        deliveries.reserveCapacity(batchLimit)
        deliveries.append(delivery)
        pending.append(Pending(consumerTag: consumerTag, deliveries: deliveries))
        return deliveries.count >= batchLimit
    }

    /// What to hand over after a read: everything when the socket is drained (`socketDrained`:
    /// librabbitmq holds no frame or byte and the socket had nothing), or when the oldest pending
    /// delivery has waited ``maxLinger``; else nothing yet, since more is already there to join
    /// the batch.
    mutating func takeAfterRead(socketDrained: Bool) -> [Batch] {
        guard !isEmpty, socketDrained || lingeredLongEnough else { return [] }
        return takeAll()
    }

    /// True once the oldest pending delivery has waited `maxLinger`.
    var lingeredLongEnough: Bool {
        guard let oldestPending else { return false }
        return now() &- oldestPending >= Self.maxLingerNanoseconds
    }

    private static let maxLingerNanoseconds =
        UInt64(maxLinger.components.attoseconds / 1_000_000_000)
        + UInt64(maxLinger.components.seconds) * 1_000_000_000

    /// Every pending batch, in order; the batcher is empty afterwards.
    mutating func takeAll() -> [Batch] {
        oldestPending = nil
        guard !pending.isEmpty else { return [] }
        let batches = pending.map { Batch(consumerTag: $0.consumerTag, deliveries: $0.deliveries) }
        pending.removeAll(keepingCapacity: true)
        return batches
    }

    /// The pending deliveries of one consumer (it is ending).
    mutating func take(consumerTag: String) -> [AMQPDelivery]? {
        guard let index = pending.firstIndex(where: { $0.consumerTag == consumerTag }) else { return nil }
        let deliveries = pending.remove(at: index).deliveries
        if pending.isEmpty { oldestPending = nil }
        return deliveries
    }
}
