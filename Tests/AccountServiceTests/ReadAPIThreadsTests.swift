import NIOCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The read API runs on cores − 1 event loops (at least one) unless HTTP_THREADS says otherwise.
/// Run from outside: the loops are counted by name in the running service's task list. No
/// broker: the service serves /health without one.
@Suite("read API threads")
struct ReadAPIThreadsTests {
    /// Threads of NIO's shared event loop group: NIO names them `NIO-SGLTN-<group>-#<n>`.
    static func eventLoops(pid: Int32) throws -> Int {
        let directory = try #require(opendir("/proc/\(pid)/task"))
        defer { closedir(directory) }
        var loops = 0
        while let entry = readdir(directory) {
            let task = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if readText("/proc/\(pid)/task/\(task)/comm")?.hasPrefix("NIO-SGLTN-") == true { loops += 1 }
        }
        return loops
    }

    @Test("cores − 1 event loops by default (one on one or two cores); HTTP_THREADS sets the number")
    func count() async throws {
        // The service counts cores as NIO does (the cgroup's CPU quota, if any).
        let cores = System.coreCount
        for (environment, expected) in [([:], max(1, cores - 1)), (["HTTP_THREADS": "3"], 3)] {
            // Connections of their own first, so that every loop has taken one.
            let loops = try await ServiceProcess.inspectWithoutBroker(
                "loops", environment: environment, requests: 8, path: "/health", Self.eventLoops(pid:))
            #expect(loops == expected, "HTTP_THREADS \(environment["HTTP_THREADS"] ?? "unset"): \(loops) loops")
        }
    }
}
