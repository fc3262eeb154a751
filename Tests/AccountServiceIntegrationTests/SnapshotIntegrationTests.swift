import AccountProjection
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Snapshots through the real `accountservice`: written on a graceful stop, loaded at the
/// next start (consumption resumes after the covered offset), ignored when damaged.
@Suite("accountservice snapshots", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct SnapshotIntegrationTests {
    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        guard let file = fopen(path, "w") else { return false }
        defer { fclose(file) }
        return fwrite(bytes, 1, bytes.count, file) == bytes.count
    }

    static func removeDirectory(_ directory: String) {
        unlink("\(directory)/accounts.snapshot")
        unlink("\(directory)/accounts.snapshot.tmp")
        rmdir(directory)
    }

    /// The answers a replica gives about everything it holds.
    static func answers(_ service: ServiceProcess) -> (accounts: String, stats: String) {
        (service.get("/accounts?limit=1000")?.bodyText ?? "-", service.get("/stats")?.bodyText ?? "-")
    }

    @Test("a restarted service loads its snapshot, answers the same, and goes on from the next offset")
    func restartFromSnapshot() async throws {
        let topology = uniqueTopology("snapshot")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let directory = "/tmp/accountservice-snapshot-test-\(UInt32.random(in: 0...UInt32.max))"
            defer { Self.removeDirectory(directory) }
            let environment = ["SNAPSHOT_DIR": directory, "SNAPSHOT_INTERVAL": "3600"]

            var history: [[UInt8]] = []
            for i in 0..<30 {
                history.append(TestEvent.opened("acc-\(i)", owner: "Owner \(i)", at: i))
                history.append(TestEvent.deposited("acc-\(i)", 2, 100 * (i + 1), at: i + 1))
            }
            history.append(TestEvent.closed("acc-3", 3))
            history.append(TestEvent.deposited("acc-3", 4, 5))  // account_closed
            history.append(Array("{not json".utf8))  // malformed_json
            history.append(TestEvent.deposited("ghost", 1, 5))  // never opened: takes version 1
            history.append(TestEvent.deposited("acc-7", 4, 40))  // parked: waits for 3
            try await publish(history, to: topology)

            // 1. Nothing to load: a full replay, and a snapshot on the way out.
            let first = try await ServiceProcess(topology: topology, extraEnvironment: environment)
            #expect(await first.waitUntilHandled(history.count), "log:\n\(first.log)")
            let before = Self.answers(first)
            #expect(StatsView(before.stats)["parked"] == 1)
            #expect(await first.terminate() == 0)
            let lastOffset = history.count - 1
            #expect(
                first.log.contains("ignoring snapshot: there is none at \(directory)/accounts.snapshot"), "\(first.log)"
            )
            #expect(first.log.contains("wrote snapshot on shutdown covering offset \(lastOffset)"), "\(first.log)")
            let snapshot = try #require(Self.readFile("\(directory)/accounts.snapshot"))

            // 2. Loaded: the same answers at once, consumption from the next offset.
            let second = try await ServiceProcess(topology: topology, extraEnvironment: environment)
            #expect(await second.wait { second.get("/ready")?.status == 200 }, "log:\n\(second.log)")
            #expect(second.log.contains("loaded snapshot covering offset \(lastOffset) (30 accounts)"), "\(second.log)")
            #expect(second.log.contains("from offset \(lastOffset + 1)"), "\(second.log)")
            #expect(Self.answers(second).accounts == before.accounts)
            #expect(Self.answers(second).stats == before.stats)

            let more = [
                TestEvent.deposited("acc-7", 3, 30),  // fills the gap: the parked 4 follows
                TestEvent.withdrawn("acc-0", 3, 50),
                TestEvent.opened("acc-new"),
            ]
            try await publish(more, to: topology)
            let total = history.count + more.count
            #expect(await second.waitUntilHandled(total), "log:\n\(second.log)")
            let after = Self.answers(second)
            let stats = StatsView(after.stats)
            #expect(stats["parked"] == 0)
            #expect(stats["accounts"] == 31)
            #expect(stats["lastOffset"] == Int64(total - 1))
            let acc7Response = try #require(second.get("/accounts/acc-7"))
            let acc7 = try #require(Account(json: try JSONValue.parse(acc7Response.body)))
            #expect(acc7.balance == 800 + 30 + 40)
            #expect(acc7.version == 4)
            #expect(second.get("/accounts/ghost")?.status == 404)
            #expect(await second.terminate() == 0)

            // 3. A damaged snapshot is ignored: a full replay gives the same answers.
            var damaged = try #require(Self.readFile("\(directory)/accounts.snapshot"))
            #expect(damaged != snapshot)
            damaged[damaged.count / 2] ^= 0x20
            #expect(Self.writeFile("\(directory)/accounts.snapshot", damaged))
            let third = try await ServiceProcess(topology: topology, extraEnvironment: environment)
            #expect(await third.waitUntilHandled(total), "log:\n\(third.log)")
            #expect(
                third.log.contains(
                    "ignoring snapshot: corrupt snapshot: checksum mismatch; replaying from the first offset"),
                "\(third.log)")
            #expect(third.log.contains("from the first offset"), "\(third.log)")
            #expect(Self.answers(third).accounts == after.accounts)
            #expect(Self.answers(third).stats == after.stats)
            #expect(await third.terminate() == 0)
        }
    }

    @Test("a snapshot of another stream is ignored")
    func foreignSnapshot() async throws {
        let one = uniqueTopology("snapshot-a")
        let other = uniqueTopology("snapshot-b")
        try await cleaningUp({
            await deleteTopology(one)
            await deleteTopology(other)
        }) {
            let directory = "/tmp/accountservice-snapshot-test-\(UInt32.random(in: 0...UInt32.max))"
            defer { Self.removeDirectory(directory) }
            let environment = ["SNAPSHOT_DIR": directory, "SNAPSHOT_INTERVAL": "0.2"]
            try await publish([TestEvent.opened("acc-a")], to: one)
            try await publish([TestEvent.opened("acc-b"), TestEvent.deposited("acc-b", 2, 7)], to: other)

            let first = try await ServiceProcess(topology: one, extraEnvironment: environment)
            #expect(await first.waitUntilHandled(1), "log:\n\(first.log)")
            // The periodic snapshot, before any stop.
            #expect(
                await first.wait { first.log.contains("wrote snapshot periodically covering offset 0") }, "\(first.log)"
            )
            #expect(await first.terminate() == 0)

            let second = try await ServiceProcess(topology: other, extraEnvironment: environment)
            #expect(await second.waitUntilHandled(2), "log:\n\(second.log)")
            #expect(second.log.contains("ignoring snapshot: snapshot is for 'stream=\(one.stream);"), "\(second.log)")
            #expect(second.get("/accounts/acc-a")?.status == 404)
            #expect(second.get("/accounts/acc-b")?.status == 200)
            #expect(await second.terminate() == 0)
        }
    }
}
