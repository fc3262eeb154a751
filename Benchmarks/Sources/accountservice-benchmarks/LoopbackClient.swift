#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A blocking HTTP/1.1 client on one keep-alive loopback connection, for the case that goes
/// through the service's NIO pipeline (HTTPServer): it writes a batch of pipelined requests,
/// then reads that many answers, checking each status and skipping each body.
final class LoopbackClient {
    private let socketDescriptor: Int32
    private var data: [UInt8] = []
    private var start = 0
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private static let contentLength = Array("\r\ncontent-length:".utf8)

    init(port: Int) {
        socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { fail("socket() failed: errno \(errno)") }
        var noDelay: Int32 = 1
        _ = setsockopt(
            socketDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { fail("connect to 127.0.0.1:\(port) failed: errno \(errno)") }
    }

    deinit { close(socketDescriptor) }

    /// Sends `requests` (whole requests, back to back) and reads `count` answers; returns the
    /// bytes of their bodies. Fails the program on a status other than `status`.
    func exchange(_ requests: [UInt8], count: Int, status: Int) -> Int {
        requests.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let written = send(socketDescriptor, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                guard written > 0 else { fail("send failed: errno \(errno)") }
                sent += written
            }
        }
        var bodyBytes = 0
        for _ in 0..<count {
            bodyBytes += readAnswer(status: status)
        }
        return bodyBytes
    }

    private func readAnswer(status: Int) -> Int {
        while true {
            if let (headEnd, length, answerStatus) = parseHead() {
                guard answerStatus == status else { fail("the server answered \(answerStatus), expected \(status)") }
                while data.count < headEnd + length { receive() }
                start = headEnd + length
                if start > 1 << 16 {
                    data.removeFirst(start)
                    start = 0
                }
                return length
            }
            receive()
        }
    }

    /// The end of the head at `start`, the Content-Length and the status, once the head is in.
    /// Reads bytes only (no strings): the allocation count is the server's.
    private func parseHead() -> (Int, Int, Int)? {
        guard data.count - start >= 4 else { return nil }
        var end = start
        while end + 3 < data.count {
            if data[end] == 13 && data[end + 1] == 10 && data[end + 2] == 13 && data[end + 3] == 10 { break }
            end += 1
        }
        guard end + 3 < data.count else { return nil }
        // "HTTP/1.1 200 OK"
        guard end - start >= 12 else { fail("not an HTTP answer") }
        var status = 0
        for index in (start + 9)..<(start + 12) { status = status * 10 + Int(data[index]) - 48 }
        let name = Self.contentLength
        var length = 0
        var index = start
        search: while index + name.count <= end {
            for offset in 0..<name.count where data[index + offset] | 0x20 != name[offset] | 0x20 {
                index += 1
                continue search
            }
            var digit = index + name.count
            while digit < end && data[digit] == 32 { digit += 1 }
            while digit < end && data[digit] >= 48 && data[digit] <= 57 {
                length = length * 10 + Int(data[digit]) - 48
                digit += 1
            }
            break
        }
        return (end + 4, length, status)
    }

    private func receive() {
        let count = chunk.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { fail("the connection ended (recv: \(count), errno \(errno))") }
        data.append(contentsOf: chunk[0..<count])
    }
}
