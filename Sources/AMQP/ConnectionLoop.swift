import Logging

/// The driver of one connection, on its own thread: it reads frames from the
/// `RabbitConnection`, feeds them to the `ConnectionStateMachine` and carries out the actions
/// that come back; it runs the commands of the mailbox, writes held publishes as the
/// `PublishFlow` allows, and hands deliveries over as the `DeliveryBatcher` groups them.
///
/// Created on the connection thread and used there only (commands get it as their argument),
/// so it needs no lock and is not `Sendable`.
final class ConnectionLoop {
    let logger: Logger
    // Internal, not private: ConnectionLoop+Publishing.swift uses them.
    let connection: RabbitConnection
    private let thread: ConnectionThread
    private let onBlocked: (@Sendable (Bool, String) -> Void)?
    var configuration: AMQPConfiguration { connection.configuration }

    var machine: ConnectionStateMachine
    var flow = PublishFlow(now: { ContinuousClock.now })
    private var batcher = DeliveryBatcher(now: Monotonic.nanoseconds)
    private var stopRequested = false
    /// Why the connection ends; set once, then the loop winds down.
    private(set) var failure: AMQPError?
    private var finished = false
    /// Deliveries read while a synchronous method waited for its reply (tests check that they stream).
    private(set) var deliveriesReadDuringCalls = 0

    init(
        connection: RabbitConnection, thread: ConnectionThread, logger: Logger,
        onBlocked: (@Sendable (Bool, String) -> Void)?
    ) {
        self.connection = connection
        self.thread = thread
        self.logger = logger
        self.onBlocked = onBlocked
        self.machine = ConnectionStateMachine(channelMax: connection.channelMax)
    }

    func requestStop() { stopRequested = true }

    // MARK: - The loop

    func run() {
        while true {
            // After a failure the rest still run: they fail at once instead of waiting forever.
            for command in thread.takeCommands() { command(self) }
            writeHeldPublishes()
            failHeldPublishesPastTimeout()
            if stopRequested || failure != nil { break }
            var moreToRead = false
            do throws(AMQPError) {
                moreToRead = try readAvailableFrames()
            } catch {
                fail(error)
            }
            if failure != nil { break }
            let drained = !moreToRead && !connection.hasQueuedInput
            hand(over: batcher.takeAfterRead(socketDrained: drained))
            connection.releaseBuffers()
            // Drained: the batcher is empty, so the sleep delays no delivery.
            if !drained || thread.hasCommands { continue }
            thread.waitForActivity(
                socket: connection.fileDescriptor, writable: flow.waitsForSocketRoom, timeout: idleWait)
        }
        if stopRequested && failure == nil {
            // Best effort: the connection ends either way.
            _ = try? call(.connectionClose, on: 0, operation: "connection.close", timeout: .seconds(2))
        }
        finish(with: failure ?? .closedByClient)
    }

    /// Wake often enough to send our heartbeats on time and notice missing ones.
    private var idleWait: Duration {
        let heartbeat = configuration.heartbeat
        return .milliseconds(heartbeat > 0 ? min(1000, heartbeat * 250) : 1000)
    }

    func fail(_ error: AMQPError) {
        if failure == nil { failure = error }
    }

    /// Reads and handles the frames that are there now. Returns true when it stopped
    /// early with more to read (so the caller must not sleep).
    private func readAvailableFrames() throws(AMQPError) -> Bool {
        for _ in 0..<1024 {
            guard let frame = try connection.nextFrame(timeout: nil) else { return false }
            switch consume frame {
            case .delivery(_, let delivery): deliver(delivery)
            case .method(let channel, let method): carryOut(machine.receive(method, on: channel))
            case .other: break
            }
            if failure != nil { return false }
        }
        return true
    }

    /// Nearly every frame: the delivery moves to its consumer's batch (dropped when that
    /// consumer is gone, cancelled meanwhile).
    private func deliver(_ delivery: consuming AMQPDelivery) {
        guard let route = machine.route(deliveryFor: delivery.consumerTag) else { return }
        if batcher.append(delivery, consumerTag: route.consumerTag, batchLimit: route.batchLimit) {
            flushDeliveries()
        }
    }

    /// Carries out what the state machine says about a method from the broker.
    private func carryOut(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .completePublishes(let completions):
            flow.confirmArrived()
            for completion in completions {
                completion.confirm.batch.complete(completion.confirm.index, completion.outcome)
            }
        case .sendChannelCloseOKAndFail(let ended, let error):
            try? connection.send(.channelCloseOK, on: ended.id)
            fail(ended, with: error)
        case .endConsumer(let consumer, let error):
            logger.warning("the broker cancelled consumer \(consumer.tag)")
            end(consumer, error: error)
        case .sendConnectionCloseOKAndEnd(let error):
            try? connection.send(.connectionCloseOK, on: 0)
            fail(error)
        case .blocked(let reason):
            flow.block(reason: reason)
            logger.warning("the broker blocked publishing on this connection: \(reason)")
            onBlocked?(true, reason)
        case .unblocked:
            flow.unblock()
            logger.info("the broker unblocked publishing on this connection")
            onBlocked?(false, "")
            writeHeldPublishes()
        }
    }

    private func flushDeliveries() {
        hand(over: batcher.takeAll())
    }

    private func hand(over batches: [DeliveryBatcher.Batch]) {
        for batch in batches {
            machine.consumers[batch.consumerTag]?.continuation.yield(batch.deliveries)
        }
    }

    // MARK: - Ending

    private func fail(_ ended: ConnectionStateMachine.EndedChannel, with error: AMQPError) {
        for batch in ended.unconfirmed { batch.fail(with: error) }
        for consumer in ended.consumers { end(consumer, error: error) }
    }

    /// Hands over the consumer's last deliveries and ends its sequence (normally after our own
    /// cancel or close, else with the error).
    private func end(_ consumer: ConnectionStateMachine.Consumer, error: AMQPError?) {
        if let pending = batcher.take(consumerTag: consumer.tag) { consumer.continuation.yield(pending) }
        if let error, error != .closedByClient {
            consumer.continuation.finish(throwing: error)
        } else {
            consumer.continuation.finish()
        }
    }

    private func endConsumer(tag: String, error: AMQPError?) {
        if let consumer = machine.removeConsumer(tag: tag) { end(consumer, error: error) }
    }

    private func endChannel(_ id: UInt16, error: AMQPError) {
        if let ended = machine.removeChannel(id) { fail(ended, with: error) }
    }

    private func finish(with error: AMQPError) {
        flushDeliveries()
        finished = true
        connection.destroy()
        // Closed first: whoever a failed publish or an ended consumer wakes sees `isOpen` false.
        let (leftover, waiters) = thread.finish(with: error)
        for batch in flow.removeAll() { batch.fail(with: error) }
        let (channels, orphans) = machine.removeAll()
        for ended in channels { fail(ended, with: error) }
        for consumer in orphans { end(consumer, error: error) }
        // Commands that arrived while we were ending run against the closed state and fail.
        for command in leftover { command(self) }
        for batch in flow.removeAll() { batch.fail(with: error) }
        for waiter in waiters { waiter.resume(returning: error) }
        if error != .closedByClient {
            logger.debug("connection to \(configuration.url) ended: \(error)")
        }
    }
}

// MARK: - Operations run on the connection thread

extension ConnectionLoop {
    func requireOpen() throws(AMQPError) {
        if let failure { throw failure }
        if finished { throw thread.finalError ?? .closedByClient }
    }

    /// Checks the channel is open; unless `forContent`, a message half written on it is
    /// finished first, since a method sent now would land inside its content.
    func requireChannel(_ id: UInt16, forContent: Bool = false) throws(AMQPError) {
        if !forContent { finishContentInProgress(on: id) }
        guard machine.isOpen(id) else {
            throw failure ?? .channelClosed(code: 504, reply: "CHANNEL_ERROR - channel \(id) is closed")
        }
    }

    /// Sends a synchronous method on `channel` and waits for its reply there, handling every
    /// other frame as the loop does meanwhile: deliveries stream through, confirms land.
    /// (amqp_simple_rpc would instead hold every frame of other channels in memory until the
    /// reply came: a 100 MB delivery in flight on another channel, whole.)
    private func call(
        _ method: OutgoingMethod, on channel: UInt16, operation: String, timeout: Duration? = nil
    ) throws(AMQPError) -> MethodReply {
        try requireOpen()
        do throws(AMQPError) {
            try connection.send(method, on: channel)
        } catch {
            fail(error)
            throw error
        }
        let expected = method.replyID
        let deadline = ContinuousClock.now + (timeout ?? configuration.rpcTimeout)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else {
                // What the broker answers later cannot be matched to this call: the connection is done.
                let error = AMQPError.timeout(operation: operation)
                fail(error)
                throw error
            }
            let frame: IncomingFrame?
            do throws(AMQPError) {
                frame = try connection.nextFrame(timeout: remaining)
            } catch {
                fail(error)
                throw error
            }
            let frameChannel: UInt16
            let incoming: IncomingMethod
            switch consume frame {
            case .method(let methodChannel, let method)?:
                frameChannel = methodChannel
                incoming = method
            case .delivery(_, let delivery)?:
                deliveriesReadDuringCalls += 1
                deliver(delivery)
                continue
            // Two cases: a switch over a noncopyable value takes one pattern per case.
            case .other?:
                continue
            case nil:
                continue
            }
            if frameChannel == channel, case .reply(let reply) = incoming, reply.id == expected { return reply }
            carryOut(machine.receive(incoming, on: frameChannel))
            if frameChannel == channel, channel != 0, case .channelClose(let code, let reply) = incoming {
                // The broker refused the method (a 404 on a passive declare, say) and closed the channel.
                throw .channelClosed(code: code, reply: reply)
            }
            if let failure { throw failure }
        }
    }

    func openChannel() throws(AMQPError) -> UInt16 {
        try requireOpen()
        let id = try machine.allocateChannel()
        do {
            _ = try call(.channelOpen, on: id, operation: "channel.open")
        } catch {
            _ = machine.removeChannel(id)
            throw error
        }
        return id
    }

    func closeChannel(_ id: UInt16) throws(AMQPError) {
        guard machine.isOpen(id) else { return }
        finishContentInProgress(on: id)
        defer { endChannel(id, error: .closedByClient) }
        do {
            _ = try call(.channelClose, on: id, operation: "channel.close")
        } catch .channelClosed {
            // The broker closed it at the same moment: closed either way.
        }
    }

    func declareExchange(
        channel: UInt16, name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool,
        internal: Bool, arguments: AMQPTable
    ) throws(AMQPError) {
        try requireChannel(channel)
        _ = try call(
            .exchangeDeclare(
                name: name, type: type, passive: passive, durable: durable, autoDelete: autoDelete,
                internal: `internal`, arguments: arguments),
            on: channel, operation: "exchange.declare '\(name)'")
    }

    func declareQueue(
        channel: UInt16, name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: AMQPTable
    ) throws(AMQPError) -> QueueDeclareResult {
        try requireChannel(channel)
        let reply = try call(
            .queueDeclare(
                name: name, passive: passive, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
                arguments: arguments),
            on: channel, operation: "queue.declare '\(name)'")
        guard case .queueDeclareOK(let result) = reply.fields else {
            return QueueDeclareResult(queue: name, messageCount: 0, consumerCount: 0)
        }
        return result
    }

    func deleteQueue(channel: UInt16, name: String, ifUnused: Bool, ifEmpty: Bool) throws(AMQPError) -> UInt32 {
        try requireChannel(channel)
        let reply = try call(
            .queueDelete(name: name, ifUnused: ifUnused, ifEmpty: ifEmpty), on: channel,
            operation: "queue.delete '\(name)'")
        guard case .queueDeleteOK(let count) = reply.fields else { return 0 }
        return count
    }

    func deleteExchange(channel: UInt16, name: String) throws(AMQPError) {
        try requireChannel(channel)
        _ = try call(.exchangeDelete(name: name), on: channel, operation: "exchange.delete '\(name)'")
    }

    func bindQueue(
        channel: UInt16, queue: String, exchange: String, routingKey: String, arguments: AMQPTable
    ) throws(AMQPError) {
        try requireChannel(channel)
        _ = try call(
            .queueBind(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments), on: channel,
            operation: "queue.bind '\(queue)' to '\(exchange)'")
    }

    func qos(channel: UInt16, prefetchCount: UInt16, global: Bool) throws(AMQPError) {
        try requireChannel(channel)
        _ = try call(.basicQos(prefetchCount: prefetchCount, global: global), on: channel, operation: "basic.qos")
        try requireChannel(channel)
        machine.setPrefetch(channel, prefetchCount)
    }

    func confirmSelect(channel: UInt16) throws(AMQPError) {
        try requireChannel(channel)
        guard machine.confirmMode(channel) != true else { return }
        _ = try call(.confirmSelect, on: channel, operation: "confirm.select")
        machine.setConfirmMode(channel)
    }

    func consume(
        channel: UInt16, queue: String, consumerTag: String, noAck: Bool, exclusive: Bool, arguments: AMQPTable,
        continuation: AsyncThrowingStream<[AMQPDelivery], any Error>.Continuation
    ) throws(AMQPError) -> String {
        try requireChannel(channel)
        let batchLimit = machine.batchLimit(channel: channel)
        let reply = try call(
            .basicConsume(
                queue: queue, consumerTag: consumerTag, noAck: noAck, exclusive: exclusive, arguments: arguments),
            on: channel, operation: "basic.consume from '\(queue)'")
        guard case .consumeOK(let tag) = reply.fields else { return consumerTag }
        machine.addConsumer(
            .init(tag: tag, channel: channel, batchLimit: batchLimit, continuation: continuation))
        return tag
    }

    func cancel(channel: UInt16, consumerTag: String) throws(AMQPError) {
        guard machine.consumers[consumerTag] != nil else { return }
        finishContentInProgress(on: channel)
        // Deliveries that arrive before cancel-ok are still handed out; then the sequence ends.
        do {
            _ = try call(.basicCancel(consumerTag: consumerTag), on: channel, operation: "basic.cancel")
        } catch {
            endConsumer(tag: consumerTag, error: error)
            throw error
        }
        endConsumer(tag: consumerTag, error: nil)
    }

    func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool) throws(AMQPError) {
        try requireOpen()
        try requireChannel(channel)
        do throws(AMQPError) {
            try connection.ack(channel: channel, deliveryTag: deliveryTag, multiple: multiple)
        } catch {
            fail(error)
            throw error
        }
    }

    func nack(channel: UInt16, deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws(AMQPError) {
        try requireOpen()
        try requireChannel(channel)
        do throws(AMQPError) {
            try connection.nack(channel: channel, deliveryTag: deliveryTag, multiple: multiple, requeue: requeue)
        } catch {
            fail(error)
            throw error
        }
    }
}
