import AMQP
import AccountMessaging
import TestSupport
import Testing

/// accountctl against a real accountservice and a real broker, as a user runs them.
@Suite(
    "accountctl with a running accountservice", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled))
struct AccountctlEndToEndTests {
    private func environment(_ topology: Topology) throws -> [String: String] {
        [
            "AMQP_URL": try TestBroker.requireURL(), "EXCHANGE": topology.exchange,
            "EVENTS_STREAM": topology.stream, "INVALID_QUEUE": topology.invalidQueue,
        ]
    }

    @Test("publish, then verify against the service: an exact match, exit 0")
    func publishThenVerify() async throws {
        let topology = uniqueTopology("e2e")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let service = try await ServiceProcess(topology: topology, replica: "e2e")
            let history = ["--accounts", "300", "--events", "3000", "--seed", "7"]
            let published = try await runAccountctl(
                ["publish", "--quiet"] + history, environment: try environment(topology))
            #expect(published.status == 0, "\(published.err)")
            #expect(published.out.contains("published=3000 confirmed=3000 nacked=0 returned=0"))

            let verified = try await runAccountctl(
                ["verify", "--url", "http://127.0.0.1:\(service.port)", "--timeout", "30"] + history)
            #expect(verified.status == 0, "\(verified.out)\n\(verified.err)")
            #expect(verified.out.contains("accounts expected=300 served=300 missing=0 unexpected=0 different=0"))
            #expect(await service.terminate() == 0)
        }
    }

    @Test(
        "verify against a caught-up service with an empty stream fails in seconds (not --timeout) and says what is missing"
    )
    func verifyEmptyService() async throws {
        let topology = uniqueTopology("e2e-empty")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let service = try await ServiceProcess(topology: topology, replica: "e2e-empty")
            let verified = try await runAccountctl(
                [
                    "verify", "--url", "http://127.0.0.1:\(service.port)", "--timeout", "60", "--accounts", "20",
                    "--events", "100",
                ], timeout: 90)
            #expect(verified.status == 1)
            #expect(verified.seconds < 15, "gave up after \(verified.seconds) s")
            #expect(verified.err.contains("caught up and has handled 0 of 100 events"), "\(verified.err)")
            let output = verified.out + verified.err
            #expect(output.contains("accounts expected=20 served=0 missing=20"), "\(output)")
            #expect(output.contains("acc-"), "the first differences name accounts: \(output)")
            #expect(await service.terminate() == 0)
        }
    }

    @Test("a malformed line from standard input ends in the invalid queue with its reason")
    func malformedLineToInvalidQueue() async throws {
        let topology = uniqueTopology("e2e-bad")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let service = try await ServiceProcess(topology: topology, replica: "e2e-bad")
            let line =
                #"{"eventId":"bad-1","type":"MoneyDeposited","accountId":"acc-1","sequence":1,"occurredAt":"2026-11-24T15:00:00Z","data":{"amount":"12"}}"#
            let published = try await runAccountctl(
                ["publish", "--file", "-", "--quiet"], stdin: Array((line + "\nnot json at all\n").utf8),
                environment: try environment(topology))
            #expect(published.status == 0, "\(published.err)")
            #expect(await service.waitUntilHandled(2))

            let messages = try await readQueue(topology.invalidQueue, count: 2)
            #expect(messages.count == 2)
            let reasons = messages.map { $0.properties.headers?["x-error"]?.stringValue }
            #expect(reasons == ["invalid_field", "malformed_json"])
            #expect(messages.first?.body == Array(line.utf8))
            #expect(messages.last?.properties.headers?["x-original-routing-key"] == .string("account.unknown"))
            #expect(await service.terminate() == 0)
        }
    }
}
