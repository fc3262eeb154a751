import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A deliberately small blocking HTTP/1.1 client over a raw TCP socket, so that the
/// server tests see exactly the bytes on the wire (keep-alive, pipelining, HEAD framing).
public final class RawHTTPConnection: @unchecked Sendable {
    public struct Response: Sendable {
        public var version: String
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        public func headers(_ name: String) -> [String] {
            self.headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }

        public var bodyText: String { String(decoding: self.body, as: UTF8.self) }
    }

    public enum ClientError: Error, Equatable {
        case connectFailed(Int32)
        case sendFailed(Int32)
        /// The peer closed (or reset) before a whole response arrived; `bytes` had come.
        case closed(bytes: Int)
        case timedOut
        case malformed(String)
    }

    private let fd: Int32
    private var buffer: [UInt8] = []
    public private(set) var isClosed = false

    /// Connects to 127.0.0.1:`port`; reads give up after `timeoutSeconds`; `receiveBufferBytes`
    /// shrinks the socket's receive buffer (a client that reads slowly).
    public init(port: Int, timeoutSeconds: Int = 5, receiveBufferBytes: Int32? = nil) throws {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ClientError.connectFailed(errno) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var bytes = receiveBufferBytes {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let error = errno
            close(fd)
            throw ClientError.connectFailed(error)
        }
        self.fd = fd
    }

    deinit {
        close(self.fd)
    }

    public func send(_ text: String) throws {
        try self.send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw in
                #if canImport(Glibc)
                    Glibc.send(self.fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                #else
                    Darwin.send(self.fd, raw.baseAddress, raw.count, 0)
                #endif
            }
            guard n > 0 else { throw ClientError.sendFailed(errno) }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream (or reset).
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            self.buffer += chunk[0..<n]
            return true
        }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw ClientError.timedOut }
        self.isClosed = true
        return false
    }

    /// Reads one response; `toHEAD` says it answers a HEAD (no body whatever Content-Length says).
    public func readResponse(toHEAD: Bool = false) throws -> Response {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int? = nil
        while true {
            if let end = self.buffer.firstRange(of: separator)?.lowerBound {
                headEnd = end
                break
            }
            guard try self.fill() else { throw ClientError.closed(bytes: self.buffer.count) }
        }
        let headText = String(decoding: self.buffer[0..<headEnd!], as: UTF8.self)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw ClientError.malformed(headText)
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw ClientError.malformed(line) }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers.append((String(line[..<colon]), String(value)))
        }
        self.buffer.removeFirst(headEnd! + separator.count)
        var response = Response(version: statusLine[0], status: status, headers: headers, body: [])
        let length = toHEAD ? 0 : Int(response.header("Content-Length") ?? "0") ?? 0
        while self.buffer.count < length {
            guard try self.fill() else { throw ClientError.closed(bytes: self.buffer.count) }
        }
        response.body = Array(self.buffer[0..<length])
        self.buffer.removeFirst(length)
        return response
    }

    /// Sends one request and reads its response.
    public func request(_ method: String, _ target: String, headers: [String] = []) throws -> Response {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
        for header in headers { text += header + "\r\n" }
        text += "\r\n"
        try self.send(text)
        return try self.readResponse(toHEAD: method == "HEAD")
    }

    /// True when the server has closed the connection (end of stream or reset) and sent
    /// nothing more; false when bytes arrive; throws `timedOut` if it stays open.
    public func waitForClose() throws -> Bool {
        if !self.buffer.isEmpty { return false }
        return try !self.fill()
    }

    /// `waitForClose()` on a thread of its own: a blocking read on the test's cooperative
    /// pool (two threads here) would starve the tasks the server under test needs.
    public func closed() async throws -> Bool {
        try await offPool { try self.waitForClose() }
    }

    /// `readResponse()` off the cooperative pool, for answers that depend on other tasks.
    public func response(toHEAD: Bool = false) async throws -> Response {
        try await offPool { try self.readResponse(toHEAD: toHEAD) }
    }

    /// Bytes received but not yet consumed by `readResponse`.
    public var pendingBytes: Int { self.buffer.count }
}

/// Runs blocking work on a Dispatch thread and awaits it.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
