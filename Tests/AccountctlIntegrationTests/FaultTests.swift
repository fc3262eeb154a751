import AccountMessaging
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Faults through the broker and the process only, against a broker of the suite's own
/// (scripts/test passes the broker script in TEST_BROKER_SCRIPT): whatever happens, the
/// service ends with exactly the projection of the history, no event lost, none applied twice.
@Suite(
    "faults: broker restarts and kills, service kills", .tags(.broker, .fault), .timeLimit(.minutes(10)),
    .serialized, .enabled(if: TestBroker.isCI || environment("TEST_BROKER_SCRIPT") != nil))
struct FaultTests {
    static let port = 5683
    static let url = "amqp://guest:guest@127.0.0.1:\(port)/%2f"
    static let history = ["--accounts", "400", "--events", "30000", "--seed", "23"]

    private func broker(_ command: String) async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let result = try await runProcess(script, [command, "\(Self.port)"], timeout: 180)
        #expect(result.status == 0, "scripts/broker \(command): \(result.out) \(result.err)")
    }

    private func names(_ topology: Topology) -> [String: String] {
        [
            "AMQP_URL": Self.url, "EXCHANGE": topology.exchange, "EVENTS_STREAM": topology.stream,
            "INVALID_QUEUE": topology.invalidQueue,
        ]
    }

    /// The history's lines, split in two: a backlog, and events that keep coming during the fault.
    private func historyHalves() async throws -> (backlog: [UInt8], live: [UInt8]) {
        let generated = try await runAccountctl(["generate"] + Self.history)
        #expect(generated.status == 0)
        let lines = generated.stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let half = lines.count / 2
        func joined(_ part: ArraySlice<ArraySlice<UInt8>>) -> [UInt8] {
            part.reduce(into: [UInt8]()) { bytes, line in
                bytes += line
                bytes.append(UInt8(ascii: "\n"))
            }
        }
        return (joined(lines[..<half]), joined(lines[half...]))
    }

    private func verify(_ service: ServiceProcess) async throws {
        let verified = try await runAccountctl(
            ["verify", "--url", "http://127.0.0.1:\(service.port)", "--timeout", "90"] + Self.history, timeout: 120)
        #expect(verified.status == 0, "\(verified.out)\n\(verified.err)\nservice log:\n\(service.log)")
        let stats = StatsView(service.get("/stats")?.bodyText ?? "")
        #expect(stats["eventsApplied"] == 30_000)
        #expect(stats["invalid"] == 0)
    }

    @Test(
        "broker stopped and started, or killed and started, while the service reads a backlog and events keep coming",
        arguments: ["down", "kill"])
    func brokerFault(how: String) async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            let topology = uniqueTopology("fault-\(how)")
            let (backlog, live) = try await historyHalves()
            let first = try await runAccountctl(
                ["publish", "--file", "-", "--quiet"], stdin: backlog, environment: names(topology))
            #expect(first.status == 0, "\(first.err)")

            // A small prefetch makes the replay slow enough to be caught in the middle.
            let service = try await ServiceProcess(
                topology: topology, replica: "fault-\(how)", extraEnvironment: ["AMQP_URL": Self.url, "PREFETCH": "20"])
            let publisher = OutputWatch()
            async let second = runAccountctl(
                ["publish", "--file", "-", "--quiet", "--verbose", "--rate", "5000"], stdin: live,
                environment: names(topology), timeout: 180, stderrWatch: publisher)
            // The fault lands once the replay is under way and the live publisher is connected (one
            // that first connects to a stopped broker fails at once, by design), not after a guess.
            #expect(
                await service.wait(timeout: .seconds(20)) {
                    StatsView(service.get("/stats")?.bodyText ?? "").handled > 1000
                })
            #expect(
                await publisher.wait(for: "publishing through broker node", timeout: .seconds(30)), "\(publisher.text)")
            try await broker(how)
            #expect(
                await service.wait(timeout: .seconds(10)) {
                    service.get("/ready")?.bodyText.hasPrefix(#"{"status":"DISCONNECTED""#) == true
                })
            // The read API keeps serving the last state while the broker is away.
            #expect(service.get("/accounts?limit=5")?.status == 200)
            try await broker("up")
            let published = try await second
            #expect(published.status == 0, "\(published.out)\n\(published.err)")
            try await verify(service)
            #expect(service.log.contains("broker unavailable"))
            #expect(await service.terminate() == 0)
        }
    }

    @Test("kill -9 of the service in the middle of a replay, then a restart: the same final state")
    func serviceKilled() async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            let topology = uniqueTopology("fault-kill9")
            let (backlog, live) = try await historyHalves()
            let published = try await runAccountctl(
                ["publish", "--file", "-", "--quiet"], stdin: backlog + live, environment: names(topology))
            #expect(published.status == 0, "\(published.err)")
            let port = freePort()
            let first = try await ServiceProcess(
                topology: topology, replica: "kill9", port: port,
                extraEnvironment: ["AMQP_URL": Self.url, "PREFETCH": "20"])
            #expect(
                await first.wait(timeout: .seconds(20)) {
                    StatsView(first.get("/stats")?.bodyText ?? "").handled > 1000
                })
            await first.kill9()
            let second = try await ServiceProcess(
                topology: topology, replica: "kill9", port: port, extraEnvironment: ["AMQP_URL": Self.url])
            try await verify(second)
            #expect(await second.terminate() == 0)
        }
    }
}
