import NIOCore

/// How many event loops serve the read API (`HTTP_THREADS`). The default leaves one core to
/// ingest: on two cores a second loop let a reader that never pauses take the CPU from a replay
/// (0.56-0.77 of its unloaded rate under wrk; 0.74-0.99, median 0.89, with one loop) without
/// serving reads any faster (docs/performance-phases.md, "Results (2026-12-07): one event loop
/// on two cores").
enum ReadAPIThreads {
    static func defaultCount(cores: Int) -> Int { max(1, cores - 1) }

    /// Sizes NIO's shared event loop group, which the read API runs on (and a trace exporter,
    /// when there is one). Call it once, before anything has used the group: NIO ignores it
    /// afterwards.
    static func apply(_ count: Int) {
        NIOSingletons.groupLoopCountSuggestion = count
    }
}
