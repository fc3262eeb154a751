import AccountProjection
import AccountReadModel

/// The status page at `GET /`: one self-contained HTML document (inline CSS, inline SVG
/// sparklines, no script, nothing fetched from elsewhere) that reloads itself every
/// ``refreshSeconds`` seconds.
///
/// Every figure has a stable element id, for people's scripts and for the tests:
/// - the process: `replica`, `readiness`, `version`, `uptime` (e.g. `3 min 12 s`; its
///   `title` holds the seconds);
/// - the projection: `accounts`, `events-applied`, `events-duplicate`, `events-invalid`,
///   `events-parked`, `parked-accounts` (accounts holding parked events), `invalid-<x-error
///   code>` (e.g. `invalid-malformed_json`);
/// - the stream and broker: `last-offset`, `tail-offset`, `stream-lag`, `broker`
///   (`host:port`, never credentials), `broker-vhost`, `reconnects`, `last-error` (`none`
///   while no connection failed), `last-error-age`;
/// - rates in events/s: `rate-handled`, `rate-applied`, `rate-duplicate`, `rate-invalid` over
///   the last minute (`rate-window` says the seconds they cover), the same with `-10s` over
///   the last 10 s (`rate-window-10s`), `rate-applied-peak`;
/// - `apply-sparkline` (applied per second) and `problem-sparkline` (its polylines
///   `duplicate-line` and `invalid-line`), one point per second, right-aligned;
/// - the longest-waiting parked accounts, row `n` from 1: `parked-<n>-account`,
///   `parked-<n>-count`, `parked-<n>-age`.
/// Counts carry thousands separators (`56,789`); rates have one decimal (`1,234.5`).
enum StatusPage {
    static let contentType = "text/html; charset=utf-8"
    static let refreshSeconds = 2
    static let sparklineWidth = 240
    static let sparklineHeight = 48
    /// The short window the page shows rates over, beside the minute.
    static let shortWindow = 10
    /// Inline styles only, nothing else: the browser enforces the "no external assets".
    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"

    /// The page for the model's current state.
    static func answer(model: any ReadModel, replicaName: String) -> HTTPAnswer {
        let body = render(
            replica: replicaName, readiness: model.readiness(), statistics: model.statistics(),
            activity: model.activity(), status: model.operatorStatus())
        return HTTPAnswer(
            status: 200, contentType: contentType,
            headers: [
                (name: "Cache-Control", value: "no-store"),
                (name: "Content-Security-Policy", value: contentSecurityPolicy),
            ],
            body: body)
    }

    static func render(
        replica: String, readiness: Readiness, statistics: ServiceStatistics, activity: ActivityHistory,
        status: OperatorStatus = OperatorStatus()
    ) -> [UInt8] {
        let minute = activity.rates()
        let recent = activity.rates(overLast: shortWindow)
        let series = activity.perSecond()
        let name = escape(replica)
        let dash = "\u{2013}"
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>accountservice \u{00B7} \(name)</title>
            <style>\(style)</style>
            </head>
            <body>
            <header>
            <h1>accountservice <span id="replica">\(name)</span></h1>
            <span id="readiness" class="badge \(readinessClass(readiness))">\(readiness.rawValue)</span>
            <span class="muted">version <span id="version">\(escape(status.version))</span> \u{00B7} \
            up <span id="uptime" title="\(status.uptimeSeconds) s">\(duration(status.uptimeSeconds))</span></span>
            </header>
            <main>
            <section>
            <h2>Projection</h2>
            <table>

            """
        func row(_ label: String, _ id: String, _ value: String, title: String? = nil) {
            let tooltip = title.map { " title=\"\(escape($0))\"" } ?? ""
            html += "<tr><td>\(label)</td><td class=\"n\" id=\"\(id)\"\(tooltip)>\(value)</td></tr>\n"
        }
        row("Accounts", "accounts", grouped(statistics.accounts))
        row("Events applied", "events-applied", grouped(statistics.eventsApplied))
        row("Duplicates", "events-duplicate", grouped(statistics.duplicates))
        row("Invalid", "events-invalid", grouped(statistics.invalid))
        row("Parked events", "events-parked", grouped(statistics.parked))
        row("Accounts holding parked", "parked-accounts", grouped(status.parkedAccounts))
        html += "</table>\n</section>\n<section>\n<h2>Stream and broker</h2>\n<table>\n"
        row("Last offset handled", "last-offset", statistics.lastOffset.map(grouped) ?? dash)
        row("Tail offset", "tail-offset", status.tailOffset.map(grouped) ?? dash)
        row("Lag (offsets)", "stream-lag", status.lag.map(grouped) ?? dash)
        row(
            status.brokerTLS ? "Broker (TLS)" : "Broker", "broker", status.broker.map(escape) ?? dash)
        row("Virtual host", "broker-vhost", status.brokerVhost.map(escape) ?? dash)
        row("Connections lost", "reconnects", grouped(status.reconnects))
        html += "</table>\n<p class=\"error-label\">Last connection error"
        if let age = status.lastConnectionErrorAgeSeconds {
            html += ", <span id=\"last-error-age\" title=\"\(age) s\">\(duration(age))</span> ago"
        } else {
            html += " <span id=\"last-error-age\" hidden>\(dash)</span>"
        }
        let error = status.lastConnectionError.map(escape) ?? "none"
        let errorClass = status.lastConnectionError == nil ? "muted" : "error"
        html += "</p>\n<p id=\"last-error\" class=\"\(errorClass)\">\(error)</p>\n"
        html += "</section>\n<section>\n<h2>Invalid by reason</h2>\n<table>\n"
        for reason in RejectionReason.allCases {
            row(
                "<code>\(reason.rawValue)</code>", "invalid-\(reason.rawValue)",
                grouped(statistics.projection.invalid(reason)))
        }
        html += """
            </table>
            </section>
            <section>
            <h2>Events/s</h2>
            <table>
            <tr><th></th><th class="n">last <span id="rate-window-10s">\(recent.seconds)</span> s</th>\
            <th class="n">last <span id="rate-window">\(minute.seconds)</span> s</th></tr>

            """
        func rates(_ label: String, _ id: String, _ rate: KeyPath<ActivityRates, Double>) {
            html += "<tr><td>\(label)</td><td class=\"n\" id=\"\(id)-10s\">\(decimal(recent[keyPath: rate]))</td>"
            html += "<td class=\"n\" id=\"\(id)\">\(decimal(minute[keyPath: rate]))</td></tr>\n"
        }
        rates("Handled", "rate-handled", \.handled)
        rates("Applied", "rate-applied", \.applied)
        rates("Duplicates", "rate-duplicate", \.duplicates)
        rates("Invalid", "rate-invalid", \.invalid)
        html += "</table>\n"
        let applied = series.map(\.applied)
        let duplicates = series.map(\.duplicates)
        let invalid = series.map(\.invalid)
        html += sparkline(
            id: "apply-sparkline", lines: [(id: "apply-line", values: applied, cssClass: "applied")],
            window: activity.window, label: "events applied per second")
        html += """
            <p class="muted"><span class="key applied"></span>Applied per second, \
            peak <span id="rate-applied-peak">\(decimal(applied.max() ?? 0))</span>/s</p>

            """
        html += sparkline(
            id: "problem-sparkline",
            lines: [
                (id: "duplicate-line", values: duplicates, cssClass: "duplicate"),
                (id: "invalid-line", values: invalid, cssClass: "invalid"),
            ],
            window: activity.window, label: "duplicate and invalid events per second")
        let problemPeak = max(duplicates.max() ?? 0, invalid.max() ?? 0)
        html += """
            <p class="muted"><span class="key duplicate"></span>Duplicates \
            <span class="key invalid"></span>Invalid per second, \
            peak <span id="rate-problem-peak">\(decimal(problemPeak))</span>/s</p>
            </section>
            <section class="wide">
            <h2>Parked, longest waiting</h2>

            """
        if status.longestParked.isEmpty {
            html += "<p class=\"muted\" id=\"parked-none\">No account holds parked events.</p>\n"
        } else {
            html += """
                <table id="parked-table">
                <tr><th>Account</th><th class="n">Parked</th><th class="n">Oldest waiting</th></tr>

                """
            for (index, account) in status.longestParked.enumerated() {
                let n = index + 1
                html += "<tr><td><code id=\"parked-\(n)-account\">\(escape(account.accountId))</code></td>"
                html += "<td class=\"n\" id=\"parked-\(n)-count\">\(grouped(account.parked))</td>"
                html += "<td class=\"n\" id=\"parked-\(n)-age\" title=\"\(account.waitingSeconds) s\">"
                html += "\(duration(account.waitingSeconds))</td></tr>\n"
            }
            html += "</table>\n"
            if status.parkedAccounts > status.longestParked.count {
                html +=
                    "<p class=\"muted\">and \(grouped(status.parkedAccounts - status.longestParked.count)) more</p>\n"
            }
        }
        html += """
            </section>
            </main>
            <footer class="muted">Refreshes every \(refreshSeconds) s \u{00B7} \
            <a href="/stats">/stats</a> \u{00B7} <a href="/metrics">/metrics</a> \u{00B7} <a href="/ready">/ready</a></footer>
            </body>
            </html>

            """
        return Array(html.utf8)
    }

    /// An inline SVG with one polyline per series (each oldest first), right-aligned on
    /// `window` slots and all scaled to the largest value among them; flat at the bottom
    /// when all are zero.
    static func sparkline(
        id: String, lines: [(id: String, values: [Double], cssClass: String)], window: Int, label: String
    ) -> String {
        let width = Double(sparklineWidth)
        let height = Double(sparklineHeight)
        let step = width / Double(max(1, window - 1))
        let top = max(lines.map { $0.values.max() ?? 0 }.max() ?? 0, 1)
        var svg = """
            <svg id="\(id)" width="\(sparklineWidth)" height="\(sparklineHeight)" \
            viewBox="0 0 \(sparklineWidth) \(sparklineHeight)" preserveAspectRatio="none" role="img" \
            aria-label="\(label) over the last \(window) seconds">\
            <line x1="0" y1="\(sparklineHeight - 1)" x2="\(sparklineWidth)" y2="\(sparklineHeight - 1)" class="axis"/>
            """
        for line in lines {
            var points: [String] = []
            points.reserveCapacity(line.values.count)
            for (i, value) in line.values.enumerated() {
                let x = width - Double(line.values.count - 1 - i) * step
                let y = height - 2 - (max(0, value) / top) * (height - 4)
                points.append(decimal(x, grouping: false) + "," + decimal(y, grouping: false))
            }
            svg += "<polyline id=\"\(line.id)\" class=\"\(line.cssClass)\" fill=\"none\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
        }
        return svg + "</svg>\n"
    }

    private static let style = """
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1.5rem 2rem;\
        color:#1d2330;background:#f4f6f9}\
        header{display:flex;align-items:center;gap:1rem;flex-wrap:wrap}\
        h1{font-size:1.35rem;margin:0;font-weight:600}h1 span{color:#3b5bdb}\
        .badge{padding:.2rem .7rem;border-radius:1rem;font-weight:700;font-size:.8rem;letter-spacing:.04em}\
        .ready{background:#d3f4dc;color:#146c2e}.catching-up{background:#fff0c2;color:#7a5800}\
        .disconnected{background:#fcd9d9;color:#8f1d1d}\
        main{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:1rem;margin:1.25rem 0}\
        section{background:#fff;border:1px solid #dce1e8;border-radius:.6rem;padding:1rem 1.25rem}\
        h2{font-size:.75rem;text-transform:uppercase;letter-spacing:.08em;color:#5b6475;margin:0 0 .5rem}\
        table{border-collapse:collapse;width:100%}td{padding:.2rem 0;border-bottom:1px solid #eef1f5}\
        td.n{text-align:right;font-variant-numeric:tabular-nums;font-weight:600}\
        code{font-size:.85rem}svg{display:block;margin-top:.75rem;width:100%;height:3rem}\
        th{font-size:.75rem;font-weight:600;color:#5b6475;text-align:left;padding:.2rem 0}th.n{text-align:right}\
        polyline,line{vector-effect:non-scaling-stroke}polyline{stroke-width:1.5;stroke-linejoin:round}.axis{stroke:#ccd3dd}\
        polyline.applied{stroke:#3b5bdb}polyline.duplicate{stroke:#e08a00}polyline.invalid{stroke:#c92a2a}\
        .key{display:inline-block;width:.8rem;height:.2rem;margin:0 .3rem .2rem 0;vertical-align:middle}\
        .key.applied{background:#3b5bdb}.key.duplicate{background:#e08a00}.key.invalid{background:#c92a2a}\
        .muted{color:#5b6475;font-size:.85rem}a{color:#3b5bdb}\
        .error-label{margin:.6rem 0 .1rem;font-size:.85rem;color:#5b6475}\
        .error{color:#8f1d1d;font-size:.85rem;overflow-wrap:anywhere;margin:0}p#last-error.muted{margin:0}\
        .wide{grid-column:1/-1}td code{overflow-wrap:anywhere}
        """

    private static func readinessClass(_ readiness: Readiness) -> String {
        switch readiness {
        case .ready: "ready"
        case .catchingUp, .rebuilding, .loading: "catching-up"
        case .disconnected: "disconnected"
        }
    }

    /// Text made safe for HTML content and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// One decimal, no exponent (`12.5`, `0.0`), thousands separated (`1,234.5`) unless
    /// `grouping` is false; not-a-number and infinities as `0.0`.
    static func decimal(_ value: Double, grouping: Bool = true) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "0.0" }
        let tenths = Int64((value * 10).rounded())
        let magnitude = tenths.magnitude
        let whole = grouping ? grouped(magnitude / 10) : "\(magnitude / 10)"
        return (tenths < 0 ? "-" : "") + "\(whole).\(magnitude % 10)"
    }

    /// Digits with a comma between thousands: `56,789`, `-1,000`, `0`.
    static func grouped(_ value: some BinaryInteger) -> String {
        let digits = Array(String(value.magnitude))
        var out = value < 0 ? "-" : ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return out
    }

    /// A duration as a person reads it: `42 s`, `3 min 12 s`, `2 h 05 min`, `3 d 4 h`.
    static func duration(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        switch s {
        case ..<60: return "\(s) s"
        case ..<3600: return "\(s / 60) min \(two(s % 60)) s"
        case ..<86400: return "\(s / 3600) h \(two(s % 3600 / 60)) min"
        default: return "\(s / 86400) d \(s % 86400 / 3600) h"
        }
    }
}
