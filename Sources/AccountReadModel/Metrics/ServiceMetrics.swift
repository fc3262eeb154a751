package import AccountProjection
import CoreMetrics
public import Prometheus
import Synchronization

/// The service's metrics: recorded through swift-metrics' API (`Counter`, `Recorder`, `Timer`),
/// kept by swift-prometheus collectors with help text, and served as Prometheus text on
/// `GET /metrics` together with the process's own figures (``ProcessMetrics``).
///
/// The ``AccountStore`` pushes every change it makes (a batch applied, a connection opened
/// or lost, the stream's tail found); the read API records each request. Counters count
/// from the process's start, or from the totals a snapshot restored.
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The read API's request counters and duration histograms.
    public let http: HTTPMetrics

    private let received: CoreMetrics.Counter
    private let applied: CoreMetrics.Counter
    private let duplicates: CoreMetrics.Counter
    private let invalid: [RejectionReason: CoreMetrics.Counter]
    private let parked: CoreMetrics.Recorder
    private let accounts: CoreMetrics.Recorder
    private let lastOffset: CoreMetrics.Recorder
    private let tailOffset: CoreMetrics.Recorder
    private let lag: CoreMetrics.Recorder
    private let applyDuration: CoreMetrics.Timer
    private let connected: CoreMetrics.Recorder
    private let reconnects: CoreMetrics.Counter
    private let streamResets: CoreMetrics.Counter
    private let caughtUp: CoreMetrics.Recorder
    private let invalidQueueAvailable: CoreMetrics.Recorder
    /// `broker_node{node}` of every node connected to since start: 1 for the current one.
    private let brokerNodes = Mutex<[String: CoreMetrics.Recorder]>([:])
    private let process: ProcessMetrics
    /// The projection's totals at the last push, to turn totals into counter increments.
    private let pushed = Mutex(ProjectionStatistics())

    /// Seconds: 50 µs to 1 s for a batch of up to `PREFETCH` events under the store's lock.
    static let applyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .seconds(1),
    ]

    public init(version: String = BuildInfo.version) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> CoreMetrics.Counter {
            let handler = registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
            return CoreMetrics.Counter(label: "accountservice_\(name)", dimensions: labels, handler: handler)
        }
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> CoreMetrics.Recorder {
            let handler = registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
            return CoreMetrics.Recorder(
                label: "accountservice_\(name)", dimensions: labels, aggregate: false, handler: handler)
        }
        self.received = counter("events_received_total", "Deliveries taken from the stream and handled.")
        self.applied = counter("events_applied_total", "Events applied to the projection.")
        self.duplicates = counter(
            "events_duplicate_total", "Events ignored as duplicates (sequence at or below the account's version).")
        var invalid: [RejectionReason: CoreMetrics.Counter] = [:]
        for reason in RejectionReason.allCases {
            invalid[reason] = counter(
                "events_invalid_total", "Events sent to the invalid queue, by x-error.", [("error", reason.rawValue)])
        }
        self.invalid = invalid
        self.parked = gauge("events_parked", "Events waiting for a gap in their account's history.")
        self.accounts = gauge("accounts", "Opened accounts, closed ones included.")
        self.lastOffset = gauge("stream_last_offset", "Offset of the last delivery handled (-1 before the first).")
        self.tailOffset = gauge(
            "stream_tail_offset", "The stream's last offset as last probed (-1: empty or not known yet).")
        self.lag = gauge(
            "stream_lag_events", "Offsets between the last delivery handled and the stream's tail as last probed.")
        let histogram = registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "apply_batch_duration_seconds",
                "Time the store's lock was held to apply one batch of deliveries (what a read may wait)."),
            buckets: Self.applyBuckets)
        self.applyDuration = CoreMetrics.Timer(
            label: "accountservice_apply_batch_duration_seconds", dimensions: [], handler: histogram)
        self.connected = gauge("broker_connected", "1 while connected to the broker and consuming.")
        self.reconnects = counter("broker_reconnects_total", "Connections to the broker lost since start.")
        self.streamResets = counter(
            "stream_resets_total",
            "Times the stream was found deleted or recreated under this replica (the projection was rebuilt).")
        self.caughtUp = gauge("caught_up", "1 once caught up with the log as it stood at connection.")
        self.invalidQueueAvailable = gauge(
            "invalid_queue_available",
            "1 while rejections can be published to the invalid queue; 0 while they are kept (see /ready).")
        gauge("build_info", "Build of this process (always 1).", [("version", version), ("swift", BuildInfo.swift)])
            .record(1)
        self.lastOffset.record(-1)
        self.tailOffset.record(-1)
        self.http = HTTPMetrics(registry: registry)
        self.process = ProcessMetrics()
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        // The whole name is `metricName`: the registry joins the parts with `_` and we keep ours whole.
        MetricNameDescriptor(namespace: "accountservice", metricName: name, unitName: "", helpText: help)
    }

    // MARK: What the store pushes

    /// A batch went through the projection: `received` deliveries, the totals after it.
    package func batchApplied(
        received: Int, statistics: ProjectionStatistics, lastOffset: Int64?, tail: Int64?, caughtUp: Bool,
        duration: Duration
    ) {
        self.received.increment(by: Int64(received))
        self.applyDuration.recordNanoseconds(Self.nanoseconds(duration))
        self.totals(statistics)
        self.offsets(lastOffset: lastOffset, tail: tail, caughtUp: caughtUp)
    }

    /// The projection's totals now (after a batch, or a snapshot restored at start).
    package func totals(_ statistics: ProjectionStatistics) {
        let before = pushed.withLock { pushed in
            defer { pushed = statistics }
            return pushed
        }
        Self.add(statistics.eventsApplied - before.eventsApplied, to: applied)
        Self.add(statistics.duplicates - before.duplicates, to: duplicates)
        for (reason, counter) in invalid {
            Self.add(statistics.invalid(reason) - before.invalid(reason), to: counter)
        }
        parked.record(Int64(statistics.parked))
        accounts.record(Int64(statistics.accounts))
    }

    package func offsets(lastOffset: Int64?, tail: Int64?, caughtUp: Bool) {
        let last = lastOffset ?? -1
        self.lastOffset.record(last)
        if let tail {
            tailOffset.record(tail)
            lag.record(max(0, tail - last))
        } else {
            lag.record(0)
        }
        self.caughtUp.record(caughtUp ? 1 : 0)
    }

    /// The consumer connected to `node` (`host:port`): its gauge goes to 1, the others' to 0.
    package func brokerNode(_ node: String) {
        brokerNodes.withLock { nodes in
            if nodes[node] == nil {
                let labels = [("node", node)]
                let handler = registry.makeGauge(
                    descriptor: Self.descriptor(
                        "broker_node", "1 for the broker node (host:port) consumed from now, 0 for earlier ones."),
                    labels: labels)
                nodes[node] = CoreMetrics.Recorder(
                    label: "accountservice_broker_node", dimensions: labels, aggregate: false, handler: handler)
            }
            for (name, gauge) in nodes { gauge.record(name == node ? 1 : 0) }
        }
    }

    package func invalidQueue(available: Bool) {
        invalidQueueAvailable.record(available ? 1 : 0)
    }

    package func streamReset() {
        streamResets.increment()
    }

    package func connection(connected: Bool, lost: Bool) {
        self.connected.record(connected ? 1 : 0)
        if lost { reconnects.increment() }
    }

    private static func add(_ delta: Int, to counter: CoreMetrics.Counter) {
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    // MARK: Exposition

    /// The body of `GET /metrics`: Prometheus text format 0.0.4.
    public func exposition() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(8192)
        registry.emit(into: &body)
        process.append(to: &body)
        return ExpositionOrder.sortedByFamily(body)
    }
}

/// What this build is, for `accountservice_build_info`.
public enum BuildInfo {
    public static let version = ProductVersion.current
    #if compiler(>=6.4)
        public static let swift = "6.4+"
    #elseif compiler(>=6.3)
        public static let swift = "6.3"
    #else
        public static let swift = "6.2-"
    #endif
}
