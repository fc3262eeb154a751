#if canImport(Glibc)
    import Glibc
#endif

/// Where the service answers: `http://host[:port][/prefix]` or `https://…` (no user info).
struct ServiceURL: Sendable, Equatable, CustomStringConvertible {
    /// https:// (TLS) rather than http://.
    var secure: Bool
    var host: String
    var port: UInt16
    /// A path prefix without the trailing slash ("" for none).
    var prefix: String

    init(parsing text: String) throws(HTTPClientError) {
        if text.hasPrefix("https://") {
            secure = true
        } else if text.hasPrefix("http://") {
            secure = false
        } else {
            throw .invalidURL("'\(text)' is not an http:// or https:// URL")
        }
        var rest = Substring(text.dropFirst(secure ? "https://".count : "http://".count))
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        if rest.contains("@") { throw .invalidURL("'\(text)': user info is not supported") }
        if rest.contains("?") || path.contains("?") || path.contains("#") {
            throw .invalidURL("'\(text)': give the service's base URL, without a query")
        }
        var hostPart = rest
        var port: UInt16 = secure ? 443 : 80
        if rest.hasPrefix("[") {
            // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { throw .invalidURL("'\(text)': unclosed '['") }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = UInt16(after.dropFirst()), value > 0 else {
                    throw .invalidURL("'\(text)': bad port")
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            guard let value = UInt16(rest[rest.index(after: colon)...]), value > 0 else {
                throw .invalidURL("'\(text)': the port must be a number in 1...65535")
            }
            port = value
        }
        guard !hostPart.isEmpty else { throw .invalidURL("'\(text)' has no host") }
        host = String(hostPart)
        self.port = port
        while path.hasSuffix("/") { path.removeLast() }
        prefix = path
    }

    var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(secure ? "https" : "http")://\(shownHost):\(port)\(prefix)"
    }
}

/// An HTTP answer.
struct HTTPResponse: Sendable {
    var status: Int
    /// Header names lowercased, in the order received.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request got no HTTP answer.
enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case unreachable(String)
    case timeout(String)
    case protocolError(String)
    /// The TLS handshake failed (an untrusted certificate, another host name): retrying will not help.
    case tls(String)

    var description: String {
        switch self {
        case .invalidURL(let text): return "invalid service URL: \(text)"
        case .unreachable(let text): return text
        case .timeout(let text): return text
        case .protocolError(let text): return "bad HTTP answer: \(text)"
        case .tls(let text): return text
        }
    }
}

/// A small blocking HTTP/1.1 client for GET requests over Glibc sockets, with TLS (OpenSSL)
/// for https://: connect with a timeout, keep-alive between requests, `Content-Length`,
/// chunked or read-to-close bodies. One request at a time; not thread-safe.
final class HTTPClient {
    let url: ServiceURL
    /// Bounds connecting and each wait for bytes.
    let timeout: Double
    let tls: TLSSettings
    private var socket: Int32 = -1
    private var session: TLSConnection?
    private var buffer: [UInt8] = []
    private var bufferStart = 0

    init(url: ServiceURL, timeout: Double, tls: TLSSettings = TLSSettings()) {
        self.url = url
        self.timeout = timeout
        self.tls = tls
    }

    deinit { disconnect() }

    /// GETs `path` (with its query), which starts with "/"; the URL's prefix is put before it.
    /// A kept-alive connection the server closed in the meantime is reopened once.
    func get(_ path: String) throws(HTTPClientError) -> HTTPResponse {
        let reused = socket >= 0
        do {
            return try attempt(path)
        } catch .unreachable(let reason) where reused {
            _ = reason
            disconnect()
            return try attempt(path)
        }
    }

    private func attempt(_ path: String) throws(HTTPClientError) -> HTTPResponse {
        if socket < 0 { try connect() }
        let hostHeader = url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        let request =
            "GET \(url.prefix)\(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: accountctl\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n"
        do {
            try send(Array(request.utf8))
            let response = try readResponse()
            if response.header("connection")?.lowercased() == "close" { disconnect() }
            return response
        } catch {
            disconnect()
            throw error
        }
    }

    func disconnect() {
        session?.shutdown()
        session = nil
        if socket >= 0 {
            Glibc.close(socket)
            socket = -1
        }
        buffer.removeAll()
        bufferStart = 0
    }

    // MARK: Connecting

    private func connect() throws(HTTPClientError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard status == 0, let first = list else {
            throw .unreachable(
                "cannot resolve the service host '\(url.host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastProblem = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = Glibc.socket(
                address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                address.pointee.ai_protocol)
            if fd < 0 {
                lastProblem = errnoText()
                continue
            }
            if let problem = connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) {
                lastProblem = problem
                Glibc.close(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            var interval = timeval(
                tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            if url.secure {
                do {
                    session = try TLSConnection(fd: fd, host: url.host, settings: tls, describe: url.description)
                } catch {
                    Glibc.close(fd)
                    throw error
                }
            }
            socket = fd
            return
        }
        throw .unreachable("cannot connect to the service at \(url): \(lastProblem)")
    }

    /// Connects a socket within the timeout; nil on success, else why not.
    private func connect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, address, length) != 0 {
            guard errno == EINPROGRESS else { return errnoText() }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&entry, 1, Int32(timeout * 1000))
            if ready == 0 { return "no answer within \(formatSeconds(timeout)) s" }
            if ready < 0 { return errnoText() }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            if error != 0 { return String(cString: strerror(error)) }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return nil
    }

    // MARK: Sending and receiving

    private func send(_ bytes: [UInt8]) throws(HTTPClientError) {
        if let session { return try session.send(bytes, describe: url.description, timeout: timeout) }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                Glibc.send(socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw .timeout("the service at \(url) did not take the request within \(formatSeconds(timeout)) s")
                }
                throw .unreachable("lost the connection to the service at \(url): \(errnoText())")
            }
            offset += sent
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws(HTTPClientError) -> Bool {
        if bufferStart > 0 && bufferStart == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferStart = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        if let session {
            let count = try session.receive(into: &chunk, describe: url.description, timeout: timeout)
            buffer.append(contentsOf: chunk[0..<count])
            return count > 0
        }
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw .timeout("the service at \(url) did not answer within \(formatSeconds(timeout)) s")
            }
            throw .unreachable("lost the connection to the service at \(url): \(errnoText())")
        }
    }

    /// One line without its CRLF (or LF).
    private func readLine(sawBytes: inout Bool) throws(HTTPClientError) -> String {
        while true {
            if let newline = buffer[bufferStart...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > bufferStart && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[bufferStart..<end], as: UTF8.self)
                bufferStart = newline + 1
                return line
            }
            if buffer.count - bufferStart > 65_536 { throw .protocolError("a header line longer than 64 KiB") }
            guard try fill() else {
                if sawBytes { throw .protocolError("the connection closed in the middle of the headers") }
                // Closed before any byte: a kept-alive connection the server let go.
                throw .unreachable("the service at \(url) closed the connection without answering")
            }
            sawBytes = true
        }
    }

    private func readBytes(_ count: Int) throws(HTTPClientError) -> ArraySlice<UInt8> {
        while buffer.count - bufferStart < count {
            guard try fill() else { throw .protocolError("the connection closed in the middle of the body") }
        }
        let bytes = buffer[bufferStart..<bufferStart + count]
        bufferStart += count
        return bytes
    }

    private func readResponse() throws(HTTPClientError) -> HTTPResponse {
        var sawBytes = buffer.count > bufferStart
        let statusLine = try readLine(sawBytes: &sawBytes)
        sawBytes = true
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .protocolError("status line '\(statusLine.prefix(80))'")
        }
        var headers: [(name: String, value: String)] = []
        while true {
            let line = try readLine(sawBytes: &sawBytes)
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw .protocolError("header line '\(line.prefix(80))'") }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            headers.append((name, String(value.reversed().drop { $0 == " " || $0 == "\t" }.reversed())))
        }
        var response = HTTPResponse(status: status, headers: headers, body: [])
        if (100..<200).contains(status) || status == 204 || status == 304 { return response }
        if response.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine(sawBytes: &sawBytes)
                let sizeText = sizeLine.split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingSpaces, radix: 16), size >= 0 else {
                    throw .protocolError("chunk size '\(sizeLine.prefix(40))'")
                }
                if size == 0 {
                    // Trailers up to the empty line.
                    while try !readLine(sawBytes: &sawBytes).isEmpty {}
                    break
                }
                response.body.append(contentsOf: try readBytes(size))
                guard try readLine(sawBytes: &sawBytes).isEmpty else { throw .protocolError("chunk not ended by CRLF") }
            }
        } else if let lengthText = response.header("content-length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw .protocolError("Content-Length '\(lengthText)'")
            }
            response.body = Array(try readBytes(length))
        } else {
            // Until the server closes.
            while try fill() {}
            response.body = Array(buffer[bufferStart...])
            disconnect()
        }
        return response
    }
}

extension String {
    var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

func errnoText() -> String {
    String(cString: strerror(errno))
}

/// Seconds with up to three decimals, without Foundation's formatting.
func formatSeconds(_ seconds: Double) -> String {
    fixed(seconds, decimals: 3, trimZeros: true)
}

/// A non-negative number with `decimals` digits after the point (rounded half up).
func fixed(_ value: Double, decimals: Int, trimZeros: Bool = false) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = Int((abs(value) * Double(scale)).rounded())
    var text = String(scaled / scale)
    if decimals > 0 {
        var fraction = String(scaled % scale)
        while fraction.count < decimals { fraction = "0" + fraction }
        if trimZeros { while fraction.hasSuffix("0") { fraction.removeLast() } }
        if !fraction.isEmpty { text += "." + fraction }
    }
    return negative && scaled != 0 ? "-" + text : text
}
