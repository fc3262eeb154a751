import AccountMessaging
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `INGEST_NICE` (docs/operations.md#configuration): the threads that read and apply the stream
/// run at that nice value, the read API's threads (NIO) at the process's own.
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

    @Test("the connection thread and the pool threads that applied events at INGEST_NICE; NIO's at 0")
    func ingestThreadsAreNicedReadersAreNot() async throws {
        for nice in [7, 0] {
            let topology = uniqueTopology("nice-\(nice)")
            try await cleaningUp({ await deleteTopology(topology) }) {
                try await publish((1...50).map { TestEvent.opened("nice-\($0)", at: $0) }, to: topology)
                let service = try await ServiceProcess(
                    topology: topology, replica: "nice", extraEnvironment: ["INGEST_NICE": "\(nice)"])
                #expect(await service.waitUntilHandled(50), "log:\n\(service.log)")
                let threads = Self.threads(of: service.pid)
                let connection = threads.filter { $0.name == "amqp-connection" }
                let readers = threads.filter { $0.name.hasPrefix("NIO-") }
                #expect(!connection.isEmpty && !readers.isEmpty, "threads: \(threads)")
                #expect(connection.allSatisfy { $0.nice == nice }, "threads: \(threads)")
                #expect(readers.allSatisfy { $0.nice == 0 }, "threads: \(threads)")
                // Some pool thread applied the events.
                #expect(threads.contains { $0.name.contains("qos") && $0.nice == nice }, "threads: \(threads)")
                #expect(await service.terminate() == 0)
            }
        }
    }
}
