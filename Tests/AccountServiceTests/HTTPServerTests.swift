import AccountProjection
import NIOCore
import TestSupport
import Testing

@testable import AccountReadAPI

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// End to end: a real `HTTPServer` on 127.0.0.1, a raw-socket client.
@Suite("HTTPServer over TCP", .tags(.timing))
struct HTTPServerTests {
    static let replica = "test-replica"

    /// Starts a server on a free port, runs `body` with it, always shuts it down.
    func withServer(
        limits: HTTPServer.Limits = HTTPServer.Limits(),
        model: ReadAPIFakeModel = ReadAPIFakeModel(),
        _ body: (HTTPServer, Int) async throws -> Void
    ) async throws {
        let api = ReadAPI(model: model, replicaName: HTTPServerTests.replica)
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api, limits: limits)
        let address = try await server.start()
        let port = try #require(address.port)
        #expect(port > 0)
        do {
            try await body(server, port)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    func expectServedBy(_ response: RawHTTPConnection.Response, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.headers("X-Served-By") == [HTTPServerTests.replica], sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") != nil, sourceLocation: sourceLocation)
        #expect(
            response.header("Content-Length") == String(response.body.count) || response.body.isEmpty,
            sourceLocation: sourceLocation)
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            let first = try connection.request("GET", "/accounts/acc-000001")
            #expect(first.version == "HTTP/1.1")
            #expect(first.status == 200)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.bodyText == ReadAPIExpectedJSON.ada)
            #expect(first.header("Connection") == nil)
            #expect(first.header("Date")?.hasSuffix(" GMT") == true)
            #expect(first.header("Date")?.count == 29)
            self.expectServedBy(first)

            let second = try connection.request("GET", "/accounts/acc-999999")
            #expect(second.status == 404)
            #expect(second.header("Content-Type") == "application/problem+json")
            #expect(second.bodyText == ReadAPIExpectedJSON.problem(404, "Not Found", "no account acc-999999"))
            self.expectServedBy(second)

            let third = try connection.request("GET", "/health")
            #expect(third.bodyText == #"{"status":"UP"}"#)
            #expect(connection.pendingBytes == 0)
        }
    }

    @Test func headHasContentLengthButNoBody() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            let get = try connection.request("GET", "/accounts/acc-000003")
            let head = try connection.request("HEAD", "/accounts/acc-000003")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.header("Content-Length") == String(get.body.count))
            #expect(head.header("Content-Type") == "application/json")
            #expect(head.headers("X-Served-By") == [HTTPServerTests.replica])
            // No stray body bytes: the next answer on the connection starts cleanly.
            let after = try connection.request("GET", "/health")
            #expect(after.status == 200)
            #expect(after.bodyText == #"{"status":"UP"}"#)

            let headMissing = try connection.request("HEAD", "/nope")
            #expect(headMissing.status == 404)
            #expect(headMissing.body.isEmpty)
            #expect(Int(headMissing.header("Content-Length") ?? "") ?? 0 > 0)
            #expect(try connection.request("GET", "/health").status == 200)
        }
    }

    @Test(
        "Date is an IMF-fixdate",
        arguments: [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (1_795_532_438, "Tue, 24 Nov 2026 15:00:38 GMT"),
        ])
    func dateFormat(seconds: Int, expected: String) {
        #expect(HTTPDateCache.format(seconds) == expected)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            try connection.send(
                "GET /accounts/acc-000002 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "HEAD /stats HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "DELETE /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                    + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            let first = try connection.readResponse()
            #expect(first.status == 200)
            #expect(first.bodyText == ReadAPIExpectedJSON.closed)
            let second = try connection.readResponse(toHEAD: true)
            #expect(second.status == 200)
            #expect(second.header("Content-Type") == "application/json")
            let third = try connection.readResponse()
            #expect(third.status == 405)
            #expect(third.header("Allow") == "GET, HEAD")
            let fourth = try connection.readResponse()
            #expect(fourth.status == 200)
            #expect(fourth.bodyText == #"{"status":"UP"}"#)
            for response in [first, second, third, fourth] {
                #expect(response.headers("X-Served-By") == [HTTPServerTests.replica])
            }
            #expect(connection.pendingBytes == 0)
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            let response = try connection.request("GET", "/health", headers: ["Connection: close"])
            #expect(response.status == 200)
            #expect(response.header("Connection") == "close")
            self.expectServedBy(response)
            #expect(try await connection.closed())
        }
    }

    @Test func http10ClosesUnlessKeepAlive() async throws {
        try await self.withServer { _, port in
            let plain = try RawHTTPConnection(port: port)
            try plain.send("GET /health HTTP/1.0\r\n\r\n")
            let response = try plain.readResponse()
            #expect(response.version == "HTTP/1.0")
            #expect(response.status == 200)
            #expect(response.header("Connection") == "close")
            #expect(try await plain.closed())

            let keepAlive = try RawHTTPConnection(port: port)
            try keepAlive.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let first = try keepAlive.readResponse()
            #expect(first.header("Connection") == "keep-alive")
            try keepAlive.send("GET /stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try keepAlive.readResponse().status == 200)
        }
    }

    @Test func requestBodiesAreDrained() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            let body = String(repeating: "b", count: 100_000)
            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            #expect(try connection.readResponse().status == 200)
            try connection.send(
                "POST /accounts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            let refused = try connection.readResponse()
            #expect(refused.status == 405)
            #expect(try connection.request("GET", "/health").status == 200)
        }
    }

    @Test func oversizedBodyIsRefusedWith413() async throws {
        try await self.withServer(limits: HTTPServer.Limits(maxBodyBytes: 1000)) { _, port in
            let connection = try RawHTTPConnection(port: port)
            try connection.send(
                "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "a", count: 1000))
            #expect(try connection.readResponse().status == 200)  // at the bound: still fine
            try? connection.send(
                "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
                    + String(repeating: "a", count: 200_000)
            )
            let response = try connection.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.header("Connection") == "close")
            self.expectServedBy(response)
            #expect(try await connection.closed())
        }
    }

    @Test func oversizedHeaderIsRefusedWith431NeverA5xx() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            let big = String(repeating: "v", count: 64 * 1024)
            // The server answers as soon as the limit is crossed; the send may then fail.
            try? connection.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(big)\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 431)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.header("Connection") == "close")
            #expect(response.bodyText.contains(#""status":431"#))
            self.expectServedBy(response)
            #expect(try await connection.closed())
        }
    }

    @Test func longRequestLineIsRefusedWith431() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            try? connection.send(
                "GET /accounts?after=" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 431)
            self.expectServedBy(response)
        }
    }

    @Test(
        "malformed requests are 400 problems",
        arguments: [
            "GARBAGE\r\n\r\n",
            "GET /health HTTP/9.9\r\n\r\n",
            "GET /health HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET /health HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
            "\u{1}\u{2}\u{3}\r\n\r\n",
        ])
    func malformedRequest(bytes: String) async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            try connection.send(bytes)
            let response = try connection.readResponse()
            #expect((400..<500).contains(response.status))
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.header("Connection") == "close")
            self.expectServedBy(response)
            #expect(try await connection.closed())
        }
    }

    @Test func nonUTF8BytesInTheTargetAreA400() async throws {
        try await self.withServer { _, port in
            let connection = try RawHTTPConnection(port: port)
            try connection.send(
                Array("GET /accounts/".utf8) + [0xFF, 0xFE] + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            let response = try connection.readResponse()
            #expect(response.status == 400)
            self.expectServedBy(response)
            #expect(response.header("Connection") == "close")
            let encoded = try RawHTTPConnection(port: port).request("GET", "/accounts/%ff%fe")
            #expect(encoded.status == 400)
            #expect(encoded.bodyText == ReadAPIExpectedJSON.badID)
        }
    }

    @Test func everyRouteCarriesXServedBy() async throws {
        try await self.withServer(model: ReadAPIFakeModel(readiness: .catchingUp)) { _, port in
            let connection = try RawHTTPConnection(port: port)
            for (method, target, status) in [
                ("GET", "/accounts/acc-000001", 200), ("GET", "/accounts?limit=3", 200),
                ("GET", "/accounts?limit=0", 400),
                ("GET", "/stats", 200), ("GET", "/health", 200), ("GET", "/ready", 503), ("GET", "/metrics", 200),
                ("GET", "/nope", 404), ("POST", "/accounts/acc-000001", 405), ("PUT", "/stats", 405),
                ("GET", "/accounts/%zz", 400), ("OPTIONS", "/health", 405),
            ] {
                let response = try connection.request(method, target)
                #expect(response.status == status, "\(method) \(target)")
                self.expectServedBy(response)
                if status == 405 { #expect(response.header("Allow") == "GET, HEAD") }
            }
            let metrics = try connection.request("GET", "/metrics")
            #expect(metrics.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
            #expect(metrics.bodyText.contains(#"accountservice_http_requests_total{route="/stats",status="405"} 1"#))
            #expect(metrics.bodyText.contains(#"accountservice_http_requests_total{route="/health",status="405"} 1"#))
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        try await self.withServer(limits: HTTPServer.Limits(idleTimeout: .milliseconds(200))) { server, port in
            let connection = try RawHTTPConnection(port: port, timeoutSeconds: 30)
            #expect(try connection.request("GET", "/health").status == 200)
            let start = ContinuousClock.now
            #expect(try await connection.closed())
            // Far below the 60 s default, so the configured timeout did it (generous: CI is busy).
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(server.openConnections == 0 || server.openConnections == 1)
        }
    }

    @Test("a numeric host is bound as it is, a name through the resolver")
    func numericAndNamedHosts() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        for host in ["127.0.0.1", "localhost"] {
            let server = HTTPServer(host: host, port: 0, api: api)
            let address = try await server.start()
            #expect(address.ipAddress == "127.0.0.1" || address.ipAddress == "::1", "\(host): \(address)")
            if address.ipAddress == "127.0.0.1" {
                let connection = try RawHTTPConnection(port: try #require(address.port))
                #expect(try connection.request("GET", "/health").status == 200, "\(host)")
            }
            await server.shutdown()
        }
        // A name that does not resolve is an error naming it, not a crash.
        let unknown = HTTPServer(host: "no-such-host.invalid", port: 0, api: api)
        await #expect(throws: (any Error).self) { try await unknown.start() }
        await unknown.shutdown()
    }

    @Test func shutdownStopsListeningAndClosesConnections() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
        let address = try await server.start()
        #expect(server.localAddress?.port == address.port)
        #expect(try await server.start().port == address.port)  // idempotent
        let port = try #require(address.port)
        let idle = try RawHTTPConnection(port: port)
        #expect(try idle.request("GET", "/health").status == 200)

        let start = ContinuousClock.now
        await server.shutdown()
        // The idle connection closed at once, not after a grace period.
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(try await idle.closed())
        #expect(server.openConnections == 0)
        #expect(server.localAddress == nil)
        // (Not asserting that connecting now fails: tests run in parallel, and another
        // server or test process may be handed the freed port at once.)
        await server.shutdown()  // idempotent
        await #expect(throws: HTTPServer.ServerError.alreadyShutDown) { try await server.start() }
    }

    @Test func shutdownLetsARequestInFlightFinish() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        let server = HTTPServer(
            host: "127.0.0.1", port: 0, api: api, limits: HTTPServer.Limits(shutdownGracePeriod: .seconds(5)))
        let port = try #require(try await server.start().port)
        let connection = try RawHTTPConnection(port: port, timeoutSeconds: 20)
        try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        try await Task.sleep(for: .milliseconds(50))  // the head is in; the body is not complete
        let stopping = Task { await server.shutdown() }
        // Wait until shutdown has begun (the listener is gone), then give it time to reach the connections.
        while server.localAddress != nil { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(300))
        try connection.send("world")
        let response = try await connection.response()
        #expect(response.status == 200)
        #expect(response.header("Connection") == "close")
        #expect(try await connection.closed())
        await stopping.value
        #expect(server.openConnections == 0)
    }

    @Test func shutdownClosesAStalledRequestAfterTheGracePeriod() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        let server = HTTPServer(
            host: "127.0.0.1", port: 0, api: api, limits: HTTPServer.Limits(shutdownGracePeriod: .milliseconds(300))
        )
        let port = try #require(try await server.start().port)
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        await server.shutdown()
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(250))
        #expect(took < .seconds(10))
        #expect(try await connection.closed())
        #expect(server.openConnections == 0)
    }

    @Test func runServesUntilCancelled() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
        let task = Task { try await server.run() }
        var port: Int? = nil
        for _ in 0..<500 where port == nil {
            port = server.localAddress?.port
            if port == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let boundPort = try #require(port)
        let connection = try RawHTTPConnection(port: boundPort)
        #expect(try connection.request("GET", "/ready").status == 200)

        task.cancel()
        try await task.value
        #expect(try await connection.closed())
        #expect(server.localAddress == nil)
    }

    @Test func runAfterStartServesOnTheSameAddress() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: HTTPServerTests.replica)
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
        let port = try #require(try await server.start().port)
        let task = Task { try await server.run() }
        let connection = try RawHTTPConnection(port: port)
        #expect(try connection.request("GET", "/health").status == 200)
        await server.shutdown()
        try await task.value  // run returns once the server channel is closed
    }
}

@Suite("HTTPServer: conditional answers and the address it prints")
struct HTTPServerConventionTests {
    @Test func notModifiedHasNoBodyNoLengthAndKeepsTheETag() async throws {
        let server = HTTPServer(
            host: "127.0.0.1", port: 0, api: ReadAPI(model: ReadAPIFakeModel(), replicaName: "r"))
        let port = try #require(try await server.start().port)
        let connection = try RawHTTPConnection(port: port)
        let first = try connection.request("GET", "/accounts/acc-000001")
        let tag = try #require(first.header("ETag"))
        let again = try connection.request("GET", "/accounts/acc-000001", headers: ["If-None-Match: " + tag])
        #expect(again.status == 304)
        #expect(again.header("ETag") == tag)
        #expect(again.header("Cache-Control") == "no-cache")
        #expect(again.header("Content-Length") == nil)
        #expect(again.header("Transfer-Encoding") == nil)
        // Nothing follows the head: the next answer on the connection starts cleanly.
        #expect(try connection.request("GET", "/health").bodyText == #"{"status":"UP"}"#)
        #expect(connection.pendingBytes == 0)
        await server.shutdown()
    }

    @Test func preflightIsA204WithoutBodyOverTCP() async throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r", cors: CORSPolicy(allowOrigin: "*"))
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
        let port = try #require(try await server.start().port)
        let connection = try RawHTTPConnection(port: port)
        let preflight = try connection.request(
            "OPTIONS", "/accounts",
            headers: [
                "Origin: https://a.example", "Access-Control-Request-Method: GET",
                "Access-Control-Request-Headers: if-none-match",
            ])
        #expect(preflight.status == 204)
        #expect(preflight.header("Access-Control-Allow-Headers") == "if-none-match")
        #expect(preflight.header("Content-Length") == nil)
        #expect(try connection.request("GET", "/health").header("Access-Control-Allow-Origin") == "*")
        await server.shutdown()
    }

    @Test func addressesPrintAsPeopleWriteThem() throws {
        #expect(HTTPServer.describe(try SocketAddress(ipAddress: "127.0.0.1", port: 6767)) == "127.0.0.1:6767")
        #expect(HTTPServer.describe(try SocketAddress(ipAddress: "::1", port: 80)) == "[::1]:80")
    }

    @Test func aTakenPortSaysSo() async throws {
        let first = HTTPServer(host: "127.0.0.1", port: 0, api: ReadAPI(model: ReadAPIFakeModel(), replicaName: "r"))
        let port = try #require(try await first.start().port)
        let second = HTTPServer(
            host: "127.0.0.1", port: port, api: ReadAPI(model: ReadAPIFakeModel(), replicaName: "r"))
        await #expect(throws: HTTPServer.ServerError.addressInUse(host: "127.0.0.1", port: port)) {
            try await second.start()
        }
        await first.shutdown()
    }
}
