import AMQP
import AccountMessaging
import TestSupport
import Testing

/// A stream deleted and recreated under a running replica (docs/events.md#broker-topology, replaced):
/// the replica notices, says so, and rebuilds from the new stream instead of mixing them.
@Suite(
    "accountservice and a replaced stream", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled),
    .serialized)
struct StreamIdentityTests {
    private func history(_ prefix: String, accounts: Int) -> [[UInt8]] {
        (1...accounts).flatMap { n in
            [TestEvent.opened("\(prefix)-\(n)", at: n), TestEvent.deposited("\(prefix)-\(n)", 2, n * 10, at: n)]
        }
    }

    /// Deletes the stream and declares it again, then publishes `bodies` to the new one.
    private func replaceStream(_ topology: Topology, with bodies: [[UInt8]]) async throws {
        let connection = try await TestBroker.connect()
        let channel = try await connection.openChannel()
        _ = try await channel.deleteQueue(topology.stream)
        await connection.close()
        try await declareBesideTheService(topology)
        try await publish(bodies, to: topology)
    }

    /// Declares the topology while the service, which noticed the deletion, may be declaring
    /// the stream too: RabbitMQ 3.10 can answer one of two concurrent declares of a new
    /// stream with 541 INTERNAL_ERROR (or 506), so those are tried again (CI saw it once).
    private func declareBesideTheService(_ topology: Topology) async throws {
        var attempt = 1
        while true {
            let connection = try await TestBroker.connect()
            do {
                try await topology.declare(on: connection)
                await connection.close()
                return
            } catch {
                await connection.close()
                guard attempt < 10, Self.isConcurrentDeclare(error) else { throw error }
            }
            attempt += 1
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private static func isConcurrentDeclare(_ error: any Error) -> Bool {
        guard case .connectionClosed(let code, _) = error as? AMQPError else { return false }
        return code == 541 || code == 506
    }

    @Test(
        "a stream recreated shorter or longer than what was applied: the replica logs it, counts it, and rebuilds from the new stream only",
        arguments: [3, 40])
    func recreatedStreamIsRebuilt(newAccounts: Int) async throws {
        let topology = uniqueTopology("identity-\(newAccounts)")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await publish(history("old", accounts: 10), to: topology)
            let service = try await ServiceProcess(topology: topology, replica: "identity")
            #expect(await service.waitUntilHandled(20), "log:\n\(service.log)")
            #expect(service.get("/accounts/old-1")?.status == 200)

            try await replaceStream(topology, with: history("new", accounts: newAccounts))
            let rebuilt = await service.wait(timeout: .seconds(40)) {
                guard service.get("/ready")?.status == 200, let stats = service.get("/stats") else { return false }
                let view = StatsView(stats.bodyText)
                return view["accounts"] == newAccounts && view["eventsApplied"] == 2 * newAccounts
            }
            #expect(rebuilt, "log:\n\(service.log)")
            #expect(service.get("/accounts/old-1")?.status == 404, "an account of the old stream is still served")
            #expect(service.get("/accounts/new-1")?.status == 200)
            let noticed = service.log.split(separator: "\n").filter { $0.contains("was deleted or recreated") }
            #expect(!noticed.isEmpty, "log:\n\(service.log)")
            for line in noticed { print("StreamIdentityTests(\(newAccounts)): \(line)") }
            let metrics = try #require(service.get("/metrics")).bodyText
            #expect(metrics.contains("accountservice_stream_resets_total 1"), "metrics:\n\(metrics)")
            #expect(await service.terminate() == 0)
        }
    }
}
