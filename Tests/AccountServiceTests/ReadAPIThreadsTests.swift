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

    private func eventLoops(environment: [String: String]) async throws -> Int {
        let nowhere = "amqp://guest:guest@127.0.0.1:\(freePort())/%2f"
        let service = try await ServiceProcess(
            topology: uniqueTopology("loops"), extraEnvironment: environment.merging(["AMQP_URL": nowhere]) { $1 })
        // Connections of their own, so that every loop has taken one.
        for _ in 0..<8 {
            #expect(service.get("/health")?.status == 200)
        }
        let found = try Self.eventLoops(pid: service.pid)
        _ = await service.terminate()
        return found
    }

    @Test("cores − 1 event loops by default (one on one or two cores); HTTP_THREADS sets the number")
    func count() async throws {
        // The service counts cores as NIO does (the cgroup's CPU quota, if any).
        let cores = System.coreCount
        #expect(try await eventLoops(environment: [:]) == max(1, cores - 1))
        #expect(try await eventLoops(environment: ["HTTP_THREADS": "3"]) == 3)
    }
}
