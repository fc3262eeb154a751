import AMQP
import AccountMessaging
import AccountProjection
public import Logging
public import ServiceLifecycle
import Synchronization
public import Tracing

/// Reads the event stream into the ``AccountStore``: connects (and keeps retrying while
/// the broker is away or refuses us), declares the topology, consumes the stream from
/// `first` (or from after the last offset handled, on a reconnect), applies each batch
/// of deliveries under one lock, sends rejected events to the invalid queue with a
/// publisher confirm, and acks (one `multiple` ack) once a quarter of the prefetch window
/// is handled: no delivery is acked before its batch is applied and its rejections confirmed.
///
/// On graceful shutdown it cancels the consumer, finishes the batch in hand, acks what
/// it applied and closes the connection.
public final class StreamConsumer: Service, Sendable, CustomStringConvertible, TextOutputStreamable {
    private let settings: ConsumerSettings
    private let store: AccountStore
    private let logger: Logger
    /// Nil: no spans (the default build). Otherwise a consumer span per event, continuing
    /// the `traceparent` its message carries.
    private let tracer: (any Tracer)?
    private let stopping = Atomic<Bool>(false)
    private let active = Mutex<(channel: AMQPChannel, consumerTag: String)?>(nil)
    /// Set when a background probe found the stream shorter than where the replica resumed: the
    /// next connection checks the stream before consuming, whatever the failover grace says.
    private let probeBeforeResuming = Mutex(false)
    /// How soon after losing a caught-up connection a new one may resume READY at once.
    static let failoverGrace: Duration = .seconds(10)
    /// Whether this replica publishes rejections, and from where; it keeps those not sent yet.
    private let invalidGate: InvalidQueueGate

    /// How often a replica that does not publish rejections tries to take the lock again.
    static let publisherLockRetry: Duration = .seconds(3)

    public init(settings: ConsumerSettings, store: AccountStore, logger: Logger, tracer: (any Tracer)? = nil) {
        self.settings = settings
        self.store = store
        self.logger = logger
        self.tracer = tracer
        self.invalidGate = InvalidQueueGate(queue: settings.topology.invalidQueue, store: store, logger: logger)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.consumeUntilStopped()
        } onGracefulShutdown: {
            self.requestStop()
        }
    }

    /// Stops consuming: the current batch is finished, what was applied is acked, then the
    /// connection closes.
    public func requestStop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        if let (channel, tag) = active.withLock({ $0 }) {
            Task { try? await channel.cancel(consumerTag: tag) }
        }
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Connects to the nodes in turn (``AMQPNodeRotation``): a failed node hands over to the
    /// next one at once, and the backoff only comes after every node failed in a round.
    private func consumeUntilStopped() async {
        var backoff = settings.reconnect
        var rotation = AMQPNodeRotation(count: settings.amqp.nodes.count)
        while !isStopping {
            let node = rotation.next() ?? rotation.next() ?? 0
            var amqp = settings.amqp.node(node)
            amqp.threadNice = settings.ingestNice
            do {
                try await consumeOneConnection(amqp, node: node, rotation: &rotation, backoff: &backoff)
            } catch Self.streamReplaced {
                store.connectionLost()
            } catch {
                store.connectionLost(error: "\(error)")
                guard rotation.isRoundOver else {
                    logger.warning(
                        "broker node \(amqp.url.node) unavailable: \(error); trying the next node",
                        metadata: ["broker": "\(amqp.url)"])
                    continue
                }
                let delay = backoff.next()
                logger.warning(
                    "broker unavailable: \(error); retrying in \(delay)",
                    metadata: ["broker": "\(amqp.url)"])
                await sleepUnlessStopping(delay)
            }
        }
        store.connectionLost()
        logger.info(
            "stream consumer stopped", metadata: ["lastOffset": "\(store.lastOffset.map { "\($0)" } ?? "none")"])
    }

    private func sleepUnlessStopping(_ delay: Duration) async {
        let clock = ContinuousClock()
        let end = clock.now + delay
        while !isStopping && clock.now < end {
            try? await Task.sleep(for: min(.milliseconds(50), end - clock.now))
        }
    }

    private func consumeOneConnection(
        _ configuration: AMQPConfiguration, node: Int, rotation: inout AMQPNodeRotation, backoff: inout Backoff
    ) async throws(AMQPError) {
        let topology = settings.topology
        var amqp = configuration
        amqp.maxBodyBytes = Self.bodyExcerptBytes
        let setupStart = ContinuousClock.now
        // Each step of a (re)connect at debug level: where a failover's seconds go.
        let step = { [logger] (what: String) in
            logger.debug("connect to \(amqp.url.node): \(what) after \(ContinuousClock.now - setupStart)")
        }
        let connection = try await AMQPConnection.connect(amqp, logger: logger)
        do throws(AMQPError) {
            step("connected")
            try await topology.declareStream(on: connection)
            step("stream declared")
            let invalid = try await InvalidEventPublisher.open(on: connection, queue: topology.invalidQueue)
            await invalidGate.connected(invalid)
            // Before consuming: a replica that takes the lock replays knowing what is published.
            try await prepareInvalidQueue(on: connection)
            step("invalid queue ready")
            let lockRetry = Task { await self.retryPublisherLock(connection: connection) }
            defer { lockRetry.cancel() }
            var firstTail: ProbedTail? = nil
            // A failover moments after being caught up: consume at once; the stream's identity
            // is checked in the background (a new leader may take seconds to send the tail).
            let resumingCaughtUp =
                !probeBeforeResuming.withLock { $0 } && store.resumesCaughtUp(within: Self.failoverGrace)
            if let resume = store.lastOffset, !resumingCaughtUp {
                // Before a single event is applied: is this still the stream we applied up to `resume` of?
                firstTail = await findTail(connection: connection, patient: true)
                step("tail probed: \(firstTail.map { "\($0.tail ?? -1)" } ?? "unknown")")
                if let probed = firstTail, (probed.tail ?? -1) < resume {
                    let tail = probed.tail.map { "its last offset is \($0)" } ?? "it is empty"
                    await noticeStreamReplaced(
                        on: connection,
                        "stream '\(topology.stream)' was deleted or recreated: \(tail), below offset \(resume) that"
                            + " this replica applied")
                    firstTail = nil
                }
            }
            let channel = try await connection.openChannel()
            try await channel.qos(prefetchCount: settings.effectivePrefetch)
            // From the last offset handled, not after it: the message there must be the one
            // applied (its fingerprint), or the stream is another one.
            let start: AMQPFieldValue = store.lastOffset.map { .int64($0) } ?? .string("first")
            let consumer = try await channel.consume(queue: topology.stream, arguments: ["x-stream-offset": start])
            step("consuming")
            active.withLock { $0 = (channel, consumer.consumerTag) }
            store.connectedTo(node: amqp.url.node, vhost: amqp.url.vhost, tls: amqp.url.isTLS)
            store.connectionOpened(resumingCaughtUp: resumingCaughtUp)
            if !resumingCaughtUp { probeBeforeResuming.withLock { $0 = false } }
            backoff.reset()
            rotation.connected(node)
            let from = store.lastOffset.map { "offset \($0 + 1)" } ?? "the first offset"
            logger.info(
                "consuming stream '\(topology.stream)' from \(from) on broker node \(amqp.url.node)",
                metadata: ["broker": "\(amqp.url)", "prefetch": "\(settings.effectivePrefetch)"])
            let resumedAt = firstTail == nil ? store.lastOffset : nil
            let tailProbe = Task { [firstTail] in
                await self.probeTail(
                    connection: connection, first: firstTail, unsureOfStreamFrom: resumedAt,
                    readyAlready: resumingCaughtUp)
            }
            defer { tailProbe.cancel() }
            if isStopping { try? await channel.cancel(consumerTag: consumer.consumerTag) }

            // Acks are credit, not bookkeeping, on a stream (the offset we resume from is our
            // own): one ack for every quarter of the prefetch window keeps the broker sending
            // without a write and a wake-up of the connection thread per batch.
            var acks = AckWindow(prefetch: settings.effectivePrefetch)
            do {
                let catchUp = settings.ingestNice > 0 ? NiceThreadExecutor.atNice(settings.ingestNice) : nil
                var batches = consumer.batches.makeAsyncIterator()
                var rate = IngestRate(heavyRate: settings.ingestHeavyRate)
                var next = try await batches.next()
                var heavy = next.map { rate.isHeavy(adding: $0.count, now: Monotonic.nanoseconds()) } ?? false
                // A run of heavy batches stays on the lowered thread, waits for the next batch
                // there too, and hops back once the rate falls: two hops per change, not per batch.
                while let first = next {
                    if heavy, let catchUp {
                        next = try await withTaskExecutorPreference(catchUp) {
                            try await applyWhile(
                                heavy: true, first, from: &batches, rate: &rate, acks: &acks, channel: channel)
                        }
                    } else {
                        next = try await applyWhile(
                            heavy: heavy, first, from: &batches, rate: &rate, acks: &acks, channel: channel)
                    }
                    heavy.toggle()
                    if next != nil, catchUp != nil {
                        logger.debug("ingest \(heavy ? "heavy: applying at INGEST_NICE" : "light")")
                    }
                }
                if let tag = acks.rest() { channel.ack(deliveryTag: tag, multiple: true) }
            } catch let error as AMQPError {
                throw error
            } catch {
                throw AMQPError.connectionLost(reason: "\(error)")
            }
            active.withLock { $0 = nil }
            await invalidGate.disconnected()
            guard isStopping else {
                throw .connectionLost(reason: "the stream consumer ended")
            }
            await connection.close()
        } catch {
            active.withLock { $0 = nil }
            await invalidGate.disconnected()
            await connection.close()
            throw error
        }
    }

    /// Tries the invalid queue's publisher lock every ``publisherLockRetry`` while another
    /// replica holds it or the queue cannot be used, until cancelled with the connection.
    private func retryPublisherLock(connection: AMQPConnection) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.publisherLockRetry)
            let unusable = store.invalidQueueProblem() != nil
            let publishing = await invalidGate.isPublisher
            guard !Task.isCancelled, unusable || !publishing else { continue }
            do {
                try await prepareInvalidQueue(on: connection)
            } catch {
                logger.debug("could not try the invalid queue's publisher lock: \(error)")
            }
        }
    }

    /// Declares the invalid queue and tries its publisher lock. A queue that cannot be used (its
    /// only node down, say) never stops consuming: the rejections are kept, `/ready` and
    /// `accountservice_invalid_queue_available` say why, and this is tried again every
    /// ``publisherLockRetry``. Only the end of the connection is thrown.
    private func prepareInvalidQueue(on connection: AMQPConnection) async throws(AMQPError) {
        do {
            try await settings.topology.declareInvalidQueue(on: connection)
            try await invalidGate.tryToPublish(on: connection)
            invalidQueueUsable()
        } catch {
            try invalidQueueUnusable(error)
        }
    }

    private func invalidQueueUsable() {
        guard store.invalidQueueProblem() != nil else { return }
        store.invalidQueue(problem: nil)
        logger.info("the invalid queue '\(settings.topology.invalidQueue)' can be used again")
    }

    /// Rethrows what ends the connection; reports anything else as the invalid queue's problem.
    private func invalidQueueUnusable(_ error: AMQPError) throws(AMQPError) {
        switch error {
        case .connectionLost, .connectionClosed, .closedByClient: throw error
        default: break
        }
        let queue = settings.topology.invalidQueue
        let problem = "cannot use the invalid queue '\(queue)': \(error); rejections are kept and published once it can"
        if store.invalidQueueProblem() != problem {
            logger.warning("\(problem)", metadata: ["queue": "\(queue)"])
        }
        store.invalidQueue(problem: problem)
    }

    private typealias Batches = AsyncThrowingStream<[AMQPDelivery], any Error>

    /// Applies `first` and the batches after it while their rate is `heavy` (``IngestRate``), acking
    /// as ``AckWindow`` says; returns the batch whose rate is not, or nil once the stream ends or
    /// the consumer stops.
    private func applyWhile(
        heavy: Bool, _ first: [AMQPDelivery], from batches: inout Batches.Iterator, rate: inout IngestRate,
        acks: inout AckWindow, channel: AMQPChannel
    ) async throws -> [AMQPDelivery]? {
        var batch = first
        while true {
            try await handle(batch, channel: channel)
            announceReadyOnce()
            if let tag = acks.handled(batch) { channel.ack(deliveryTag: tag, multiple: true) }
            if isStopping { return nil }
            guard let next = try await batches.next() else { return nil }
            if rate.isHeavy(adding: next.count, now: Monotonic.nanoseconds()) != heavy { return next }
            batch = next
        }
    }

    /// Applies one batch and hands its rejections to the invalid queue (confirmed); the caller acks.
    private func handle(_ batch: [AMQPDelivery], channel: AMQPChannel) async throws(AMQPError) {
        guard !batch.isEmpty else { return }
        let handledUpTo = store.lastOffset ?? -1
        if let expected = store.lastFingerprint,
            let resumed = batch.first(where: { $0.streamOffset == handledUpTo })
        {
            let found = AccountStore.fingerprint(body: resumed.body, size: resumed.bodySize)
            if found != expected {
                await noticeStreamReplaced(
                    on: channel.connection,
                    "stream '\(settings.topology.stream)' was deleted or recreated: the message at offset"
                        + " \(handledUpTo) is not the one this replica applied there")
                throw Self.streamReplaced
            }
        }
        // Newest first: the store takes each from the end and moves it into the projection.
        var events: [(decoded: Result<Event, EventProblem>, origin: EventOrigin)] = []
        events.reserveCapacity(batch.count)
        for index in batch.indices.reversed() {
            // A resumed consumer may be handed the start of the chunk again: skip what was handled.
            let offset = batch[index].streamOffset
            if let offset, offset <= handledUpTo { continue }
            let decoded = Self.decode(body: batch[index].body, size: batch[index].bodySize)
            let origin = EventOrigin(
                body: batch[index].body, deferredProperties: batch[index].deferredProperties,
                routingKey: batch[index].routingKey, offset: offset, originalBodySize: batch[index].bodySize)
            events.append((decoded, origin))
        }
        let spans = tracer.map { startSpans($0, for: batch, skippingUpTo: handledUpTo, newestFirst: events) } ?? []
        let rejected = store.applyDeciding(newestFirst: consume events, received: batch.count)
        for span in spans { span.end() }
        guard !rejected.isEmpty else { return }
        do {
            try await invalidGate.rejected(rejected)
        } catch {
            try invalidQueueUnusable(error)
        }
    }

    /// The bytes of a body kept in memory: a body past the decoder's limit is `too_large` whatever
    /// it holds, so only this much of it is kept, for the invalid queue.
    static let bodyExcerptBytes = EventDecoder.maximumBodySize

    /// Decodes a delivery's body; one cut on arrival is `too_large` by its size as sent. The
    /// body and size, not the delivery: a delivery taken out of the batch was copied, five
    /// retains and releases.
    static func decode(body: [UInt8], size: Int) -> Result<Event, EventProblem> {
        guard size > body.count || size > EventDecoder.maximumBodySize else {
            return body.withUnsafeBytes { EventDecoder.decode($0) }
        }
        return .failure(
            EventProblem(
                reason: .tooLarge, detail: "body is \(size) bytes; the limit is \(EventDecoder.maximumBodySize)"))
    }

    /// One consumer span per event about to be applied, child of its message's trace context.
    private func startSpans(
        _ tracer: some Tracer, for batch: [AMQPDelivery], skippingUpTo handledUpTo: Int64,
        newestFirst events: [(decoded: Result<Event, EventProblem>, origin: EventOrigin)]
    ) -> [any Span] {
        var spans: [any Span] = []
        spans.reserveCapacity(events.count)
        var index = 0
        for delivery in batch {
            if let offset = delivery.streamOffset, offset <= handledUpTo { continue }
            var context = ServiceContext.topLevel
            if let headers = delivery.properties.headers {
                tracer.extract(headers, into: &context, using: AMQPHeadersExtractor())
            }
            let span = tracer.startSpan("\(settings.topology.stream) process", context: context, ofKind: .consumer)
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.operation.type"] = "process"
            span.attributes["messaging.destination.name"] = settings.topology.stream
            span.attributes["messaging.rabbitmq.destination.routing_key"] = delivery.routingKey
            if let offset = delivery.streamOffset { span.attributes["messaging.rabbitmq.stream.offset"] = offset }
            switch events[events.count - 1 - index].decoded {  // newest first
            case .success(let event):
                span.attributes["account.id"] = event.accountId
                if let type = event.type { span.attributes["account.event.type"] = type.rawValue }
                span.attributes["account.event.sequence"] = event.sequence
                if let problem = event.problem {
                    span.setStatus(SpanStatus(code: .error, message: "\(problem.reason.rawValue): \(problem.detail)"))
                }
            case .failure(let problem):
                span.setStatus(SpanStatus(code: .error, message: "\(problem.reason.rawValue): \(problem.detail)"))
            }
            spans.append(span)
            index += 1
        }
        return spans
    }

    /// Ends a connection whose stream was found replaced; the next one consumes the new stream from its
    /// start.
    static let streamReplaced = AMQPError.connectionLost(
        reason: "the stream was replaced; consuming the new one from its first offset")

    /// Says loudly that the stream is not the one applied (log, metric, `/ready` REBUILDING with
    /// the reason), and starts the projection over, to be rebuilt from the new stream: a replica
    /// never serves a mix of two streams' events.
    private func noticeStreamReplaced(on connection: AMQPConnection, _ reason: String) async {
        logger.error(
            "\(reason); the projection is reset and rebuilt from the new stream's first offset",
            metadata: ["stream": "\(settings.topology.stream)"])
        store.resetForNewStream(reason: reason)
        await invalidGate.streamReplaced(on: connection)
    }

    /// What a tail probe found: `tail` nil for an empty stream.
    private struct ProbedTail {
        var tail: Int64?
    }

    /// Logs the replica's first READY on this connection, with what the replay took.
    private func announceReadyOnce() {
        guard let replay = store.takeReadyTransition() else { return }
        let seconds = Double(replay.duration.components.seconds) + Double(replay.duration.components.attoseconds) / 1e18
        let shown = (seconds * 1000).rounded() / 1000
        logger.info(
            "replica READY: replayed \(replay.received) events in \(shown) s",
            metadata: [
                "replayEvents": "\(replay.received)", "replaySeconds": "\(shown)",
                "lastOffset": "\(store.lastOffset.map { "\($0)" } ?? "none")",
            ])
    }

    /// How often the tail is probed again after the first probe, for the lag metric.
    static let tailProbeInterval: Duration = .seconds(15)

    /// Probes the tail at the start of a connection (readiness waits for it), then every
    /// ``tailProbeInterval`` for `accountservice_stream_lag_events`, until cancelled.
    /// `unsureOfStreamFrom`: the offset this connection resumed from when the first probe could
    /// not tell (the stream was between leaders); a tail found below it means another stream, so
    /// the consumer is cancelled and the next connection's first probe decides.
    /// `readyAlready`: the connection resumed READY (``AccountStore/resumesCaughtUp(within:)``);
    /// the tail found then only feeds the lag.
    private func probeTail(
        connection: AMQPConnection, first: ProbedTail?, unsureOfStreamFrom resume: Int64? = nil,
        readyAlready: Bool = false
    ) async {
        var found = first
        // Unsure of the stream: ask patiently until it answers (a new leader takes a moment).
        while found == nil && !Task.isCancelled {
            found = await findTail(connection: connection, patient: resume != nil)
            if found == nil && resume == nil { break }
            if found == nil { try? await Task.sleep(for: .seconds(1)) }
        }
        guard let first = found else { return }
        if let resume, (first.tail ?? -1) < resume, store.lastOffset == resume {
            let stream = settings.topology.stream
            logger.warning(
                "stream '\(stream)' ends below offset \(resume) this replica resumed from; reconnecting to check it")
            probeBeforeResuming.withLock { $0 = true }
            if let (channel, tag) = active.withLock({ $0 }) { try? await channel.cancel(consumerTag: tag) }
            return
        }
        if readyAlready { store.tailProbed(first.tail) } else { store.tailFound(first.tail) }
        announceReadyOnce()
        if let tail = first.tail { logger.debug("stream tail at start: offset \(tail)") }
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.tailProbeInterval)
            guard !Task.isCancelled, let probed = await findTail(connection: connection) else { continue }
            store.tailProbed(probed.tail)
        }
    }

    /// Finds the stream's last offset as it stands now: a consumer at `x-stream-offset:
    /// last` is handed the whole last chunk at once, and its highest offset is the tail.
    /// The passive declare's message count lags by seconds, so it only says how long to
    /// wait for that chunk (docs/read-api.md#readiness). Nil when the probe failed; `tail` nil for an
    /// empty stream.
    private func findTail(connection: AMQPConnection, patient: Bool = false) async -> ProbedTail? {
        let stream = settings.topology.stream
        do {
            let channel = try await connection.openChannel()
            let declared = try await channel.declareQueue(stream, passive: true)
            try await channel.qos(prefetchCount: 2000)
            let probe = try await channel.consume(queue: stream, arguments: ["x-stream-offset": .string("last")])
            typealias Instant = ContinuousClock.Instant
            let seen = Mutex<(tail: Int64?, firstArrival: Instant?, lastArrival: Instant?)>((nil, nil, nil))
            let reader = Task {
                for try await batch in probe.batches {
                    guard let last = batch.last else { continue }
                    let offset = batch.compactMap(\.streamOffset).max()
                    seen.withLock { state in
                        if let offset { state.tail = max(state.tail ?? offset, offset) }
                        state.lastArrival = .now
                        if state.firstArrival == nil { state.firstArrival = state.lastArrival }
                    }
                    channel.ack(deliveryTag: last.deliveryTag, multiple: true)
                }
            }
            let clock = ContinuousClock()
            let started = clock.now
            // `patient`: an empty answer means a reset, so a count of 0 (which may lag) waits long.
            // A stream that has messages but sends none is between leaders (a node just died): that
            // is not an answer, so the patient probe gives up soon and says it does not know.
            let unknownAfter: Duration? = patient && declared.messageCount > 0 ? .milliseconds(500) : nil
            let firstWait: Duration = declared.messageCount > 0 || patient ? .seconds(10) : .milliseconds(400)
            var found: ProbedTail? = nil
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(20))
                let (tail, firstArrival, lastArrival) = seen.withLock { ($0.tail, $0.firstArrival, $0.lastArrival) }
                if let lastArrival, let firstArrival {
                    // The last chunk arrives in one go; a short quiet spell means we have it all.
                    // On a stream being written the chunks keep coming: the last chunk at the start
                    // is in well within 250 ms of the first delivery, so stop there.
                    if clock.now - lastArrival > .milliseconds(120) || clock.now - firstArrival > .milliseconds(250) {
                        found = ProbedTail(tail: tail)
                        break
                    }
                } else if let unknownAfter, clock.now - started > unknownAfter {
                    break
                } else if clock.now - started > firstWait {
                    found = ProbedTail(tail: nil)
                    break
                }
            }
            try? await channel.close()
            reader.cancel()
            return found
        } catch {
            logger.debug("could not probe the stream's tail: \(error)")
            return nil
        }
    }
}

extension StreamConsumer {
    /// The name ServiceLifecycle logs (`"\(service)"`). Without these the group describes the
    /// service by reflection, after a walk over every protocol conformance in the binary for
    /// each protocol it tries; `TextOutputStreamable` is the first one it tries.
    public var description: String { "StreamConsumer" }

    public func write<Target: TextOutputStream>(to target: inout Target) {
        target.write(description)
    }
}
