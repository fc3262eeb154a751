import TestSupport
import Testing

@testable import AMQP

/// A synchronous method (a declare, say) that waits for its reply while a large delivery arrives on
/// another channel must let that delivery stream through: waiting the way amqp_simple_rpc does
/// holds every frame of the other channel in memory until the reply, a 64 MB body whole.
@Suite(
    "Synchronous methods during a large delivery", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled), .serialized)
struct RPCDuringDeliveryTests {
    @Test(
        "a declare waiting while a 64 MB delivery arrives reads it as it comes, keeping 64 KiB",
        .timeLimit(.minutes(2)))
    func declareDuringLargeDelivery() async throws {
        let size = 64 << 20
        let kept = 64 << 10
        let queue = TestBroker.uniqueName("test.rpc-during-delivery")
        let publisher = try await TestBroker.connect()
        let publishChannel = try await publisher.openChannel()
        try await publishChannel.declareQueue(queue, durable: false, autoDelete: false)
        try await publishChannel.enablePublisherConfirms()
        let outcome = try await publishChannel.publish(
            AMQPMessage(exchange: "", routingKey: queue, body: [UInt8](repeating: 0x61, count: size)))
        #expect(outcome == .confirmed)

        var configuration = try TestBroker.configuration()
        configuration.maxBodyBytes = kept
        let connection = try await AMQPConnection.connect(configuration)
        let consumerChannel = try await connection.openChannel()
        try await consumerChannel.qos(prefetchCount: 1)
        let declareChannel = try await connection.openChannel()
        let (stream, continuation) = AsyncThrowingStream<[AMQPDelivery], any Error>.makeStream()
        let (consumerID, declareID) = (consumerChannel.id, declareChannel.id)

        // Consume, then declare at once on the other channel, on the connection thread: the
        // broker starts writing the 64 MB as soon as it has sent consume-ok, so the declare's
        // reply queues behind it. Repeated until one declare has overlapped the delivery.
        let (readDuringCalls, declares) = try await connection.thread.perform { loop throws(AMQPError) in
            _ = try loop.consume(
                channel: consumerID, queue: queue, consumerTag: "", noAck: false, exclusive: false, arguments: [:],
                continuation: continuation)
            var declares = 0
            while loop.deliveriesReadDuringCalls == 0 && declares < 2000 {
                _ = try loop.declareQueue(
                    channel: declareID, name: queue, passive: true, durable: false, exclusive: false,
                    autoDelete: false, arguments: [:])
                declares += 1
            }
            return (loop.deliveriesReadDuringCalls, declares)
        }
        #expect(readDuringCalls == 1, "the delivery was read during a declare (after \(declares) declares)")

        var delivered: AMQPDelivery?
        for try await batch in stream {
            delivered = batch.first
            break
        }
        #expect(delivered?.bodySize == size)
        #expect(delivered?.body.count == kept)
        _ = try await publishChannel.deleteQueue(queue)
        await connection.close()
        await publisher.close()
    }
}
