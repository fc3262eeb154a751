import AccountProjection

/// The service's figures in Prometheus text format 0.0.4, under the names the Go peer
/// uses (`accountservice_…`). The read API appends its HTTP request counters.
enum ServiceMetrics {
    static func render(_ snapshot: AccountStore.Snapshot) -> String {
        let figures = snapshot.statistics
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP accountservice_\(name) \(help)\n# TYPE accountservice_\(name) \(type)\n"
            for sample in samples { out += "accountservice_\(name)\(sample.labels) \(sample.value)\n" }
        }
        metric("accounts", "gauge", "Opened accounts, closed ones included.", [("", "\(figures.accounts)")])
        metric(
            "events_applied_total", "counter", "Events applied to the projection.", [("", "\(figures.eventsApplied)")])
        metric(
            "events_duplicate_total", "counter", "Events ignored as duplicates (sequence at or below the version).",
            [("", "\(figures.duplicates)")])
        metric(
            "events_invalid_total", "counter", "Events sent to the invalid queue, by x-error.",
            RejectionReason.allCases.map { ("{error=\"\($0.rawValue)\"}", "\(figures.invalidByReason[$0] ?? 0)") })
        metric(
            "events_parked", "gauge", "Events waiting for a gap in their account's history.",
            [("", "\(figures.parked)")])
        metric(
            "stream_last_offset", "gauge", "Offset of the last delivery handled (-1 before the first).",
            [("", "\(snapshot.lastOffset ?? -1)")])
        metric(
            "stream_tail_offset", "gauge",
            "The stream's last offset when this connection started (-1: empty or unknown).",
            [("", "\(snapshot.tail ?? -1)")])
        metric("broker_connected", "gauge", "1 while connected to the broker.", [("", snapshot.connected ? "1" : "0")])
        metric(
            "broker_reconnects_total", "counter", "Connections to the broker lost since start.",
            [("", "\(snapshot.reconnects)")])
        metric(
            "caught_up", "gauge", "1 once caught up with the log as it stood at connection.",
            [("", snapshot.caughtUp ? "1" : "0")])
        return out
    }
}
