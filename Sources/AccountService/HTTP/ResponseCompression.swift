import NIOHTTP1
import NIOHTTPCompression

/// gzip (or deflate) for answers worth it, through swift-nio-extras' `HTTPResponseCompressor`.
///
/// Only what ``HTTPConnectionHandler`` marks is compressed: a 200 to a `GET` whose body is at
/// least ``threshold`` bytes (a `HEAD` must not grow the compressor's few body bytes, and a
/// small body gains nothing). The compressor pairs each response with a request head it saw,
/// so answers that have none (a parse error, `100 Continue`) are written below it.
enum ResponseCompression {
    /// Bodies below this many bytes go out as they are.
    static let threshold = 1024
    /// Set by the connection handler on answers that may be compressed; never sent.
    static let marker = "x-accountservice-compressible"

    static func makeCompressor() -> HTTPResponseCompressor {
        HTTPResponseCompressor(initialByteBufferCapacity: 0) { head, supported in
            guard head.headers.contains(name: marker) else { return .doNotCompress }
            head.headers.remove(name: marker)
            // Caches must keep the two encodings apart, whichever this client gets.
            head.headers.add(name: "Vary", value: "Accept-Encoding")
            guard supported else { return .doNotCompress }
            // A strong tag names one representation: the compressed one gets its own.
            if let tag = head.headers.first(name: "etag"), tag.hasSuffix("\"") {
                head.headers.replaceOrAdd(name: "ETag", value: String(tag.dropLast()) + gzipSuffix + "\"")
            }
            return .compressIfPossible
        }
    }

    /// What a compressed answer's `ETag` carries before its closing quote.
    static let gzipSuffix = "-z"
}
