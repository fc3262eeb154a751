import AccountMessaging
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `INGEST_NICE` (docs/operations.md#configuration): the connection's thread and the thread that
/// applies a backlog run at that nice value; live events are applied at the process's own, as
/// the read API's threads (NIO) run, and no other thread is lowered.
@Suite("the ingest threads' priority", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct IngestPriorityTests {
    /// Each thread of `pid`: its name and nice value (field 19 of /proc/PID/task/TID/stat).
    private static func threads(of pid: pid_t) -> [(name: String, nice: Int)] {
        let taskDirectory = "/proc/\(pid)/task"
        guard let dir = opendir(taskDirectory) else { return [] }
        defer { closedir(dir) }
        var found: [(String, Int)] = []
        while let entry = readdir(dir) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard Int(tid) != nil, let stat = readText("\(taskDirectory)/\(tid)/stat"),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            let name = String(stat[stat.index(after: open)..<close])
            // Fields after the name start at 3 (state); nice is field 19.
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 16, let nice = Int(fields[16]) { found.append((name, nice)) }
        }
        return found
    }

    @Test("the connection thread and the backlog's thread at INGEST_NICE; live events lower no other thread")
    func ingestThreadsAreNicedReadersAreNot() async throws {
        for nice in [7, 0] {
            let topology = uniqueTopology("nice-\(nice)")
            try await cleaningUp({ await deleteTopology(topology) }) {
                // A backlog long enough for its rate to be told (IngestRate: 100 ms or so). The
                // heavy rate is lowered: beside the other suites on a loaded CI machine a replay
                // stayed below the default 20,000 events/s (2 of 3 runs here with 20,000 events).
                let backlog = 20_000
                try await publish((1...backlog).map { TestEvent.opened("nice-\($0)", at: $0) }, to: topology)
                let service = try await ServiceProcess(
                    topology: topology, replica: "nice",
                    extraEnvironment: ["INGEST_NICE": "\(nice)", "INGEST_HEAVY_RATE": "2000"])
                #expect(await service.waitUntilHandled(backlog), "log:\n\(service.log)")
                // Live events, one at a time: each comes alone in its batch.
                for index in backlog + 1...backlog + 5 {
                    try await publish([TestEvent.opened("nice-\(index)", at: index)], to: topology)
                    #expect(await service.waitUntilHandled(index), "log:\n\(service.log)")
                }
                let threads = Self.threads(of: service.pid)
                let connection = threads.filter { $0.name == "amqp-connection" }
                let readers = threads.filter { $0.name.hasPrefix("NIO-") }
                let catchUp = threads.filter { $0.name == "nice-\(nice)" }
                let others = threads.filter { $0.name != "amqp-connection" && $0.name != "nice-\(nice)" }
                #expect(!connection.isEmpty && !readers.isEmpty, "threads: \(threads)")
                #expect(connection.allSatisfy { $0.nice == nice }, "threads: \(threads)")
                #expect(readers.allSatisfy { $0.nice == 0 }, "threads: \(threads)")
                // The backlog was applied on a thread of its own at INGEST_NICE (none when it is 0).
                #expect(catchUp.count == (nice > 0 ? 1 : 0), "threads: \(threads)")
                #expect(catchUp.allSatisfy { $0.nice == nice }, "threads: \(threads)")
                // The pool's threads, which apply live events, were never lowered (Dispatch runs
                // a higher QoS below 0).
                #expect(!others.contains { $0.nice > 0 }, "threads: \(threads)")
                #expect(await service.terminate() == 0)
            }
        }
    }

    @Test("a live stream, even in bunches, is never applied at INGEST_NICE")
    func liveStreamStaysAtReadersPriority() async throws {
        let topology = uniqueTopology("nice-live")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let service = try await ServiceProcess(
                topology: topology, replica: "live", extraEnvironment: ["INGEST_NICE": "7"])
            #expect(await service.waitUntilHandled(0), "log:\n\(service.log)")
            // 2,000 events in bunches of 50 every 20 ms or so (at most 2,500 events/s): what a
            // broker that delivers late hands a caught-up consumer, far below a replay's rate.
            let bunches = 40
            let size = 50
            for bunch in 0..<bunches {
                let events = (1...size).map { index -> [UInt8] in
                    let number = bunch * size + index
                    return TestEvent.opened("live-\(number)", at: number)
                }
                try await publish(events, to: topology)
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await service.waitUntilHandled(bunches * size), "log:\n\(service.log)")
            let threads = Self.threads(of: service.pid)
            // The lowered thread starts with its first heavy batch: none came, so it never did.
            #expect(!threads.contains { $0.name == "nice-7" }, "threads: \(threads)")
            #expect(threads.contains { $0.name == "amqp-connection" && $0.nice == 7 }, "threads: \(threads)")
            #expect(!threads.contains { $0.name != "amqp-connection" && $0.nice > 0 }, "threads: \(threads)")
            #expect(await service.terminate() == 0)
        }
    }
}
