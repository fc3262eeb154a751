import AMQP
import AccountHistory
import AccountProjection
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("accountctl without a broker")
struct AccountctlOfflineTests {
    @Test("generate prints the generator's bodies, one a line, the same every time")
    func generate() async throws {
        let result = try await runAccountctl(["generate", "--accounts", "40", "--events", "700", "--seed", "9"])
        #expect(result.status == 0, "\(result.err)")
        var expected: [UInt8] = []
        for event in HistoryGenerator(accounts: 40, events: 700, seed: 9) { expected += event.body + [10] }
        #expect(result.stdout == expected)
        let again = try await runAccountctl(["generate", "--accounts", "40", "--events", "700", "--seed", "9"])
        #expect(again.stdout == result.stdout)
    }

    @Test("generate --out writes the file")
    func generateToFile() async throws {
        let path = "/tmp/accountctl-test-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        defer { unlink(path) }
        let result = try await runAccountctl(["generate", "--accounts", "3", "--events", "10", "--out", path])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.stdout.isEmpty)
        let file = try #require(fopen(path, "rb"))
        defer { fclose(file) }
        var lines = 0
        while fgetc(file) != EOF {}
        rewind(file)
        var character = fgetc(file)
        while character != EOF {
            if character == 10 { lines += 1 }
            character = fgetc(file)
        }
        #expect(lines == 10)
    }

    @Test(
        "bad usage exits 2 with a readable message",
        arguments: [
            ["generate", "--accounts", "5", "--events", "3"],
            ["generate", "--accounts", "0"],
            ["generate", "--close-rate", "2"],
            ["publish", "--file", "-", "--seed", "2"],
            ["publish", "--window", "0"],
            ["publish", "--rate", "0"],
            ["publish", "--amqp-url", "http://x"],
            ["publish", "--file", "/nonexistent/events.jsonl"],
            ["verify", "--url", "ftp://host"],
            ["health", "--url", "https://127.0.0.1:9", "--ca-file", "/nonexistent/ca.pem"],
            ["get", ""],
            ["health", "--timeout", "0"],
            ["nonsense"],
        ])
    func usage(arguments: [String]) async throws {
        let result = try await runAccountctl(arguments)
        #expect(result.status == 2, "\(arguments): \(result.status) \(result.err)")
        #expect(!result.err.isEmpty)
        #expect(result.stdout.isEmpty)
    }

    @Test(
        "every subcommand explains its flags and the exit statuses",
        arguments: ["publish", "generate", "verify", "get", "health"])
    func help(subcommand: String) async throws {
        let result = try await runAccountctl([subcommand, "--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("Exit status"))
        #expect(result.out.contains("USAGE"))
    }

    @Test(
        "an unreachable service exits 4 at once",
        arguments: [["health"], ["get", "acc-000001"], ["verify", "--timeout", "1"]])
    func unreachable(arguments: [String]) async throws {
        // Port 9 (discard): nothing listens there, the connection is refused.
        let result = try await runAccountctl(arguments + ["--url", "http://127.0.0.1:9"], timeout: 20)
        #expect(result.status == 4, "\(result.status) \(result.err)")
        #expect(result.err.contains("127.0.0.1:9"))
        #expect(result.seconds < 10)
    }
}

@Suite("accountctl against a stand-in service")
struct AccountctlServiceTests {
    static let history = HistoryGenerator(accounts: 2500, events: 12_000, seed: 4)

    @Test("verify passes when every account matches (3 pages, chunked, kept alive)")
    func verifyMatch() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
        ])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.out.contains("accounts expected=2500 served=2500 missing=0 unexpected=0 different=0"))
        #expect(result.out.contains("stats accounts=2500 eventsApplied=12000"))
    }

    @Test("verify reports a wrong balance, a missing and an extra account, and exits 1")
    func verifyMismatch() async throws {
        let service = try FakeService(generator: Self.history) { account in
            var account = account
            if account.id == "acc-000042" { account.balance += 1 }
            if account.id == "acc-000043" { return nil }
            if account.id == "acc-000044" { account.id = "acc-000044x" }
            return account
        }
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
        ])
        #expect(result.status == 1)
        #expect(result.out.contains("missing=2 unexpected=1 different=1"), "\(result.out)")
        #expect(result.out.contains("acc-000042: balance expected"))
        #expect(result.out.contains("acc-000043: missing"))
        #expect(result.out.contains("acc-000044x: served but not in the history"))
    }

    @Test("verify against other flags finds differences")
    func verifyOtherSeed() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "5", "--timeout", "10",
        ])
        #expect(result.status == 1)
        #expect(result.out.contains("MISMATCH"))
    }

    @Test("verify gives up with 1 when /ready never answers 200 within --timeout")
    func verifyNotReady() async throws {
        let service = try FakeService(generator: Self.history, readyStatus: 503)
        defer { service.stop() }
        let result = try await runAccountctl(["verify", "--url", service.url, "--timeout", "1"], timeout: 20)
        #expect(result.status == 1)
        #expect(result.err.contains("not ready"))
        #expect(result.seconds < 5)
    }

    @Test("verify against a caught-up service that lacks events compares after --settle, not --timeout, and says why")
    func verifyCaughtUpShort() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        // The service holds 12000 events and says it is caught up; the history has 13000.
        let result = try await runAccountctl(
            [
                "verify", "--url", service.url, "--accounts", "2500", "--events", "13000", "--seed", "4", "--timeout",
                "60",
            ], timeout: 90)
        #expect(result.status == 1, "\(result.err)")
        #expect(result.seconds < 30, "compared after \(result.seconds) s, not after --timeout")
        #expect(result.seconds > 1.5, "waited for the counters to stay still")
        #expect(result.err.contains("verify: waiting for the service: 12000 of 13000 events handled"), "\(result.err)")
        #expect(result.err.contains("caught up and has handled 12000 of 13000 events"), "\(result.err)")
        #expect(result.out.contains("MISMATCH"))

        let quiet = try await runAccountctl(
            [
                "verify", "--url", service.url, "--accounts", "2500", "--events", "13000", "--seed", "4", "--quiet",
                "--settle", "0.5",
            ], timeout: 90)
        #expect(quiet.status == 1)
        #expect(quiet.err.isEmpty, "--quiet: \(quiet.err)")
        #expect(quiet.seconds < 30)
    }

    @Test("verify --output json: one object with the figures and the differences")
    func verifyJSON() async throws {
        let service = try FakeService(generator: Self.history) { account in
            account.id == "acc-000043" ? nil : account
        }
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
            "--output", "json",
        ])
        #expect(result.status == 1)
        let value = try JSONValue.parse(Array(result.stdout.dropLast()))
        #expect(result.out.hasSuffix("}\n") && result.out.filter { $0 == "\n" }.count == 1, "one line: \(result.out)")
        #expect(value["ok"]?.boolValue == false)
        #expect(value["expected"]?.int64Value == 2500)
        #expect(value["served"]?.int64Value == 2499)
        #expect(value["missing"]?.int64Value == 1)
        #expect(value["stats"]?["eventsApplied"]?.int64Value == 12000)
        #expect(value["stats"]?["caughtUp"]?.boolValue == true)
        let differences = try #require(value["differences"]?.arrayValue)
        #expect(differences.first?.stringValue?.hasPrefix("acc-000043: missing") == true, "\(differences)")
    }

    @Test("get prints the account, or exits 1 for an unknown one")
    func get() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let found = try await runAccountctl(["get", "acc-000007", "--url", service.url])
        #expect(found.status == 0)
        let account = try #require(Account(json: try JSONValue.parse(Array(found.stdout.dropLast()))))
        #expect(account.id == "acc-000007")
        let missing = try await runAccountctl(["get", "acc-999999", "--url", service.url])
        #expect(missing.status == 1)
        #expect(missing.err.contains("no account acc-999999"))
    }

    @Test("health: 0 on /health 200, 1 on /ready 503")
    func health() async throws {
        let service = try FakeService(generator: HistoryGenerator(accounts: 1, events: 1, seed: 1), readyStatus: 503)
        defer { service.stop() }
        let up = try await runAccountctl(["health", "--url", service.url])
        #expect(up.status == 0)
        #expect(up.out == "{\"status\":\"UP\"}\n")
        let notReady = try await runAccountctl(["health", "--ready", "--url", service.url])
        #expect(notReady.status == 1)
        #expect(notReady.err.contains("503"))
    }
}

@Suite("accountctl against the broker (AMQP_TEST_URL)", .enabled(if: TestBroker.enabled))
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
