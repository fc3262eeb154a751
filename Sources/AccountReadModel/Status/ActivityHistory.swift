public import AccountProjection

/// The cumulative counters the status page turns into rates, as read at one moment.
public struct ActivityCounters: Sendable, Equatable {
    /// Events handled: applied, duplicate, invalid or parked now.
    public var handled: Int
    public var applied: Int
    public var duplicates: Int
    public var invalid: Int

    public init(handled: Int = 0, applied: Int = 0, duplicates: Int = 0, invalid: Int = 0) {
        self.handled = handled
        self.applied = applied
        self.duplicates = duplicates
        self.invalid = invalid
    }

    /// The projection's counters: `handled` is every event that went somewhere.
    public init(_ figures: ProjectionStatistics) {
        self.init(
            handled: figures.eventsApplied + figures.duplicates + figures.invalid + figures.parked,
            applied: figures.eventsApplied, duplicates: figures.duplicates, invalid: figures.invalid)
    }
}

/// Events per second, per counter, and how many seconds they are averaged over.
public struct ActivityRates: Sendable, Equatable {
    public var handled: Double
    public var applied: Double
    public var duplicates: Double
    public var invalid: Double
    /// The seconds these rates cover (0 while fewer than two samples are known).
    public var seconds: Int

    public init(handled: Double = 0, applied: Double = 0, duplicates: Double = 0, invalid: Double = 0, seconds: Int = 0)
    {
        self.handled = handled
        self.applied = applied
        self.duplicates = duplicates
        self.invalid = invalid
        self.seconds = seconds
    }
}

/// The last minute of the service's counters, one sample per second, as a ring buffer;
/// rates over that minute and a per-second series for the sparkline.
///
/// Pure: the caller says which second a sample belongs to (any monotonic count of whole
/// seconds), so tests drive it without a clock.
/// - A missed second (a gap) is spread evenly: the increase between two samples counts
///   the same for every second between them.
/// - A counter lower than in the sample before (a reset) counts from zero.
/// - A second earlier than the latest sample is ignored; the same second again replaces it.
/// - Besides the samples inside the window it keeps the newest one before it, so a
///   gap across the window's start still counts for the part inside.
public struct ActivityHistory: Sendable {
    /// The seconds the rates and the series look back over.
    public let window: Int
    /// `count` samples, oldest first, from `ring[start]` on, wrapping around.
    private var ring: [Sample]
    private var start = 0
    /// How many samples are kept (at most `window` + 1).
    public private(set) var count = 0

    struct Sample: Sendable {
        var second: Int64
        var counters: ActivityCounters
    }

    public init(window: Int = 60) {
        self.window = max(1, window)
        // The window's samples at one a second, plus the newest one before it.
        self.ring = Array(repeating: Sample(second: 0, counters: ActivityCounters()), count: self.window + 1)
    }

    /// The second of the newest sample, nil when there is none.
    public var latestSecond: Int64? { count == 0 ? nil : sample(count - 1).second }

    /// Adds the counters as read at `second`. Returns false (and keeps nothing) when the
    /// second is earlier than the newest sample's.
    @discardableResult
    public mutating func record(_ counters: ActivityCounters, at second: Int64) -> Bool {
        if let latest = latestSecond {
            if second < latest { return false }
            if second == latest {
                ring[index(count - 1)].counters = counters
                return true
            }
        }
        // Drop the samples that the new one leaves outside the window, but for the newest of them.
        let windowStart = second - Int64(window)
        while count > 1 && sample(1).second <= windowStart {
            start = (start + 1) % ring.count
            count -= 1
        }
        // Now at most `window` - 1 samples lie inside the window before `second`: there is room.
        ring[index(count)] = Sample(second: second, counters: counters)
        count += 1
        return true
    }

    /// The increase of every counter per second, for each second of the window that two
    /// samples enclose, oldest first; at most `window` entries.
    public func perSecond() -> [ActivityRates] {
        guard let latest = latestSecond, count > 1 else { return [] }
        let first = max(sample(0).second + 1, latest - Int64(window) + 1)
        var series: [ActivityRates] = []
        series.reserveCapacity(Int(latest - first + 1))
        var pair = 1  // the sample that ends the interval holding `second`
        for second in first...latest {
            while sample(pair).second < second { pair += 1 }
            let before = sample(pair - 1).counters
            let after = sample(pair).counters
            let span = Double(sample(pair).second - sample(pair - 1).second)
            func rate(_ counter: KeyPath<ActivityCounters, Int>) -> Double {
                Double(Self.increase(from: before[keyPath: counter], to: after[keyPath: counter])) / span
            }
            series.append(
                ActivityRates(
                    handled: rate(\.handled), applied: rate(\.applied), duplicates: rate(\.duplicates),
                    invalid: rate(\.invalid), seconds: 1))
        }
        return series
    }

    /// The per-second apply rate over the window, oldest first (the sparkline's points).
    public func appliedPerSecond() -> [Double] {
        perSecond().map(\.applied)
    }

    /// Events per second over the window (or over as much of it as is known).
    public func rates() -> ActivityRates {
        rates(overLast: window)
    }

    /// Events per second over the last `seconds` of the window (or as much of them as is known).
    public func rates(overLast seconds: Int) -> ActivityRates {
        let series = perSecond().suffix(max(0, seconds))
        guard !series.isEmpty else { return ActivityRates() }
        var total = ActivityRates()
        for entry in series {
            total.handled += entry.handled
            total.applied += entry.applied
            total.duplicates += entry.duplicates
            total.invalid += entry.invalid
        }
        let count = Double(series.count)
        return ActivityRates(
            handled: total.handled / count, applied: total.applied / count,
            duplicates: total.duplicates / count, invalid: total.invalid / count, seconds: series.count)
    }

    /// A counter's increase; one lower than before was reset, and counts from zero.
    private static func increase(from before: Int, to after: Int) -> Int {
        after >= before ? after - before : max(0, after)
    }

    private func index(_ offset: Int) -> Int {
        (start + offset) % ring.count
    }

    private func sample(_ offset: Int) -> Sample {
        ring[index(offset)]
    }
}
