public import ServiceLifecycle

/// Samples the store's counters into its activity history once a second (a `Service`
/// in the group), until graceful shutdown or cancellation.
///
/// Seconds count from the sampler's start on a monotonic clock and the ticks are
/// deadlines, not sleeps, so they do not drift; a tick that came late (the process was
/// stopped, the machine busy) is recorded at the second it came, and the history spreads
/// the gap.
public struct ActivitySampler: Service, CustomStringConvertible {
    private let store: AccountStore
    private let interval: Duration

    public init(store: AccountStore, interval: Duration = .seconds(1)) {
        self.store = store
        self.interval = interval
    }

    public var description: String { "ActivitySampler" }

    public func run() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        var tick: Int64 = 0
        store.recordActivity(at: tick)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            tick += 1
            let deadline = started + interval * tick
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(until: deadline, clock: clock) }
            } catch {
                return
            }
            tick = max(tick, Int64((clock.now - started) / interval))
            store.recordActivity(at: tick)
        }
    }
}
