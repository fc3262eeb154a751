import Synchronization

/// Answers given, by status, for `accountservice_http_requests_total` (the labels of the Go peer).
final class HTTPRequestCounters: Sendable {
    private let ok = Atomic<UInt64>(0)
    private let badRequest = Atomic<UInt64>(0)
    private let notFound = Atomic<UInt64>(0)
    private let methodNotAllowed = Atomic<UInt64>(0)
    private let unavailable = Atomic<UInt64>(0)
    private let other = Atomic<UInt64>(0)

    init() {}

    func record(status: Int) {
        switch status {
        case 200: self.ok.wrappingAdd(1, ordering: .relaxed)
        case 400: self.badRequest.wrappingAdd(1, ordering: .relaxed)
        case 404: self.notFound.wrappingAdd(1, ordering: .relaxed)
        case 405: self.methodNotAllowed.wrappingAdd(1, ordering: .relaxed)
        case 503: self.unavailable.wrappingAdd(1, ordering: .relaxed)
        default: self.other.wrappingAdd(1, ordering: .relaxed)
        }
    }

    func appendMetrics(to body: inout [UInt8]) {
        body.appendStatic(
            """
            # HELP accountservice_http_requests_total HTTP requests answered, by status.
            # TYPE accountservice_http_requests_total counter

            """
        )
        self.appendSample("200", self.ok, to: &body)
        self.appendSample("400", self.badRequest, to: &body)
        self.appendSample("404", self.notFound, to: &body)
        self.appendSample("405", self.methodNotAllowed, to: &body)
        self.appendSample("503", self.unavailable, to: &body)
        self.appendSample("other", self.other, to: &body)
    }

    private func appendSample(_ label: StaticString, _ counter: borrowing Atomic<UInt64>, to body: inout [UInt8]) {
        body.appendStatic("accountservice_http_requests_total{status=\"")
        body.appendStatic(label)
        body.appendStatic("\"} ")
        body.appendDecimal(Int64(clamping: counter.load(ordering: .relaxed)))
        body.append(UInt8(ascii: "\n"))
    }
}
