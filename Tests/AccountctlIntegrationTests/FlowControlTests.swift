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
        try await broker("ctl", "set_vm_memory_high_watermark", "0.000001")
        try await Task.sleep(for: .seconds(3))  // the memory monitor notices
        let result = try await publish(blockedTimeout: 3)
        #expect(result.status == 1, "\(result.out)\n\(result.err)")
        #expect(result.err.contains("the broker blocks publishing for now (low on memory)"), "\(result.err)")
        #expect(result.err.contains("has blocked publishing for 3.0 seconds"), "\(result.err)")
        #expect(result.seconds < 30)
        try await broker("ctl", "set_vm_memory_high_watermark", "0.4")
        try await broker("down")
    }

    @Test("blocked, then the alarm clears: every message confirmed")
    func alarmClears() async throws {
        try await broker("up")
        try await broker("ctl", "set_vm_memory_high_watermark", "0.000001")
        try await Task.sleep(for: .seconds(3))
        async let published = publish(blockedTimeout: 60)
        try await Task.sleep(for: .seconds(4))
        try await broker("ctl", "set_vm_memory_high_watermark", "0.4")
        let result = try await published
        #expect(result.status == 0, "\(result.out)\n\(result.err)")
        #expect(result.out.contains("published=20000 confirmed=20000"), "\(result.out)")
        #expect(result.err.contains("the broker accepts publishing again"), "\(result.err)")
        try await broker("down")
    }
}
