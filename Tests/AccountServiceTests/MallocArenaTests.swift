import NIOCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The service lets malloc keep one arena per core (at least two) instead of glibc's eight per
/// core, unless the operator chose a limit. Run from outside: the arenas are read from the
/// running service's memory map. No broker: the service serves /health without one.
@Suite("malloc arenas")
struct MallocArenaTests {
    /// glibc's arenas besides the main one: each is a heap of 64 MiB of address space, aligned
    /// to 64 MiB, its used part read-write and the rest reserved (`---p`).
    static func heaps(pid: Int32) throws -> Int {
        let heapSize: UInt64 = 64 << 20
        let maps = try #require(readText("/proc/\(pid)/maps"))
        // Anonymous regions only: five fields, no path.
        let regions = maps.split(separator: "\n").compactMap {
            line -> (start: UInt64, end: UInt64, perms: Substring)? in
            let fields = line.split(separator: " ")
            let bounds = fields.first?.split(separator: "-") ?? []
            guard fields.count == 5, bounds.count == 2, let start = UInt64(bounds[0], radix: 16),
                let end = UInt64(bounds[1], radix: 16)
            else { return nil }
            return (start, end, fields[1])
        }
        var count = 0
        for (index, region) in regions.enumerated()
        where region.start % heapSize == 0 && region.perms.hasPrefix("rw") {
            let reservedEnd =
                index + 1 < regions.count && regions[index + 1].start == region.end
                    && regions[index + 1].perms == "---p" ? regions[index + 1].end : region.end
            if reservedEnd - region.start == heapSize { count += 1 }
        }
        return count
    }

    /// Requests on connections of their own first, so that every event loop allocates.
    private func heaps(environment: [String: String]) async throws -> Int {
        try await ServiceProcess.inspectWithoutBroker(
            "arenas", environment: environment, requests: 16, path: "/stats", Self.heaps(pid:))
    }

    @Test("at most one arena per core (two at least); MALLOC_ARENA_MAX or the glibc tunable set by the operator wins")
    func limited() async throws {
        // The count the service itself uses (CPU affinity and cgroup quota included).
        let cores = max(2, System.coreCount)
        let limited = try await heaps(environment: [:])
        // glibc's own limit left eight threads with six or seven heaps at idle on two cores.
        #expect(limited >= 1 && limited <= cores - 1, "\(limited) heaps besides the main arena, \(cores) cores")
        let operatorsChoice = try await heaps(environment: ["MALLOC_ARENA_MAX": "1"])
        #expect(operatorsChoice == 0, "MALLOC_ARENA_MAX=1 left \(operatorsChoice) heaps")
        let tunable = try await heaps(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=1"])
        #expect(tunable == 0, "GLIBC_TUNABLES=glibc.malloc.arena_max=1 left \(tunable) heaps")
    }
}
