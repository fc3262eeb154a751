import Testing

@testable import AccountConsumer

private let ms: UInt64 = 1_000_000

@Suite("Which batches the stream consumer applies at INGEST_NICE")
struct IngestRateTests {

    /// Feeds `batches` batches of `size`, `gap` apart from `start`; returns each verdict.
    private static func verdicts(
        _ rate: inout IngestRate, batches: Int, size: Int, gap: UInt64, start: UInt64 = 1_000 * ms
    ) -> [Bool] {
        (0..<batches).map { rate.isHeavy(adding: size, now: start + UInt64($0) * gap) }
    }

    @Test("a live stream at 5,000 events/s is light, also when the broker delivers it in bunches")
    func liveIsLight() {
        var steady = IngestRate()
        let steadyVerdicts = Self.verdicts(&steady, batches: 5_000, size: 1, gap: ms / 5)
        #expect(!steadyVerdicts.contains(true))
        // 250 events every 50 ms: what a late broker makes of 5,000/s.
        var bunched = IngestRate()
        let bunchedVerdicts = Self.verdicts(&bunched, batches: 100, size: 250, gap: 50 * ms)
        #expect(!bunchedVerdicts.contains(true))
    }

    @Test("a replay is heavy within its first 100 ms, and stays so")
    func replayIsHeavy() throws {
        // Batches of 51 every millisecond: 51,000 events/s.
        var rate = IngestRate()
        let seen = Self.verdicts(&rate, batches: 2_000, size: 51, gap: ms)
        let first = try #require(seen.firstIndex(of: true), "never heavy")
        #expect(first <= 100, "heavy from batch \(first)")
        #expect(!seen[first...].contains(false))
        // Slowed down to 15,000 events/s for a while by readers: still heavy.
        let slowed = Self.verdicts(&rate, batches: 1_000, size: 15, gap: ms, start: 3_000 * ms)
        #expect(!slowed.contains(false))
        // 25,000 events/s (a replay sharing the CPU with readers) is heavy too.
        var shared = IngestRate()
        let sharedVerdicts = Self.verdicts(&shared, batches: 1_000, size: 25, gap: ms)
        #expect(sharedVerdicts.suffix(800).allSatisfy { $0 })
    }

    @Test("a replay that readers starve for moments stays heavy")
    func starvedReplayStaysHeavy() {
        var rate = IngestRate()
        _ = Self.verdicts(&rate, batches: 500, size: 51, gap: ms)
        // 300 ms at 3,000 events/s, then the replay goes on: heavy throughout.
        let starved = Self.verdicts(&rate, batches: 30, size: 30, gap: 10 * ms, start: 1_500 * ms)
        let after = Self.verdicts(&rate, batches: 500, size: 51, gap: ms, start: 1_800 * ms)
        #expect(!starved.contains(false) && !after.contains(false))
    }

    @Test("after a replay, a live stream is light again within about a second; after a lull at once")
    func lightAgainAfterReplay() throws {
        var rate = IngestRate()
        _ = Self.verdicts(&rate, batches: 1_000, size: 51, gap: ms)
        // 5,000 events/s from 2 s on, 3 s of it.
        let live = Self.verdicts(&rate, batches: 15_000, size: 1, gap: ms / 5, start: 2_000 * ms)
        let light = try #require(live.firstIndex(of: false), "never light again")
        // Below 10,000 events/s within 0.2 s, then a second of that.
        #expect(light >= 5_000 && light <= 6_500, "light from batch \(light)")
        #expect(!live[light...].contains(true))
        // A second without a batch: the backlog is gone.
        var lull = IngestRate()
        _ = Self.verdicts(&lull, batches: 1_000, size: 51, gap: ms)
        let afterLull = lull.isHeavy(adding: 1, now: 3_000 * ms)
        #expect(!afterLull)
    }
}
