import AccountMessaging
import TestSupport
import Testing

/// A memory alarm on a broker of the suite's own (scripts/test passes the broker script in
/// TEST_BROKER_SCRIPT): publishing reports being blocked, finishes once the alarm clears, or
/// fails with a clear message after --blocked-timeout. It never hangs.
@Suite(
    "accountctl publish under a broker memory alarm", .tags(.broker, .fault), .timeLimit(.minutes(10)),
    .serialized, .enabled(if: TestBroker.isCI || environment("TEST_BROKER_SCRIPT") != nil))
struct FlowControlTests {
    static let port = 5687

    private func broker(_ arguments: String...) async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        var words = arguments
        words.insert("\(Self.port)", at: 1)
        let result = try await runProcess(script, words, timeout: 180)
        #expect(result.status == 0, "scripts/broker \(arguments): \(result.out) \(result.err)")
    }

    /// Polls `scripts/broker ctl PORT ARGS` until its output satisfies `condition`: waits for the
    /// broker's own report of the state, not a fixed time that a loaded machine may overrun.
    private func waitUntilBroker(
        _ arguments: [String], says what: String, _ condition: (String) -> Bool
    ) async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        var last = ""
        while clock.now < deadline {
            let result = try await runProcess(script, ["ctl", "\(Self.port)"] + arguments, timeout: 60)
            last = result.out + result.err
            if result.status == 0, condition(result.out) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the broker did not say \(what) within 60 s; last: \(last)")
    }

    /// Until the broker reports its memory alarm (it checks as the watermark changes).
    private func waitForMemoryAlarm() async throws {
        try await waitUntilBroker(["eval", "rabbit_alarm:get_alarms()."], says: "a memory alarm") {
            $0.contains("memory")
        }
    }

    private func publish(blockedTimeout: Int) async throws -> ProcessResult {
        let topology = uniqueTopology("alarm")
        return try await runAccountctl(
            [
                "publish", "--quiet", "--accounts", "10", "--events", "20000", "--blocked-timeout", "\(blockedTimeout)",
            ],
            environment: [
                "AMQP_URL": "amqp://guest:guest@127.0.0.1:\(Self.port)/%2f", "EXCHANGE": topology.exchange,
                "EVENTS_STREAM": topology.stream, "INVALID_QUEUE": topology.invalidQueue,
            ], timeout: 90)
    }

    @Test("blocked past --blocked-timeout: a clear failure, in about that time")
    func blockedTimesOut() async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            try await broker("ctl", "set_vm_memory_high_watermark", "0.000001")
            try await waitForMemoryAlarm()
            let result = try await publish(blockedTimeout: 3)
            #expect(result.status == 1, "\(result.out)\n\(result.err)")
            #expect(result.err.contains("the broker blocks publishing for now (low on memory)"), "\(result.err)")
            #expect(result.err.contains("has blocked publishing for 3.0 seconds"), "\(result.err)")
            #expect(result.seconds < 30)
            try await broker("ctl", "set_vm_memory_high_watermark", "0.4")
        }
    }

    @Test("blocked, then the alarm clears: every message confirmed")
    func alarmClears() async throws {
        try await broker("up")
        try await cleaningUp({ try? await broker("down") }) {
            try await broker("ctl", "set_vm_memory_high_watermark", "0.000001")
            try await waitForMemoryAlarm()
            async let published = publish(blockedTimeout: 60)
            // The publisher's connection is blocked once it has tried to publish.
            try await waitUntilBroker(["list_connections", "state"], says: "a blocked connection") {
                $0.contains("blocked")
            }
            try await broker("ctl", "set_vm_memory_high_watermark", "0.4")
            let result = try await published
            #expect(result.status == 0, "\(result.out)\n\(result.err)")
            #expect(result.out.contains("published=20000 confirmed=20000"), "\(result.out)")
            #expect(result.err.contains("the broker accepts publishing again"), "\(result.err)")
        }
    }
}
