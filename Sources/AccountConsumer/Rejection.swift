import AccountProjection

/// Where in the stream a rejection was decided: the offset of the event being applied when
/// it was rejected (for a parked event evicted or come due, not its own offset), and its
/// place among the rejections decided there. Every replica, on every replay, decides the
/// same rejections at the same keys, so the invalid queue's publisher can go forward from
/// the highest key already published and send each one once.
struct RejectionKey: Comparable, Sendable, CustomStringConvertible {
    var offset: Int64
    var index: Int64

    static func < (a: RejectionKey, b: RejectionKey) -> Bool {
        (a.offset, a.index) < (b.offset, b.index)
    }

    var description: String { index == 0 ? "offset \(offset)" : "offset \(offset) (#\(index + 1))" }
}

/// A rejected event and where it was decided (nil for a delivery without a stream offset).
struct Rejection: Sendable {
    var event: RejectedEvent<EventOrigin>
    var key: RejectionKey?
}
