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
final class RequestDeadlines: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let headerTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    private let connections: ConnectionRegistry
    private let metrics: HTTPMetrics
    private var context: ChannelHandlerContext?
    private var headerDeadline: Scheduled<Void>?
    private var requestDeadline: Scheduled<Void>?
    /// A request has begun (bytes arrived) and its end has not been decoded yet.
    private var inRequest = false

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
        self.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancel()
        context.fireChannelInactive()
    }

    /// Bytes arrived: between requests they start the next one's deadlines.
    func bytesArrived() {
        guard !self.inRequest, let context = self.context else { return }
        self.inRequest = true
        let loop = context.eventLoop.assumeIsolated()
        self.headerDeadline = loop.scheduleTask(in: self.headerTimeout) { [self] in self.missed(.header) }
        self.requestDeadline = loop.scheduleTask(in: self.requestTimeout) { [self] in self.missed(.request) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head:
            self.headerDeadline?.cancel()
            self.headerDeadline = nil
        case .body:
            break
        case .end:
            self.cancel()
            self.connections.requestCompleted(context.channel)
        }
        context.fireChannelRead(data)
    }

    private func cancel() {
        self.headerDeadline?.cancel()
        self.requestDeadline?.cancel()
        self.headerDeadline = nil
        self.requestDeadline = nil
        self.inRequest = false
    }

    private func missed(_ deadline: HTTPMetrics.Deadline) {
        guard self.inRequest, let context = self.context else { return }
        self.cancel()
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
