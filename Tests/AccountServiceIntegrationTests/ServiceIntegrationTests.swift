import AMQP
import AccountMessaging
import AccountProjection
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real `accountservice` process against a real RabbitMQ, through the broker and the
/// HTTP API only (docs/events.md, docs/read-api.md).
@Suite(
    "accountservice against a real broker", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct ServiceIntegrationTests {
    @Test("a small history published to the stream is served over HTTP, field for field")
    func historyReadBack() async throws {
        let topology = uniqueTopology("history")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await publish(
                [
                    TestEvent.opened("acc-1", owner: "Zoë \\\"Zed\\\" Ångström", currency: "SEK", at: 1),
                    TestEvent.deposited("acc-1", 2, 1250, at: 2),
                    TestEvent.opened("acc-2", at: 3),
                    TestEvent.withdrawn("acc-1", 3, 2000, at: 4),
                    TestEvent.renamed("acc-1", 4, "Zoë Z.", at: 5),
                    TestEvent.closed("acc-2", 2, at: 6),
                ], to: topology)
            let service = try await ServiceProcess(topology: topology)
            #expect(await service.waitUntilHandled(6), "log:\n\(service.log)")

            let response = try #require(service.get("/accounts/acc-1"))
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(response.header("X-Served-By") == "replica-1")
            let account = try #require(Account(json: try JSONValue.parse(response.body)))
            #expect(
                account
                    == Account(
                        id: "acc-1", owner: "Zoë Z.", currency: "SEK", balance: -750, status: .open, version: 4,
                        openedAt: "2026-11-24T15:00:01.000Z", updatedAt: "2026-11-24T15:00:05.000Z"))
            let closedResponse = try #require(service.get("/accounts/acc-2"))
            let closed = try #require(Account(json: try JSONValue.parse(closedResponse.body)))
            #expect(closed.status == .closed)
            #expect(closed.version == 2)

            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(stats["accounts"] == 2)
            #expect(stats["eventsApplied"] == 6)
            #expect(stats["lastOffset"] == 5)
            #expect(stats.caughtUp)
            #expect(service.get("/accounts/acc-3")?.status == 404)
            #expect(service.get("/accounts/bad%20id")?.status == 400)
            #expect(await service.terminate() == 0)
        }
    }

    @Test("duplicates are counted, not applied; out-of-order events wait for their turn")
    func duplicatesAndOutOfOrder() async throws {
        let topology = uniqueTopology("order")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await publish(
                [
                    TestEvent.deposited("acc-9", 3, 300),  // parked: waits for 2
                    TestEvent.opened("acc-9"),
                    TestEvent.opened("acc-9"),  // duplicate of 1
                    TestEvent.deposited("acc-9", 3, 300),  // duplicate of a parked event
                    TestEvent.deposited("acc-9", 2, 200),  // fills the gap; 3 follows
                    TestEvent.deposited("acc-9", 2, 200),  // duplicate
                ], to: topology)
            let service = try await ServiceProcess(topology: topology)
            #expect(
                await service.waitUntilHandled(6),
                "stats: \(service.get("/stats")?.bodyText ?? "-") log:\n\(service.log)")
            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(stats["eventsApplied"] == 3)
            #expect(stats["duplicates"] == 3)
            #expect(stats["parked"] == 0)
            #expect(stats["invalid"] == 0)
            let response = try #require(service.get("/accounts/acc-9"))
            let account = try #require(Account(json: try JSONValue.parse(response.body)))
            #expect(account.balance == 500)
            #expect(account.version == 3)
            #expect(await service.terminate() == 0)
        }
    }

    /// One bad event of each kind, in a history that makes it bad.
    static let invalidCases: [(reason: String, setup: [[UInt8]], bad: [UInt8], routingKey: String)] = [
        ("malformed_json", [], Array("{\"eventId\": nope".utf8), "account.unknown"),
        ("too_large", [], Array(repeating: UInt8(ascii: " "), count: 65_537), "account.unknown"),
        (
            "unknown_type", [TestEvent.opened("acc-u")], TestEvent.body("MoneyTeleported", "acc-u", 2, data: "{}"),
            "account.unknown"
        ),
        (
            "invalid_field", [TestEvent.opened("acc-f")],
            TestEvent.body("MoneyDeposited", "acc-f", 2, data: "{\"amount\":12.5}"), "account.deposited"
        ),
        (
            "account_closed", [TestEvent.opened("acc-c"), TestEvent.closed("acc-c", 2)],
            TestEvent.deposited("acc-c", 3, 5), "account.deposited"
        ),
        (
            "amount_out_of_range", [TestEvent.opened("acc-r")], TestEvent.deposited("acc-r", 2, 1_000_000_000_000_001),
            "account.deposited"
        ),
    ]

    @Test(
        "each invalid reason code lands in the invalid queue with the original message and the four headers",
        arguments: 0..<6)
    func invalidEvent(index: Int) async throws {
        let (reason, setup, bad, routingKey) = Self.invalidCases[index]
        let topology = uniqueTopology("invalid-\(reason)")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await publish(setup + [bad], to: topology)
            let service = try await ServiceProcess(topology: topology, replica: "invalid-\(reason)")
            #expect(await service.waitUntilHandled(setup.count + 1), "log:\n\(service.log)")
            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(stats["invalid"] == 1)

            let messages = try await readQueue(topology.invalidQueue, count: 1, timeout: .seconds(30))
            let message = try #require(messages.first)
            let headers = try #require(message.properties.headers)
            #expect(headers["x-error"] == .string(reason))
            #expect(headers["x-error-detail"]?.stringValue?.isEmpty == false)
            #expect(headers["x-original-routing-key"] == .string(routingKey))
            #expect(headers["x-stream-offset"] == .int64(Int64(setup.count)))
            // A body past the decoder's limit is kept (and sent on) only up to that limit.
            #expect(message.body == Array(bad.prefix(EventDecoder.maximumBodySize)))
            if bad.count > EventDecoder.maximumBodySize {
                #expect(headers["x-original-body-size"] == .int64(Int64(bad.count)))
                #expect(headers["x-body-truncated"] != nil)
            }
            #expect(message.properties.contentType == "application/json")
            #expect(message.properties.deliveryMode == 2)
            #expect(await service.terminate() == 0)
        }
    }

    @Test("past the parking bound the event parked longest goes out as sequence_gap")
    func sequenceGap() async throws {
        let topology = uniqueTopology("gap")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let first = TestEvent.deposited("acc-g", 5, 1)
            try await publish([TestEvent.opened("acc-g"), first, TestEvent.deposited("acc-h", 7, 1)], to: topology)
            let service = try await ServiceProcess(
                topology: topology, replica: "gap", extraEnvironment: ["PARKED_LIMIT": "1"])
            #expect(await service.waitUntilHandled(3), "log:\n\(service.log)")
            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(stats["parked"] == 1)
            #expect(stats["invalid"] == 1)
            let message = try #require(try await readQueue(topology.invalidQueue, count: 1).first)
            #expect(message.properties.headers?["x-error"] == .string("sequence_gap"))
            #expect(message.properties.headers?["x-stream-offset"] == .int64(1))
            #expect(message.body == first)
            #expect(await service.terminate() == 0)
        }
    }

    @Test("a restarted service rebuilds the same projection, never READY before it has, same answers")
    func restartRebuilds() async throws {
        let topology = uniqueTopology("restart")
        try await cleaningUp({ await deleteTopology(topology) }) {
            var bodies: [[UInt8]] = []
            for n in 1...50 {
                bodies.append(TestEvent.opened("acc-\(n)", at: n))
                bodies.append(TestEvent.deposited("acc-\(n)", 2, n * 100, at: n))
            }
            try await publish(bodies, to: topology)
            let port = freePort()
            let first = try await ServiceProcess(topology: topology, port: port)
            #expect(await first.waitUntilHandled(100), "log:\n\(first.log)")
            let before = try #require(first.get("/accounts?limit=1000")).bodyText
            #expect(await first.terminate() == 0)
            #expect(first.log.contains("stream consumer stopped"))

            let second = try await ServiceProcess(topology: topology, port: port)
            // Each /ready answer with the events applied just after it. Whether the first answer
            // is 503 depends on how fast the replay is against this poll (it once was READY
            // before the first poll); what must hold every time is that READY means everything
            // is applied: /stats read after a 200 counts all 100 events.
            var samples: [(ready: Int, applied: Int64?)] = []
            let sawReady = await second.wait {
                guard let ready = second.get("/ready") else { return false }
                let applied = second.get("/stats").map { StatsView($0.bodyText)["eventsApplied"] }
                samples.append((ready.status, applied))
                return ready.status == 200
            }
            #expect(sawReady)
            #expect(samples.allSatisfy { [200, 503].contains($0.ready) }, "answers: \(samples)")
            #expect(samples.filter { $0.ready == 200 }.allSatisfy { $0.applied == 100 }, "answers: \(samples)")
            #expect(await second.waitUntilHandled(100))
            #expect(try #require(second.get("/accounts?limit=1000")).bodyText == before)
            #expect(await second.terminate() == 0)
        }
    }

    @Test("two service processes on one stream both serve the whole projection")
    func twoReplicas() async throws {
        let topology = uniqueTopology("replicas")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let a = try await ServiceProcess(topology: topology, replica: "replica-a")
            let b = try await ServiceProcess(topology: topology, replica: "replica-b")
            #expect(await a.wait { a.get("/ready")?.status == 200 }, "log:\n\(a.log)")
            #expect(await b.wait { b.get("/ready")?.status == 200 }, "log:\n\(b.log)")
            var bodies: [[UInt8]] = []
            for n in 1...20 { bodies += [TestEvent.opened("acc-\(n)"), TestEvent.deposited("acc-\(n)", 2, n)] }
            try await publish(bodies, to: topology)
            #expect(await a.waitUntilHandled(40))
            #expect(await b.waitUntilHandled(40))
            let listA = try #require(a.get("/accounts?limit=100"))
            let listB = try #require(b.get("/accounts?limit=100"))
            #expect(listA.bodyText == listB.bodyText)
            #expect(listA.header("X-Served-By") == "replica-a")
            #expect(listB.header("X-Served-By") == "replica-b")
            #expect(StatsView(listA.bodyText).json?["items"]?.arrayValue?.count == 20)
            #expect(await a.terminate() == 0)
            #expect(await b.terminate() == 0)
        }
    }

    @Test("a refused login is not a crash: /health 200, /ready 503 DISCONNECTED, the reason logged, retries")
    func refusedLogin() async throws {
        let topology = uniqueTopology("refused")
        var url = try AMQPURL(parsing: try TestBroker.requireURL())
        url.password = "wrong-secret-value"
        let service = try await ServiceProcess(
            topology: topology, replica: "refused",
            extraEnvironment: ["AMQP_URL": "amqp://\(url.user):wrong-secret-value@\(url.host):\(url.port)/%2f"])
        #expect(await service.wait { service.get("/health")?.status == 200 })
        let ready = try #require(service.get("/ready"))
        #expect(ready.status == 503)
        #expect(ready.bodyText.hasPrefix(#"{"status":"DISCONNECTED","reason":""#))
        #expect(
            await service.wait(timeout: .seconds(5)) {
                service.get("/ready")?.bodyText.contains("ACCESS_REFUSED") == true
            },
            "/ready: \(service.get("/ready")?.bodyText ?? "-")")
        #expect(service.get("/ready")?.bodyText.contains("wrong-secret-value") == false)
        #expect(
            await service.wait(timeout: .seconds(5)) { service.log.components("ACCESS_REFUSED") >= 2 },
            "log:\n\(service.log)")
        #expect(service.isRunning)
        #expect(!service.log.contains("wrong-secret-value"))
        #expect(await service.terminate() == 0)
    }
}

extension String {
    /// How many times `part` occurs.
    fileprivate func components(_ part: String) -> Int {
        var count = 0
        var rest = self[...]
        while let range = rest.firstRange(of: part) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}

@Suite(
    "accountservice stops cleanly under load", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled)
)
struct GracefulShutdownTests {
    @Test("SIGTERM in the middle of a backlog: exit 0 well within SHUTDOWN_TIMEOUT, at a batch boundary")
    func sigtermDuringReplay() async throws {
        let topology = uniqueTopology("sigterm")
        try await cleaningUp({ await deleteTopology(topology) }) {
            var bodies: [[UInt8]] = []
            for account in 1...2_000 {
                bodies.append(TestEvent.opened("acc-\(account)"))
                for sequence in 2...10 { bodies.append(TestEvent.deposited("acc-\(account)", sequence, sequence)) }
            }
            try await publish(bodies, to: topology)
            // A small prefetch keeps the replay of 20,000 events going for a while.
            let service = try await ServiceProcess(
                topology: topology, replica: "sigterm", extraEnvironment: ["PREFETCH": "10", "SHUTDOWN_TIMEOUT": "8"])
            #expect(
                await service.wait(timeout: .seconds(20)) {
                    StatsView(service.get("/stats")?.bodyText ?? "").handled > 500
                }
            )
            let handledBefore = StatsView(service.get("/stats")?.bodyText ?? "").handled
            #expect(handledBefore < 20_000, "the replay was over before SIGTERM; nothing was under load")
            let clock = ContinuousClock()
            let start = clock.now
            let status = await service.terminate()
            let took = clock.now - start
            #expect(status == 0, "log:\n\(service.log)")
            #expect(took < .seconds(8), "stopping took \(took)")
            let log = service.log
            #expect(log.contains("stream consumer stopped"), "log:\n\(log)")
            #expect(!log.contains("exiting now"), "the watchdog had to end it:\n\(log)")
        }
    }
}
