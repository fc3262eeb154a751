import AMQP
import AccountMessaging
import AccountProjection
import InMemoryTracing
import Logging
import TestSupport
import Testing
import Tracing

@testable import AccountConsumer
@testable import AccountReadAPI

@Suite("trace context")
struct TraceParentTests {
    @Test func parsesAndPrintsVersion00() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let parent = try #require(TraceParent(header))
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parent.spanID == "00f067aa0ba902b7")
        #expect(parent.sampled)
        #expect(parent.description == header)
        #expect(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled == false)
        // A later version is read by its first four fields.
        #expect(
            TraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-follows")?.spanID
                == "00f067aa0ba902b7")
    }

    @Test(
        "malformed headers are ignored",
        arguments: [
            "", "00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
        ])
    func malformed(header: String) {
        #expect(TraceParent(header) == nil)
    }

    @Test func childrenKeepTheTraceAndTakeNewSpanIDs() throws {
        let root = TraceParent.newTrace()
        #expect(TraceParent(root.description) == root)
        let children = (0..<100).map { _ in root.child() }
        #expect(children.allSatisfy { $0.traceID == root.traceID && TraceParent($0.description) == $0 })
        #expect(Set(children.map(\.spanID)).count == 100)
        #expect(TraceParent.newTrace().traceID != root.traceID)
    }
}

@Suite("spans")
struct TracingTests {
    @Test("an HTTP request's traceparent is the parent of its server span")
    func serverSpanContinuesTheRequestsTrace() async throws {
        let tracer = W3CInMemoryTracer()
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r", tracer: tracer)
        let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
        let port = try #require(try await server.start().port)
        let parent = TraceParent.newTrace()
        let connection = try RawHTTPConnection(port: port)
        let traced = try connection.request("GET", "/accounts/acc-000001", headers: ["traceparent: \(parent)"])
        #expect(traced.status == 200)
        let untraced = try connection.request("GET", "/nope")
        #expect(untraced.status == 404)
        await server.shutdown()

        let spans = tracer.recorder.finishedSpans
        #expect(spans.count == 2)
        let first = try #require(spans.first { $0.operationName == "GET /accounts/{id}" })
        #expect(first.kind == .server)
        #expect(first.spanContext.traceID == parent.traceID)
        #expect(first.spanContext.parentSpanID == parent.spanID)
        #expect(first.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(200))
        let second = try #require(spans.first { $0.operationName == "GET unknown" })
        #expect(second.spanContext.parentSpanID == nil)
        #expect(second.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(404))
    }
}
