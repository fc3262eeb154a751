/// A method from the broker as the state machine sees it, decoded into Swift values by
/// `RabbitConnection`. Deliveries are not among them: they take `route(deliveryFor:)`.
enum IncomingMethod {
    case ack(deliveryTag: UInt64, multiple: Bool)
    case nack(deliveryTag: UInt64, multiple: Bool)
    /// basic.return: the broker sends it just before the basic.ack of the same message.
    case returned(code: UInt16, reply: String)
    case cancel(consumerTag: String)
    case channelClose(code: UInt16, reply: String)
    case connectionClose(code: UInt16, reply: String)
    case blocked(reason: String)
    case unblocked
    /// The reply to a synchronous method (or another method nobody waits for).
    case reply(MethodReply)
}

/// A synchronous method's reply: its method number and the fields callers use.
struct MethodReply: Equatable {
    enum Fields: Equatable {
        case none
        case queueDeclareOK(QueueDeclareResult)
        case queueDeleteOK(messageCount: UInt32)
        case consumeOK(consumerTag: String)
    }

    /// The AMQP method number (class id << 16 | method id).
    var id: UInt32
    var fields: Fields = .none
}

/// The message at `index` of a publish `batch`, waiting for its confirm.
struct PendingConfirm {
    let batch: PublishBatch
    let index: Int
}

/// The protocol state of one connection: channels, consumers, publisher confirms, blocking.
///
/// Pure: no C, no clock, no threads. Frames and commands go in; what to do comes out as an
/// ``Action`` that `ConnectionLoop` carries out (send a method, complete a publish, end a
/// consumer). So it can be tested without a broker.
struct ConnectionStateMachine {
    struct Channel {
        var confirmMode = false
        /// basic.qos prefetch count (0: none set).
        var prefetch: UInt16 = 0
        var consumerTags: Set<String> = []
        var pendingReturn: PublishOutcome?
        var nextSequence: UInt64 = 1
        var oldestUnconfirmed: UInt64 = 1
        var unconfirmed: [UInt64: PendingConfirm] = [:]

        var hasUnconfirmed: Bool { !unconfirmed.isEmpty }

        /// Applies a basic.ack / basic.nack: `multiple` covers every sequence number up to `tag`.
        /// A pending basic.return belongs to `tag` itself.
        mutating func confirm(upTo tag: UInt64, multiple: Bool, outcome: PublishOutcome) -> [Completion] {
            var outcomeForTag = outcome
            if let returned = pendingReturn {
                outcomeForTag = returned
                pendingReturn = nil
            }
            var completions: [Completion] = []
            if multiple {
                var sequence = oldestUnconfirmed
                while sequence <= tag {
                    if let entry = unconfirmed.removeValue(forKey: sequence) {
                        completions.append(Completion(entry, sequence == tag ? outcomeForTag : outcome))
                    }
                    sequence += 1
                }
                oldestUnconfirmed = max(oldestUnconfirmed, tag &+ 1)
            } else if let entry = unconfirmed.removeValue(forKey: tag) {
                completions.append(Completion(entry, outcomeForTag))
            }
            while oldestUnconfirmed < nextSequence && unconfirmed[oldestUnconfirmed] == nil {
                oldestUnconfirmed += 1
            }
            return completions
        }
    }

    struct Consumer {
        let tag: String
        let channel: UInt16
        /// Deliveries handed over at once at most.
        let batchLimit: Int
        let continuation: AsyncThrowingStream<[AMQPDelivery], any Error>.Continuation
    }

    struct Completion {
        let confirm: PendingConfirm
        let outcome: PublishOutcome

        init(_ confirm: PendingConfirm, _ outcome: PublishOutcome) {
            self.confirm = confirm
            self.outcome = outcome
        }
    }

    /// What is left to fail when a channel ends.
    struct EndedChannel {
        var id: UInt16
        var unconfirmed: [PublishBatch]
        var consumers: [Consumer]
    }

    enum Action {
        case none
        case completePublishes([Completion])
        /// The broker closed the channel: answer close-ok, fail what waited on it.
        case sendChannelCloseOKAndFail(EndedChannel, AMQPError)
        /// The broker cancelled a consumer.
        case endConsumer(Consumer, AMQPError)
        /// The broker closed the connection: answer close-ok and end with the error.
        case sendConnectionCloseOKAndEnd(AMQPError)
        case blocked(reason: String)
        case unblocked
    }

    private(set) var channels: [UInt16: Channel] = [:]
    private(set) var consumers: [String: Consumer] = [:]
    /// The last delivery's route, kept until a consumer comes or goes.
    private var lastRoute: (deliveryTag: String, route: Route)?
    /// The highest channel id the broker allows.
    let channelMax: UInt16
    private var nextChannelID: UInt16 = 1

    init(channelMax: UInt16) {
        self.channelMax = max(1, channelMax)
    }

    // MARK: - Frames from the broker

    mutating func receive(_ method: IncomingMethod, on channel: UInt16) -> Action {
        switch method {
        case .ack(let tag, let multiple):
            guard let completions = channels[channel]?.confirm(upTo: tag, multiple: multiple, outcome: .confirmed)
            else { return .none }
            return completions.isEmpty ? .none : .completePublishes(completions)
        case .nack(let tag, let multiple):
            guard let completions = channels[channel]?.confirm(upTo: tag, multiple: multiple, outcome: .nacked)
            else { return .none }
            return completions.isEmpty ? .none : .completePublishes(completions)
        case .returned(let code, let reply):
            channels[channel]?.pendingReturn = .returned(code: code, reply: reply)
            return .none
        case .cancel(let tag):
            guard let consumer = removeConsumer(tag: tag) else { return .none }
            return .endConsumer(consumer, .consumerCancelled(consumerTag: tag))
        case .channelClose(let code, let reply):
            let error = AMQPError.channelClosed(code: code, reply: reply)
            let ended = removeChannel(channel) ?? EndedChannel(id: channel, unconfirmed: [], consumers: [])
            return .sendChannelCloseOKAndFail(ended, error)
        case .connectionClose(let code, let reply):
            return .sendConnectionCloseOKAndEnd(.connectionClosed(code: code, reply: reply))
        case .blocked(let reason):
            return .blocked(reason: reason)
        case .unblocked:
            return .unblocked
        case .reply:
            return .none
        }
    }

    /// Where a delivery for `tag` goes: its consumer's tag and batch limit, or nil when that
    /// consumer is gone (cancelled meanwhile), so the delivery is dropped. The loop calls this for
    /// every message, and keeps the delivery itself out of the state machine's enums.
    mutating func route(deliveryFor tag: String) -> Route? {
        // The connection shares one String per tag between deliveries, so on a stream's run
        // of deliveries this compares two identical strings: no hashing, no byte compare.
        if let last = lastRoute, last.deliveryTag == tag { return last.route }
        guard let consumer = consumers[tag] else { return nil }
        let route = Route(consumerTag: consumer.tag, batchLimit: consumer.batchLimit)
        lastRoute = (tag, route)
        return route
    }

    struct Route: Equatable {
        let consumerTag: String
        let batchLimit: Int
    }

    // MARK: - Commands from this client

    /// The next free channel id, wrapping around to 1 after `channelMax`; the channel counts as
    /// open from now on (``removeChannel(_:)`` if the broker refuses it).
    mutating func allocateChannel() throws(AMQPError) -> UInt16 {
        var id = nextChannelID
        var tries = 0
        while channels[id] != nil {
            id = id >= channelMax ? 1 : id + 1
            tries += 1
            if tries > Int(channelMax) {
                throw .library(operation: "channel.open", status: 0, message: "all \(channelMax) channels are in use")
            }
        }
        nextChannelID = id >= channelMax ? 1 : id + 1
        channels[id] = Channel()
        return id
    }

    func isOpen(_ channel: UInt16) -> Bool { channels[channel] != nil }

    func confirmMode(_ channel: UInt16) -> Bool? { channels[channel]?.confirmMode }

    mutating func setConfirmMode(_ channel: UInt16) { channels[channel]?.confirmMode = true }

    mutating func setPrefetch(_ channel: UInt16, _ count: UInt16) { channels[channel]?.prefetch = count }

    /// Deliveries handed over at once: a fifth of the channel's prefetch, at most 512.
    func batchLimit(channel: UInt16) -> Int {
        DeliveryBatcher.batchLimit(prefetch: channels[channel]?.prefetch ?? 0)
    }

    /// Numbers the next message published on a channel in confirm mode.
    mutating func track(_ confirm: PendingConfirm, on channel: UInt16) {
        guard var state = channels[channel] else { return }
        state.unconfirmed[state.nextSequence] = confirm
        state.nextSequence += 1
        channels[channel] = state
    }

    var hasUnconfirmed: Bool { channels.values.contains(where: \.hasUnconfirmed) }

    /// Messages written on channels in confirm mode that have no confirm yet.
    var unconfirmedCount: Int { channels.values.reduce(0) { $0 + $1.unconfirmed.count } }

    mutating func addConsumer(_ consumer: Consumer) {
        consumers[consumer.tag] = consumer
        lastRoute = nil
        channels[consumer.channel]?.consumerTags.insert(consumer.tag)
    }

    mutating func removeConsumer(tag: String) -> Consumer? {
        guard let consumer = consumers.removeValue(forKey: tag) else { return nil }
        lastRoute = nil
        channels[consumer.channel]?.consumerTags.remove(tag)
        return consumer
    }

    /// Forgets the channel; returns what waited on it, to fail.
    mutating func removeChannel(_ id: UInt16) -> EndedChannel? {
        guard let channel = channels.removeValue(forKey: id) else { return nil }
        var ended = EndedChannel(id: id, unconfirmed: [], consumers: [])
        lastRoute = nil
        for sequence in channel.unconfirmed.keys.sorted() {
            ended.unconfirmed.append(channel.unconfirmed[sequence]!.batch)
        }
        for tag in channel.consumerTags.sorted() {
            if let consumer = consumers.removeValue(forKey: tag) { ended.consumers.append(consumer) }
        }
        return ended
    }

    /// Forgets every channel and consumer (the connection ended); returns what to fail.
    mutating func removeAll() -> (channels: [EndedChannel], consumers: [Consumer]) {
        let ended = channels.keys.sorted().compactMap { removeChannel($0) }
        let orphans = consumers.keys.sorted().compactMap { removeConsumer(tag: $0) }
        return (ended, orphans)
    }
}
