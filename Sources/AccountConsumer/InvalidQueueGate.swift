import AMQP
import Logging

/// Decides which replica sends rejections to the invalid queue, and from where, so that
/// each rejected event reaches it once however many replicas run and however often they
/// replay (docs/events.md#rejections-and-the-invalid-queue).
///
/// One replica publishes: the one whose connection holds the exclusive, auto-delete queue
/// `<invalid-queue>.publisher-lock` (the broker gives it to one connection and frees it when
/// that connection ends, so a dead holder's lock passes on without any timeout of ours).
/// On taking it, the replica reads the highest ``RejectionKey`` published from the marker
/// queue `<invalid-queue>.published` and publishes only rejections decided after it. The
/// others count their rejections and keep the latest ones (``backlogLimitBytes``) in case
/// the holder dies before it publishes them; they prune that backlog with the marker
/// whenever they try the lock again.
actor InvalidQueueGate {
    /// The bytes of rejected events a replica keeps that it has not seen published.
    static let backlogLimitBytes = 16 << 20

    private let queue: String
    private let store: AccountStore
    private let logger: Logger
    private var publisher: InvalidEventPublisher?
    /// Publishing: the lock is ours and the backlog above ``published`` is out.
    private(set) var isPublisher = false
    /// Every rejection decided up to this key is in the invalid queue, as far as we know.
    private var published: RejectionKey?
    private var backlog: [Entry] = []
    private var backlogBytes = 0
    /// The highest key dropped from a full backlog: above ``published`` it was never sent.
    private var droppedUpTo: RejectionKey?

    private struct Entry {
        var rejection: Rejection
        /// Counted in the store's unconfirmed rejections (no snapshot while it is unsent).
        var holdsSnapshot: Bool
    }

    init(queue: String, store: AccountStore, logger: Logger) {
        self.queue = queue
        self.store = store
        self.logger = logger
    }

    /// A new connection: nothing is published until the lock is taken on it.
    func connected(_ publisher: InvalidEventPublisher) {
        self.publisher = publisher
        isPublisher = false
    }

    func disconnected() {
        publisher = nil
        isPublisher = false
    }

    /// Rejections from a batch just applied: published (confirmed) when this replica holds
    /// the lock, otherwise kept in the backlog. The caller acks the batch afterwards.
    func rejected(_ rejections: [Rejection]) async throws(AMQPError) {
        guard isPublisher, let publisher else {
            store.rejectionsConfirmed(rejections.count)
            keep(rejections.map { Entry(rejection: $0, holdsSnapshot: false) })
            return
        }
        try await send(rejections.map { Entry(rejection: $0, holdsSnapshot: true) }, with: publisher)
    }

    /// Tries to take the lock on `connection`; once taken, sends what the backlog holds
    /// above the marker and publishes from then on. Returns whether this replica publishes.
    @discardableResult
    func tryToPublish(on connection: AMQPConnection) async throws(AMQPError) -> Bool {
        if isPublisher { return true }
        let taken = try await takeLock(on: connection)
        let marker = try await readMarker(on: connection, patient: taken)
        if let marker = marker.key { published = max(published ?? marker, marker) }
        prune()
        guard taken, marker.read, let publisher else { return false }
        if let droppedUpTo, droppedUpTo > (published ?? RejectionKey(offset: -1, index: 0)) {
            let text =
                "rejections decided up to \(droppedUpTo) passed while another replica held the invalid queue's lock"
                + " and no longer fit in this replica's \(Self.backlogLimitBytes >> 20) MiB backlog: they are not in"
                + " '\(queue)'; the stream still holds them"
            logger.warning("\(text)", metadata: ["queue": "\(queue)"])
        }
        droppedUpTo = nil
        while !backlog.isEmpty {
            let pending = backlog
            backlog.removeAll()
            backlogBytes = 0
            try await send(pending, with: publisher)
        }
        isPublisher = true
        let after = published.map { "\($0)" } ?? "none yet"
        logger.info(
            "this replica now publishes rejections to '\(queue)' (it holds '\(lockQueue)'); published: \(after)")
        return true
    }

    /// The stream was deleted or recreated: its offsets start over, so what was published
    /// says nothing about them. Forgets it, and deletes the marker (the old stream's offsets)
    /// so that the next publisher starts from the new stream's first rejection.
    func streamReplaced(on connection: AMQPConnection) async {
        isPublisher = false
        published = nil
        droppedUpTo = nil
        store.rejectionsConfirmed(backlog.filter(\.holdsSnapshot).count)
        backlog.removeAll()
        backlogBytes = 0
        do {
            let channel = try await connection.openChannel()
            try await channel.deleteQueue(markerQueue)
            try? await channel.close()
        } catch {
            let advice = "delete it, or rejections of the new stream up to its offset are not published"
            logger.warning("could not delete '\(markerQueue)' after the stream was replaced: \(error); \(advice)")
        }
    }

    private var lockQueue: String { InvalidEventPublisher.lockQueue(for: queue) }
    private var markerQueue: String { InvalidEventPublisher.markerQueue(for: queue) }

    /// Publishes those of `entries` above ``published`` and the new marker; on failure they
    /// go back to the backlog, to be sent once the lock is held again.
    private func send(_ entries: [Entry], with publisher: InvalidEventPublisher) async throws(AMQPError) {
        let above = entries.filter { entry in
            guard let key = entry.rejection.key, let published else { return true }
            return key > published
        }
        let highest = above.compactMap(\.rejection.key).max()
        if !above.isEmpty {
            do {
                try await publisher.publish(above.map(\.rejection), marker: highest)
            } catch {
                isPublisher = false
                backlog = entries + backlog
                backlogBytes += entries.reduce(0) { $0 + $1.rejection.event.origin.heldBytes }
                throw error
            }
            if let highest { published = max(published ?? highest, highest) }
        }
        store.rejectionsConfirmed(entries.filter(\.holdsSnapshot).count)
    }

    /// Adds to the backlog, dropping the oldest past ``backlogLimitBytes``.
    private func keep(_ entries: [Entry]) {
        backlog += entries
        backlogBytes += entries.reduce(0) { $0 + $1.rejection.event.origin.heldBytes }
        var drop = 0
        while backlogBytes > Self.backlogLimitBytes && drop < backlog.count {
            let entry = backlog[drop]
            backlogBytes -= entry.rejection.event.origin.heldBytes
            if let key = entry.rejection.key { droppedUpTo = max(droppedUpTo ?? key, key) }
            if entry.holdsSnapshot { store.rejectionsConfirmed(1) }
            drop += 1
        }
        backlog.removeFirst(drop)
    }

    /// Drops from the backlog what the marker says is published.
    private func prune() {
        guard let published else { return }
        var kept: [Entry] = []
        var released = 0
        for entry in backlog {
            if let key = entry.rejection.key, key <= published {
                if entry.holdsSnapshot { released += 1 }
            } else {
                kept.append(entry)
            }
        }
        guard kept.count < backlog.count else { return }
        backlog = kept
        backlogBytes = kept.reduce(0) { $0 + $1.rejection.event.origin.heldBytes }
        store.rejectionsConfirmed(released)
    }

    /// Declares the lock queue exclusively: the broker answers 405 RESOURCE_LOCKED while
    /// another connection holds it.
    private func takeLock(on connection: AMQPConnection) async throws(AMQPError) -> Bool {
        let channel = try await connection.openChannel()
        do {
            try await channel.declareQueue(lockQueue, durable: false, exclusive: true, autoDelete: true)
        } catch .channelClosed(405, _) {
            return false
        }
        try? await channel.close()
        return true
    }

    /// The marker's key, read without taking it away (consumed unacked, then the channel is
    /// closed and the broker puts it back). `read` false when another replica held it while
    /// we looked (it is then not ready, and that replica's consumer shows): `patient` tries a
    /// few times, since the lock taker must not go forward from a key it did not see.
    private func readMarker(
        on connection: AMQPConnection, patient: Bool
    ) async throws(AMQPError) -> (key: RejectionKey?, read: Bool) {
        for _ in 0..<(patient ? 5 : 1) {
            let channel = try await connection.openChannel()
            let declared = try await channel.declareQueue(markerQueue, arguments: InvalidEventPublisher.markerArguments)
            if declared.messageCount == 0 {
                try? await channel.close()
                if declared.consumerCount == 0 { return (nil, true) }
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            try await channel.qos(prefetchCount: 16)
            let consumer = try await channel.consume(queue: markerQueue)
            let found = await Self.firstKey(in: consumer, within: .seconds(1))
            try? await channel.close()
            if let found { return (found, true) }
        }
        return (nil, false)
    }

    /// The highest key among the deliveries that arrive within `wait` of the first one's wait.
    private static func firstKey(in consumer: AMQPConsumer, within wait: Duration) async -> RejectionKey? {
        await withTaskGroup(of: RejectionKey?.self) { group in
            group.addTask {
                do {
                    for try await batch in consumer.batches {
                        if let key = batch.compactMap({ InvalidEventPublisher.key(in: $0.properties.headers) }).max() {
                            return key
                        }
                    }
                } catch {}
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
