import AccountProjection
import NIOCore
import TestSupport
import Testing

@testable import AccountReadAPI

/// The read API against clients that misbehave on purpose: pipelining without reading,
/// trickling bytes, holding sockets, odd framing. A real `HTTPServer` on 127.0.0.1, raw sockets.
@Suite("HTTP bounds against abusive clients", .tags(.timing))
struct HTTPBoundsTests {
    struct Running {
        let server: HTTPServer
        let port: Int
        let api: ReadAPI
        let model: ReadAPIFakeModel

        /// A counter of the server's `/metrics`, 0 when absent.
        func counter(_ name: String, _ labels: [String: String] = [:]) throws -> Double {
            let page = try PrometheusText(parsing: String(decoding: api.metrics.exposition(), as: UTF8.self))
            return page.value(name, labels) ?? 0
        }
    }

    func withServer(
        limits: HTTPServer.Limits = HTTPServer.Limits(),
        model: ReadAPIFakeModel = ReadAPIFakeModel(),
        _ body: (Running) async throws -> Void
    ) async throws {
        let api = ReadAPI(model: model, replicaName: "bounds")
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api, limits: limits)
        let port = try #require(try await server.start().port)
        do {
            try await body(Running(server: server, port: port, api: api, model: model))
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// `read()` once it has not changed for half a second (at most 10 s): how far the server
    /// goes on its own.
    func settled(_ read: () -> Int) async throws -> Int {
        var last = read()
        var unchanged = 0
        for _ in 0..<200 where unchanged < 10 {
            try await Task.sleep(for: .milliseconds(50))
            let now = read()
            unchanged = now == last ? unchanged + 1 : 0
            last = now
        }
        return last
    }

    /// Polls `condition` every 20 ms for at most `seconds`.
    func eventually(seconds: Double = 5, _ condition: () throws -> Bool) async throws -> Bool {
        for _ in 0..<Int(seconds * 50) {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }

    /// Sends `bytes` one every 100 ms until the server closes the connection; the bytes sent.
    func trickle(_ bytes: [UInt8], on connection: RawHTTPConnection, _ running: Running) async throws -> Int {
        var sent = 0
        for byte in bytes {
            guard (try? connection.send([byte])) != nil else { break }
            sent += 1
            if running.server.openConnections == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return sent
    }

    // MARK: Item 1: answers only as fast as the client reads

    /// 1,000 accounts with long owners: one `limit=1000` page is about 1 MB. A model per test:
    /// it counts the listings it answers.
    static func bigModel() -> ReadAPIFakeModel {
        ReadAPIFakeModel(
            accounts: (0..<1000).map { index in
                Account(
                    id: "acc-\(1_000_000 + index)", owner: String(repeating: "o", count: 900), currency: "EUR",
                    balance: Int64(index), status: .open, version: 1, openedAt: "2026-11-24T15:00:00.000Z",
                    updatedAt: "2026-11-24T15:00:00.000Z")
            })
    }

    @Test func pipelinedRequestsAreAnsweredOnlyAsFastAsTheClientReads() async throws {
        try await self.withServer(model: Self.bigModel()) { running in
            let connection = try RawHTTPConnection(port: running.port, timeoutSeconds: 10, receiveBufferBytes: 4096)
            let requests = 300
            try connection.send(
                String(repeating: "GET /accounts?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n", count: requests))
            // The kernel's socket buffers take a few pages (about 4 MB at most); everything past
            // them waits in the server only as a request, never as an answer.
            let produced = try await self.settled { running.model.listCallCount }
            #expect(produced >= 1)
            #expect(produced <= 12, "\(produced) answers of about 1 MB produced for a client that reads nothing")

            // Reading lets the rest through, in order and complete.
            for _ in 0..<20 {
                let response = try connection.readResponse()
                #expect(response.status == 200)
                #expect(response.body.count > 900_000)
            }
            #expect(running.model.listCallCount > produced)
        }
    }

    @Test func aClientThatNeverReadsIsClosedByTheIdleTimeout() async throws {
        let limits = HTTPServer.Limits(idleTimeout: .milliseconds(500))
        try await self.withServer(limits: limits, model: Self.bigModel()) { running in
            let connection = try RawHTTPConnection(port: running.port, timeoutSeconds: 10, receiveBufferBytes: 4096)
            try connection.send(String(repeating: "GET /accounts?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n", count: 50))
            #expect(try await self.eventually { running.model.listCallCount > 0 })  // it is being served
            #expect(try await self.eventually { running.server.openConnections == 0 })
            #expect(try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "idle"]) == 1)
        }
    }

    // MARK: Item 3: deadlines and the connection limit

    @Test func aTricklingHeaderMissesTheHeaderDeadline() async throws {
        let limits = HTTPServer.Limits(headerTimeout: .milliseconds(600))
        try await self.withServer(limits: limits) { running in
            let connection = try RawHTTPConnection(port: running.port)
            #expect(try await self.eventually { running.server.openConnections == 1 })
            let start = ContinuousClock.now
            // A byte every 100 ms keeps the idle timer (60 s) happy forever.
            let request = Array("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: \(String(repeating: "s", count: 200))".utf8)
            let sent = try await self.trickle(request, on: connection, running)
            #expect(try await connection.closed())
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(sent < request.count)
            #expect(try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "header"]) == 1)
        }
    }

    @Test func aTricklingBodyMissesTheRequestDeadline() async throws {
        let limits = HTTPServer.Limits(headerTimeout: .seconds(60), requestTimeout: .milliseconds(800))
        try await self.withServer(limits: limits) { running in
            let connection = try RawHTTPConnection(port: running.port)
            #expect(try connection.request("GET", "/health").status == 200)  // a request before: not counted
            let start = ContinuousClock.now
            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            let sent = try await self.trickle(Array(repeating: UInt8(ascii: "b"), count: 100), on: connection, running)
            #expect(try await connection.closed())
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(sent < 100)
            #expect(
                try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "request"]) == 1)
            #expect(try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "header"]) == 0)
        }
    }

    @Test func aLaterRequestsHeaderDeadlineCountsFromItsOwnFirstByte() async throws {
        let limits = HTTPServer.Limits(headerTimeout: .milliseconds(1000), requestTimeout: .seconds(30))
        try await self.withServer(limits: limits) { running in
            let connection = try RawHTTPConnection(port: running.port)
            #expect(try connection.request("GET", "/health").status == 200)
            try await Task.sleep(for: .milliseconds(600))
            let start = ContinuousClock.now
            try connection.send("GET /health HTTP/1.1\r\n")
            try await Task.sleep(for: .milliseconds(500))  // past the first request's 1 s, not this one's
            #expect(running.server.openConnections == 1)
            let sent = try await self.trickle(
                Array("Host: x\r\nX-Slow: \(String(repeating: "s", count: 100))".utf8), on: connection, running)
            #expect(try await connection.closed())
            #expect(sent < 110)
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "header"]) == 1)
        }
    }

    @Test func aSlowBodyBeforeDoesNotPostponeTheNextRequestsHeaderDeadline() async throws {
        let limits = HTTPServer.Limits(headerTimeout: .milliseconds(500), requestTimeout: .seconds(20))
        try await self.withServer(limits: limits) { running in
            let connection = try RawHTTPConnection(port: running.port)
            #expect(try await self.eventually { running.server.openConnections == 1 })
            // A request whose body takes about 1 s: within its own request deadline (20 s).
            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            #expect(try await self.trickle(Array("0123456789".utf8), on: connection, running) == 10)
            #expect(try connection.readResponse().status == 200)
            let start = ContinuousClock.now
            let sent = try await self.trickle(
                Array("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: \(String(repeating: "s", count: 150))".utf8),
                on: connection, running)
            #expect(try await connection.closed())
            #expect(sent < 60)
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "header"]) == 1)
            #expect(
                try running.counter("accountservice_http_connections_timed_out_total", ["deadline": "request"]) == 0)
        }
    }

    @Test func keepAliveConnectionsBetweenRequestsAreNotTimedOut() async throws {
        let limits = HTTPServer.Limits(headerTimeout: .milliseconds(200), requestTimeout: .milliseconds(300))
        try await self.withServer(limits: limits) { running in
            let connection = try RawHTTPConnection(port: running.port)
            #expect(try connection.request("GET", "/health").status == 200)
            try await Task.sleep(for: .milliseconds(600))  // quiet, between requests: only the idle timeout counts
            #expect(try connection.request("GET", "/ready").status == 200)
        }
    }

    @Test func atTheLimitANewClientClosesTheConnectionLongestWithoutARequest() async throws {
        try await self.withServer(limits: HTTPServer.Limits(maxConnections: 4)) { running in
            // One at a time: each registered before the next connects, so their order is known.
            func connect(_ count: Int) async throws -> RawHTTPConnection {
                let connection = try RawHTTPConnection(port: running.port)
                #expect(try await self.eventually { running.server.openConnections == count })
                return connection
            }
            let idle = try await connect(1)  // accepted first, never asks
            let trickling = try await connect(2)
            try trickling.send("GET /hea")
            let served = try await connect(3)
            let alsoIdle = try await connect(4)
            #expect(try served.request("GET", "/health").status == 200)  // the latest to complete a request

            let start = ContinuousClock.now
            let newcomer = try RawHTTPConnection(port: running.port)
            #expect(
                try await newcomer.response(toHEAD: false, after: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status
                    == 200)
            #expect(ContinuousClock.now - start < .seconds(1))
            #expect(try await idle.closed())
            #expect(try running.counter("accountservice_http_connections_evicted_total") == 1)

            let another = try RawHTTPConnection(port: running.port)
            #expect(try another.request("GET", "/ready").status == 200)
            #expect(try await trickling.closed())
            #expect(try served.request("GET", "/health").status == 200)  // kept: it completes requests
            _ = alsoIdle
            #expect(running.server.openConnections <= 4)
        }
    }

    // MARK: Item 9: framing

    @Test func http11WithoutExactlyOneHostIsA400() async throws {
        try await self.withServer { running in
            let connection = try RawHTTPConnection(port: running.port)
            try connection.send("GET /health HTTP/1.1\r\n\r\n")
            let missing = try connection.readResponse()
            #expect(missing.status == 400)
            #expect(missing.header("Content-Type") == "application/problem+json")
            #expect(missing.bodyText.contains("Host"))
            #expect(missing.header("Content-Length") == String(missing.body.count))
            try connection.send("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            #expect(try connection.readResponse().status == 400)
            #expect(try connection.request("GET", "/health").status == 200)  // the connection is still good

            let old = try RawHTTPConnection(port: running.port)
            try old.send("GET /health HTTP/1.0\r\n\r\n")  // HTTP/1.0 needs none
            #expect(try old.readResponse().status == 200)
        }
    }

    @Test func expect100ContinueGetsAnInterimAnswer() async throws {
        try await self.withServer(limits: HTTPServer.Limits(maxBodyBytes: 1000)) { running in
            let connection = try RawHTTPConnection(port: running.port)
            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            let interim = try connection.readResponse()
            #expect(interim.status == 100)
            try connection.send("hello")
            let final = try connection.readResponse()
            #expect(final.status == 200)
            #expect(final.bodyText == #"{"status":"UP"}"#)

            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n")
            let refused = try connection.readResponse()
            #expect(refused.status == 417)
            #expect(refused.header("Content-Type") == "application/problem+json")

            // Too large a body: refused at once, the client need not send it.
            let big = try RawHTTPConnection(port: running.port)
            try big.send("GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
            let tooLarge = try big.readResponse()
            #expect(tooLarge.status == 413)
            #expect(try await big.closed())
        }
    }

    @Test(arguments: ["CONNECT example.com:443 HTTP/1.1", "FROB /health HTTP/1.1", "CONNECT /health HTTP/1.1"])
    func oddMethodsGetACompleteAnswerAndTheConnectionCloses(requestLine: String) async throws {
        try await self.withServer { running in
            let connection = try RawHTTPConnection(port: running.port)
            try connection.send("\(requestLine)\r\nHost: example.com:443\r\n\r\n")
            let response = try connection.readResponse()
            #expect((400...499).contains(response.status))
            #expect(response.header("Content-Length") == String(response.body.count))
            #expect(response.body.count > 0)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.header("Connection") == "close")
            #expect(try await connection.closed())
        }
    }
}

extension RawHTTPConnection {
    /// Sends `request` and reads the answer, off the cooperative pool.
    func response(toHEAD: Bool, after request: String) async throws -> Response {
        try self.send(request)
        return try await self.response(toHEAD: toHEAD)
    }
}
