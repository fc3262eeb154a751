public import AMQP
public import Instrumentation

/// Reads trace headers (W3C `traceparent`, `tracestate`, whatever the tracer asks for)
/// from a message's AMQP headers: string values, or byte strings holding UTF-8.
public struct AMQPHeadersExtractor: Extractor {
    public init() {}

    public func extract(key: String, from carrier: AMQPTable) -> String? {
        switch carrier[key] {
        case .string(let value): value
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }
}
