public import AccountProjection

/// What the read API asks of the running service. The stream consumer and the
/// projection behind it implement it; HTTP tests use an in-memory one.
/// Every call returns at once (no I/O) and sees a consistent state.
public protocol ReadModel: Sendable {
    /// The opened account with this id (closed ones included), or nil.
    func account(id: String) -> Account?
    /// Up to `limit` opened accounts whose ids come after `after` in byte order,
    /// ascending; `hasMore` is true when more follow the last one returned.
    func accounts(after: String?, limit: Int) -> AccountPage
    /// The figures of `GET /stats` (without `replica`, which the API adds).
    func statistics() -> ServiceStatistics
    /// What `GET /ready` answers.
    func readiness() -> Readiness
    /// Why it is not ready, when there is more to say than the state (nil by default).
    func readinessReason() -> String?
    /// The last minute of the counters, for the status page's rates (empty by default).
    func activity() -> ActivityHistory
    /// The process, broker, stream position and parked accounts, for the status page.
    func operatorStatus() -> OperatorStatus
    /// What `/ready` shows beside a state other than READY: the reason, the offsets.
    func readinessDetail() -> ReadinessDetail
    /// Why rejections cannot go to the invalid queue now (nil while they can): `/ready` says
    /// it beside READY, since it does not stop the replica from serving.
    func invalidQueueProblem() -> String?
}

extension ReadModel {
    public func readinessDetail() -> ReadinessDetail { ReadinessDetail(reason: self.readinessReason()) }
    public func activity() -> ActivityHistory { ActivityHistory() }
    public func readinessReason() -> String? { nil }
    public func operatorStatus() -> OperatorStatus { OperatorStatus() }
    public func invalidQueueProblem() -> String? { nil }
}

public struct AccountPage: Sendable, Equatable {
    public var items: [Account]
    public var hasMore: Bool

    public init(items: [Account], hasMore: Bool) {
        self.items = items
        self.hasMore = hasMore
    }
}

/// What `/stats` and the status page show: the projection's counters (read through as
/// `statistics.accounts` and so on) and what only the service knows.
@dynamicMemberLookup
public struct ServiceStatistics: Sendable, Equatable {
    public var projection: ProjectionStatistics
    /// The offset of the last delivery handled; nil before the first.
    public var lastOffset: Int64?
    public var caughtUp: Bool
    /// The broker node consumed from (`host:port`) while connected; nil otherwise.
    public var broker: String?

    public init(
        projection: ProjectionStatistics = ProjectionStatistics(), lastOffset: Int64? = nil, caughtUp: Bool = false,
        broker: String? = nil
    ) {
        self.projection = projection
        self.broker = broker
        self.lastOffset = lastOffset
        self.caughtUp = caughtUp
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<ProjectionStatistics, Value>) -> Value {
        get { projection[keyPath: keyPath] }
        set { projection[keyPath: keyPath] = newValue }
    }
}

/// The consumer's state as `GET /ready` reports it.
public enum Readiness: String, Sendable, Equatable {
    /// Connected and caught up with the log as it stood at start.
    case ready = "READY"
    /// Connected, still reading the log that was there at start.
    case catchingUp = "CATCHING_UP"
    /// Not connected to the broker (not yet, or lost); reads serve the last state.
    case disconnected = "DISCONNECTED"
    /// The stream was deleted or recreated under the replica: the projection was reset and is
    /// being rebuilt from the new stream (`reason` in `/ready` says what was noticed).
    case rebuilding = "REBUILDING"
    /// A snapshot is loading at start; the read API is up, the projection not yet.
    case loading = "LOADING"
}

/// Why the replica is not ready, as `GET /ready` explains it.
public struct ReadinessDetail: Sendable, Equatable {
    /// REBUILDING: what was noticed; DISCONNECTED: the last broker error (never a secret).
    public var reason: String?
    /// The last offset handled (nil before the first).
    public var lastOffset: Int64?
    /// The stream's last offset as last probed (nil: unknown or the stream is empty).
    public var tail: Int64?

    /// Events between the last one handled and the tail; nil while the tail is unknown.
    public var lag: Int64? {
        guard let tail else { return nil }
        return max(0, tail - (self.lastOffset ?? -1))
    }

    public init(reason: String? = nil, lastOffset: Int64? = nil, tail: Int64? = nil) {
        self.reason = reason
        self.lastOffset = lastOffset
        self.tail = tail
    }
}
