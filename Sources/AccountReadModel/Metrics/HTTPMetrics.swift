import CoreMetrics
import Prometheus
import Synchronization

/// What the read API answered: `accountservice_http_requests_total{route,status}` and
/// `accountservice_http_request_duration_seconds{route}` (the time to produce the answer);
/// and the connections it shed: `accountservice_http_connections_evicted_total` and
/// `accountservice_http_connections_timed_out_total{deadline}`.
///
/// The statuses a route gives in ordinary use (``Route/usualStatuses``) exist from the start,
/// so recording them takes no lock; any other status (a 304, a 405) gets its series on first
/// use, so that no series shows an answer that cannot happen.
public final class HTTPMetrics: Sendable {
    /// The route label: the path pattern, never the raw path (ids would explode the series).
    public enum Route: Int, CaseIterable, Sendable {
        case account, accounts, stats, health, ready, metrics, status
        /// A path that matched no resource (404).
        case unknown
        /// An answer the server gave before any routing (a malformed or oversized request).
        case unrouted

        public var label: String {
            switch self {
            case .account: "/accounts/{id}"
            case .accounts: "/accounts"
            case .stats: "/stats"
            case .health: "/health"
            case .ready: "/ready"
            case .metrics: "/metrics"
            case .status: "/"
            case .unknown: "unknown"
            case .unrouted: "unrouted"
            }
        }

        /// The statuses registered up front: what this route answers without a client error
        /// of its own making (a bad id or limit is common enough to be among them).
        public var usualStatuses: [Int] {
            switch self {
            case .account: [200, 400, 404]
            case .accounts: [200, 400]
            case .stats, .health, .metrics, .status: [200]
            case .ready: [200, 503]
            case .unknown: [404]
            case .unrouted: [400]
            }
        }
    }

    /// The deadline a connection missed.
    public enum Deadline: String, CaseIterable, Sendable {
        /// Nothing read for the idle timeout.
        case idle
        /// The request line and header fields took too long from the request's first byte.
        case header
        /// The whole request took too long from its first byte.
        case request
    }

    static let buckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1),
    ]
    static let requestsName = "http_requests_total"
    static let requestsHelp = "HTTP requests answered, by route and status."

    private let registry: PrometheusCollectorRegistry
    /// [route][index in the route's `usualStatuses`]
    private let common: [[CoreMetrics.Counter]]
    private let rare = Mutex<[Int: CoreMetrics.Counter]>([:])
    private let durations: [CoreMetrics.Timer]
    private let evicted: CoreMetrics.Counter
    private let timedOut: [CoreMetrics.Counter]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.common = Route.allCases.map { route in
            route.usualStatuses.map { Self.counter(registry, route: route, status: $0) }
        }
        let descriptor = ServiceMetrics.descriptor(
            "http_request_duration_seconds", "Time to produce an HTTP answer, by route (network time excluded).")
        self.durations = Route.allCases.map { route in
            let labels = [("route", route.label)]
            let histogram = registry.makeDurationHistogram(
                descriptor: descriptor, labels: labels, buckets: Self.buckets)
            return CoreMetrics.Timer(
                label: "accountservice_http_request_duration_seconds", dimensions: labels, handler: histogram)
        }
        let evictedName = "http_connections_evicted_total"
        self.evicted = CoreMetrics.Counter(
            label: "accountservice_" + evictedName, dimensions: [],
            handler: registry.makeCounter(
                descriptor: ServiceMetrics.descriptor(
                    evictedName,
                    "Connections closed at the connection limit to let a new one in (the longest without a request)."
                )))
        let timedOutName = "http_connections_timed_out_total"
        self.timedOut = Deadline.allCases.map { deadline in
            let labels = [("deadline", deadline.rawValue)]
            let handler = registry.makeCounter(
                descriptor: ServiceMetrics.descriptor(
                    timedOutName, "Connections closed for a missed deadline: idle, header or request."),
                labels: labels)
            return CoreMetrics.Counter(label: "accountservice_" + timedOutName, dimensions: labels, handler: handler)
        }
    }

    /// A connection was closed to make room for a new one.
    package func connectionEvicted() {
        self.evicted.increment()
    }

    /// A connection was closed for missing `deadline`.
    package func connectionTimedOut(_ deadline: Deadline) {
        self.timedOut[Deadline.allCases.firstIndex(of: deadline)!].increment()
    }

    private static func counter(
        _ registry: PrometheusCollectorRegistry, route: Route, status: Int
    ) -> CoreMetrics.Counter {
        let labels = [("route", route.label), ("status", "\(status)")]
        let handler = registry.makeCounter(
            descriptor: ServiceMetrics.descriptor(requestsName, requestsHelp), labels: labels)
        return CoreMetrics.Counter(label: "accountservice_" + requestsName, dimensions: labels, handler: handler)
    }

    /// One answer given.
    public func record(route: Route, status: Int, duration: Duration?) {
        if let index = route.usualStatuses.firstIndex(of: status) {
            common[route.rawValue][index].increment()
        } else {
            let key = route.rawValue * 1000 + min(max(status, 0), 999)
            let counter = rare.withLock { rare in
                if let counter = rare[key] { return counter }
                let counter = Self.counter(registry, route: route, status: status)
                rare[key] = counter
                return counter
            }
            counter.increment()
        }
        if let duration {
            durations[route.rawValue].recordNanoseconds(ServiceMetrics.nanoseconds(duration))
        }
    }
}
