#if canImport(Glibc)
    import Glibc
#endif

/// Progress on standard error: on a terminal a one-line bar redrawn in place a few times
/// a second; otherwise (a log, a pipe) a plain line every few seconds; nothing when quiet.
final class ProgressReporter {
    enum Style {
        case none
        case bar
        case lines
    }

    let style: Style
    private let verb: String
    private let start: Double
    private var lastDraw: Double
    private var drewBar = false
    private var rate = RateMeter()

    init(quiet: Bool, verb: String) {
        style = quiet ? .none : (isatty(2) == 1 ? .bar : .lines)
        self.verb = verb
        start = now()
        lastDraw = start
    }

    private var interval: Double { style == .bar ? 0.2 : 5 }

    /// Reports `done` messages confirmed; `fraction` of the work done when known.
    /// Cheap when it is not time to draw.
    func update(done: Int, total: Int?, fraction: Double?) {
        guard style != .none else { return }
        let time = now()
        guard time - lastDraw >= interval else { return }
        lastDraw = time
        var share = fraction
        if let total, total > 0 { share = Double(done) / Double(total) }
        rate.record(done: done, fraction: share, time: time)
        draw(done: done, total: total, fraction: share, time: time)
    }

    /// Clears the bar (the summary comes on standard output).
    func finish() {
        if drewBar {
            writeAll(fd: 2, Array("\r\u{1B}[K".utf8))
            drewBar = false
        }
    }

    private func draw(done: Int, total: Int?, fraction: Double?, time: Double) {
        let status = ProgressStatus(
            done: done, total: total, fraction: fraction, perSecond: rate.perSecond, eta: rate.eta(fraction: fraction))
        switch style {
        case .none:
            return
        case .bar:
            let text = "\r" + status.bar(width: terminalColumns(fd: 2)) + "\u{1B}[K"
            drewBar = true
            writeAll(fd: 2, Array(text.utf8))
        case .lines:
            writeAll(fd: 2, Array("\(verb): \(status.line(elapsed: time - start))\n".utf8))
        }
    }
}

/// The rate since the first message was confirmed (connecting is not part of it), and an
/// ETA only once a few seconds of it are measured: an early one swings wildly.
struct RateMeter {
    static let settleSeconds = 3.0

    private var first: (time: Double, done: Int, fraction: Double)?
    private var last: (time: Double, done: Int, fraction: Double)?

    mutating func record(done: Int, fraction: Double?, time: Double) {
        guard done > 0 || (fraction ?? 0) > 0 else { return }
        let sample = (time, done, fraction ?? 0)
        if first == nil { first = sample }
        last = sample
    }

    private var span: Double? {
        guard let first, let last else { return nil }
        let seconds = last.time - first.time
        return seconds >= Self.settleSeconds ? seconds : nil
    }

    /// Messages per second, nil until measured for long enough.
    var perSecond: Double? {
        guard let span, let first, let last else { return nil }
        return Double(last.done - first.done) / span
    }

    /// Seconds left at the measured pace of the work's share, nil when unknown.
    func eta(fraction: Double?) -> Double? {
        guard let span, let first, let last, let fraction else { return nil }
        let pace = (last.fraction - first.fraction) / span
        guard pace > 0 else { return nil }
        return max(0, 1 - min(fraction, 1)) / pace
    }
}

/// What one progress report says, laid out for a terminal of a given width or for a log line.
struct ProgressStatus {
    var done: Int
    var total: Int?
    var fraction: Double?
    var perSecond: Double?
    var eta: Double?

    private var count: String { total.map { "\(done)/\($0)" } ?? "\(done)" }
    private var percent: String? { fraction.map { fixed(min($0, 1) * 100, decimals: 1) + "%" } }
    private var rateText: String? { perSecond.map { "\(Int($0.rounded())) msg/s" } }
    private var etaText: String? { eta.map { "ETA " + clock($0) } }

    /// One line of at most `width - 1` characters (the last column would wrap on some
    /// terminals): the bar takes what the figures leave; narrower, the bar, then the ETA,
    /// then the rate are left out.
    func bar(width: Int) -> String {
        let limit = max(width - 1, 1)
        let figures = [count, percent, rateText, etaText].compactMap { $0 }
        for dropped in 0...3 {
            var parts = figures
            if dropped >= 2, let eta = etaText { parts.removeAll { $0 == eta } }
            if dropped >= 3, let rate = rateText { parts.removeAll { $0 == rate } }
            let text = parts.joined(separator: "  ")
            if dropped == 0, let fraction {
                let room = limit - text.count - 3
                if room >= 10 {
                    let cells = min(room, 40)
                    let filled = min(cells, Int(min(fraction, 1) * Double(cells)))
                    return "[" + String(repeating: "#", count: filled)
                        + String(repeating: ".", count: cells - filled) + "] " + text
                }
                continue
            }
            if text.count <= limit { return text }
        }
        return String(count.prefix(limit))
    }

    /// A log line: figures and the time elapsed.
    func line(elapsed: Double) -> String {
        var text = count + (percent.map { " " + $0 } ?? "")
        if let rateText { text += ", " + rateText }
        text += ", \(clock(elapsed)) elapsed"
        if let etaText { text += ", " + etaText }
        return text
    }
}

/// The terminal's width in columns: the tty's size, else COLUMNS, else 80.
func terminalColumns(fd: Int32) -> Int {
    var size = winsize()
    if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 { return Int(size.ws_col) }
    if let text = getenv("COLUMNS"), let columns = Int(String(cString: text)), columns > 0 { return columns }
    return 80
}

/// m:ss or h:mm:ss.
func clock(_ seconds: Double) -> String {
    let total = Int(min(seconds, 359_999).rounded())
    let s = total % 60
    let m = total / 60 % 60
    let h = total / 3600
    let ss = s < 10 ? "0\(s)" : "\(s)"
    if h > 0 { return "\(h):\(m < 10 ? "0\(m)" : "\(m)"):\(ss)" }
    return "\(m):\(ss)"
}
