public import AccountProjection
public import AccountReadModel
import CMalloc
import Synchronization

/// The projection and the consumer's state, shared by the stream consumer (one writer)
/// and the HTTP read API (many readers).
///
/// One lock guards it; the consumer takes it once per batch of deliveries and readers
/// once per request, each for microseconds, so reads always see whole events and never
/// hold the consumer up for long.
public final class AccountStore: ReadModel {
    struct State {
        var projection: Projection<EventOrigin>
        var lastOffset: Int64?
        /// A digest of the message at `lastOffset` (nil: unknown, e.g. after a snapshot load):
        /// the message found there on a resume must be the same, or the stream is another one.
        var lastFingerprint: UInt64?
        /// Set when the stream was found deleted or recreated, until the rebuild has caught up.
        var resetReason: String?
        /// True while a snapshot loads at start.
        var loading = false
        var connected = false
        /// The stream's last offset when this connection started; nil until known.
        var tailAtStart: Int64?
        var tailKnown = false
        /// When a connection that was caught up ended (nil: it was not, or one opened since).
        var lostCaughtUpAt: ContinuousClock.Instant?
        var reconnects = 0
        /// When this connection opened and what it received since, until READY is announced.
        var replay: (since: ContinuousClock.Instant, received: Int)?
        var readyAnnounced = false
        /// The highest tail any probe found, for the lag.
        var latestTail: Int64?
        /// The tail as best known: the last probe's, or the last offset handled when that is beyond it.
        var tail: Int64? {
            guard let latestTail else { return nil }
            return max(latestTail, lastOffset ?? -1)
        }
        /// Rejected events handed out by `apply` whose publish is not confirmed yet: while
        /// there are any, no snapshot is taken (it would cover events never sent).
        var unconfirmedRejections = 0
        /// The counters at each second in which something happened (a batch applied, the
        /// status page read), for the status page's rates.
        var activity = ActivityHistory()
        /// The broker (never its credentials), for the status page.
        var broker: (address: String, vhost: String, tls: Bool)?
        /// The last broker error that ended a connection (or an attempt) and its second: `/ready`
        /// shows it while disconnected, the status page always.
        var lastConnectionError: (text: String, second: Int64)?
        /// Why rejections cannot reach the invalid queue now; nil while they can.
        var invalidQueueProblem: String?

        /// Before a batch at `second`: when nothing happened for a while, the counters as
        /// they stood go in at the second before, so that the history does not spread this
        /// batch over the quiet spell.
        mutating func markQuietSpell(before second: Int64) {
            if let latest = activity.latestSecond, latest < second - 1 {
                activity.record(ActivityCounters(projection.statistics), at: second - 1)
            }
        }
    }

    private let state: Mutex<State>
    /// Held by the one writer while it changes the projection, and by a snapshot while it
    /// encodes into the temporary file (not while it fsyncs): the snapshot encodes a copy taken under `state`'s lock in O(1) (the buffers
    /// are shared, copy-on-write) and, since nothing writes meanwhile, nothing is copied,
    /// while readers go on taking `state`'s lock as usual.
    private let writerGate = Mutex<Void>(())
    /// The most bytes parked events may hold (their bodies, properties and strings).
    private let parkingByteLimit: Int
    /// Told of every change, after the lock is released.
    public let metrics: ServiceMetrics

    /// Whole seconds on a monotonic clock, for the activity history.
    private let currentSecond: @Sendable () -> Int64

    /// `currentSecond`: whole seconds on a monotonic clock (tests pass their own).
    public init(
        parkingLimit: Int, parkingByteLimit: Int = .max, metrics: ServiceMetrics = ServiceMetrics(),
        currentSecond: @escaping @Sendable () -> Int64 = AccountStore.monotonicSeconds()
    ) {
        self.parkingByteLimit = parkingByteLimit
        self.state = Mutex(
            State(
                projection: Projection(
                    parkingLimit: parkingLimit, parkingByteLimit: parkingByteLimit, originBytes: { $0.heldBytes })))
        self.metrics = metrics
        self.currentSecond = currentSecond
    }

    /// Seconds since this call, on the continuous clock.
    public static func monotonicSeconds() -> @Sendable () -> Int64 {
        let clock = ContinuousClock()
        let start = clock.now
        return { (clock.now - start).components.seconds }
    }

    // MARK: Writer side (the stream consumer)

    /// Applies decoded events in order, under one lock. Returns the events that must go
    /// to the invalid queue (this batch's, and parked ones that came due or were evicted).
    /// `received` counts the deliveries of the batch, skipped redeliveries included.
    func apply(
        _ events: consuming [(decoded: Result<Event, EventProblem>, origin: EventOrigin)], received: Int
    ) -> [RejectedEvent<EventOrigin>] {
        applyDeciding(events, received: received).map(\.event)
    }

    /// ``apply(_:received:)``, each rejection with where in the stream it was decided: the
    /// same on every replica and every replay, which is what makes it publishable once
    /// (docs/events.md#rejections-and-the-invalid-queue).
    func applyDeciding(
        _ events: consuming [(decoded: Result<Event, EventProblem>, origin: EventOrigin)], received: Int
    ) -> [Rejection] {
        applyDeciding(newestFirst: Array(events.reversed()), received: received)
    }

    /// ``applyDeciding(_:received:)`` with the batch newest first, as the stream consumer builds
    /// it: taken from the end, each event is moved into the projection, neither copied (a retain
    /// and a release per string it holds) nor reversed here (which copied every event).
    func applyDeciding(
        newestFirst events: consuming [(decoded: Result<Event, EventProblem>, origin: EventOrigin)], received: Int
    ) -> [Rejection] {
        var events = events
        let fingerprint = events.first { $0.origin.offset != nil }.map { Self.fingerprint($0.origin) }
        var rejected: [RejectedEvent<EventOrigin>] = []
        var keys: [RejectionKey?] = []
        let clock = ContinuousClock()
        // The lock's hold only: what readers may wait for (the upkeep runs without it).
        var held = Duration.zero
        let second = currentSecond()
        let incoming = events.count
        let (statistics, lastOffset, tail, caughtUp) = writerGate.withLock { _ in
            upkeep(incoming: incoming)
            let figures = state.withLock { state in
                let lockedAt = clock.now
                defer { held = clock.now - lockedAt }
                state.markQuietSpell(before: second)
                state.projection.parkingClock = second
                while let (decoded, origin) = events.popLast() {
                    let decidedAt = origin.offset
                    if let decidedAt { state.lastOffset = decidedAt }
                    let before = rejected.count
                    _ = state.projection.apply(consume decoded, origin: origin, rejected: &rejected)
                    for index in 0..<(rejected.count - before) {
                        keys.append(decidedAt.map { RejectionKey(offset: $0, index: Int64(index)) })
                    }
                }
                if let fingerprint { state.lastFingerprint = fingerprint }
                state.unconfirmedRejections += rejected.count
                state.replay?.received += received
                if state.resetReason != nil && Self.isCaughtUp(state) { state.resetReason = nil }
                let statistics = state.projection.statistics
                state.activity.record(ActivityCounters(statistics), at: second)
                return (statistics, state.lastOffset, state.tail, Self.isCaughtUp(state))
            }
            // Caught up, the new ids are sorted in small numbers: a listing after a replay
            // then finds them sorted, even if no event follows.
            if figures.3 { upkeep(incoming: 0) }
            return figures
        }
        metrics.batchApplied(
            received: received, statistics: statistics, lastOffset: lastOffset, tail: tail, caughtUp: caughtUp,
            duration: held)
        return zip(rejected, keys).map { Rejection(event: $0, key: $1) }
    }

    /// Grows the id table ahead of `incoming` new accounts and sorts the new ids into the
    /// listing order when due, without the readers' lock but for two O(1) moments (see
    /// ``ProjectionUpkeep``). Call with the writer gate held, between batches.
    private func upkeep(incoming: Int) {
        guard var upkeep = state.withLock({ $0.projection.upkeep(incoming: incoming, caughtUp: Self.isCaughtUp($0)) })
        else { return }
        upkeep.prepare()
        let replaced = upkeep.replacedBytes
        state.withLock { $0.projection.install(upkeep) }
        // The replaced arrays go back to malloc's free lists; a large one is worth handing
        // back to the system (it would otherwise count in the RSS for good).
        if replaced >= Self.trimAfterBytes { _ = malloc_trim(0) }
    }

    /// Replaced bytes after which an upkeep trims malloc's heap.
    static let trimAfterBytes = 1 << 20

    /// The broker confirmed this many of the rejected events `apply` handed out.
    func rejectionsConfirmed(_ count: Int) {
        state.withLock { $0.unconfirmedRejections = max(0, $0.unconfirmedRejections - count) }
    }

    // MARK: Snapshots

    /// The projection as a snapshot covering `lastOffset`, in pieces (see
    /// `Projection.streamSnapshot`): `output` gets them while the consumer waits at the writer
    /// gate (readers do not); nil before the first event, and while rejected events wait for
    /// the broker's confirm, without calling `output`.
    public func streamSnapshot<Failure: Error>(
        identity: String, output: ([UInt8]) throws(Failure) -> Void
    ) throws(Failure) -> (header: [UInt8], trailer: [UInt8], offset: Int64)? {
        try writerGate.withLock { _ throws(Failure) -> (header: [UInt8], trailer: [UInt8], offset: Int64)? in
            let frozen = state.withLock { state -> (Projection<EventOrigin>, Int64)? in
                guard let offset = state.lastOffset, state.unconfirmedRejections == 0 else { return nil }
                return (state.projection, offset)
            }
            guard let (projection, offset) = frozen else { return nil }
            let (header, trailer) = try projection.streamSnapshot(
                identity: identity, offset: offset, encodeOrigin: EventOrigin.encode, output: output)
            return (header, trailer, offset)
        }
    }

    /// The same snapshot whole in memory.
    public func snapshotBytes(identity: String) -> (bytes: [UInt8], offset: Int64)? {
        var bytes: [UInt8] = []
        guard let (header, trailer, offset) = streamSnapshot(identity: identity, output: { bytes += $0 }) else {
            return nil
        }
        bytes.replaceSubrange(0..<header.count, with: header)
        bytes += trailer
        return (bytes, offset)
    }

    /// Replaces the projection with a snapshot's, and resumes after the offset it covers.
    /// Call before the consumer starts. Returns that offset and the opened accounts.
    @discardableResult
    public func restore(from bytes: [UInt8], identity: String) throws(SnapshotError) -> (offset: Int64, accounts: Int) {
        let (projection, offset) = try Projection<EventOrigin>.restore(
            from: bytes, identity: identity, decodeOrigin: EventOrigin.decode, parkingByteLimit: parkingByteLimit,
            originBytes: { $0.heldBytes })
        let accounts = projection.statistics.accounts
        let statistics = writerGate.withLock { _ in
            state.withLock { state in
                state.projection = projection
                state.lastOffset = offset
                return projection.statistics
            }
        }
        metrics.totals(statistics)
        metrics.offsets(lastOffset: offset, tail: nil, caughtUp: false)
        return (offset, accounts)
    }

    /// The offset after which consumption resumes: the last one handled, or nil for `first`.
    var lastOffset: Int64? {
        state.withLock { $0.lastOffset }
    }

    /// `resumingCaughtUp`: the replica was caught up when its last connection ended, moments
    /// ago (``resumesCaughtUp(within:)``), so it counts as caught up to where it stopped and is
    /// READY at once; the tail probe then only feeds the lag, as on a live connection.
    func connectionOpened(resumingCaughtUp: Bool = false) {
        state.withLock { state in
            state.connected = true
            state.replay = (ContinuousClock.now, 0)
            state.readyAnnounced = false
            state.tailKnown = resumingCaughtUp
            state.tailAtStart = resumingCaughtUp ? state.lastOffset : nil
            state.lostCaughtUpAt = nil
        }
        metrics.connection(connected: true, lost: false)
    }

    func connectionLost() {
        let lost = state.withLock { state in
            let lost = state.connected
            if lost && Self.isCaughtUp(state) && !state.loading { state.lostCaughtUpAt = .now }
            if lost { state.reconnects += 1 }
            state.connected = false
            state.tailKnown = false
            return lost
        }
        metrics.connection(connected: false, lost: lost)
        metrics.offsets(lastOffset: lastOffset, tail: state.withLock { $0.tail }, caughtUp: false)
    }

    /// A connection (or an attempt) ended with `error`: `/ready` shows it while disconnected.
    func connectionLost(error: String) {
        let second = currentSecond()
        state.withLock { $0.lastConnectionError = (error, second) }
        connectionLost()
    }

    /// True when the last connection ended caught up less than `grace` ago: a failover to
    /// another node, which can resume READY without waiting for the stream's tail (a new stream
    /// leader may take seconds to deliver it). A longer outage waits for the tail as at start.
    func resumesCaughtUp(within grace: Duration) -> Bool {
        state.withLock { state in
            guard state.lastOffset != nil, state.resetReason == nil, let lost = state.lostCaughtUpAt else {
                return false
            }
            return ContinuousClock.now - lost < grace
        }
    }

    /// Once per connection, when the replica first becomes READY: how long the replay took
    /// since the connection opened and how many deliveries it read; nil otherwise.
    func takeReadyTransition() -> (duration: Duration, received: Int)? {
        state.withLock { state in
            guard !state.readyAnnounced, let replay = state.replay, !state.loading, Self.isCaughtUp(state) else {
                return nil
            }
            state.readyAnnounced = true
            return (ContinuousClock.now - replay.since, replay.received)
        }
    }

    /// The stream's tail as it stood when the connection started (nil: the stream was empty).
    func tailFound(_ tail: Int64?) {
        let (lastOffset, caughtUp) = state.withLock { state in
            state.tailAtStart = tail
            state.tailKnown = true
            if let tail { state.latestTail = max(state.latestTail ?? tail, tail) }
            return (state.lastOffset, Self.isCaughtUp(state))
        }
        metrics.offsets(lastOffset: lastOffset, tail: state.withLock { $0.tail }, caughtUp: caughtUp)
    }

    /// The stream's tail as a later probe found it (for the lag; readiness keeps the tail at start).
    func tailProbed(_ tail: Int64?) {
        let (lastOffset, latest, caughtUp) = state.withLock { state in
            if let tail { state.latestTail = max(state.latestTail ?? tail, tail) }
            return (state.lastOffset, state.tail, Self.isCaughtUp(state))
        }
        metrics.offsets(lastOffset: lastOffset, tail: latest, caughtUp: caughtUp)
    }

    /// The broker the consumer connects to, for the status page (the password is not kept).
    public func setBroker(host: String, port: Int, vhost: String, tls: Bool) {
        state.withLock { $0.broker = ("\(host):\(port)", vhost, tls) }
    }

    /// The broker node (`host:port`) of the connection just opened: `/stats`, the status page
    /// and `accountservice_broker_node` show it.
    func connectedTo(node: String, vhost: String, tls: Bool) {
        state.withLock { $0.broker = (node, vhost, tls) }
        metrics.brokerNode(node)
    }

    /// Whether rejections can go to the invalid queue (`problem` nil) or why not.
    func invalidQueue(problem: String?) {
        state.withLock { $0.invalidQueueProblem = problem }
        metrics.invalidQueue(available: problem == nil)
    }

    public func invalidQueueProblem() -> String? {
        state.withLock { $0.invalidQueueProblem }
    }

    // MARK: Reader side (ReadModel)

    public func account(id: String) -> Account? {
        state.withLock { $0.projection.account(id: id) }
    }

    public func accounts(after: String?, limit: Int) -> AccountPage {
        state.withLock { state in
            let page = state.projection.accounts(after: after, limit: limit)
            return AccountPage(items: page.items, hasMore: page.hasMore)
        }
    }

    public func statistics() -> ServiceStatistics {
        state.withLock { state in
            ServiceStatistics(
                projection: state.projection.statistics, lastOffset: state.lastOffset, caughtUp: Self.isCaughtUp(state),
                broker: state.connected ? state.broker?.address : nil)
        }
    }

    /// The activity history up to now: reading it records the counters at the current
    /// second, so that a quiet spell shows as zero rates.
    public func activity() -> ActivityHistory {
        let second = currentSecond()
        return state.withLock { state in
            state.markQuietSpell(before: second)
            state.activity.record(ActivityCounters(state.projection.statistics), at: second)
            return state.activity
        }
    }

    public func operatorStatus() -> OperatorStatus {
        let now = currentSecond()
        return state.withLock { state in
            let parked = state.projection.parkedAccounts(oldest: OperatorStatus.parkedAccountsShown)
            // A stream found empty at start reaches at least as far as what was handled since.
            let tail = state.tail ?? (state.tailKnown ? state.lastOffset : nil)
            return OperatorStatus(
                uptimeSeconds: now, broker: state.broker?.address, brokerVhost: state.broker?.vhost,
                brokerTLS: state.broker?.tls ?? false, reconnects: state.reconnects,
                lastConnectionError: state.lastConnectionError?.text,
                lastConnectionErrorAgeSeconds: state.lastConnectionError.map { max(0, now - $0.second) },
                tailOffset: tail, lag: tail.map { max(0, $0 - (state.lastOffset ?? -1)) },
                parkedAccounts: parked.accounts,
                longestParked: parked.oldest.map {
                    OperatorStatus.WaitingAccount(
                        accountId: $0.accountId, parked: $0.parked, waitingSeconds: max(0, now - $0.oldestParkedAt))
                })
        }
    }

    public func readiness() -> Readiness {
        state.withLock { state in
            if state.loading { return .loading }
            guard state.connected else { return .disconnected }
            if Self.isCaughtUp(state) { return .ready }
            return state.resetReason == nil ? .catchingUp : .rebuilding
        }
    }

    /// While true, `/ready` answers 503 LOADING (a snapshot is loading at start).
    public func setLoading(_ loading: Bool) {
        state.withLock { $0.loading = loading }
    }

    public func readinessReason() -> String? {
        state.withLock { $0.resetReason }
    }

    public func readinessDetail() -> ReadinessDetail {
        state.withLock { state in
            ReadinessDetail(
                reason: state.connected ? state.resetReason : (state.lastConnectionError?.text ?? state.resetReason),
                lastOffset: state.lastOffset, tail: state.tail)
        }
    }

    // MARK: The stream's identity

    /// A digest of a message (its kept body and its size as sent), to tell one stream's
    /// message at an offset from another's.
    static func fingerprint(_ origin: EventOrigin) -> UInt64 {
        fingerprint(body: origin.body, size: origin.originalBodySize)
    }

    static func fingerprint(body: [UInt8], size: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(truncatingIfNeeded: size)
        for byte in body {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The digest of the message at the last offset handled, when known.
    var lastFingerprint: UInt64? {
        state.withLock { $0.lastFingerprint }
    }

    /// The stream was deleted or recreated: starts the projection over, empty, to be rebuilt
    /// from the new stream's first offset; `/ready` answers REBUILDING with `reason` until caught up.
    func resetForNewStream(reason: String) {
        let statistics = writerGate.withLock { _ in
            state.withLock { state in
                state.projection = Projection(
                    parkingLimit: state.projection.parkingLimit, parkingByteLimit: parkingByteLimit,
                    originBytes: { $0.heldBytes })
                state.lastOffset = nil
                state.lastFingerprint = nil
                state.latestTail = nil
                state.tailAtStart = nil
                state.tailKnown = false
                state.resetReason = reason
                return state.projection.statistics
            }
        }
        metrics.streamReset()
        metrics.totals(statistics)
        metrics.offsets(lastOffset: nil, tail: nil, caughtUp: false)
    }

    private static func isCaughtUp(_ state: State) -> Bool {
        guard state.connected, state.tailKnown else { return false }
        guard let tail = state.tailAtStart else { return true }
        return (state.lastOffset ?? -1) >= tail
    }
}
