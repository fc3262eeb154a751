import AccountReadModel
import NIOCore
import NIOHTTP1

/// The header and whole-request deadlines of a connection, counted from a request's first
/// byte however slowly the rest trickles in (the idle timeout counts reads, so alone it lets
/// one byte a second hold a connection for hours).
///
/// Sits between the HTTP decoder and `HTTPServerPipelineHandler`, so it sees each request's
/// head and end as soon as they are decoded; ``RequestStartWatcher``, before the decoder,
/// tells it when a request's first byte arrives. A missed deadline closes the connection
/// (no answer: the request never arrived whole) and counts it in
/// `accountservice_http_connections_timed_out_total`.
///
/// One check per connection, re-armed lazily (as NIO's `IdleStateHandler` does): a request
/// only notes when it started, and the check, when it fires, looks at the request in
/// progress then. Scheduling and cancelling two timers per request cost 15-20 % of a GET's
/// CPU in the event loop's timer heap (perf, 2026-12-06).
final class RequestDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let headerTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    private let connections: ConnectionRegistry
    private let metrics: HTTPMetrics
    private var context: ChannelHandlerContext?
    private var check: Scheduled<Void>?
    /// When `check` fires.
    private var checkAt: NIODeadline?
    /// When the request in progress began (bytes arrived); nil between requests.
    private var requestStart: NIODeadline?
    /// The request in progress has its head decoded.
    private var headDecoded = false

    init(headerTimeout: TimeAmount, requestTimeout: TimeAmount, connections: ConnectionRegistry, metrics: HTTPMetrics) {
        self.headerTimeout = headerTimeout
        self.requestTimeout = requestTimeout
        self.connections = connections
        self.metrics = metrics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    /// Bytes arrived: between requests they start the next one's deadlines.
    func bytesArrived() {
        guard self.requestStart == nil, let context = self.context else { return }
        let now = context.eventLoop.now
        self.requestStart = now
        self.headDecoded = false
        let first = now + min(self.headerTimeout, self.requestTimeout)
        // A check armed for an earlier request's own deadline may come too late for this one.
        if let checkAt = self.checkAt, checkAt <= first { return }
        self.check?.cancel()
        self.arm(at: first)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head:
            self.headDecoded = true
        case .body:
            break
        case .end:
            self.requestStart = nil
            self.connections.requestCompleted(context.channel)
        }
        context.fireChannelRead(data)
    }

    private func arm(at deadline: NIODeadline) {
        guard let context = self.context else { return }
        self.checkAt = deadline
        self.check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in self.fired() }
    }

    /// The check: closes the connection past a deadline of the request in progress, else
    /// re-arms for the next one that can pass (none between requests: the next request arms it).
    private func fired() {
        self.check = nil
        self.checkAt = nil
        guard let start = self.requestStart, let context = self.context else { return }
        let now = context.eventLoop.now
        let requestDeadline = start + self.requestTimeout
        if !self.headDecoded && now >= start + self.headerTimeout {
            self.missed(.header, context: context)
        } else if now >= requestDeadline {
            self.missed(.request, context: context)
        } else {
            self.arm(at: self.headDecoded ? requestDeadline : min(start + self.headerTimeout, requestDeadline))
        }
    }

    private func stop() {
        self.check?.cancel()
        self.check = nil
        self.checkAt = nil
        self.requestStart = nil
    }

    private func missed(_ deadline: HTTPMetrics.Deadline, context: ChannelHandlerContext) {
        self.stop()
        self.metrics.connectionTimedOut(deadline)
        context.close(promise: nil)
    }
}

/// First in the pipeline: tells ``RequestDeadlines`` when bytes arrive, before the decoder
/// (which says nothing until a whole request head is in).
final class RequestStartWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadlines: RequestDeadlines

    init(deadlines: RequestDeadlines) {
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.unwrapInboundIn(data).readableBytes > 0 { self.deadlines.bytesArrived() }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RequestDeadlines: Sendable {}

@available(*, unavailable)
extension RequestStartWatcher: Sendable {}
