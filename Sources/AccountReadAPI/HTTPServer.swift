public import NIOCore
import NIOHTTP1
public import NIOPosix
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The HTTP/1.1 server of the read API, on SwiftNIO.
///
/// Either call ``start()`` (binds, returns the bound address) and later ``shutdown()``,
/// or run it as a swift-service-lifecycle `Service`: ``run()`` binds (unless ``start()``
/// already did), serves until graceful shutdown or cancellation, then stops accepting,
/// lets in-flight answers finish (up to ``Limits/shutdownGracePeriod``) and closes
/// every connection.
public final class HTTPServer: Service, Sendable, CustomStringConvertible, TextOutputStreamable {
    /// Bounds that keep one misbehaving client from hurting the others.
    public struct Limits: Sendable {
        /// Most connections open at once; a new one past it closes the connection that has gone
        /// longest without a complete request (see ``ConnectionRegistry``).
        public var maxConnections: Int
        /// A connection from which nothing was read for this long is closed.
        public var idleTimeout: Duration
        /// From a request's first byte, how long its request line and header fields may take.
        public var headerTimeout: Duration
        /// From a request's first byte, how long the whole request (body included) may take.
        public var requestTimeout: Duration
        /// Answer bytes queued for one connection beyond which no further answer is produced
        /// (and nothing more is read) until the client has read some.
        public var outputBufferBytes: Int
        /// Most bytes of request line plus header fields; beyond it the answer is 431.
        public var maxHeaderBytes: Int
        /// Most bytes of request body read (and ignored) per request; beyond it the answer is 413.
        public var maxBodyBytes: Int
        /// At shutdown, how long in-flight requests get before connections are closed.
        public var shutdownGracePeriod: Duration
        /// The listen backlog.
        public var backlog: Int32

        public init(
            maxConnections: Int = 1024,
            idleTimeout: Duration = .seconds(60),
            headerTimeout: Duration = .seconds(10),
            requestTimeout: Duration = .seconds(30),
            outputBufferBytes: Int = 65_536,
            maxHeaderBytes: Int = 8192,
            maxBodyBytes: Int = 1 << 20,
            shutdownGracePeriod: Duration = .seconds(3),
            backlog: Int32 = 256
        ) {
            self.maxConnections = maxConnections
            self.idleTimeout = idleTimeout
            self.headerTimeout = headerTimeout
            self.requestTimeout = requestTimeout
            self.outputBufferBytes = outputBufferBytes
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
            self.shutdownGracePeriod = shutdownGracePeriod
            self.backlog = backlog
        }
    }

    public enum ServerError: Error, Sendable, Equatable {
        /// ``start()`` after ``shutdown()``: a server binds once.
        case alreadyShutDown
        /// Another socket listens on `host:port` (EADDRINUSE).
        case addressInUse(host: String, port: Int)
    }

    /// `127.0.0.1:6767` or `[::1]:6767`: an address as people write it, not NIO's
    /// `[IPv4]127.0.0.1/127.0.0.1:6767`.
    public static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        if case .v6 = address { return "[\(ip)]:\(port)" }
        return "\(ip):\(port)"
    }

    public let host: String
    public let port: Int
    public let limits: Limits
    private let api: ReadAPI
    private let group: any EventLoopGroup
    private let connections: ConnectionRegistry
    private let state = Mutex<State>(.idle)

    private enum State {
        case idle
        case starting([CheckedContinuation<SocketAddress, any Error>])
        case running(any Channel, SocketAddress)
        case stopped
    }

    /// - Parameters:
    ///   - host: the address to bind (`0.0.0.0`, `127.0.0.1`, `::`, a host name).
    ///   - port: the port; 0 picks a free one (see the address ``start()`` returns).
    ///   - api: what answers the requests.
    ///   - group: the event loops; by default NIO's shared one (one thread per core).
    public init(
        host: String,
        port: Int,
        api: ReadAPI,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        limits: Limits = Limits()
    ) {
        self.host = host
        self.port = port
        self.api = api
        self.group = group
        self.limits = limits
        self.connections = ConnectionRegistry(
            maxConnections: DescriptorLimit.connectionsThatFit(limits.maxConnections), metrics: api.metrics.http)
    }

    /// The bound address once started, else nil.
    public var localAddress: SocketAddress? {
        self.state.withLock { state in
            if case .running(_, let address) = state { return address }
            return nil
        }
    }

    /// Connections open right now.
    public var openConnections: Int { self.connections.count }

    /// Binds and starts serving; returns the bound address (the caller logs
    /// "listening on …"). Calling it again returns the same address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        enum Step {
            case bind
            case done(SocketAddress)
            case wait
            case fail(any Error)
        }
        // One caller binds; concurrent callers wait for its outcome.
        let step: Step = self.state.withLock { state in
            switch state {
            case .idle:
                state = .starting([])
                return .bind
            case .starting:
                return .wait
            case .running(_, let address):
                return .done(address)
            case .stopped:
                return .fail(ServerError.alreadyShutDown)
            }
        }
        switch step {
        case .done(let address):
            return address
        case .fail(let error):
            throw error
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<SocketAddress, any Error>? = self.state.withLock { state in
                    switch state {
                    case .starting(var waiters):
                        waiters.append(continuation)
                        state = .starting(waiters)
                        return nil
                    case .running(_, let address):
                        return .success(address)
                    case .idle, .stopped:
                        return .failure(ServerError.alreadyShutDown)
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        case .bind:
            break
        }

        let result: Result<(any Channel, SocketAddress), any Error>
        do {
            // A numeric host (the usual 0.0.0.0 or 127.0.0.1) is bound as it is: bind(host:port:)
            // would ask the resolver (netlink, nscd, /etc/hosts) first, on the way to the first
            // /health.
            let channel: any Channel
            if let address = try? SocketAddress(ipAddress: self.host, port: self.port) {
                channel = try await self.makeBootstrap().bind(to: address).get()
            } else {
                channel = try await self.makeBootstrap().bind(host: self.host, port: self.port).get()
            }
            guard let address = channel.localAddress else {
                channel.close(promise: nil)
                throw ChannelError.unknownLocalAddress
            }
            result = .success((channel, address))
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            result = .failure(ServerError.addressInUse(host: self.host, port: self.port))
        } catch {
            result = .failure(error)
        }

        let (waiters, stillWanted): ([CheckedContinuation<SocketAddress, any Error>], Bool) =
            self.state.withLock { state in
                guard case .starting(let waiters) = state else {
                    return ([], false)  // shut down while binding
                }
                switch result {
                case .success(let (channel, address)):
                    state = .running(channel, address)
                case .failure:
                    state = .idle
                }
                return (waiters, true)
            }
        if !stillWanted, case .success(let (channel, _)) = result {
            try? await channel.close()
            throw ServerError.alreadyShutDown
        }
        for waiter in waiters {
            waiter.resume(with: result.map { $0.1 })
        }
        return try result.get().1
    }

    private func makeBootstrap() -> ServerBootstrap {
        let api = self.api
        let connections = self.connections
        let idleTimeout = TimeAmount(self.limits.idleTimeout)
        let decoderLimits: NIOHTTPDecoderLimitConfiguration = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = self.limits.maxHeaderBytes
            limits.maxHeaderListSize = self.limits.maxHeaderBytes
            limits.maxHeaderFieldCount = 128
            return limits
        }()
        let maxHeaderBytes = self.limits.maxHeaderBytes
        let maxBodyBytes = self.limits.maxBodyBytes
        let deadlines = (header: TimeAmount(self.limits.headerTimeout), request: TimeAmount(self.limits.requestTimeout))
        let outputBytes = max(self.limits.outputBufferBytes, 1)

        return ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: self.limits.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // One small read at a time: HTTPServerPipelineHandler decodes and queues every request in
            // what was read, so this bounds the pipelined requests a connection holds.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 8192))
            .childChannelOption(
                .writeBufferWaterMark,
                value: ChannelOptions.Types.WriteBufferWaterMark(low: outputBytes / 2, high: outputBytes)
            )
            .childChannelInitializer { channel in
                guard connections.register(channel) else {
                    // Shutting down (or no room at all): the bootstrap closes the connection.
                    return channel.eventLoop.makeFailedFuture(ConnectionRegistry.Refused())
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let requestDeadlines = RequestDeadlines(
                        headerTimeout: deadlines.header, requestTimeout: deadlines.request,
                        connections: connections, metrics: api.metrics.http)
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try pipeline.addHandler(RequestStartWatcher(deadlines: requestDeadlines))
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: false,  // HTTPConnectionHandler answers parse errors
                        withOutboundHeaderValidation: false,  // our headers are fixed or sanitised
                        withEncoderConfiguration: HTTPResponseEncoder.Configuration(),
                        withDecoderLimitConfiguration: decoderLimits
                    )
                    // Before the pipelining handler, which holds a request back while an answer is pending.
                    let pipelining = try pipeline.handler(type: HTTPServerPipelineHandler.self)
                    try pipeline.addHandler(requestDeadlines, position: .before(pipelining))
                    try pipeline.addHandler(
                        HTTPConnectionHandler(api: api, maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes))
                }
            }
    }

    /// Stops accepting, lets in-flight answers finish (up to the grace period), closes
    /// every connection. Idempotent; the server cannot be started again.
    public func shutdown() async {
        let channel: (any Channel)? = self.state.withLock { state in
            defer { state = .stopped }
            switch state {
            case .running(let channel, _):
                return channel
            case .starting(let waiters):
                for waiter in waiters { waiter.resume(throwing: ServerError.alreadyShutDown) }
                return nil
            case .idle, .stopped:
                return nil
            }
        }
        if let channel {
            try? await channel.close()
        }
        await self.connections.shutdown(
            gracePeriod: TimeAmount(self.limits.shutdownGracePeriod),
            on: self.group.any()
        )
    }

    /// `Service`: serves until graceful shutdown (or cancellation), then shuts down.
    public func run() async throws {
        do {
            try await self.start()
        } catch ServerError.alreadyShutDown {
            return  // shut down before it ran: nothing to serve
        }
        guard
            let channel = self.state.withLock({ state -> (any Channel)? in
                if case .running(let channel, _) = state { return channel }
                return nil
            })
        else {
            return  // shut down meanwhile
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        await self.shutdown()
    }
}

extension HTTPServer {
    /// The name ServiceLifecycle logs (`"\(service)"`). Without these the group describes the
    /// service by reflection, after a walk over every protocol conformance in the binary for
    /// each protocol it tries; `TextOutputStreamable` is the first one it tries.
    public var description: String { "HTTPServer" }

    public func write<Target: TextOutputStream>(to target: inout Target) {
        target.write(description)
    }
}
