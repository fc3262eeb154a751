import DequeModule

/// A publish waiting its turn to be written, possibly half written.
struct HeldPublish {
    var channel: UInt16
    var messages: ArraySlice<AMQPMessage>
    var batch: PublishBatch
    /// Nil: nothing of the first message written yet; else its method and header are
    /// written, and this many bytes of its body.
    var bodyBytesSent: Int?
    /// When the socket last took a frame of this publish (or it started waiting).
    var lastProgress: ContinuousClock.Instant
}

/// Publishes held back, in order, while the broker blocks publishing or the socket's send
/// buffer is full: writing them would stall the connection thread, since rabbitmq-c waits in
/// send without a deadline. They go out when the broker unblocks and the socket has room, or
/// fail after the blocked timeout. The clock is injected, so the timeout is testable.
struct PublishFlow {
    private(set) var held: Deque<HeldPublish> = []
    private(set) var isBlocked = false
    private(set) var blockedReason = ""
    private var blockedSince: ContinuousClock.Instant?
    /// When the publishing path last moved: a frame written, a confirm in, an unblock.
    private var lastActivity: ContinuousClock.Instant
    private let now: () -> ContinuousClock.Instant

    /// Why publishing has been stuck too long.
    enum Timeout {
        /// Blocked by the broker (connection.blocked) with publishes waiting.
        case blocked(reason: String, waited: Duration)
        /// Not blocked, but the socket took nothing more of this publish.
        case stalled(HeldPublish, waited: Duration)
        /// Not blocked, publishes written and unconfirmed, and neither a confirm nor a write since.
        case unconfirmed(waited: Duration)
    }

    init(now: @escaping () -> ContinuousClock.Instant) {
        self.now = now
        self.lastActivity = now()
    }

    /// True when held publishes wait only for room in the socket (so poll for writability).
    var waitsForSocketRoom: Bool { !held.isEmpty && !isBlocked }

    /// The publish to write next, when the broker lets us.
    var next: HeldPublish? { isBlocked ? nil : held.first }

    mutating func hold(channel: UInt16, messages: [AMQPMessage], batch: PublishBatch) {
        held.append(HeldPublish(channel: channel, messages: messages[...], batch: batch, lastProgress: now()))
    }

    /// Stores what was written of the first publish; `progressed` when the socket took a frame.
    mutating func updateFirst(_ entry: HeldPublish, progressed: Bool) {
        var entry = entry
        if progressed {
            entry.lastProgress = now()
            lastActivity = entry.lastProgress
        }
        held[held.startIndex] = entry
    }

    /// The first publish is done (written or failed); the next one starts its wait now.
    mutating func removeFirst() {
        held.removeFirst()
        lastActivity = now()
        if !held.isEmpty { held[held.startIndex].lastProgress = lastActivity }
    }

    /// A confirm (ack or nack) arrived: the broker is answering.
    mutating func confirmArrived() {
        lastActivity = now()
    }

    mutating func block(reason: String) {
        isBlocked = true
        blockedReason = reason
        blockedSince = now()
    }

    mutating func unblock() {
        isBlocked = false
        blockedSince = nil
        lastActivity = now()
    }

    /// Whether publishing has been stuck longer than `limit` (nil: never times out). Blocked
    /// counts only with publishes waiting: held here, or written and unconfirmed. Unblocked,
    /// written publishes may wait `confirmLimit` (nil: forever) for the broker's first confirm
    /// since the last write or confirm: a broker that took them and never answers (a stream
    /// whose leader died under the publish) would otherwise hold the publisher for good.
    func timeout(limit: Duration?, confirmLimit: Duration? = nil, hasUnconfirmed: Bool) -> Timeout? {
        let now = now()
        if let limit {
            if isBlocked, let since = blockedSince, now - since >= limit, !held.isEmpty || hasUnconfirmed {
                return .blocked(reason: blockedReason, waited: limit)
            }
            if !isBlocked, let entry = held.first, now - entry.lastProgress >= limit {
                return .stalled(entry, waited: limit)
            }
        }
        if let confirmLimit, !isBlocked, hasUnconfirmed, now - lastActivity >= confirmLimit {
            return .unconfirmed(waited: confirmLimit)
        }
        return nil
    }

    /// Empties the queue; returns the batches to fail.
    mutating func removeAll() -> [PublishBatch] {
        let batches = held.map(\.batch)
        held.removeAll()
        return batches
    }
}

/// The messages of one `publish` call, completed when every one has its outcome.
/// Created and completed on the connection thread; `completion` runs there, once.
final class PublishBatch {
    private var outcomes: [PublishOutcome]
    private var remaining: Int
    private var completion: ((Result<[PublishOutcome], AMQPError>) -> Void)?

    init(count: Int, completion: @escaping (Result<[PublishOutcome], AMQPError>) -> Void) {
        self.outcomes = Array(repeating: .nacked, count: count)
        self.remaining = count
        self.completion = completion
        if count == 0 { finishIfDone() }
    }

    func complete(_ index: Int, _ outcome: PublishOutcome) {
        guard completion != nil else { return }
        outcomes[index] = outcome
        remaining -= 1
        finishIfDone()
    }

    func fail(with error: AMQPError) {
        completion?(.failure(error))
        completion = nil
    }

    private func finishIfDone() {
        if remaining == 0 {
            completion?(.success(outcomes))
            completion = nil
        }
    }
}
