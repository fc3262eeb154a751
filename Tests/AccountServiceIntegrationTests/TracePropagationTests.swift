import AMQP
import AccountMessaging
import AccountProjection
import InMemoryTracing
import Logging
import TestSupport
import Testing
import Tracing

@testable import AccountConsumer
@testable import AccountReadAPI

@Suite(
    "trace propagation through the broker", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct TracePropagationTests {
    @Test("a traceparent published by accountctl comes out as the parent of the consumer span")
    func cliTraceparentIsTheConsumerSpansParent() async throws {
        let topology = uniqueTopology("trace")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let bodies = [
                TestEvent.opened("acc-t1"), TestEvent.deposited("acc-t1", 2, 10), TestEvent.opened("acc-t2"),
                Array("{not json".utf8),
            ]
            let file = "/tmp/accountservice-trace-\(topology.stream).jsonl"
            #expect(SnapshotIntegrationTests.writeFile(file, bodies.flatMap { $0 + [UInt8(ascii: "\n")] }))
            let runTrace = TraceParent.newTrace()
            let published = try await runProcess(
                try builtProduct("accountctl"),
                [
                    "publish", "--file", file, "--quiet", "--exchange", topology.exchange, "--stream",
                    topology.stream, "--invalid-queue", topology.invalidQueue, "--traceparent", runTrace.description,
                ],
                environment: ["AMQP_URL": try TestBroker.requireURL()])
            #expect(published.status == 0, "\(String(decoding: published.stderr, as: UTF8.self))")

            // What the CLI put in each message, read back from the stream.
            let headers = try await streamTraceparents(topology.stream, count: bodies.count)
            #expect(headers.count == bodies.count)
            #expect(headers.values.allSatisfy { $0.traceID == runTrace.traceID && $0.spanID != runTrace.spanID })
            #expect(Set(headers.values.map(\.spanID)).count == bodies.count, "a span of its own per message")

            // The consumer, in this process, with the recording tracer.
            let tracer = W3CInMemoryTracer()
            let store = AccountStore(parkingLimit: 100)
            let consumer = StreamConsumer(
                settings: ConsumerSettings(amqp: try TestBroker.configuration(), topology: topology), store: store,
                logger: Logger(label: "test"), tracer: tracer)
            let running = Task { try await consumer.run() }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            while store.statistics().lastOffset != Int64(bodies.count - 1), clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            consumer.requestStop()
            try await running.value

            let spans = tracer.recorder.finishedSpans
            #expect(spans.count == bodies.count)
            for span in spans {
                let offset = try #require(span.attributes["messaging.rabbitmq.stream.offset"]?.toSpanAttribute())
                guard case .int64(let value) = offset, let sent = headers[value] else {
                    Issue.record("span without a known offset: \(span.attributes)")
                    continue
                }
                #expect(span.kind == .consumer)
                #expect(span.spanContext.traceID == sent.traceID)
                #expect(span.spanContext.parentSpanID == sent.spanID)
            }
            let failed = spans.filter { if case .error = $0.status?.code { true } else { false } }
            #expect(failed.count == 1, "the malformed event's span carries an error status")
        }
    }

    /// The `traceparent` header of each message of a stream, by offset.
    private func streamTraceparents(_ stream: String, count: Int) async throws -> [Int64: TraceParent] {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        try await channel.qos(prefetchCount: 100)
        let consumer = try await channel.consume(queue: stream, arguments: ["x-stream-offset": .string("first")])
        var found: [Int64: TraceParent] = [:]
        for try await delivery in consumer {
            channel.ack(deliveryTag: delivery.deliveryTag)
            if let offset = delivery.streamOffset,
                case .string(let header)? = delivery.properties.headers?[TraceParent.headerName],
                let parent = TraceParent(header)
            {
                found[offset] = parent
            }
            if delivery.streamOffset == Int64(count - 1) { break }
        }
        await connection.close()
        return found
    }
}
