import AMQP

/// When to ack: once a quarter of the prefetch window is handled and unacked, and at the end.
struct AckWindow {
    private let threshold: Int
    private var unacked = 0
    private var lastTag: UInt64?

    init(prefetch: UInt16) {
        threshold = max(1, Int(prefetch) / 4)
    }

    /// The tag to ack (multiple) after handling `batch`, if it is time.
    mutating func handled(_ batch: [AMQPDelivery]) -> UInt64? {
        guard let last = batch.last?.deliveryTag else { return nil }
        unacked += batch.count
        lastTag = last
        guard unacked >= threshold else { return nil }
        return rest()
    }

    /// The tag of everything handled and not acked yet.
    mutating func rest() -> UInt64? {
        defer {
            unacked = 0
            lastTag = nil
        }
        return unacked > 0 ? lastTag : nil
    }
}
