import Testing

@testable import AMQP

@Suite("The connection state machine, without a broker")
struct ConnectionStateMachineTests {
    @Test("an ack with multiple confirms every message up to its tag, and no later one")
    func ackMultiple() throws {
        var (machine, channel, box) = try machineWithPublishes(5)
        let action = machine.receive(.ack(deliveryTag: 3, multiple: true), on: channel)
        guard case .completePublishes(let completions) = action else {
            Issue.record("expected completions, got \(action)")
            return
        }
        #expect(completions.map(\.confirm.index) == [0, 1, 2])
        apply(action)
        #expect(box.result == nil, "two messages still wait for their confirm")
        #expect(machine.hasUnconfirmed)
        apply(machine.receive(.ack(deliveryTag: 5, multiple: true), on: channel))
        #expect(box.outcomes == Array(repeating: .confirmed, count: 5))
        #expect(!machine.hasUnconfirmed)
    }

    @Test("single acks out of order complete exactly their own message")
    func singleAcksOutOfOrder() throws {
        var (machine, channel, box) = try machineWithPublishes(3)
        apply(machine.receive(.ack(deliveryTag: 2, multiple: false), on: channel))
        apply(machine.receive(.ack(deliveryTag: 2, multiple: false), on: channel))
        #expect(box.result == nil)
        apply(machine.receive(.ack(deliveryTag: 1, multiple: false), on: channel))
        apply(machine.receive(.ack(deliveryTag: 3, multiple: true), on: channel))
        #expect(box.outcomes == [.confirmed, .confirmed, .confirmed])
    }

    @Test("a nack marks its messages nacked, with multiple too, beside confirmed ones")
    func nacks() throws {
        var (machine, channel, box) = try machineWithPublishes(4)
        apply(machine.receive(.ack(deliveryTag: 1, multiple: false), on: channel))
        apply(machine.receive(.nack(deliveryTag: 3, multiple: true), on: channel))
        apply(machine.receive(.nack(deliveryTag: 4, multiple: false), on: channel))
        #expect(box.outcomes == [.confirmed, .nacked, .nacked, .nacked])
    }

    @Test("a basic.return before its ack makes that message returned, and only that one")
    func returnBeforeAck() throws {
        var (machine, channel, box) = try machineWithPublishes(3)
        #expect(machine.receive(.returned(code: 312, reply: "NO_ROUTE"), on: channel).isNone)
        apply(machine.receive(.ack(deliveryTag: 2, multiple: true), on: channel))
        apply(machine.receive(.ack(deliveryTag: 3, multiple: false), on: channel))
        #expect(box.outcomes == [.confirmed, .returned(code: 312, reply: "NO_ROUTE"), .confirmed])
    }

    @Test("confirms on another channel do not touch this one's publishes")
    func confirmsPerChannel() throws {
        var (machine, channel, box) = try machineWithPublishes(1)
        let other = try machine.allocateChannel()
        #expect(other != channel)
        #expect(machine.receive(.ack(deliveryTag: 1, multiple: true), on: other).isNone)
        #expect(box.result == nil)
    }

    @Test("channel ids go up, wrap around to 1 after channelMax, skip open ones, and run out")
    func channelIDWraparound() throws {
        var machine = ConnectionStateMachine(channelMax: 3)
        var ids = [try machine.allocateChannel(), try machine.allocateChannel()]
        _ = machine.removeChannel(1)
        ids += [try machine.allocateChannel(), try machine.allocateChannel()]
        #expect(ids == [1, 2, 3, 1], "wraps around past channelMax to the freed id")
        var exhausted: AMQPError?
        do { _ = try machine.allocateChannel() } catch { exhausted = error }
        #expect(exhausted == .library(operation: "channel.open", status: 0, message: "all 3 channels are in use"))
        _ = machine.removeChannel(2)
        let reused = try machine.allocateChannel()
        #expect(reused == 2)
    }

    @Test("the broker closing a channel answers close-ok and fails its publishes and consumers")
    func channelCloseFromBroker() throws {
        var (machine, channel, box) = try machineWithPublishes(2)
        let (_, continuation) = AsyncThrowingStream<[AMQPDelivery], any Error>.makeStream()
        machine.addConsumer(.init(tag: "c1", channel: channel, batchLimit: 10, continuation: continuation))
        let action = machine.receive(.channelClose(code: 404, reply: "NOT_FOUND - no exchange 'x'"), on: channel)
        guard case .sendChannelCloseOKAndFail(let ended, let error) = action else {
            Issue.record("expected close-ok and failures, got \(action)")
            return
        }
        #expect(ended.id == channel)
        #expect(error == .channelClosed(code: 404, reply: "NOT_FOUND - no exchange 'x'"))
        #expect(ended.unconfirmed.count == 2)
        #expect(ended.consumers.map(\.tag) == ["c1"])
        for batch in ended.unconfirmed { batch.fail(with: error) }
        #expect(box.error == error)
        #expect(!machine.isOpen(channel))
        #expect(machine.consumers.isEmpty)
        #expect(!machine.hasUnconfirmed)
        // A delivery for the gone consumer is dropped, not handed to anyone.
        #expect(machine.route(deliveryFor: "c1") == nil)
    }

    @Test("the broker closing the connection answers close-ok and ends with its reason")
    func connectionCloseFromBroker() throws {
        var (machine, _, box) = try machineWithPublishes(1)
        let action = machine.receive(.connectionClose(code: 320, reply: "CONNECTION_FORCED"), on: 0)
        guard case .sendConnectionCloseOKAndEnd(let error) = action else {
            Issue.record("expected close-ok and the end, got \(action)")
            return
        }
        #expect(error == .connectionClosed(code: 320, reply: "CONNECTION_FORCED"))
        let (channels, orphans) = machine.removeAll()
        #expect(channels.count == 1 && orphans.isEmpty)
        for batch in channels.flatMap(\.unconfirmed) { batch.fail(with: error) }
        #expect(box.error == error)
    }

    @Test("the broker cancelling a consumer ends it with consumerCancelled")
    func consumerCancelledByBroker() throws {
        var machine = ConnectionStateMachine(channelMax: 10)
        let channel = try machine.allocateChannel()
        let (_, continuation) = AsyncThrowingStream<[AMQPDelivery], any Error>.makeStream()
        machine.addConsumer(.init(tag: "c1", channel: channel, batchLimit: 10, continuation: continuation))
        // A delivery for a live consumer goes to it.
        #expect(machine.route(deliveryFor: "c1") == .init(consumerTag: "c1", batchLimit: 10))
        guard case .endConsumer(let consumer, let error) = machine.receive(.cancel(consumerTag: "c1"), on: channel)
        else {
            Issue.record("expected the consumer to end")
            return
        }
        #expect(consumer.tag == "c1" && error == .consumerCancelled(consumerTag: "c1"))
        #expect(machine.consumers.isEmpty)
        // The route the first delivery took is forgotten with its consumer.
        #expect(machine.route(deliveryFor: "c1") == nil)
    }

    @Test("deliveries go to their own consumer, and a route ends with its consumer or channel")
    func deliveryRoutes() throws {
        var machine = ConnectionStateMachine(channelMax: 10)
        let first = try machine.allocateChannel()
        let second = try machine.allocateChannel()
        let (_, continuation) = AsyncThrowingStream<[AMQPDelivery], any Error>.makeStream()
        machine.addConsumer(.init(tag: "c1", channel: first, batchLimit: 10, continuation: continuation))
        machine.addConsumer(.init(tag: "c2", channel: second, batchLimit: 20, continuation: continuation))
        for tag in ["c1", "c1", "c2", "c1", "c2", "c2"] {
            let expected = ConnectionStateMachine.Route(consumerTag: tag, batchLimit: tag == "c1" ? 10 : 20)
            #expect(machine.route(deliveryFor: tag) == expected)
        }
        #expect(machine.route(deliveryFor: "c3") == nil)
        _ = machine.removeChannel(second)
        #expect(machine.route(deliveryFor: "c2") == nil)
        #expect(machine.route(deliveryFor: "c1")?.batchLimit == 10)
        _ = machine.removeConsumer(tag: "c1")
        #expect(machine.route(deliveryFor: "c1") == nil)
        // A consumer that comes back under the same tag is routed to afresh.
        machine.addConsumer(.init(tag: "c1", channel: first, batchLimit: 5, continuation: continuation))
        #expect(machine.route(deliveryFor: "c1")?.batchLimit == 5)
    }

    @Test("blocked and unblocked pass through as actions")
    func blockedUnblocked() {
        var machine = ConnectionStateMachine(channelMax: 10)
        guard case .blocked("low on memory") = machine.receive(.blocked(reason: "low on memory"), on: 0) else {
            Issue.record("expected blocked")
            return
        }
        guard case .unblocked = machine.receive(.unblocked, on: 0) else {
            Issue.record("expected unblocked")
            return
        }
    }
}

extension ConnectionStateMachine.Action {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
