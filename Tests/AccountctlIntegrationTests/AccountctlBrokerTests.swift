import AMQP
import AccountHistory
import AccountProjection
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(
    "accountctl against the broker (AMQP_TEST_URL)", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled))
struct AccountctlBrokerTests {
    /// Reads `count` messages from the start of a stream.
    func readStream(_ stream: String, count: Int, connection: AMQPConnection) async throws -> [AMQPDelivery] {
        let channel = try await connection.openChannel()
        try await channel.qos(prefetchCount: 1000)
        let consumer = try await channel.consume(queue: stream, arguments: ["x-stream-offset": .string("first")])
        var deliveries: [AMQPDelivery] = []
        for try await delivery in consumer {
            deliveries.append(delivery)
            if deliveries.count % 500 == 0 { channel.ack(deliveryTag: delivery.deliveryTag, multiple: true) }
            if deliveries.count == count { break }
        }
        try await channel.close()
        return deliveries
    }

    func names() -> [String] {
        let exchange = TestBroker.uniqueName("accountctl-test")
        return ["--exchange", exchange, "--stream", exchange + ".events", "--invalid-queue", exchange + ".invalid"]
    }

    func cleanUp(_ names: [String], connection: AMQPConnection) async {
        if let channel = try? await connection.openChannel() {
            _ = try? await channel.deleteQueue(names[3])
            _ = try? await channel.deleteQueue(names[5])
            try? await channel.deleteExchange(names[1])
        }
        await connection.close()
    }

    @Test("a wrong password exits 3 within 5 s, and the password is never shown")
    func wrongPassword() async throws {
        let path = "/tmp/accountctl-test-password-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        let file = try #require(fopen(path, "wb"))
        fputs("not-the-Password-123\n", file)
        fclose(file)
        let result = try await runAccountctl(
            ["publish", "--events", "10", "--accounts", "2", "--amqp-password-file", path],
            environment: ["AMQP_URL": try TestBroker.requireURL()], timeout: 20)
        #expect(result.status == 3, "\(result.err)")
        #expect(result.seconds < 5)
        #expect(result.err.contains("refused"))
        #expect(!result.err.contains("not-the-Password-123") && !result.out.contains("not-the-Password-123"))
    }

    @Test("publish sends the history in order, with the documented properties, all confirmed")
    func publishInOrder() async throws {
        let names = names()
        let connection = try await TestBroker.connect()
        let history = HistoryGenerator(accounts: 300, events: 6000, seed: 21)
        // Batches of one, 2000 in flight: on the shared pool this reorders within a few thousand
        // events; the serial executor must keep them in order.
        let result = try await runAccountctl(
            [
                "publish", "--accounts", "300", "--events", "6000", "--seed", "21", "--batch", "1", "--window", "2000",
                "--quiet",
            ]
                + names,
            environment: ["AMQP_URL": try TestBroker.requireURL()])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.hasPrefix("published=6000 confirmed=6000 nacked=0 returned=0 seconds="), "\(result.out)")
        #expect(result.out.contains(" msg_per_s="))
        #expect(result.err.isEmpty, "--quiet prints nothing on stderr: \(result.err)")

        let deliveries = try await readStream(names[3], count: 6000, connection: connection)
        #expect(deliveries.count == 6000)
        for (event, delivery) in zip(history, deliveries) {
            #expect(delivery.properties.messageID == event.eventId, "out of order at \(event.index)")
            if delivery.properties.messageID != event.eventId { break }
            #expect(delivery.body == event.body)
            #expect(delivery.properties.type == event.type.rawValue)
            #expect(delivery.properties.contentType == "application/json")
            #expect(delivery.properties.deliveryMode == 2)
            #expect(delivery.properties.timestamp == 1_795_532_400 + UInt64(event.index / 4))
            #expect(delivery.routingKey == EventMessageKeys.routingKey(event.type))
            #expect(delivery.exchange == names[1])
        }
        await cleanUp(names, connection: connection)
    }

    @Test("publish --file - sends every non-empty line as it is; the routing key comes from a string type")
    func publishLines() async throws {
        let names = names()
        let connection = try await TestBroker.connect()
        let lines = [
            #"{"eventId":"e-1","type":"MoneyDeposited","accountId":"a-1","sequence":2,"occurredAt":"2026-11-24T15:00:01Z","data":{"amount":5}}"#,
            "this is not JSON",
            "",
            #"{"type":"SomethingElse"}"#,
            "[1,2,3]",
            #"{"type":7}"#,
            #"{"type":"AccountClosed","eventId":"e-2"}"#,
        ]
        let input = Array((lines.joined(separator: "\n") + "\r\n").utf8)
        let result = try await runAccountctl(
            ["publish", "--file", "-"] + names, stdin: input, environment: ["AMQP_URL": try TestBroker.requireURL()])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.hasPrefix("published=6 confirmed=6 "), "\(result.out)")
        let deliveries = try await readStream(names[3], count: 6, connection: connection)
        let sent = lines.filter { !$0.isEmpty }
        #expect(deliveries.map { String(decoding: $0.body, as: UTF8.self) } == sent)
        #expect(
            deliveries.map(\.routingKey) == [
                "account.deposited", "account.unknown", "account.unknown", "account.unknown", "account.unknown",
                "account.closed",
            ])
        #expect(deliveries[0].properties.messageID == "e-1")
        #expect(deliveries[0].properties.timestamp == 1_795_532_401)
        #expect(deliveries[1].properties.messageID == nil)
        #expect(deliveries[5].properties.type == "AccountClosed")
        await cleanUp(names, connection: connection)
    }

    @Test("publish says nothing of the trace unless --verbose, then once; --output json is one object")
    func publishVerboseAndJSON() async throws {
        let names = names()
        let environment = ["AMQP_URL": try TestBroker.requireURL()]
        let plain = try await runAccountctl(
            ["publish", "--accounts", "5", "--events", "50"] + names, environment: environment)
        #expect(plain.status == 0, "\(plain.err)")
        #expect(!plain.err.contains("trace"), "\(plain.err)")

        let verbose = try await runAccountctl(
            ["publish", "--accounts", "5", "--events", "50", "--verbose", "--output", "json"] + names,
            environment: environment)
        #expect(verbose.status == 0, "\(verbose.err)")
        let traceLines = verbose.err.split(separator: "\n").filter { $0.contains("traceparent") }
        #expect(traceLines.count == 1, "\(verbose.err)")
        let value = try JSONValue.parse(Array(verbose.stdout.dropLast()))
        #expect(verbose.out.filter { $0 == "\n" }.count == 1)
        #expect(value["published"]?.int64Value == 50)
        #expect(value["confirmed"]?.int64Value == 50)
        #expect(value["nacked"]?.int64Value == 0)
        #expect(value["returned"]?.int64Value == 0)
        #expect(value["failure"]?.isNull == true)
        let trace = try #require(value["trace"]?.stringValue)
        #expect(trace.count == 32 && traceLines[0].contains(trace))
        await cleanUp(names, connection: try await TestBroker.connect())
    }

    @Test("--rate limits the pace")
    func rate() async throws {
        let names = names()
        let result = try await runAccountctl(
            ["publish", "--accounts", "10", "--events", "200", "--rate", "400", "--quiet"] + names,
            environment: ["AMQP_URL": try TestBroker.requireURL()])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.seconds > 0.4, "200 events at 400/s take about half a second, not \(result.seconds) s")
        await cleanUp(names, connection: try await TestBroker.connect())
    }
}

enum EventMessageKeys {
    static func routingKey(_ type: EventType) -> String {
        switch type {
        case .accountOpened: "account.opened"
        case .moneyDeposited: "account.deposited"
        case .moneyWithdrawn: "account.withdrawn"
        case .accountRenamed: "account.renamed"
        case .accountClosed: "account.closed"
        }
    }
}
