import Testing

@testable import accountctl

@Suite("publish's progress bar")
struct ProgressTests {
    @Test("the bar fits the terminal: never more than width - 1 columns", arguments: [20, 50, 80, 200])
    func fits(width: Int) {
        let cases = [
            ProgressStatus(done: 0, total: 10_000_000, fraction: 0, perSecond: nil, eta: nil),
            ProgressStatus(done: 5_123_456, total: 10_000_000, fraction: 0.5123456, perSecond: 123_456, eta: 3_725),
            ProgressStatus(done: 10_000_000, total: 10_000_000, fraction: 1, perSecond: 99_999, eta: 0),
            ProgressStatus(done: 42, total: nil, fraction: nil, perSecond: 12, eta: nil),
        ]
        for status in cases {
            let line = status.bar(width: width)
            #expect(line.count <= width - 1, "\(line.count) columns at width \(width): \(line)")
            #expect(line.contains("\(status.done)"), "the count is always there: \(line)")
        }
    }

    @Test("at 80 columns the bar, the count, the rate and the ETA all show; at 50 the figures stay")
    func layout() {
        let status = ProgressStatus(
            done: 5_123_456, total: 10_000_000, fraction: 0.5123456, perSecond: 123_456, eta: 3_725)
        let wide = status.bar(width: 80)
        #expect(wide.hasPrefix("[#"), "\(wide)")
        #expect(wide.contains("5123456/10000000") && wide.contains("51.2%"), "\(wide)")
        #expect(wide.contains("123456 msg/s") && wide.contains("ETA 1:02:05"), "\(wide)")
        let narrow = status.bar(width: 50)
        #expect(narrow.count <= 49)
        #expect(narrow.contains("5123456/10000000") && narrow.contains("51.2%"), "\(narrow)")
    }

    @Test("no rate and no ETA until a few seconds of confirms are measured; then the pace of those")
    func firstETA() {
        var meter = RateMeter()
        // Connecting took 2 s, then 1000 messages/s.
        meter.record(done: 0, fraction: 0, time: 2)
        #expect(meter.perSecond == nil && meter.eta(fraction: 0) == nil)
        meter.record(done: 200, fraction: 0.02, time: 2.2)
        #expect(meter.perSecond == nil, "0.2 s is too short to say")
        #expect(meter.eta(fraction: 0.02) == nil)
        meter.record(done: 2200, fraction: 0.22, time: 4.2)
        #expect(meter.eta(fraction: 0.22) == nil, "2 s of confirms is still too short")
        meter.record(done: 3200, fraction: 0.32, time: 5.2)
        let rate = try! #require(meter.perSecond)
        #expect(abs(rate - 1000) < 1, "\(rate)")
        let eta = try! #require(meter.eta(fraction: 0.32))
        #expect(abs(eta - 6.8) < 0.01, "10000 messages at 1000/s: 6.8 s left, not \(eta)")
    }
}
