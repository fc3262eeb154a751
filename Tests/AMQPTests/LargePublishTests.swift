import TestSupport
import Testing

@testable import AMQP

@Suite("Messages larger than the socket's send buffer", .enabled(if: TestBroker.enabled), .serialized)
struct LargePublishTests {
    /// A body whose bytes say where they are, so a frame written twice or skipped shows.
    private func body(size: Int, seed: UInt8) -> [UInt8] {
        // A 251-byte (prime) pattern: no frame size lines up with it. Built by doubling (debug builds are slow per byte).
        var bytes = (0..<251).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        bytes.reserveCapacity(size)
        while bytes.count < size { bytes.append(contentsOf: bytes[0..<min(bytes.count, size - bytes.count)]) }
        return Array(bytes.prefix(size))
    }

    @Test(
        "a 3 MB and a 100 MB message are confirmed and come back byte for byte, and a small one after them",
        .timeLimit(.minutes(2)))
    func largeMessagesArePublishedInParts() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.uniqueName("test.large")
        try await channel.declareQueue(queue, durable: false, autoDelete: false)
        try await channel.enablePublisherConfirms()
        defer {
            Task {
                _ = try? await channel.deleteQueue(queue)
                await connection.close()
            }
        }
        let sizes = [3 << 20, 100 << 20, 10]
        for (index, size) in sizes.enumerated() {
            let outcome = try await channel.publish(
                AMQPMessage(exchange: "", routingKey: queue, body: body(size: size, seed: UInt8(index))))
            #expect(outcome == .confirmed, "message of \(size) bytes")
        }

        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.qos(prefetchCount: 1)
        let consumer = try await consumerChannel.consume(queue: queue)
        var seen = 0
        for try await delivery in consumer {
            #expect(delivery.body.count == sizes[seen])
            #expect(delivery.body == body(size: sizes[seen], seed: UInt8(seen)), "message \(seen) intact")
            consumerChannel.ack(deliveryTag: delivery.deliveryTag, multiple: false)
            seen += 1
            if seen == sizes.count { break }
        }
        #expect(seen == sizes.count)
        try await consumerChannel.cancel(consumerTag: consumer.consumerTag)
    }

    @Test("while a 64 MB publish is written in parts, another channel's methods run and its publishes follow")
    func otherChannelsInterleave() async throws {
        let connection = try await TestBroker.connect()
        let big = try await connection.openChannel()
        let small = try await connection.openChannel()
        let queue = TestBroker.uniqueName("test.interleave")
        try await big.declareQueue(queue, durable: false, autoDelete: false)
        try await big.enablePublisherConfirms()
        try await small.enablePublisherConfirms()
        defer {
            Task {
                _ = try? await big.deleteQueue(queue)
                await connection.close()
            }
        }
        let ticket = big.startPublishing([
            AMQPMessage(exchange: "", routingKey: queue, body: body(size: 64 << 20, seed: 7))
        ])
        let others = try await small.publish(
            (0..<100).map { AMQPMessage(exchange: "", routingKey: queue, body: body(size: 100, seed: UInt8($0))) })
        #expect(others.allSatisfy { $0 == .confirmed })
        #expect(try await ticket.outcomes() == [.confirmed])
        let declared = try await small.declareQueue(queue, passive: true)
        #expect(declared.messageCount == 101)
    }
}
