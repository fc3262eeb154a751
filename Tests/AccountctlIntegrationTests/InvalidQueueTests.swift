import AMQP
import AccountMessaging
import AccountProjection
import JSON
import TestSupport
import Testing

/// `accountctl invalid list` and `invalid requeue` against the broker, on an invalid queue
/// filled as the service fills it (the original message plus the x-error… headers).
@Suite(
    "accountctl invalid, against the broker (AMQP_TEST_URL)", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled))
struct InvalidQueueTests {
    private func environment(_ topology: Topology) throws -> [String: String] {
        [
            "AMQP_URL": try TestBroker.requireURL(), "EXCHANGE": topology.exchange,
            "EVENTS_STREAM": topology.stream, "INVALID_QUEUE": topology.invalidQueue,
        ]
    }

    /// Three rejected events in the invalid queue: offsets 7, 12 (twice, as two replicas
    /// would send it) and 30.
    private func fill(_ topology: Topology) async throws {
        let connection = try await TestBroker.connect()
        try await topology.declare(on: connection)
        let channel = try await connection.openChannel()
        try await channel.enablePublisherConfirms()
        func rejected(_ offset: Int64, _ reason: String, _ key: String, _ body: String) -> AMQPMessage {
            var message = EventMessage.message(
                body: Array(body.utf8), exchange: "", eventID: "e-\(offset)", type: nil, occurredAt: nil)
            message.routingKey = topology.invalidQueue
            var headers = message.properties.headers ?? AMQPTable()
            headers["x-error"] = .string(reason)
            headers["x-error-detail"] = .string("detail of \(offset)")
            headers["x-original-routing-key"] = .string(key)
            headers["x-stream-offset"] = .int64(offset)
            headers["traceparent"] = .string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            message.properties.headers = headers
            return message
        }
        let fixedBody =
            #"{"eventId":"e-12","type":"MoneyDeposited","accountId":"acc-1","sequence":2,"occurredAt":"2026-11-24T15:00:00Z","data":{"amount":12}}"#
        let outcomes = try await channel.publish([
            rejected(7, "malformed_json", "account.unknown", "not json at all"),
            rejected(12, "invalid_field", "account.deposited", fixedBody),
            rejected(12, "invalid_field", "account.deposited", fixedBody),
            rejected(30, "unknown_type", "account.unknown", #"{"type":"Nope"}"#),
        ])
        #expect(outcomes.allSatisfy { $0 == .confirmed })
        await connection.close()
    }

    private func queueCount(_ queue: String) async throws -> UInt32 {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        let count = try await channel.declareQueue(queue, passive: true).messageCount
        await connection.close()
        return count
    }

    @Test("invalid list shows reason, offset, routing key and body, and leaves every message in the queue")
    func list() async throws {
        let topology = uniqueTopology("invalid-list")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await fill(topology)

            let text = try await runAccountctl(
                ["invalid", "list"], environment: try environment(topology), timeout: 30)
            #expect(text.status == 0, "\(text.err)")
            let lines = text.out.split(separator: "\n").map(String.init)
            #expect(lines.first == "4 messages in \(topology.invalidQueue)", "\(text.out)")
            #expect(lines.count == 6, "\(text.out)")
            #expect(lines[1].hasPrefix("OFFSET") && lines[1].contains("REASON") && lines[1].contains("BODY"))
            #expect(
                lines[2].hasPrefix("7 ") && lines[2].contains("malformed_json") && lines[2].contains("not json at all"))
            #expect(lines[3].contains("invalid_field") && lines[3].contains("account.deposited"))
            #expect(lines[3].contains(#"{"eventId":"e-12""#) && lines[3].hasSuffix("…"), "an excerpt: \(lines[3])")
            #expect(try await queueCount(topology.invalidQueue) == 4, "listing takes nothing away")

            let json = try await runAccountctl(
                ["invalid", "list", "--output", "json", "--limit", "2"], environment: try environment(topology),
                timeout: 30
            )
            #expect(json.status == 0, "\(json.err)")
            let value = try JSONValue.parse(Array(json.stdout.dropLast()))
            #expect(value["queue"]?.stringValue == topology.invalidQueue)
            #expect(value["count"]?.int64Value == 4)
            let events = try #require(value["events"]?.arrayValue)
            #expect(events.count == 2)
            #expect(events[0]["offset"]?.int64Value == 7)
            #expect(events[0]["reason"]?.stringValue == "malformed_json")
            #expect(events[0]["routingKey"]?.stringValue == "account.unknown")
            #expect(events[0]["body"]?.stringValue == "not json at all")
            #expect(events[1]["detail"]?.stringValue == "detail of 12")
            #expect(try await queueCount(topology.invalidQueue) == 4)
        }
    }

    @Test("invalid requeue publishes the chosen event once with its routing key, then removes it (copies too)")
    func requeue() async throws {
        let topology = uniqueTopology("invalid-requeue")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await fill(topology)

            let missing = try await runAccountctl(
                ["invalid", "requeue", "--offset", "999"], environment: try environment(topology), timeout: 30)
            #expect(missing.status == 1, "\(missing.err)")
            #expect(missing.out == "requeued=0 kept=4 missing=1\n", "\(missing.out)")
            #expect(missing.err.contains("999"))
            #expect(try await queueCount(topology.invalidQueue) == 4)

            let result = try await runAccountctl(
                ["invalid", "requeue", "--offset", "12"], environment: try environment(topology), timeout: 30)
            #expect(result.status == 0, "\(result.err)")
            #expect(result.out == "requeued=1 kept=2 missing=0\n", "\(result.out)")
            #expect(try await queueCount(topology.invalidQueue) == 2, "both copies of offset 12 are gone")

            // In the stream once, by the exchange, with the original routing key and properties.
            let connection = try await TestBroker.connect()
            let channel = try await connection.openChannel()
            try await channel.qos(prefetchCount: 10)
            let consumer = try await channel.consume(
                queue: topology.stream, arguments: ["x-stream-offset": .string("first")])
            var iterator = consumer.makeAsyncIterator()
            let delivery = try #require(try await iterator.next())
            #expect(delivery.routingKey == "account.deposited")
            #expect(delivery.exchange == topology.exchange)
            #expect(delivery.properties.messageID == "e-12")
            #expect(String(decoding: delivery.body, as: UTF8.self).hasPrefix(#"{"eventId":"e-12""#))
            let headers = delivery.properties.headers ?? AMQPTable()
            #expect(headers["x-error"] == nil && headers["x-error-detail"] == nil)
            #expect(headers["x-original-routing-key"] == nil)
            // The stream's own x-stream-offset (where it is now), not the one it was rejected at.
            #expect(headers["x-stream-offset"]?.int64Value == 0)
            #expect(headers["traceparent"] != nil, "the original headers stay")
            await connection.close()

            let rest = try await runAccountctl(
                ["invalid", "list", "--output", "json"], environment: try environment(topology), timeout: 30)
            let value = try JSONValue.parse(Array(rest.stdout.dropLast()))
            #expect(value["events"]?.arrayValue?.compactMap { $0["offset"]?.int64Value } == [7, 30])

            let all = try await runAccountctl(
                ["invalid", "requeue", "--all"], environment: try environment(topology), timeout: 30)
            #expect(all.status == 0, "\(all.err)")
            #expect(all.out == "requeued=2 kept=0 missing=0\n", "\(all.out)")
            #expect(try await queueCount(topology.invalidQueue) == 0)
        }
    }

    @Test("invalid requeue needs --offset or --all; a missing queue is named")
    func usage() async throws {
        let neither = try await runAccountctl(["invalid", "requeue"])
        #expect(neither.status == 2)
        #expect(neither.err.contains("--offset") && neither.err.contains("--all"))
        let topology = uniqueTopology("invalid-none")
        let none = try await runAccountctl(["invalid", "list"], environment: try environment(topology), timeout: 30)
        #expect(none.status == 1, "\(none.err)")
        #expect(none.err.contains(topology.invalidQueue) && none.err.contains("INVALID_QUEUE"), "\(none.err)")
    }
}
