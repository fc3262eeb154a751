public import Instrumentation
public import NIOHTTP1

/// Reads trace headers from an HTTP request (the first value of a header).
public struct HTTPHeadersExtractor: Extractor {
    public init() {}

    public func extract(key: String, from carrier: HTTPHeaders) -> String? {
        carrier.first(name: key)
    }
}
