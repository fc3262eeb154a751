/// Exponential backoff with jitter between reconnection attempts: the n-th wait is drawn from
/// [initial·2ⁿ/2, initial·2ⁿ], capped at `maximum`. The service's consumer and accountctl share it.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(10)) {
        self.initial = initial
        self.maximum = maximum
    }

    public mutating func reset() {
        attempt = 0
    }

    public mutating func next() -> Duration {
        let factor = 1 << min(attempt, 16)
        attempt += 1
        let ceiling = min(initial * factor, maximum)
        let milliseconds = max(1, Int64(ceiling / .milliseconds(1)))
        return .milliseconds(Int64.random(in: (milliseconds / 2)...milliseconds))
    }
}
