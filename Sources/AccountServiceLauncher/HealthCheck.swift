import AccountMessaging

#if canImport(Glibc)
    import Glibc
#endif

/// `accountservice healthcheck [--ready] [--http-port N]`: asks the running service's
/// /health (or /ready) on the loopback and exits 0 on 200, else 1, so that a container's
/// HEALTHCHECK needs neither curl nor accountctl in the image. The port is HTTP_PORT's.
enum HealthCheck {
    static func run(_ arguments: [String]) -> Int32 {
        var path = "/health"
        var port = Environment.process["HTTP_PORT"] ?? "6767"
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--ready": path = "/ready"
            case "--http-port" where rest.first != nil: port = rest.removeFirst()
            default:
                printError("accountservice healthcheck: unexpected argument '\(argument)' (use --ready, --http-port N)")
                return 2
            }
        }
        guard let number = UInt16(port), number > 0 else {
            printError("accountservice healthcheck: HTTP_PORT '\(port)' is not a port number (1..65535)")
            return 2
        }
        switch status(of: path, port: number) {
        case 200: return 0
        case let code?:
            printError("accountservice healthcheck: \(path) answered \(code)")
            return 1
        case nil:
            printError("accountservice healthcheck: no answer from 127.0.0.1:\(number)\(path)")
            return 1
        }
    }

    /// The status code of `GET path` on 127.0.0.1:port, nil when nothing answers within 2 s.
    private static func status(of path: String, port: UInt16) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        // "HTTP/1.1 200" is all that is needed: the status line's first 12 bytes.
        var head = [UInt8](repeating: 0, count: 12)
        var count = 0
        while count < head.count {
            let read = head.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + count, $0.count - count, 0) }
            guard read > 0 else { return nil }
            count += read
        }
        return Int(String(decoding: head[9..<12], as: UTF8.self))
    }
}
