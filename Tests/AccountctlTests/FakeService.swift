import AccountHistory
import AccountProjection
import JSON

#if canImport(Glibc)
    import Glibc
#endif

/// A stand-in for the account service's read API, on a loopback port, one connection at
/// a time on a thread of its own: enough for `verify`, `get` and `health` to talk to.
/// Listing pages are sent chunked, everything else with Content-Length, connections are
/// kept alive, so both ways of framing a body get exercised.
final class FakeService: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let accounts: [Account]
    private let stats: String
    private let readyStatus: Int

    /// Serves the projection of `generator`'s history, each account passed through `change`.
    init(
        generator: HistoryGenerator, readyStatus: Int = 200, change: (Account) -> Account? = { $0 }
    ) throws {
        var projection = Projection<Void>()
        var rejected: [RejectedEvent<Void>] = []
        for event in generator { _ = projection.apply(event.body, origin: (), rejected: &rejected) }
        let statistics = projection.statistics
        accounts = projection.accounts(after: nil, limit: Int.max).items.compactMap(change)
        stats =
            #"{"accounts":\#(statistics.accounts),"eventsApplied":\#(statistics.eventsApplied),"duplicates":0,"invalid":0,"parked":0,"lastOffset":\#(statistics.eventsApplied - 1),"caughtUp":true,"replica":"fake"}"#
        self.readyStatus = readyStatus

        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw FakeServiceError() }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)

        var thread = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { argument in
                let service = Unmanaged<FakeService>.fromOpaque(argument!).takeRetainedValue()
                service.serve()
                return nil
            }, box)
        pthread_detach(thread)
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting; the thread ends.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            handle(connection)
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            // One request head (GET only: no body).
            var headEnd: Int?
            while headEnd == nil {
                if let end = find([13, 10, 13, 10], in: pending) {
                    headEnd = end
                    break
                }
                let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return }
                pending += chunk[0..<count]
            }
            let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
            pending.removeFirst(headEnd! + 4)
            let target = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            send(connection, respond(to: target))
        }
    }

    private func respond(to target: String) -> [UInt8] {
        let path = String(target.prefix { $0 != "?" })
        var query: [String: String] = [:]
        if let mark = target.firstIndex(of: "?") {
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
        }
        switch path {
        case "/health":
            return answer(200, #"{"status":"UP"}"#)
        case "/ready":
            return answer(readyStatus, readyStatus == 200 ? #"{"status":"READY"}"# : #"{"status":"CATCHING_UP"}"#)
        case "/stats":
            return answer(200, stats)
        case "/accounts":
            let limit = Int(query["limit"] ?? "100") ?? 100
            let after = query["after"]
            let rest = accounts.filter { account in
                after.map { $0.utf8.lexicographicallyPrecedes(account.id.utf8) } ?? true
            }
            let items = rest.prefix(limit)
            var body: [UInt8] = Array(#"{"items":["#.utf8)
            for (index, account) in items.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                account.writeJSON(into: &body)
            }
            body += Array("],\"next\":".utf8)
            if rest.count > limit, let last = items.last {
                JSONWriter.writeString(last.id, into: &body)
            } else {
                body += Array("null".utf8)
            }
            body.append(UInt8(ascii: "}"))
            return chunked(200, body)
        default:
            if path.hasPrefix("/accounts/") {
                let id = String(path.dropFirst("/accounts/".count))
                if let account = accounts.first(where: { $0.id == id }) {
                    var body: [UInt8] = []
                    account.writeJSON(into: &body)
                    return answer(200, String(decoding: body, as: UTF8.self))
                }
                return answer(
                    404, #"{"type":"about:blank","title":"Not Found","status":404,"detail":"no account \#(id)"}"#,
                    type: "application/problem+json")
            }
            return answer(404, #"{"type":"about:blank","title":"Not Found","status":404,"detail":"no such path"}"#)
        }
    }

    private func answer(_ status: Int, _ body: String, type: String = "application/json") -> [UInt8] {
        let bytes = Array(body.utf8)
        return Array(
            "HTTP/1.1 \(status) X\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nX-Served-By: fake\r\n\r\n"
                .utf8)
            + bytes
    }

    /// The body in chunks of at most 1000 bytes.
    private func chunked(_ status: Int, _ body: [UInt8]) -> [UInt8] {
        var out = Array(
            "HTTP/1.1 \(status) OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var offset = 0
        while offset < body.count {
            let size = min(1000, body.count - offset)
            out += Array((String(size, radix: 16) + "\r\n").utf8)
            out += body[offset..<offset + size]
            out += [13, 10]
            offset += size
        }
        out += Array("0\r\n\r\n".utf8)
        return out
    }

    private func send(_ connection: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(connection, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if count <= 0 { return }
            offset += count
        }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

struct FakeServiceError: Error {}
