import AccountMessaging
import CMalloc
import NIOCore

/// How many malloc arenas the process may have. glibc gives each thread that allocates an arena
/// of its own, up to eight per core, and an arena keeps its pages: eight threads here held seven
/// arenas of 50-100 kB each at idle. One per core (at least two) serves the event loops and the
/// two ingest threads: idle RSS 90 kB lower, GET p99 and the replay rate under wrk unchanged
/// (docs/performance-phases.md, "Results (2026-12-07): what the broker's part of freshness is").
enum MallocArenas {
    /// The limit to set, or nil when the operator chose one (`MALLOC_ARENA_MAX`, or
    /// `glibc.malloc.arena_max` in `GLIBC_TUNABLES`): glibc has applied theirs already.
    static func limit(environment: Environment, cores: Int) -> Int32? {
        if environment["MALLOC_ARENA_MAX"] != nil { return nil }
        let tunables = environment["GLIBC_TUNABLES"]?.split(separator: ":") ?? []
        if tunables.contains(where: { $0.hasPrefix("glibc.malloc.arena_max=") }) { return nil }
        return Int32(clamping: max(2, cores))
    }

    /// Sets the limit; call it before any thread but the main one has allocated.
    static func apply() {
        guard let limit = limit(environment: .process, cores: System.coreCount) else { return }
        _ = mallopt(M_ARENA_MAX, limit)
    }
}
