/// A W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/), version 00:
/// `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>`.
///
/// `accountctl publish` puts one in each message's headers (a span of its own under the
/// run's trace); the service continues it in the consumer span of that event.
public struct TraceParent: Sendable, Equatable, CustomStringConvertible {
    /// 32 lowercase hex digits, not all zero.
    public let traceID: String
    /// 16 lowercase hex digits, not all zero.
    public let spanID: String
    public let sampled: Bool

    /// The header's name in message headers and HTTP requests.
    public static let headerName = "traceparent"

    /// Parses a header value; nil when it breaks the format (the spec says: then ignore it).
    /// Versions above 00 are read by their first four fields, as the spec asks.
    public init?(_ header: String) {
        let bytes = Array(header.utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"),
            bytes[52] == UInt8(ascii: "-")
        else { return nil }
        let version = bytes[0..<2]
        guard Self.isHex(version), !version.elementsEqual("ff".utf8) else { return nil }
        if version.elementsEqual("00".utf8) {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 && bytes[55] != UInt8(ascii: "-") {
            return nil
        }
        let trace = bytes[3..<35]
        let span = bytes[36..<52]
        let flags = bytes[53..<55]
        guard Self.isHex(trace), Self.isHex(span), Self.isHex(flags),
            trace.contains(where: { $0 != UInt8(ascii: "0") }), span.contains(where: { $0 != UInt8(ascii: "0") })
        else { return nil }
        self.traceID = String(decoding: trace, as: UTF8.self)
        self.spanID = String(decoding: span, as: UTF8.self)
        self.sampled = (Self.hexValue(flags.last!) & 1) == 1
    }

    public init?(traceID: String, spanID: String, sampled: Bool = true) {
        self.init("00-\(traceID)-\(spanID)-\(sampled ? "01" : "00")")
    }

    /// A new trace: random trace and span ids, sampled.
    public static func newTrace() -> TraceParent {
        var generator = SystemRandomNumberGenerator()
        return TraceParent(unchecked: randomHex(16, &generator), spanID: randomHex(8, &generator), sampled: true)
    }

    /// A span of the same trace, child of this one: a new span id.
    public func child() -> TraceParent {
        var generator = SystemRandomNumberGenerator()
        return TraceParent(unchecked: traceID, spanID: Self.randomHex(8, &generator), sampled: sampled)
    }

    public var description: String { "00-\(traceID)-\(spanID)-\(sampled ? "01" : "00")" }

    private init(unchecked traceID: String, spanID: String, sampled: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    private static func randomHex(_ byteCount: Int, _ generator: inout SystemRandomNumberGenerator) -> String {
        let digits = Array("0123456789abcdef".utf8)
        while true {
            var hex: [UInt8] = []
            for _ in 0..<byteCount {
                let byte = UInt8.random(in: .min ... .max, using: &generator)
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0x0F)])
            }
            if hex.contains(where: { $0 != UInt8(ascii: "0") }) { return String(decoding: hex, as: UTF8.self) }
        }
    }

    private static func isHex(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8 {
        byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "a") + 10
    }
}
