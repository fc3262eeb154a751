import AccountProjection

/// The status page at `GET /`: one self-contained HTML document (inline CSS, an inline
/// SVG sparkline, no script, nothing fetched from elsewhere) that reloads itself every
/// ``refreshSeconds`` seconds.
///
/// Every figure has a stable element id, for people's scripts and for the tests:
/// `replica`, `readiness`, `accounts`, `events-applied`, `events-duplicate`,
/// `events-invalid`, `events-parked`, `last-offset`, `invalid-<x-error code>` (e.g.
/// `invalid-malformed_json`), `rate-handled`, `rate-applied`, `rate-duplicate`,
/// `rate-invalid` (events/s over the last minute), `rate-window` (the seconds they
/// cover), `apply-sparkline` (the SVG; its `polyline` has one point per second).
/// Counts are plain decimal digits; rates have one decimal.
enum StatusPage {
    static let contentType = "text/html; charset=utf-8"
    static let refreshSeconds = 2
    static let sparklineWidth = 240
    static let sparklineHeight = 48
    /// Inline styles only, nothing else: the browser enforces the "no external assets".
    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"

    /// The page for the model's current state.
    static func answer(model: any ReadModel, replicaName: String) -> HTTPAnswer {
        let body = render(
            replica: replicaName, readiness: model.readiness(), statistics: model.statistics(),
            activity: model.activity())
        return HTTPAnswer(
            status: 200, contentType: contentType,
            headers: [
                (name: "Cache-Control", value: "no-store"),
                (name: "Content-Security-Policy", value: contentSecurityPolicy),
            ],
            body: body)
    }

    static func render(
        replica: String, readiness: Readiness, statistics: ServiceStatistics, activity: ActivityHistory
    ) -> [UInt8] {
        let rates = activity.rates()
        let series = activity.appliedPerSecond()
        let name = escape(replica)
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
            </header>
            <main>
            <section>
            <h2>Projection</h2>
            <table>

            """
        func row(_ label: String, _ id: String, _ value: String) {
            html += "<tr><td>\(label)</td><td class=\"n\" id=\"\(id)\">\(value)</td></tr>\n"
        }
        row("Accounts", "accounts", "\(statistics.accounts)")
        row("Events applied", "events-applied", "\(statistics.eventsApplied)")
        row("Duplicates", "events-duplicate", "\(statistics.duplicates)")
        row("Invalid", "events-invalid", "\(statistics.invalid)")
        row("Parked", "events-parked", "\(statistics.parked)")
        row("Last offset", "last-offset", statistics.lastOffset.map { "\($0)" } ?? "\u{2013}")
        html += "</table>\n</section>\n<section>\n<h2>Invalid by reason</h2>\n<table>\n"
        for reason in RejectionReason.allCases {
            row(
                "<code>\(reason.rawValue)</code>", "invalid-\(reason.rawValue)",
                "\(statistics.invalidByReason[reason] ?? 0)")
        }
        html += "</table>\n</section>\n<section>\n<h2>Last minute, events/s</h2>\n<table>\n"
        row("Handled", "rate-handled", decimal(rates.handled))
        row("Applied", "rate-applied", decimal(rates.applied))
        row("Duplicates", "rate-duplicate", decimal(rates.duplicates))
        row("Invalid", "rate-invalid", decimal(rates.invalid))
        html += "</table>\n"
        html += sparkline(series, window: activity.window)
        html += """
            <p class="muted">Applied per second over <span id="rate-window">\(rates.seconds)</span> s, \
            peak <span id="rate-applied-peak">\(decimal(series.max() ?? 0))</span>/s.</p>
            </section>
            </main>
            <footer class="muted">Refreshes every \(refreshSeconds) s \u{00B7} \
            <a href="/stats">/stats</a> \u{00B7} <a href="/metrics">/metrics</a> \u{00B7} <a href="/ready">/ready</a></footer>
            </body>
            </html>

            """
        return Array(html.utf8)
    }

    /// An inline SVG of `values` (oldest first), right-aligned on `window` slots and scaled
    /// to the largest; a flat line at the bottom when all are zero.
    static func sparkline(_ values: [Double], window: Int) -> String {
        let width = Double(sparklineWidth)
        let height = Double(sparklineHeight)
        let step = width / Double(max(1, window - 1))
        let top = max(values.max() ?? 0, 1)
        var points: [String] = []
        points.reserveCapacity(values.count)
        for (i, value) in values.enumerated() {
            let x = width - Double(values.count - 1 - i) * step
            let y = height - 2 - (max(0, value) / top) * (height - 4)
            points.append(decimal(x) + "," + decimal(y))
        }
        return """
            <svg id="apply-sparkline" width="\(sparklineWidth)" height="\(sparklineHeight)" \
            viewBox="0 0 \(sparklineWidth) \(sparklineHeight)" role="img" \
            aria-label="events applied per second over the last \(window) seconds">\
            <line x1="0" y1="\(sparklineHeight - 1)" x2="\(sparklineWidth)" y2="\(sparklineHeight - 1)" class="axis"/>\
            <polyline fill="none" points="\(points.joined(separator: " "))"/></svg>

            """
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
        code{font-size:.85rem}svg{display:block;margin-top:.75rem}\
        polyline{stroke:#3b5bdb;stroke-width:1.5;stroke-linejoin:round}.axis{stroke:#ccd3dd}\
        .muted{color:#5b6475;font-size:.85rem}a{color:#3b5bdb}
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

    /// One decimal, no exponent (`12.5`, `0.0`); not-a-number and infinities as `0.0`.
    static func decimal(_ value: Double) -> String {
        guard value.isFinite, abs(value) < 1e15 else { return "0.0" }
        let tenths = Int64((value * 10).rounded())
        let magnitude = tenths.magnitude
        return (tenths < 0 ? "-" : "") + "\(magnitude / 10).\(magnitude % 10)"
    }
}
