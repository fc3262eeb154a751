import AccountMessaging
import TestSupport
import Testing

/// A broker of its own, stopped and started under a running publisher (scripts/test
/// passes the broker script in TEST_BROKER_SCRIPT).
@Suite(
    "accountctl publish across a broker restart, or a broker that stops answering", .tags(.broker, .fault),
    .timeLimit(.minutes(10)), .enabled(if: TestBroker.isCI || environment("TEST_BROKER_SCRIPT") != nil), .serialized)
struct AccountctlBrokerRestartTests {
    static let port = 5682

    private func broker(_ command: String) async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let result = try await runProcess(script, [command, "\(Self.port)"], timeout: 180)
        #expect(result.status == 0, "scripts/broker \(command): \(result.err)")
    }

    @Test("the publisher reconnects, republishes what was unconfirmed, and the service ends exact")
    func publishSurvivesBrokerRestart() async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            let url = "amqp://guest:guest@127.0.0.1:\(Self.port)/%2f"
            let topology = uniqueTopology("restart")
            let names = [
                "AMQP_URL": url, "EXCHANGE": topology.exchange, "EVENTS_STREAM": topology.stream,
                "INVALID_QUEUE": topology.invalidQueue,
            ]
            let history = ["--accounts", "300", "--events", "16000", "--seed", "11"]
            // About 16 s of publishing at this rate; the broker goes away early in it. A graceful stop
            // takes seconds, more on a loaded machine (8 s of publishing was once not enough in CI).
            let publisher = OutputWatch()
            async let published = runAccountctl(
                ["publish", "--quiet", "--verbose", "--rate", "1000"] + history, environment: names, timeout: 180,
                stderrWatch: publisher)
            // Stopped once the publisher is connected: a first connection refused fails at once, by design.
            #expect(
                await publisher.wait(for: "publishing through broker node", timeout: .seconds(30)), "\(publisher.text)")
            try await Task.sleep(for: .milliseconds(500))
            try await broker("down")
            try await broker("up")
            let result = try await published
            #expect(result.status == 0, "\(result.out)\n\(result.err)")
            #expect(result.out.contains("published=16000 confirmed=16000 nacked=0 returned=0"), "\(result.out)")
            #expect(result.err.contains("reconnecting"), "the broker restart was not noticed: \(result.err)")

            let service = try await ServiceProcess(
                topology: topology, replica: "after-restart", extraEnvironment: ["AMQP_URL": url])
            let verified = try await runAccountctl(
                ["verify", "--url", "http://127.0.0.1:\(service.port)", "--timeout", "60"] + history, timeout: 90)
            #expect(verified.status == 0, "\(verified.out)\n\(verified.err)")
            #expect(await service.terminate() == 0)
        }
    }

    @Test(
        "a broker that stops answering: publish gives up on the silent connection after --confirm-timeout, reconnects, and every event is confirmed"
    )
    func publishSurvivesSilentBroker() async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            let topology = uniqueTopology("silent")
            let names = [
                "AMQP_URL": "amqp://guest:guest@127.0.0.1:\(Self.port)/%2f", "EXCHANGE": topology.exchange,
                "EVENTS_STREAM": topology.stream, "INVALID_QUEUE": topology.invalidQueue,
            ]
            let history = ["--accounts", "100", "--events", "6000", "--seed", "12"]
            let publisher = OutputWatch()
            async let published = runAccountctl(
                ["publish", "--quiet", "--verbose", "--rate", "1000", "--confirm-timeout", "1"] + history,
                environment: names, timeout: 180, stderrWatch: publisher)
            #expect(
                await publisher.wait(for: "publishing through broker node", timeout: .seconds(30)), "\(publisher.text)")
            try await Task.sleep(for: .seconds(1))
            // SIGSTOP: the socket still takes what is written, and nothing is confirmed (nor refused).
            let stopped = try #require(StoppedBroker(port: "\(Self.port)"), "the broker on \(Self.port)")
            defer { stopped.continueAtOnce() }
            let noticed = await publisher.wait(for: "confirmed none of the", timeout: .seconds(20))
            // Reconnecting meets the stopped node for a while too: its handshake times out.
            try await Task.sleep(for: .seconds(3))
            await stopped.resume()
            #expect(noticed, "no confirm timeout within 20 s: \(publisher.text)")
            let result = try await published
            #expect(result.status == 0, "\(result.out)\n\(result.err)")
            #expect(result.out.contains("published=6000 confirmed=6000 nacked=0 returned=0"), "\(result.out)")
            #expect(result.err.contains("reconnecting"), "\(result.err)")
        }
    }
}
