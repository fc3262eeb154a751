import TestSupport
import Testing

@testable import AMQP

@Suite(
    "AMQP client against a real RabbitMQ", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled),
    .serialized)
struct AMQPBrokerTests {
    private func body(_ i: Int) -> [UInt8] { Array("message \(i)".utf8) }

    @Test("10,000 confirmed publishes to a stream come back from `first` with offsets 0..9999 in order")
    func streamRoundTrip() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let stream = TestBroker.uniqueName("test.stream")
        try await channel.declareQueue(stream, arguments: ["x-queue-type": .string("stream")])
        try await cleaningUp({
            _ = try? await channel.deleteQueue(stream); await connection.close()
        }) {

            try await channel.enablePublisherConfirms()
            let messages = (0..<10_000).map { i in
                AMQPMessage(
                    exchange: "", routingKey: stream, body: body(i),
                    properties: AMQPProperties(
                        contentType: "text/plain", headers: ["n": .int64(Int64(i))], deliveryMode: 2,
                        messageID: "id-\(i)", timestamp: 1_764_000_000, type: "Test"),
                    mandatory: true)
            }
            // One call: all 10,000 written at once, confirms read as they come (many in flight).
            let outcomes = try await channel.publish(messages)
            #expect(outcomes.count == 10_000)
            #expect(outcomes.allSatisfy { $0 == .confirmed })

            let consumerChannel = try await connection.openChannel()
            try await consumerChannel.qos(prefetchCount: 500)
            let consumer = try await consumerChannel.consume(
                queue: stream, arguments: ["x-stream-offset": .string("first")])
            var expected: Int64 = 0
            for try await delivery in consumer {
                #expect(delivery.streamOffset == expected)
                if delivery.streamOffset != expected { break }
                #expect(delivery.body == body(Int(expected)))
                #expect(delivery.properties.messageID == "id-\(expected)")
                #expect(delivery.properties.headers?["n"] == .int64(expected))
                #expect(delivery.properties.contentType == "text/plain")
                #expect(delivery.properties.type == "Test")
                #expect(delivery.properties.deliveryMode == 2)
                #expect(delivery.routingKey == stream)
                expected += 1
                if expected % 250 == 0 { consumerChannel.ack(deliveryTag: delivery.deliveryTag, multiple: true) }
                if expected == 10_000 { break }
            }
            #expect(expected == 10_000)
            try await consumerChannel.cancel(consumerTag: consumer.consumerTag)
        }
    }

    @Test("concurrent publish calls on one channel each get their own confirms")
    func concurrentBatches() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.uniqueName("test.concurrent")
        try await channel.declareQueue(queue, durable: false, autoDelete: false)
        try await channel.enablePublisherConfirms()
        let results = try await withThrowingTaskGroup(of: [PublishOutcome].self) { group in
            for batch in 0..<8 {
                group.addTask {
                    try await channel.publish(
                        (0..<500).map {
                            AMQPMessage(exchange: "", routingKey: queue, body: self.body(batch * 500 + $0))
                        })
                }
            }
            var all: [PublishOutcome] = []
            for try await part in group { all += part }
            return all
        }
        #expect(results.count == 4_000)
        #expect(results.allSatisfy { $0 == .confirmed })
        #expect(try await channel.deleteQueue(queue) == 4_000)
        await connection.close()
    }

    /// A connection, a channel in confirm mode and a fresh stream holding messages 0..<count
    /// (confirmed); `remove` deletes the stream and closes the connection.
    private func stream(
        holding count: Int, prefix: String
    ) async throws -> (connection: AMQPConnection, channel: AMQPChannel, name: String) {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let name = TestBroker.uniqueName(prefix)
        try await channel.declareQueue(name, arguments: ["x-queue-type": .string("stream")])
        try await channel.enablePublisherConfirms()
        let outcomes = try await channel.publish(
            (0..<count).map { AMQPMessage(exchange: "", routingKey: name, body: body($0)) })
        #expect(outcomes.allSatisfy { $0 == .confirmed })
        return (connection, channel, name)
    }

    private func remove(_ stream: (connection: AMQPConnection, channel: AMQPChannel, name: String)) async {
        _ = try? await stream.channel.deleteQueue(stream.name)
        await stream.connection.close()
    }

    @Test("deliveries come in batches of at most a fifth of the prefetch, and a lone live one at once")
    func deliveryBatches() async throws {
        let fixture = try await stream(holding: 5_000, prefix: "test.batches")
        try await cleaningUp({ await remove(fixture) }) {
            let (connection, channel, stream) = fixture

            let consumerChannel = try await connection.openChannel()
            try await consumerChannel.qos(prefetchCount: 1000)
            let consumer = try await consumerChannel.consume(
                queue: stream, arguments: ["x-stream-offset": .string("first")])
            var sizes: [Int] = []
            var received = 0
            var batches = consumer.batches.makeAsyncIterator()
            while received < 5_000, let batch = try await batches.next() {
                sizes.append(batch.count)
                received += batch.count
                if let last = batch.last { consumerChannel.ack(deliveryTag: last.deliveryTag, multiple: true) }
            }
            #expect(received == 5_000)
            #expect(sizes.allSatisfy { $0 >= 1 && $0 <= 200 }, "batch sizes: \(sizes)")

            // Caught up, the consumer waits; one more message must not wait for company.
            let clock = ContinuousClock()
            let sent = clock.now
            #expect(
                try await channel.publish([AMQPMessage(exchange: "", routingKey: stream, body: body(5_000))]) == [
                    .confirmed
                ])
            let lone = try #require(try await batches.next())
            #expect(lone.count == 1)
            #expect(lone.first?.streamOffset == 5_000)
            #expect(clock.now - sent < .seconds(1), "the lone message took \(clock.now - sent)")
            try await consumerChannel.cancel(consumerTag: consumer.consumerTag)
        }
    }

    @Test("consuming a stream from a numeric offset starts there")
    func numericOffset() async throws {
        let fixture = try await stream(holding: 100, prefix: "test.offset")
        try await cleaningUp({ await remove(fixture) }) {
            let (_, channel, stream) = fixture

            try await channel.qos(prefetchCount: 10)
            let consumer = try await channel.consume(queue: stream, arguments: ["x-stream-offset": .int64(60)])
            var offsets: [Int64] = []
            for try await delivery in consumer {
                offsets.append(delivery.streamOffset ?? -1)
                channel.ack(deliveryTag: delivery.deliveryTag)
                if offsets.count == 40 { break }
            }
            #expect(offsets == Array(60..<100))
        }
    }

    @Test("a publish to a missing exchange fails with the broker's 404 and the connection stays usable")
    func missingExchange() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            try await channel.enablePublisherConfirms()
            let missing = TestBroker.uniqueName("no.such.exchange")
            await #expect {
                _ = try await channel.publish(AMQPMessage(exchange: missing, routingKey: "x", body: [1]))
            } throws: { error in
                guard case .channelClosed(let code, let reply) = error as? AMQPError else { return false }
                return code == 404 && reply.contains("NOT_FOUND") && reply.contains(missing)
            }
            // The channel is gone, the connection is not.
            await #expect(throws: AMQPError.self) { try await channel.qos(prefetchCount: 1) }
            #expect(connection.isOpen)
            let fresh = try await connection.openChannel()
            let queue = TestBroker.uniqueName("test.after404")
            let declared = try await fresh.declareQueue(queue, durable: false, autoDelete: true)
            #expect(declared.queue == queue)
            try await fresh.deleteQueue(queue)
        }
    }

    @Test("a passive declare of a missing queue is a typed 404 on the channel")
    func passiveMissingQueue() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            await #expect {
                try await channel.declareQueue(TestBroker.uniqueName("missing"), passive: true)
            } throws: { error in
                if case .channelClosed(404, _) = error as? AMQPError { return true }
                return false
            }
            #expect(connection.isOpen)
        }
    }

    @Test("a passive declare reports the message count, and redeclaring with other arguments is refused")
    func passiveDeclareAndPreconditionFailed() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            let queue = TestBroker.uniqueName("test.count")
            try await channel.declareQueue(queue, durable: false)
            try await channel.enablePublisherConfirms()
            _ = try await channel.publish((0..<5).map { AMQPMessage(exchange: "", routingKey: queue, body: body($0)) })
            let passive = try await channel.declareQueue(queue, passive: true)
            #expect(passive.messageCount == 5)
            await #expect {
                try await channel.declareQueue(queue, durable: true)
            } throws: { error in
                if case .channelClosed(406, let reply) = error as? AMQPError {
                    return reply.contains("PRECONDITION_FAILED")
                }
                return false
            }
            let other = try await connection.openChannel()
            #expect(try await other.deleteQueue(queue) == 5)
        }
    }

    @Test("an unroutable mandatory publish comes back as returned")
    func returnedMessage() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            let exchange = TestBroker.uniqueName("test.topic")
            try await channel.declareExchange(exchange, type: "topic", durable: false, autoDelete: true)
            try await channel.enablePublisherConfirms()
            let outcomes = try await channel.publish([
                AMQPMessage(exchange: exchange, routingKey: "nowhere", body: [1], mandatory: true),
                AMQPMessage(exchange: exchange, routingKey: "nowhere", body: [2], mandatory: false),
            ])
            #expect(outcomes == [.returned(code: 312, reply: "NO_ROUTE"), .confirmed])
            try await channel.deleteExchange(exchange)
        }
    }

    @Test("bindings route by topic, and nack/requeue redelivers")
    func bindAndNack() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            let exchange = TestBroker.uniqueName("test.ex")
            let queue = TestBroker.uniqueName("test.q")
            try await channel.declareExchange(exchange, type: "topic", durable: false, autoDelete: true)
            try await channel.declareQueue(queue, durable: false, autoDelete: true)
            try await channel.bindQueue(queue, to: exchange, routingKey: "account.#")
            try await channel.enablePublisherConfirms()
            let outcomes = try await channel.publish([
                AMQPMessage(exchange: exchange, routingKey: "account.opened", body: [1], mandatory: true),
                AMQPMessage(exchange: exchange, routingKey: "other.thing", body: [2], mandatory: true),
            ])
            #expect(outcomes[0] == .confirmed)
            #expect(outcomes[1] == .returned(code: 312, reply: "NO_ROUTE"))

            try await channel.qos(prefetchCount: 1)
            let consumer = try await channel.consume(queue: queue)
            var iterator = consumer.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            #expect(first.body == [1])
            #expect(!first.redelivered)
            channel.nack(deliveryTag: first.deliveryTag, requeue: true)
            let again = try #require(try await iterator.next())
            #expect(again.body == [1])
            #expect(again.redelivered)
            channel.ack(deliveryTag: again.deliveryTag)
            try await channel.cancel(consumerTag: consumer.consumerTag)
            #expect(try await iterator.next() == nil)
        }
    }

    @Test("deleting a consumed queue cancels the consumer with a typed error")
    func brokerCancelsConsumer() async throws {
        let connection = try await TestBroker.connect()
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            let queue = TestBroker.uniqueName("test.cancel")
            try await channel.declareQueue(queue, durable: false)
            try await channel.qos(prefetchCount: 10)
            let consumer = try await channel.consume(queue: queue)
            let other = try await connection.openChannel()
            try await other.deleteQueue(queue)
            await #expect {
                for try await _ in consumer {}
            } throws: { error in
                if case .consumerCancelled = error as? AMQPError { return true }
                return false
            }
        }
    }

    @Test("a wrong password is a clear error within 5 s, with no password in it")
    func wrongPassword() async throws {
        var configuration = try TestBroker.configuration()
        configuration.url.password = "definitely-wrong-pw"
        let start = monotonicSeconds()
        await #expect {
            _ = try await AMQPConnection.connect(configuration)
        } throws: { error in
            guard case .accessRefused(_, _, let reply) = error as? AMQPError else { return false }
            return reply.contains("ACCESS_REFUSED") && !"\(error)".contains("definitely-wrong-pw")
        }
        #expect(monotonicSeconds() - start < 5)
    }

    @Test("a port where nothing listens is a clear connect error within the connect timeout")
    func unreachablePort() async throws {
        var configuration = try TestBroker.configuration()
        configuration.url.port = 1  // nothing listens on port 1 here
        configuration.connectTimeout = .seconds(2)
        let start = monotonicSeconds()
        await #expect {
            _ = try await AMQPConnection.connect(configuration)
        } throws: { error in
            guard case .connectFailed(_, 1, _) = error as? AMQPError else { return false }
            return true
        }
        #expect(monotonicSeconds() - start < 3.5)
    }

    @Test("an address that does not answer fails within the connect timeout")
    func connectTimeout() async throws {
        var configuration = try TestBroker.configuration()
        // A TEST-NET-1 address (RFC 5737) on a loopback-only machine: never answers.
        configuration.url.host = "192.0.2.1"
        configuration.connectTimeout = .milliseconds(700)
        let start = monotonicSeconds()
        await #expect(throws: AMQPError.self) { _ = try await AMQPConnection.connect(configuration) }
        #expect(monotonicSeconds() - start < 2.5)
    }

    @Test("an idle connection with 1 s heartbeats stays open for 3 intervals and more")
    func heartbeatsKeepIdleConnectionOpen() async throws {
        let connection = try await TestBroker.connect(heartbeat: 1)
        try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            try await Task.sleep(for: .milliseconds(3_500))
            #expect(connection.isOpen)
            let queue = TestBroker.uniqueName("test.heartbeat")
            try await channel.declareQueue(queue, durable: false, autoDelete: true)
            try await channel.deleteQueue(queue)
        }
    }

    @Test("closing the connection ends consumers cleanly and later calls fail with closedByClient")
    func closeEndsEverything() async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let queue = TestBroker.uniqueName("test.close")
        try await channel.declareQueue(queue, durable: false, autoDelete: true)
        try await channel.qos(prefetchCount: 1)
        let consumer = try await channel.consume(queue: queue)
        async let drained: Int = {
            var n = 0
            for try await _ in consumer { n += 1 }
            return n
        }()
        await connection.close()
        #expect(try await drained == 0)
        #expect(!connection.isOpen)
        #expect(await connection.closed() == .closedByClient)
        await #expect(throws: AMQPError.closedByClient) { _ = try await connection.openChannel() }
    }
}
