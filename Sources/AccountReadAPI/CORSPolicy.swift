/// Cross-origin access to the read API (CORS_ALLOW_ORIGIN): off unless an origin is set.
public struct CORSPolicy: Sendable, Equatable {
    /// `*` or one origin (`https://dash.example.org`).
    public let allowOrigin: String

    /// Nil when `origin` is neither `*` nor an origin (`scheme://host[:port]`, no path).
    public init?(allowOrigin origin: String) {
        guard CORSPolicy.isValid(origin) else { return nil }
        self.allowOrigin = origin
    }

    static func isValid(_ origin: String) -> Bool {
        if origin == "*" { return true }
        let parts = origin.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let scheme = parts[0]
        let authority = parts[1]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            return false
        }
        return !authority.isEmpty
            && authority.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value < 0x7F && $0 != "/" }
    }

    /// The fields every answer carries: the allowed origin, `Vary: Origin` for a single one,
    /// and the headers a script may read.
    var answerHeaders: [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            (name: "Access-Control-Allow-Origin", value: self.allowOrigin),
            (name: "Access-Control-Expose-Headers", value: "ETag, Link, X-Served-By"),
        ]
        if self.allowOrigin != "*" { headers.append((name: "Vary", value: "Origin")) }
        return headers
    }

    /// The 204 answer to a preflight: GET and HEAD, the request headers asked for (token
    /// characters only, at most 512 bytes), cached for 10 minutes.
    func preflightHeaders(requestHeaders: String?) -> [(name: String, value: String)] {
        var headers = self.answerHeaders
        headers.append((name: "Access-Control-Allow-Methods", value: ReadAPI.allowValue))
        if let asked = requestHeaders {
            let kept = String(
                asked.unicodeScalars.filter {
                    $0.isASCII && ($0.properties.isAlphabetic || "0123456789-_, ".unicodeScalars.contains($0))
                }
                .prefix(512).map(Character.init))
            if !kept.trimmingSpaces.isEmpty {
                headers.append((name: "Access-Control-Allow-Headers", value: kept.trimmingSpaces))
            }
        }
        headers.append((name: "Access-Control-Max-Age", value: "600"))
        return headers
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
