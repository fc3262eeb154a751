/// Tells heavy ingest (a replay, a bulk load) from a live stream by its rate, so that only the
/// heavy part runs at `INGEST_NICE` (``StreamConsumer``).
///
/// Batch sizes cannot tell them apart: a broker that delivers a live stream late delivers it in
/// bunches, as large as a replay's batches. The rate over the last 100-200 ms can: a live
/// stream at 5,000 events/s stays there, a replay runs at 25,000-60,000 even under readers.
/// Heavy from 20,000 events/s (`INGEST_HEAVY_RATE`); light again once the rate has stayed below
/// half of that for a second, or after a second without a batch: readers that take the CPU
/// from a replay bring its rate below 10,000 for 60-300 ms every second or two (phase 3 of
/// scripts/perf-phases), and that is when applying at their priority would hurt them most.
/// The clock is injected (monotonic nanoseconds), so the rule is testable without waiting.
struct IngestRate {
    /// Events per second from which ingest is heavy by default: about a third of a core for our apply.
    static let defaultHeavyRate = 20_000
    /// Events per second from which ingest is heavy.
    let heavyRate: Int
    /// Events per second below which heavy ingest is light again: half of ``heavyRate``.
    var lightRate: Int { heavyRate / 2 }
    static let windowNanoseconds: UInt64 = 100_000_000
    /// How long the rate stays below ``lightRate`` (or no batch comes) before heavy ingest is light.
    static let settleNanoseconds: UInt64 = 1_000_000_000

    private var windowStart: UInt64?
    private var inWindow = 0
    private var inPreviousWindow = 0
    private var heavy = false
    private var lightSince: UInt64?

    init(heavyRate: Int = IngestRate.defaultHeavyRate) {
        self.heavyRate = max(1, heavyRate)
    }

    /// Counts a batch that arrived at `now`; tells whether ingest is heavy, from the rate over
    /// the current and the previous window, this batch included.
    mutating func isHeavy(adding count: Int, now: UInt64) -> Bool {
        guard let start = windowStart else {
            windowStart = now
            inWindow = count
            return false
        }
        let elapsed = now &- start
        if elapsed >= Self.settleNanoseconds { heavy = false }
        if elapsed >= 2 * Self.windowNanoseconds {
            // Two windows without a batch: nothing before them counts.
            windowStart = now
            inPreviousWindow = 0
            inWindow = count
        } else if elapsed >= Self.windowNanoseconds {
            windowStart = start + Self.windowNanoseconds
            inPreviousWindow = inWindow
            inWindow = count
        } else {
            inWindow += count
        }
        let span = Self.windowNanoseconds + (now &- windowStart!)
        let events = inPreviousWindow + inWindow
        // events / span against the threshold per second, without division.
        let perSecond = UInt64(events) * 1_000_000_000
        if !heavy {
            heavy = perSecond >= UInt64(heavyRate) * span
            lightSince = nil
        } else if perSecond >= UInt64(lightRate) * span {
            lightSince = nil
        } else if let since = lightSince {
            if now &- since >= Self.settleNanoseconds { heavy = false }
        } else {
            lightSince = now
        }
        return heavy
    }
}
