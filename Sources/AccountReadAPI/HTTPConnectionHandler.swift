import AccountReadModel
import NIOCore
import NIOHTTP1
import Tracing

/// The last handler of a connection's pipeline, after
/// `configureHTTPServerPipeline` (encoder, decoder, `HTTPServerPipelineHandler`):
/// answers each request from ``ReadAPI`` once its `.end` has arrived.
///
/// - One response per request, written as head, body, end with a single flush.
///   `HTTPServerPipelineHandler` holds back pipelined requests until the previous
///   response has ended, so answers go out in order.
/// - Keep-alive as the request asks (HTTP/1.1 by default, HTTP/1.0 only with
///   `Connection: keep-alive`); otherwise `Connection: close` and close after the write.
/// - `HEAD`: the same head as `GET` (Content-Length included), no body.
/// - Request bodies are read and dropped; past `maxBodyBytes` the answer is 413 and
///   the connection closes.
/// - Malformed requests (including a request line plus headers over the limit)
///   get a 400 (431 for the size) problem answer, then the connection is half-closed
///   and drained briefly so that the client can read the answer.
/// - Answers are produced only as fast as the client reads them: a request whose end
///   arrives while the channel is not writable (more than the output bound queued) waits
///   until it is, and reads stop meanwhile. With `HTTPServerPipelineHandler` holding later
///   requests back, a client that pipelines without reading makes the server queue at most
///   the output bound plus one answer.
/// - HTTP/1.1 without exactly one `Host` is a 400; `Expect: 100-continue` gets `100 Continue`
///   (or a 413 at once when the announced body is too large), any other expectation a 417;
///   `CONNECT` a 405 and the connection closes (the parser treats what follows as a tunnel).
/// - An `IdleStateEvent` (no bytes read for the idle timeout) closes the connection.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = Never
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: ReadAPI
    private let servedBy: String
    private let maxHeaderBytes: Int
    private let maxBodyBytes: Int
    private let lingerTime: TimeAmount

    private var requestMethod: HTTPMethod = .GET
    private var requestURI = ""
    private var requestVersion: HTTPVersion = .http1_1
    private var requestKeepAlive = true
    private var requestFields = HTTPRequestFields()
    /// Kept only while tracing, for the request's `traceparent`.
    private var requestHeaders = HTTPHeaders()
    private var inRequest = false
    private var bodyBytes = 0
    /// Why the request in progress is refused whatever it asks for (a 400, 405 or 417), or nil.
    private var refusal: (status: Int, detail: String, headers: [(name: String, value: String)])?
    /// A complete request waits for the channel to become writable before it is answered.
    private var answerPending = false
    /// No more answers on this connection: it is closing (or draining after an error).
    private var closing = false
    /// A `read` held back while the channel was not writable.
    private var readPending = false
    private var date = HTTPDateCache()

    init(api: ReadAPI, maxHeaderBytes: Int, maxBodyBytes: Int, lingerTime: TimeAmount = .seconds(2)) {
        self.api = api
        self.servedBy = api.replicaName
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.lingerTime = lingerTime
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            guard !self.closing else { return }
            self.requestMethod = head.method
            self.requestURI = head.uri
            self.requestVersion = head.version
            self.requestKeepAlive = head.isKeepAlive
            self.requestFields = Self.fields(of: head.headers)
            if self.api.tracer != nil { self.requestHeaders = head.headers }
            self.inRequest = true
            self.bodyBytes = 0
            self.refusal = Self.refusal(of: head)
            if self.refusal == nil { self.answerExpectation(head, context: context) }
        case .body(let part):
            // Request bodies are ignored, up to a bound.
            guard self.inRequest, !self.closing else { return }
            self.bodyBytes += part.readableBytes
            if self.bodyBytes > self.maxBodyBytes {
                self.refuseBody(context: context)
            }
        case .end:
            guard self.inRequest, !self.closing else { return }
            self.inRequest = false
            if context.channel.isWritable {
                self.answer(context: context)
            } else {
                self.answerPending = true  // answered once the client has read some of what is queued
            }
        }
    }

    /// Answers the request just received.
    private func answer(context: ChannelHandlerContext) {
        let answer: HTTPAnswer
        var afterwards: Afterwards = self.requestKeepAlive ? .keepOpen : .close
        if let refusal = self.refusal {
            answer = self.api.problem(status: refusal.status, detail: refusal.detail, headers: refusal.headers)
            self.api.recordServerAnswer(status: answer.status)
            self.refusal = nil
            if self.requestMethod == .CONNECT { afterwards = .close }
        } else if let tracer = self.api.tracer {
            answer = self.respondTraced(tracer)
            self.requestHeaders = HTTPHeaders()
        } else {
            answer = self.api.respond(
                method: self.requestMethod.rawValue, uri: self.requestURI, fields: self.requestFields)
        }
        self.requestURI = ""
        self.requestFields = HTTPRequestFields()
        self.send(
            answer,
            context: context,
            version: self.requestVersion,
            then: afterwards,
            withBody: self.requestMethod != .HEAD
        )
    }

    /// The fields ``ReadAPI`` reads; absent ones stay nil, repeated ones are joined with `,`.
    private static func fields(of headers: HTTPHeaders) -> HTTPRequestFields {
        func joined(_ name: String) -> String? {
            let values = headers[name]
            return values.isEmpty ? nil : values.joined(separator: ",")
        }
        return HTTPRequestFields(
            ifNoneMatch: joined("if-none-match"), origin: joined("origin"),
            accessControlRequestMethod: joined("access-control-request-method"),
            accessControlRequestHeaders: joined("access-control-request-headers"))
    }

    /// What makes a request unanswerable whatever its target (RFC 9112 §3.2, RFC 9110 §10.1.1), or nil.
    private static func refusal(
        of head: HTTPRequestHead
    ) -> (status: Int, detail: String, headers: [(name: String, value: String)])? {
        if head.method == .CONNECT {
            return (405, "this API serves GET and HEAD; CONNECT opens no tunnel here", [("Allow", "GET, HEAD")])
        }
        let hosts = head.headers["host"].count
        if hosts > 1 || (hosts == 0 && head.version.isAtLeast11) {
            return (400, "an HTTP/1.1 request needs exactly one Host header field", [])
        }
        let expectations = head.headers["expect"]
        if !expectations.isEmpty && !expectations.allSatisfy({ $0.lowercased() == "100-continue" }) {
            return (417, "the only expectation this API meets is Expect: 100-continue", [])
        }
        return nil
    }

    /// `Expect: 100-continue`: a 413 at once if the announced body is over the bound (so the
    /// client need not send it), else `100 Continue` (HTTP/1.0 clients get none, RFC 9110 §10.1.1).
    private func answerExpectation(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.headers.contains(name: "expect") else { return }
        let announced = head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
        if announced > self.maxBodyBytes {
            self.refuseBody(context: context)
        } else if head.version.isAtLeast11 {
            context.writeAndFlush(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
    }

    /// The body is over `maxBodyBytes`: 413, then the connection closes.
    private func refuseBody(context: ChannelHandlerContext) {
        self.inRequest = false
        self.requestURI = ""
        self.refusal = nil
        let answer = self.api.problem(
            status: 413,
            detail: "this API takes no request body; at most \(self.maxBodyBytes) bytes are read and ignored"
        )
        self.api.recordServerAnswer(status: answer.status)
        self.send(
            answer,
            context: context,
            version: self.requestVersion,
            then: .linger,
            withBody: self.requestMethod != .HEAD
        )
    }

    /// The answer, inside a server span that continues the request's trace context.
    private func respondTraced(_ tracer: some Tracer) -> HTTPAnswer {
        var context = ServiceContext.topLevel
        tracer.extract(self.requestHeaders, into: &context, using: HTTPHeadersExtractor())
        let method = self.requestMethod.rawValue
        let span = tracer.startSpan(method, context: context, ofKind: .server)
        let answer = self.api.respond(method: method, uri: self.requestURI, fields: self.requestFields)
        span.operationName = "\(method) \(answer.route.label)"
        span.attributes["http.request.method"] = method
        span.attributes["http.route"] = answer.route.label
        span.attributes["http.response.status_code"] = answer.status
        if answer.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        span.end()
        return answer
    }

    /// What becomes of the connection once an answer is written.
    private enum Afterwards {
        case keepOpen
        case close
        /// Close the output, drop what still comes in, close for good after the linger time.
        case linger
    }

    private func send(
        _ answer: HTTPAnswer,
        context: ChannelHandlerContext,
        version: HTTPVersion,
        then afterwards: Afterwards,
        withBody: Bool
    ) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5 + answer.headers.count)
        headers.add(name: "Date", value: self.date.current())
        // 204 and 304 carry neither (a 304's length would be the 200's, RFC 9110 §8.6).
        if answer.status != 204 && answer.status != 304 {
            headers.add(name: "Content-Type", value: answer.contentType)
            headers.add(name: "Content-Length", value: String(answer.body.count))
        }
        headers.add(name: "X-Served-By", value: self.servedBy)
        for header in answer.headers {
            headers.add(name: header.name, value: header.value)
        }
        let responseVersion: HTTPVersion = version == .http1_0 ? .http1_0 : .http1_1
        if afterwards != .keepOpen {
            headers.add(name: "Connection", value: "close")
        } else if responseVersion == .http1_0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(
            version: responseVersion,
            status: HTTPResponseStatus(statusCode: answer.status),
            headers: headers
        )
        if self.requestMethod == .CONNECT, afterwards != .keepOpen {
            self.sendPastTheEncoder(head, body: answer.body, context: context)
            return
        }
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if withBody && !answer.body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: answer.body.count)
            buffer.writeBytes(answer.body)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        switch afterwards {
        case .keepOpen:
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        case .close:
            self.closing = true
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                channel.close(promise: nil)
            }
        case .linger:
            self.closing = true
            let channel = context.channel
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { result in
                switch result {
                case .success:
                    channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
                case .failure:
                    channel.close(promise: nil)
                }
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: self.lingerTime) {
                channel.close(promise: nil)
            }
        }
    }

    /// Writes the answer as bytes below the response encoder, which frames every answer to a
    /// `CONNECT` as bodiless (right for a 2xx tunnel, not for a refusal), then closes.
    private func sendPastTheEncoder(_ head: HTTPResponseHead, body: [UInt8], context: ChannelHandlerContext) {
        self.closing = true
        let channel = context.channel
        guard let below = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            channel.close(promise: nil)
            return
        }
        var text = "\(head.version) \(head.status.code) \(head.status.reasonPhrase)\r\n"
        for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        var buffer = channel.allocator.buffer(capacity: text.utf8.count + body.count)
        buffer.writeString(text)
        buffer.writeBytes(body)
        below.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.closing else { return }  // already answered; draining
        guard let parserError = error as? HTTPParserError else {
            // I/O errors (reset by peer, …): nothing to answer.
            context.close(promise: nil)
            return
        }
        self.closing = true
        let answer: HTTPAnswer
        if case .headerOverflow = parserError {
            answer = self.api.problem(
                status: 431,
                detail: "the request line and header fields must fit in \(self.maxHeaderBytes) bytes"
            )
        } else {
            answer = self.api.problem(status: 400, detail: "malformed HTTP request")
        }
        self.api.recordServerAnswer(status: answer.status)
        // Lingering close: stop writing, keep reading (and dropping) what the client still
        // sends for a moment, so that a reset does not destroy the answer in flight.
        self.send(answer, context: context, version: .http1_1, then: .linger, withBody: true)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            self.api.metrics.http.connectionTimedOut(.idle)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Read back-pressure

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            self.readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.answerPending && context.channel.isWritable && !self.closing {
            self.answerPending = false
            self.answer(context: context)
        }
        if self.readPending && context.channel.isWritable {
            self.readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }
}

@available(*, unavailable)
extension HTTPConnectionHandler: Sendable {}

extension HTTPVersion {
    fileprivate var isAtLeast11: Bool { self.major > 1 || (self.major == 1 && self.minor >= 1) }
}
