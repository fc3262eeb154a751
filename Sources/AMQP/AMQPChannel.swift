import Synchronization

/// An AMQP channel: declarations, consuming, publishing.
///
/// When the broker closes the channel (a missing exchange, a redeclaration with
/// other arguments…) every call on it fails with ``AMQPError/channelClosed(code:reply:)``;
/// the connection stays usable: open a new channel.
public struct AMQPChannel: Sendable {
    public let id: UInt16
    public let connection: AMQPConnection

    init(id: UInt16, connection: AMQPConnection) {
        self.id = id
        self.connection = connection
    }

    private var loop: ConnectionThread { connection.thread }

    public func declareExchange(
        _ name: String,
        type: String = "topic",
        passive: Bool = false,
        durable: Bool = true,
        autoDelete: Bool = false,
        internal: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in
            try loop.declareExchange(
                channel: id, name: name, type: type, passive: passive, durable: durable, autoDelete: autoDelete,
                internal: `internal`, arguments: arguments)
        }
    }

    public func deleteExchange(_ name: String) async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in try loop.deleteExchange(channel: id, name: name) }
    }

    /// Declares a queue (a stream is a queue with `x-queue-type: stream`). With `passive`
    /// it only checks that the queue exists (404 NOT_FOUND closes the channel otherwise).
    @discardableResult
    public func declareQueue(
        _ name: String,
        passive: Bool = false,
        durable: Bool = true,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws(AMQPError) -> QueueDeclareResult {
        let id = self.id
        return try await loop.perform { loop throws(AMQPError) in
            try loop.declareQueue(
                channel: id, name: name, passive: passive, durable: durable, exclusive: exclusive,
                autoDelete: autoDelete, arguments: arguments)
        }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(
        _ name: String, ifUnused: Bool = false, ifEmpty: Bool = false
    ) async throws(AMQPError)
        -> UInt32
    {
        let id = self.id
        return try await loop.perform { loop throws(AMQPError) in
            try loop.deleteQueue(channel: id, name: name, ifUnused: ifUnused, ifEmpty: ifEmpty)
        }
    }

    public func bindQueue(
        _ queue: String, to exchange: String, routingKey: String, arguments: AMQPTable = [:]
    )
        async throws(AMQPError)
    {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in
            try loop.bindQueue(
                channel: id, queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments)
        }
    }

    /// How many unacknowledged deliveries the broker may send (streams need one).
    public func qos(prefetchCount: UInt16, global: Bool = false) async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in
            try loop.qos(channel: id, prefetchCount: prefetchCount, global: global)
        }
    }

    /// Puts the channel in confirm mode: from then on ``publish(_:)`` waits for the broker's confirms.
    public func enablePublisherConfirms() async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in try loop.confirmSelect(channel: id) }
    }

    /// Starts a consumer. Deliveries come out of the returned sequence in order; it ends
    /// after ``cancel(consumerTag:)`` or ``close()``, and throws when the broker cancels
    /// the consumer or the channel or connection ends.
    ///
    /// - Parameter arguments: consumer arguments, e.g. `["x-stream-offset": .string("first")]`
    ///   or `.int64(1234)` to read a stream from an offset.
    public func consume(
        queue: String,
        consumerTag: String = "",
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPTable = [:]
    ) async throws(AMQPError) -> AMQPConsumer {
        let (stream, continuation) = AsyncThrowingStream<[AMQPDelivery], any Error>.makeStream()
        let id = self.id
        let tag = try await loop.perform { loop throws(AMQPError) in
            try loop.consume(
                channel: id, queue: queue, consumerTag: consumerTag, noAck: noAck, exclusive: exclusive,
                arguments: arguments, continuation: continuation)
        }
        return AMQPConsumer(consumerTag: tag, channel: self, batches: stream)
    }

    /// Stops a consumer; deliveries already received are still handed out.
    public func cancel(consumerTag: String) async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in try loop.cancel(channel: id, consumerTag: consumerTag) }
    }

    /// Acknowledges a delivery (with `multiple`, every one up to it). It is queued for the
    /// connection thread and returns at once; a failure to send ends the connection.
    public func ack(deliveryTag: UInt64, multiple: Bool = false) {
        let id = self.id
        loop.submit { loop in try? loop.ack(channel: id, deliveryTag: deliveryTag, multiple: multiple) }
    }

    /// Rejects a delivery (with `multiple`, every one up to it); queued like ``ack(deliveryTag:multiple:)``.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool = false) {
        let id = self.id
        loop.submit { loop in
            try? loop.nack(channel: id, deliveryTag: deliveryTag, multiple: multiple, requeue: requeue)
        }
    }

    /// Publishes one message; in confirm mode, returns once the broker confirmed, nacked
    /// or returned it.
    public func publish(_ message: AMQPMessage) async throws(AMQPError) -> PublishOutcome {
        try await publish([message])[0]
    }

    /// Publishes messages in order, all written at once (many in flight), and returns
    /// each one's outcome once every confirm is in. Throws if the channel or connection
    /// ends first: then the messages without an outcome may or may not have been stored.
    public func publish(_ messages: [AMQPMessage]) async throws(AMQPError) -> [PublishOutcome] {
        try await startPublishing(messages).outcomes()
    }

    /// Hands the messages to the connection now and returns at once; await the ticket for
    /// their outcomes. Calls made one after another reach the broker in that order, so a
    /// producer can keep many batches in flight without giving up ordering.
    public func startPublishing(_ messages: [AMQPMessage]) -> PublishTicket {
        let ticket = PublishTicket()
        let id = self.id
        let loop = self.loop
        let accepted = loop.submit { loop in
            // Made on the connection thread, which alone completes it.
            let batch = PublishBatch(count: messages.count) { result in ticket.settle(result) }
            loop.publish(channel: id, messages: messages, batch: batch)
        }
        if !accepted {
            ticket.settle(.failure(loop.finalError ?? .closedByClient))
        }
        return ticket
    }

    /// Closes the channel (channel.close handshake).
    public func close() async throws(AMQPError) {
        let id = self.id
        try await loop.perform { loop throws(AMQPError) in try loop.closeChannel(id) }
    }
}

/// The deliveries of one consumer, in order.
///
/// Iterate it for one delivery at a time, or ``batches`` for what arrived together
/// (cheaper at high rates: one suspension per batch).
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let consumerTag: String
    public let channel: AMQPChannel
    /// Deliveries grouped as the connection thread hands them over: what one read of the socket
    /// brought, up to a fifth of the channel's prefetch (512 without one), or what gathered within 5 ms while the socket kept having more.
    public let batches: AsyncThrowingStream<[AMQPDelivery], any Error>

    public func makeAsyncIterator() -> Iterator {
        Iterator(batches: batches.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncThrowingStream<[AMQPDelivery], any Error>.AsyncIterator
        var current: [AMQPDelivery] = []
        var index = 0

        public mutating func next() async throws -> AMQPDelivery? {
            while index == current.count {
                guard let batch = try await batches.next() else { return nil }
                current = batch
                index = 0
            }
            defer { index += 1 }
            return current[index]
        }
    }
}

/// The outcomes of messages handed to ``AMQPChannel/startPublishing(_:)``, once the broker has
/// confirmed, nacked or returned each of them (or the channel or connection ended).
public final class PublishTicket: Sendable {
    private struct State {
        var result: Result<[PublishOutcome], AMQPError>?
        var waiters: [CheckedContinuation<Result<[PublishOutcome], AMQPError>, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    func settle(_ result: Result<[PublishOutcome], AMQPError>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<[PublishOutcome], AMQPError>, Never>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// Waits for every outcome; throws if the channel or connection ended first.
    public func outcomes() async throws(AMQPError) -> [PublishOutcome] {
        let result = await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<[PublishOutcome], AMQPError>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        return try result.get()
    }
}
