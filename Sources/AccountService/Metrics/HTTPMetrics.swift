import CoreMetrics
import Prometheus
import Synchronization

/// What the read API answered: `accountservice_http_requests_total{route,status}` and
/// `accountservice_http_request_duration_seconds{route}` (the time to produce the answer).
///
/// The common statuses (200, 304, 400, 404, 405, 503) of every route exist from the start,
/// so recording them takes no lock; any other status gets its series on first use.
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
    }

    static let commonStatuses = [200, 304, 400, 404, 405, 503]
    static let buckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1),
    ]
    static let requestsName = "http_requests_total"
    static let requestsHelp = "HTTP requests answered, by route and status."

    private let registry: PrometheusCollectorRegistry
    /// [route][index in `commonStatuses`]
    private let common: [[CoreMetrics.Counter]]
    private let rare = Mutex<[Int: CoreMetrics.Counter]>([:])
    private let durations: [CoreMetrics.Timer]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.common = Route.allCases.map { route in
            Self.commonStatuses.map { Self.counter(registry, route: route, status: $0) }
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
        if let index = Self.commonStatuses.firstIndex(of: status) {
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
