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
        draw(done: done, total: total, fraction: fraction, time: time)
    }

    /// Clears the bar (the summary comes on standard output).
    func finish() {
        if drewBar {
            writeAll(fd: 2, Array("\r\u{1B}[K".utf8))
            drewBar = false
        }
    }

    private func draw(done: Int, total: Int?, fraction givenFraction: Double?, time: Double) {
        let elapsed = max(time - start, 0.001)
        let rate = Double(done) / elapsed
        var fraction = givenFraction
        if let total, total > 0 { fraction = Double(done) / Double(total) }
        var text = ""
        var eta = ""
        if let fraction, fraction > 0 {
            let remaining = elapsed * (1 - fraction) / fraction
            eta = "ETA " + clock(remaining)
        }
        let count = total.map { "\(done)/\($0)" } ?? "\(done)"
        let percent = fraction.map { " " + fixed(min($0, 1) * 100, decimals: 1) + "%" } ?? ""
        switch style {
        case .none:
            return
        case .bar:
            var bar = ""
            if let fraction {
                let width = 24
                let filled = min(width, Int(min(fraction, 1) * Double(width)))
                bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            }
            text = "\r\(bar)\(count)\(percent)  \(Int(rate)) msg/s  \(eta)\u{1B}[K"
            drewBar = true
        case .lines:
            text =
                "\(verb): \(count)\(percent), \(Int(rate)) msg/s, \(clock(elapsed)) elapsed\(eta.isEmpty ? "" : ", " + eta)\n"
        }
        writeAll(fd: 2, Array(text.utf8))
    }

    /// m:ss or h:mm:ss.
    private func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let s = total % 60
        let m = total / 60 % 60
        let h = total / 3600
        let ss = s < 10 ? "0\(s)" : "\(s)"
        if h > 0 { return "\(h):\(m < 10 ? "0\(m)" : "\(m)"):\(ss)" }
        return "\(m):\(ss)"
    }
}
