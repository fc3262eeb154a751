import PercentEncoding

/// A broker address: `amqp://user:pass@host:port/vhost` or `amqps://…` (TLS).
///
/// User, password and vhost are percent-decoded; the port defaults to 5672 (5671
/// for amqps); an empty path or `/` is the default vhost `/` (so is `%2f`); a vhost
/// may not hold a raw `/` (write it as `%2f`). Query parameters `heartbeat` (seconds)
/// and `connection_timeout` (milliseconds) are honoured, as RabbitMQ's URI spec has them.
/// `description` never shows the password.
public struct AMQPURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case amqp
        case amqps
    }

    public var scheme: Scheme
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// The `heartbeat` query parameter, in seconds.
    public var heartbeat: Int?
    /// The `connection_timeout` query parameter, in milliseconds.
    public var connectionTimeoutMilliseconds: Int?

    public static let defaultURL = "amqp://guest:guest@127.0.0.1:5672/%2f"

    public var isTLS: Bool { scheme == .amqps }

    public init(
        scheme: Scheme = .amqp,
        host: String = "127.0.0.1",
        port: Int? = nil,
        user: String = "guest",
        password: String = "guest",
        vhost: String = "/"
    ) {
        self.scheme = scheme
        self.host = host
        self.port = port ?? (scheme == .amqps ? 5671 : 5672)
        self.user = user
        self.password = password
        self.vhost = vhost
    }

    public init(parsing text: String) throws(AMQPError) {
        // Searched by hand: `firstRange(of:)` lives in _StringProcessing, whose code would
        // then be paged in at every start.
        let bytes = Array(text.utf8)
        let separator = bytes.indices.first { bytes[$0...].starts(with: "://".utf8) }
        guard let separator else {
            throw .invalidURL(reason: "it must start with amqp:// or amqps:// (for example \(Self.defaultURL))")
        }
        let schemeText = String(decoding: bytes[..<separator], as: UTF8.self).lowercased()
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw .invalidURL(reason: "scheme '\(schemeText)' is not amqp or amqps")
        }
        var rest = Substring(String(decoding: bytes[(separator + 3)...], as: UTF8.self))
        // The user info first, up to the last '@' anywhere: a password may hold a raw '/', '?'
        // or '#' (they should be percent-encoded), which must not be taken for the path, query
        // or fragment, nor ever be echoed as one. So a vhost with a raw '@' must be written %40.
        var user = "guest"
        var password = "guest"
        // The password as written and decoded, when the URL has one.
        var secrets: [String] = []
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.percentDecode(userInfo[..<colon], part: "user name")
                let raw = userInfo[userInfo.index(after: colon)...]
                secrets = [String(raw)]
                password = try Self.percentDecode(raw, part: "password")
                secrets.append(password)
            } else {
                user = try Self.percentDecode(userInfo, part: "user name")
            }
        }
        // Whatever an error echoes is checked against the password first.
        func shown(_ fragment: some StringProtocol) -> String {
            Self.mayHoldSecret(String(fragment), secrets)
                ? "(not shown: it may hold part of the password)" : "'\(fragment)'"
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var hostPort = rest
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }

        var host = ""
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw .invalidURL(reason: "IPv6 host \(shown(hostPort)) lacks its closing ']'")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw .invalidURL(reason: "unexpected \(shown(after)) after the IPv6 host")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = try Self.percentDecode(hostPort[..<colon], part: "host")
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = try Self.percentDecode(hostPort, part: "host")
        }
        if host.isEmpty { host = "localhost" }

        var port = scheme == .amqps ? 5671 : 5672
        if let portText, !portText.isEmpty {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw .invalidURL(reason: "port \(shown(portText)) is not a number in 1..65535")
            }
            port = value
        }

        var vhost = "/"
        if !path.isEmpty {
            if path.contains("/") {
                throw .invalidURL(
                    reason: "vhost \(shown(path)) contains '/': percent-encode it as %2f (the default vhost is %2f)"
                )
            }
            vhost = try Self.percentDecode(path, part: "vhost")
        }

        self.init(scheme: scheme, host: host, port: port, user: user, password: password, vhost: vhost)

        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            let value = parts.count > 1 ? parts[1] : ""
            switch key {
            case "heartbeat":
                guard let seconds = Int(value), (0...65535).contains(seconds) else {
                    throw .invalidURL(reason: "heartbeat \(shown(value)) is not a number of seconds in 0..65535")
                }
                heartbeat = seconds
            case "connection_timeout":
                guard let ms = Int(value), ms > 0 else {
                    throw .invalidURL(
                        reason: "connection_timeout \(shown(value)) is not a positive number of milliseconds")
                }
                connectionTimeoutMilliseconds = ms
            default:
                continue  // other RabbitMQ URI parameters (channel_max, auth_mechanism, …) are not used here
            }
        }
    }

    /// True when `fragment` and a secret share 3 characters in a row, or either holds the other.
    static func mayHoldSecret(_ fragment: String, _ secrets: [String]) -> Bool {
        let piece = Array(fragment)
        for secret in secrets where !secret.isEmpty {
            let chars = Array(secret)
            if piece.count < 3 || chars.count < 3 {
                if fragment.contains(secret) || (!fragment.isEmpty && secret.contains(fragment)) { return true }
                continue
            }
            var windows = Set<String>()
            for start in 0...(chars.count - 3) { windows.insert(String(chars[start..<start + 3])) }
            for start in 0...(piece.count - 3) where windows.contains(String(piece[start..<start + 3])) {
                return true
            }
        }
        return false
    }

    /// The URL with the password replaced by `***`: safe for logs and errors.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(Self.percentEncode(user)):***@\(hostPart):\(port)/\(Self.percentEncode(vhost))"
    }

    static func percentDecode(_ text: Substring, part: String) throws(AMQPError) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        guard let bytes = Array(text.utf8).withUnsafeBufferPointer({ PercentEncoding.decode($0, plusAsSpace: false) })
        else {
            // Never echo the text: it may be the password.
            throw .invalidURL(reason: "the \(part) has a '%' that is not followed by two hex digits")
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw .invalidURL(reason: "the \(part) is not valid UTF-8 once percent-decoded")
        }
        return decoded
    }

    static func percentEncode(_ text: String) -> String { PercentEncoding.encode(text) }
}
