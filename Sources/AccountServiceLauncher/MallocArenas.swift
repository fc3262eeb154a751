import CMalloc
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// How many malloc arenas the process may have. glibc gives each thread that allocates an arena
/// of its own, up to eight per core, and an arena keeps its pages: eight threads here held seven
/// arenas of 50-100 kB each at idle. One per core (at least two) serves the event loops and the
/// two ingest threads: idle RSS 90 kB lower, GET p99 and the replay rate under wrk unchanged
/// (docs/performance-phases.md, "Results (2026-12-07)").
enum MallocArenas {
    /// The limit to set, or nil when the operator chose one (`MALLOC_ARENA_MAX`, or
    /// `glibc.malloc.arena_max` in `GLIBC_TUNABLES`): glibc has applied theirs already.
    static func limit(environment: [String: String], cores: Int) -> Int32? {
        if environment["MALLOC_ARENA_MAX"] != nil { return nil }
        if let tunables = environment["GLIBC_TUNABLES"].map({ Array($0.utf8) }) {
            let name = Array("arena_max".utf8)
            if tunables.indices.contains(where: { tunables[$0...].starts(with: name) }) { return nil }
        }
        return Int32(clamping: max(2, cores))
    }

    /// Sets the limit; call it before any thread but the main one has allocated.
    static func apply() {
        var environment: [String: String] = [:]
        for name in ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        guard let limit = limit(environment: environment, cores: System.coreCount) else { return }
        _ = mallopt(M_ARENA_MAX, limit)
    }
}
