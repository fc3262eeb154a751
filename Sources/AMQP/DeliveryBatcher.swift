/// Groups deliveries per consumer before they are handed over.
///
/// A batch goes out when one consumer's reaches its limit (a fifth of its prefetch, at most
/// 512), when nothing more arrived for ``linger``, and at the latest ``maxLinger`` after the
/// oldest delivery arrived. During a replay that is one hand-over (a wake-up of the consuming
/// task) per few hundred messages instead of one per read from the socket; a lone live message
/// waits `linger` (1 ms). The clock is injected, so the bounds are testable without waiting.
struct DeliveryBatcher {
    static let linger: Duration = .milliseconds(1)
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
    mutating func append(_ delivery: AMQPDelivery, consumerTag: String, batchLimit: Int) -> Bool {
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
