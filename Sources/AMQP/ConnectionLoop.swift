import CRabbitMQ
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Work handed to the connection thread.
typealias LoopCommand = @Sendable (ConnectionLoop) -> Void

/// One librabbitmq connection and the thread that owns it.
///
/// librabbitmq is not thread-safe, so every call into it happens on this one thread:
/// Swift callers hand it commands through a mailbox and an eventfd wakes it up. The
/// thread sleeps in `poll` on the socket and the eventfd, reads every frame that is
/// there, hands deliveries and publisher confirms back to Swift in batches, and keeps
/// calling into librabbitmq often enough that heartbeats are sent and checked.
final class ConnectionLoop: @unchecked Sendable {
    private struct Mailbox {
        var commands: [LoopCommand] = []
        /// Set once the loop has ended; later commands are refused with it.
        var finalError: AMQPError?
        var closeWaiters: [CheckedContinuation<AMQPError?, Never>] = []
        var finished = false
    }

    let configuration: AMQPConfiguration
    let logger: Logger
    private let mailbox = Mutex(Mailbox())
    private let wakeFD: Int32

    // Everything below is touched on the connection thread only.
    private var connection: amqp_connection_state_t?
    private var socketFD: Int32 = -1
    private var channels: [UInt16: ChannelState] = [:]
    private var consumers: [String: ConsumerState] = [:]
    private var consumersWithDeliveries: [ConsumerState] = []
    /// The consumer tag of the last delivery: most deliveries reuse it instead of a new String.
    /// Strings that repeat from delivery to delivery, shared instead of allocated each time.
    private var recentStrings = RecentStrings()
    private var nextChannelID: UInt16 = 1
    private var channelMax: UInt16 = 2047
    private var stopRequested = false
    private var failure: AMQPError?
    private let arena = CArena()
    private(set) var isBlocked = false
    private var blockedReason = ""
    /// Publishes held back, in order, while the broker blocks publishing or the socket's send
    /// buffer is full: writing them would stall this thread, since rabbitmq-c waits in send
    /// without a deadline. They go out when the broker unblocks and the socket has room, or
    /// fail after `blockedTimeout`.
    private var heldPublishes: [HeldPublish] = []
    /// Deliveries read while a synchronous method waited for its reply (tests check that they stream).
    private(set) var deliveriesReadDuringCalls = 0
    private var blockedSince: ContinuousClock.Instant?

    private struct HeldPublish {
        var channel: UInt16
        var messages: ArraySlice<AMQPMessage>
        var batch: PublishBatch
        /// Nil: nothing of the first message written yet; else its method and header are
        /// written, and this many bytes of its body.
        var bodyBytesSent: Int?
        /// When the socket last took a frame of this publish (or it started waiting).
        var lastProgress: ContinuousClock.Instant = .now

        mutating func progressed() { lastProgress = .now }
    }

    /// Called on the connection thread when the broker blocks (true) or unblocks (false) publishers.
    var onBlocked: (@Sendable (Bool, String) -> Void)?

    init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.wakeFD = cra_wakefd_create()
    }

    deinit {
        close(wakeFD)
    }

    // MARK: - Starting

    /// Starts the thread, which connects and logs in; returns once that is done.
    func start() async throws(AMQPError) {
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            startThread { [self] in
                do throws(AMQPError) {
                    try self.connect()
                    continuation.resume(returning: .success(()))
                } catch {
                    self.finish(with: error)
                    continuation.resume(returning: .failure(error))
                    return
                }
                self.run()
            }
        }
        try result.get()
    }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                cra_set_thread_name("amqp-connection")
                box.body()
                return nil
            }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    private func connect() throws(AMQPError) {
        try configuration.validate()
        let url = configuration.url
        guard let state = amqp_new_connection() else {
            throw .library(operation: "amqp_new_connection", status: 0, message: "out of memory")
        }
        connection = state
        let socket: OpaquePointer?
        if url.isTLS {
            socket = amqp_ssl_socket_new(state)
            guard let socket else {
                throw .tlsFailed(host: url.host, port: url.port, reason: "cannot create a TLS socket")
            }
            let tls = configuration.tls
            let caFile =
                tls.caFile
                ?? (fileIsReadable(AMQPConfiguration.TLS.systemCABundle) ? AMQPConfiguration.TLS.systemCABundle : nil)
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            // OpenSSL checks the name in the handshake (an IP address too, which rabbitmq-c's own
            // check, DNS names only, refuses): so that one is off.
            amqp_ssl_socket_set_verify_hostname(socket, 0)
            if tls.verifyPeer && cra_ssl_expect_peer_name(socket, url.host) != 0 {
                throw .tlsFailed(
                    host: url.host, port: url.port, reason: "cannot set up the check of the broker's name '\(url.host)'"
                )
            }
            if let caFile {
                let status = amqp_ssl_socket_set_cacert(socket, caFile)
                if status != AMQP_STATUS_OK.rawValue {
                    throw .tlsFailed(
                        host: url.host, port: url.port,
                        reason: "cannot load CA file '\(caFile)': \(statusMessage(status))")
                }
            }
            if let cert = tls.certFile, let key = tls.keyFile {
                let status = amqp_ssl_socket_set_key(socket, cert, key)
                if status != AMQP_STATUS_OK.rawValue {
                    throw .tlsFailed(
                        host: url.host, port: url.port,
                        reason: "cannot load client certificate '\(cert)' / key '\(key)': \(statusMessage(status))")
                }
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else {
            throw .library(operation: "amqp_tcp_socket_new", status: 0, message: "cannot create a socket")
        }

        var connectTimeout = timeval(duration: configuration.connectTimeout)
        let openStatus = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &connectTimeout)
        if openStatus != AMQP_STATUS_OK.rawValue {
            throw connectError(status: openStatus)
        }
        var handshakeTimeout = timeval(duration: configuration.connectTimeout)
        amqp_set_handshake_timeout(state, &handshakeTimeout)
        var rpcTimeout = timeval(duration: configuration.rpcTimeout)
        amqp_set_rpc_timeout(state, &rpcTimeout)

        let reply = cra_login_plain(
            state, url.vhost, 0, Int32(configuration.frameMax), Int32(configuration.heartbeat),
            configuration.connectionName, url.user, url.password)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            break
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == CRA_CONNECTION_CLOSE:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = String(amqpBytes: close.reply_text)
            if close.reply_code == 403 || close.reply_code == 530 {
                throw .accessRefused(user: url.user, vhost: url.vhost, reply: "\(close.reply_code) \(text)")
            }
            throw .connectionClosed(code: close.reply_code, reply: text)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                // Brokers without authentication_failure_close just drop the socket on a bad login.
                throw .accessRefused(
                    user: url.user, vhost: url.vhost, reply: "the broker closed the connection during login")
            }
            if status == AMQP_STATUS_TIMEOUT.rawValue {
                throw .timeout(operation: "the AMQP handshake (login) within \(configuration.connectTimeout)")
            }
            throw .library(operation: "login", status: status, message: statusMessage(status))
        default:
            throw .library(operation: "login", status: 0, message: "unexpected reply to login")
        }
        channelMax = UInt16(clamping: max(1, Int(amqp_get_channel_max(state))))
        if channelMax == 0 { channelMax = 2047 }
        socketFD = amqp_get_sockfd(state)
        logger.debug("connected to \(url)", metadata: ["heartbeat": "\(amqp_get_heartbeat(state))"])
    }

    private func connectError(status: Int32) -> AMQPError {
        let url = configuration.url
        switch status {
        case AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue,
            AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue,
            AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue:
            guard configuration.tls.verifyPeer, status != AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue else {
                return .tlsFailed(host: url.host, port: url.port, reason: statusMessage(status))
            }
            return .tlsFailed(
                host: url.host, port: url.port,
                reason: "\(statusMessage(status)) (the broker's certificate must chain to the CA file and name"
                    + " '\(url.host)' in its subjectAltName, as a DNS name or an IP address)")
        case AMQP_STATUS_TIMEOUT.rawValue:
            return .connectFailed(
                host: url.host, port: url.port, reason: "no answer within \(configuration.connectTimeout)")
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue:
            return .connectFailed(host: url.host, port: url.port, reason: "the host name does not resolve")
        case AMQP_STATUS_SOCKET_ERROR.rawValue:
            // librabbitmq keeps the socket's own error to itself ("a socket error occurred").
            return .connectFailed(
                host: url.host, port: url.port,
                reason: "the connection was refused or reset (is the broker running and listening there?)")
        default:
            return .connectFailed(host: url.host, port: url.port, reason: statusMessage(status))
        }
    }

    // MARK: - The mailbox

    /// Hands a command to the thread; false when the connection is already finished.
    @discardableResult
    func submit(_ command: @escaping LoopCommand) -> Bool {
        let accepted = mailbox.withLock { box -> Bool in
            guard box.finalError == nil else { return false }
            box.commands.append(command)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    /// Runs `operation` on the connection thread and returns its result.
    func perform<T: Sendable>(
        _ operation: @escaping @Sendable (ConnectionLoop) throws(AMQPError) -> T
    ) async throws(AMQPError) -> T {
        let result: Result<T, AMQPError> = await withCheckedContinuation { continuation in
            let accepted = submit { loop in
                do throws(AMQPError) {
                    continuation.resume(returning: .success(try operation(loop)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !accepted { continuation.resume(returning: .failure(finalError ?? .closedByClient)) }
        }
        return try result.get()
    }

    var finalError: AMQPError? {
        mailbox.withLock { $0.finalError }
    }

    var isOpen: Bool {
        mailbox.withLock { $0.finalError == nil }
    }

    /// Waits until the connection has ended; returns why (`.closedByClient` after `close()`).
    func waitUntilClosed() async -> AMQPError? {
        await withCheckedContinuation { continuation in
            let done: AMQPError?? = mailbox.withLock { box in
                if box.finished { return .some(box.finalError) }
                box.closeWaiters.append(continuation)
                return .none
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    private func wake() {
        cra_wakefd_signal(wakeFD)
    }

    private func takeCommands() -> [LoopCommand] {
        mailbox.withLock { box in
            let commands = box.commands
            box.commands.removeAll(keepingCapacity: true)
            return commands
        }
    }

    // MARK: - The loop

    private func run() {
        while true {
            // After a failure the rest still run: they fail at once instead of waiting forever.
            for command in takeCommands() { command(self) }
            writeHeldPublishes()
            failHeldPublishesPastTimeout()
            if stopRequested || failure != nil { break }
            var moreToRead = false
            do {
                moreToRead = try readAvailableFrames()
            } catch {
                failure = error
            }
            if failure != nil { break }
            if lingeredLongEnough { flushDeliveries() }
            if let connection { amqp_maybe_release_buffers(connection) }
            if moreToRead || hasQueuedInput { continue }
            if mailbox.withLock({ !$0.commands.isEmpty }) { continue }
            if consumersWithDeliveries.isEmpty {
                waitForActivity(timeout: nil)
            } else if !waitForActivity(timeout: Self.linger) {
                // Quiet for a moment: hand over what came.
                flushDeliveries()
            }
        }
        if stopRequested && failure == nil {
            closeConnectionGracefully()
        }
        finish(with: failure ?? .closedByClient)
    }

    private var hasQueuedInput: Bool {
        guard let connection else { return false }
        return amqp_frames_enqueued(connection) != 0 || amqp_data_in_buffer(connection) != 0
    }

    /// Deliveries are handed to their consumer in batches: when a batch reaches the consumer's
    /// limit (a fifth of its prefetch, at most 512), when nothing more arrived for `linger`, and at
    /// the latest `maxLinger` after the oldest one arrived. During a replay that is one hand-over
    /// (a wake-up of the consuming task) per few hundred messages instead of one per read from
    /// the socket; a lone live message waits `linger` (1 ms).
    static let linger: Int32 = 1
    static let maxLingerNanoseconds: UInt64 = 5_000_000
    private var oldestPending: UInt64?

    private var lingeredLongEnough: Bool {
        guard let oldestPending else { return false }
        return Self.monotonicNanoseconds() &- oldestPending >= Self.maxLingerNanoseconds
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Sleeps until the socket or the mailbox has something, or `timeout` milliseconds (nil: the
    /// heartbeat interval) pass. Returns false when it timed out.
    @discardableResult
    private func waitForActivity(timeout: Int32?) -> Bool {
        let socketEvents = waitsForSocketRoom ? Int16(POLLIN) | Int16(POLLOUT) : Int16(POLLIN)
        var fds = [
            pollfd(fd: socketFD, events: socketEvents, revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        let heartbeat = configuration.heartbeat
        // Wake often enough to send our heartbeats on time and notice missing ones.
        let idle: Int32 = heartbeat > 0 ? Int32(min(1000, heartbeat * 250)) : 1000
        let ready = poll(&fds, 2, timeout ?? idle)
        if fds[1].revents & Int16(POLLIN) != 0 {
            cra_wakefd_drain(wakeFD)
        }
        return ready != 0
    }

    /// Reads and handles the frames that are there now. Returns true when it stopped
    /// early with more to read (so the caller must not sleep).
    /// How long the rest of a message may take to arrive once its first frame has.
    private lazy var contentTimeout = timeval(duration: configuration.rpcTimeout)

    private func readAvailableFrames() throws(AMQPError) -> Bool {
        guard let connection else { return false }
        for _ in 0..<1024 {
            var frame = amqp_frame_t()
            // A deadline of "now" still sends a due heartbeat and notices a missed one.
            var deadline = timeval(tv_sec: 0, tv_usec: 1)
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &deadline)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return false }
            if status != AMQP_STATUS_OK.rawValue { throw lostError(status: status) }
            try handle(frame)
            if failure != nil { return false }
        }
        return true
    }

    private func lostError(status: Int32) -> AMQPError {
        if status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue {
            return .connectionLost(reason: "no heartbeat from the broker for \(2 * configuration.heartbeat) s")
        }
        return .connectionLost(reason: statusMessage(status))
    }

    private func handle(_ frame: amqp_frame_t) throws(AMQPError) {
        guard frame.frame_type == CRA_FRAME_METHOD else { return }
        let channelID = frame.channel
        let method = frame.payload.method
        switch method.id {
        case CRA_BASIC_DELIVER:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            // Strings first: reading the body gives the method frame's memory back to librabbitmq.
            let tag = recentStrings.string(deliver.consumer_tag)
            let exchange = recentStrings.string(deliver.exchange)
            let routingKey = recentStrings.string(deliver.routing_key)
            let (properties, streamOffset, body, bodySize) = try readDeliveryContent(channel: channelID)
            let delivery = AMQPDelivery(
                deliveryTag: deliver.delivery_tag,
                redelivered: deliver.redelivered != 0,
                exchange: exchange,
                routingKey: routingKey,
                consumerTag: tag,
                deferredProperties: properties,
                streamOffset: streamOffset,
                body: body,
                bodySize: bodySize)
            if let consumer = consumers[tag] {
                if consumer.pending.isEmpty {
                    consumersWithDeliveries.append(consumer)
                    consumer.pending.reserveCapacity(consumer.batchLimit)
                }
                consumer.pending.append(delivery)
                if oldestPending == nil { oldestPending = Self.monotonicNanoseconds() }
                if consumer.pending.count >= consumer.batchLimit { flushDeliveries() }
            }
        case CRA_BASIC_ACK:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            channels[channelID]?.confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, outcome: .confirmed)
        case CRA_BASIC_NACK:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            channels[channelID]?.confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, outcome: .nacked)
        case CRA_BASIC_RETURN:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let reply = String(amqpBytes: returned.reply_text)
            _ = try readContent(channel: channelID)
            // The broker sends basic.return just before the basic.ack of the same message.
            channels[channelID]?.pendingReturn = .returned(code: returned.reply_code, reply: reply)
        case CRA_BASIC_CANCEL:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = String(amqpBytes: cancel.consumer_tag)
            logger.warning("the broker cancelled consumer \(tag)")
            endConsumer(tag: tag, error: .consumerCancelled(consumerTag: tag))
        case CRA_CHANNEL_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError.channelClosed(code: close.reply_code, reply: String(amqpBytes: close.reply_text))
            sendChannelCloseOK(channelID)
            endChannel(channelID, error: error)
        case CRA_CONNECTION_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            sendConnectionCloseOK()
            throw .connectionClosed(code: close.reply_code, reply: String(amqpBytes: close.reply_text))
        case CRA_CONNECTION_BLOCKED:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            let reason = String(amqpBytes: blocked.reason)
            isBlocked = true
            blockedReason = reason
            blockedSince = .now
            logger.warning("the broker blocked publishing on this connection: \(reason)")
            onBlocked?(true, reason)
        case CRA_CONNECTION_UNBLOCKED:
            isBlocked = false
            blockedSince = nil
            logger.info("the broker unblocked publishing on this connection")
            onBlocked?(false, "")
            writeHeldPublishes()
        default:
            break
        }
    }

    /// Reads the content of a delivery, keeping its properties encoded: one copy of their
    /// bytes instead of a String per property. The stream offset is read from them at once.
    private func readDeliveryContent(
        channel: UInt16
    ) throws(AMQPError) -> (DeferredProperties, streamOffset: Int64?, body: [UInt8], bodySize: Int) {
        guard let connection else { throw .closedByClient }
        let frame = try nextContentFrame(connection, channel: channel, type: CRA_FRAME_HEADER)
        let header = frame.payload.properties
        let decoded = header.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
        let properties = DeferredProperties(encoded: [UInt8](amqpBytes: header.raw))
        let streamOffset = decoded.streamOffset
        let size = Int(header.body_size)
        let body = try readBody(connection, channel: channel, size: size, keep: configuration.maxBodyBytes ?? size)
        return (properties, streamOffset, body, size)
    }

    /// Reads the content header and body frames that follow basic.return.
    private func readContent(channel: UInt16) throws(AMQPError) -> (AMQPProperties, [UInt8]) {
        guard let connection else { throw .closedByClient }
        let frame = try nextContentFrame(connection, channel: channel, type: CRA_FRAME_HEADER)
        let size = Int(frame.payload.properties.body_size)
        let properties = AMQPProperties(
            c: frame.payload.properties.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee,
            strings: &recentStrings)
        let body = try readBody(connection, channel: channel, size: size, keep: 0)
        return (properties, body)
    }

    /// Reads a body of `size` bytes, keeping the first `keep`: the frames past them are read
    /// and dropped one by one, so a body of any size never sits in memory whole.
    private func readBody(
        _ connection: amqp_connection_state_t, channel: UInt16, size: Int, keep: Int
    ) throws(AMQPError) -> [UInt8] {
        var frame: amqp_frame_t
        var body: [UInt8] = []
        let kept = min(size, max(0, keep))
        body.reserveCapacity(kept)
        var read = 0
        while read < size {
            frame = try nextContentFrame(connection, channel: channel, type: CRA_FRAME_BODY)
            let fragment = frame.payload.body_fragment
            let wanted = min(fragment.len, kept - body.count)
            if wanted > 0 {
                body.append(contentsOf: UnsafeRawBufferPointer(start: fragment.bytes, count: wanted))
            }
            read += fragment.len
            // Frames already handled go back to librabbitmq's pool instead of piling up.
            amqp_maybe_release_buffers_on_channel(connection, channel)
        }
        return body
    }

    private func nextContentFrame(
        _ connection: amqp_connection_state_t, channel: UInt16, type: UInt8
    ) throws(AMQPError)
        -> amqp_frame_t
    {
        var frame = amqp_frame_t()
        var timeout = contentTimeout
        let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
        if status == AMQP_STATUS_TIMEOUT.rawValue { throw .timeout(operation: "the rest of a message") }
        if status != AMQP_STATUS_OK.rawValue { throw lostError(status: status) }
        // RabbitMQ writes a message's frames together, so nothing else can come in between.
        guard frame.frame_type == type, frame.channel == channel else {
            throw .connectionLost(reason: "protocol error: expected a content frame on channel \(channel)")
        }
        return frame
    }

    private func flushDeliveries() {
        oldestPending = nil
        guard !consumersWithDeliveries.isEmpty else { return }
        for consumer in consumersWithDeliveries {
            consumer.continuation.yield(consumer.pending)
            // Not removeAll(keepingCapacity:): the yielded array still shares the buffer, so
            // that would copy it into a new one of the same capacity.
            consumer.pending = []
        }
        consumersWithDeliveries.removeAll(keepingCapacity: true)
    }

    // MARK: - Ending

    private func sendChannelCloseOK(_ channel: UInt16) {
        guard let connection else { return }
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(connection, channel, CRA_CHANNEL_CLOSE_OK, &ok)
    }

    private func sendConnectionCloseOK() {
        guard let connection else { return }
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(connection, 0, CRA_CONNECTION_CLOSE_OK, &ok)
    }

    private func endChannel(_ id: UInt16, error: AMQPError) {
        guard let channel = channels.removeValue(forKey: id) else { return }
        channel.fail(with: error)
        for tag in channel.consumerTags { endConsumer(tag: tag, error: error) }
    }

    private func endConsumer(tag: String, error: AMQPError?) {
        guard let consumer = consumers.removeValue(forKey: tag) else { return }
        channels[consumer.channel]?.consumerTags.remove(tag)
        if !consumer.pending.isEmpty {
            consumer.continuation.yield(consumer.pending)
            consumer.pending.removeAll()
            consumersWithDeliveries.removeAll { $0 === consumer }
        }
        // Closing by our own hand ends the sequence normally; anything else is an error.
        if let error, error != .closedByClient {
            consumer.continuation.finish(throwing: error)
        } else {
            consumer.continuation.finish()
        }
    }

    private func closeConnectionGracefully() {
        var close = amqp_connection_close_t(
            reply_code: UInt16(AMQP_REPLY_SUCCESS), reply_text: amqp_empty_bytes, class_id: 0, method_id: 0)
        _ = try? call(
            CRA_CONNECTION_CLOSE, on: 0, &close, reply: CRA_CONNECTION_CLOSE_OK, operation: "connection.close",
            timeout: .seconds(2))
    }

    private func finish(with error: AMQPError) {
        flushDeliveries()
        for entry in heldPublishes { entry.batch.fail(with: error) }
        heldPublishes.removeAll()
        for id in Array(channels.keys) { endChannel(id, error: error) }
        for tag in Array(consumers.keys) { endConsumer(tag: tag, error: error) }
        if let connection {
            amqp_destroy_connection(connection)
            self.connection = nil
        }
        let (waiters, leftover) = mailbox.withLock { box in
            box.finalError = error
            box.finished = true
            let waiters = box.closeWaiters
            box.closeWaiters.removeAll()
            let leftover = box.commands
            box.commands.removeAll()
            return (waiters, leftover)
        }
        // Commands that arrived while we were ending run against the closed state and fail.
        for command in leftover { command(self) }
        for entry in heldPublishes { entry.batch.fail(with: error) }
        heldPublishes.removeAll()
        for waiter in waiters { waiter.resume(returning: error) }
        if error != .closedByClient {
            logger.debug("connection to \(configuration.url) ended: \(error)")
        }
    }

    /// Asks the thread to close the connection (channel and connection close handshakes) and end.
    func requestClose() {
        _ = submit { loop in loop.stopRequested = true }
    }
}

// MARK: - Operations run on the connection thread

extension ConnectionLoop {
    private func requireConnection() throws(AMQPError) -> amqp_connection_state_t {
        guard failure == nil, let connection else { throw failure ?? finalError ?? .closedByClient }
        return connection
    }

    /// The channel's state; unless `forContent`, a message half written on it is finished first,
    /// since a method sent now would land inside its content.
    private func requireChannel(_ id: UInt16, forContent: Bool = false) throws(AMQPError) -> ChannelState {
        if !forContent { finishContentInProgress(on: id) }
        guard let channel = channels[id] else {
            throw failure ?? .channelClosed(code: 504, reply: "CHANNEL_ERROR - channel \(id) is closed")
        }
        return channel
    }

    /// Sends a synchronous method on `channel` and waits for `reply` there, handling every other
    /// frame as the loop does meanwhile: deliveries stream through, confirms land. (amqp_simple_rpc
    /// would instead hold every frame of other channels in memory until the reply came: a 100 MB
    /// delivery in flight on another channel, whole.) The reply's fields are valid until the loop
    /// next releases librabbitmq's buffers, so callers copy what they need at once.
    private func call<Arguments>(
        _ method: amqp_method_number_t, on channel: UInt16, _ arguments: inout Arguments,
        reply: amqp_method_number_t, operation: String, timeout: Duration? = nil
    ) throws(AMQPError) -> amqp_method_t {
        let connection = try requireConnection()
        let sent = withUnsafeMutablePointer(to: &arguments) { amqp_send_method(connection, channel, method, $0) }
        try checkStatus(sent, operation: operation)
        let deadline = ContinuousClock.now + (timeout ?? configuration.rpcTimeout)
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else {
                // What the broker answers later cannot be matched to this call: the connection is done.
                let error = AMQPError.timeout(operation: operation)
                failure = error
                throw error
            }
            var wait = timeval(duration: remaining)
            var frame = amqp_frame_t()
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &wait)
            if status == AMQP_STATUS_TIMEOUT.rawValue { continue }
            try checkStatus(status, operation: operation)
            if frame.frame_type == CRA_FRAME_METHOD, frame.channel == channel {
                let answer = frame.payload.method
                if answer.id == reply { return answer }
                if answer.id == CRA_CHANNEL_CLOSE, channel != 0 {
                    // The broker refused the method (a 404 on a passive declare, say) and closed the channel.
                    let close = answer.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                    let error = AMQPError.channelClosed(
                        code: close.reply_code, reply: String(amqpBytes: close.reply_text))
                    sendChannelCloseOK(channel)
                    endChannel(channel, error: error)
                    throw error
                }
            }
            if frame.frame_type == CRA_FRAME_METHOD, frame.payload.method.id == CRA_BASIC_DELIVER {
                deliveriesReadDuringCalls += 1
            }
            do {
                try handle(frame)
            } catch {
                failure = error
                throw error
            }
            if let failure { throw failure }
        }
    }

    private func checkStatus(_ status: Int32, operation: String) throws(AMQPError) {
        guard status != AMQP_STATUS_OK.rawValue else { return }
        let error = lostError(status: status)
        failure = error
        throw error
    }

    func openChannel() throws(AMQPError) -> UInt16 {
        _ = try requireConnection()
        var id = nextChannelID
        var tries = 0
        while channels[id] != nil {
            id = id >= channelMax ? 1 : id + 1
            tries += 1
            if tries > Int(channelMax) {
                throw .library(operation: "channel.open", status: 0, message: "all \(channelMax) channels are in use")
            }
        }
        nextChannelID = id >= channelMax ? 1 : id + 1
        channels[id] = ChannelState(id: id)
        var open = amqp_channel_open_t(out_of_band: amqp_empty_bytes)
        do {
            _ = try call(CRA_CHANNEL_OPEN, on: id, &open, reply: CRA_CHANNEL_OPEN_OK, operation: "channel.open")
        } catch {
            channels[id] = nil
            throw error
        }
        return id
    }

    func closeChannel(_ id: UInt16) throws(AMQPError) {
        guard channels[id] != nil else { return }
        finishContentInProgress(on: id)
        var close = amqp_channel_close_t(
            reply_code: UInt16(AMQP_REPLY_SUCCESS), reply_text: amqp_empty_bytes, class_id: 0, method_id: 0)
        defer { endChannel(id, error: .closedByClient) }
        do {
            _ = try call(CRA_CHANNEL_CLOSE, on: id, &close, reply: CRA_CHANNEL_CLOSE_OK, operation: "channel.close")
        } catch .channelClosed {
            // The broker closed it at the same moment: closed either way.
        }
    }

    func declareExchange(
        channel: UInt16, name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool,
        internal: Bool, arguments: AMQPTable
    ) throws(AMQPError) {
        _ = try requireChannel(channel)
        defer { arena.reset() }
        var declare = amqp_exchange_declare_t(
            ticket: 0, exchange: arena.bytes(name), type: arena.bytes(type), passive: passive ? 1 : 0,
            durable: durable ? 1 : 0, auto_delete: autoDelete ? 1 : 0, internal: `internal` ? 1 : 0, nowait: 0,
            arguments: arena.table(arguments))
        _ = try call(
            CRA_EXCHANGE_DECLARE, on: channel, &declare, reply: CRA_EXCHANGE_DECLARE_OK,
            operation: "exchange.declare '\(name)'")
    }

    func declareQueue(
        channel: UInt16, name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: AMQPTable
    ) throws(AMQPError) -> QueueDeclareResult {
        _ = try requireChannel(channel)
        defer { arena.reset() }
        var declare = amqp_queue_declare_t(
            ticket: 0, queue: arena.bytes(name), passive: passive ? 1 : 0, durable: durable ? 1 : 0,
            exclusive: exclusive ? 1 : 0, auto_delete: autoDelete ? 1 : 0, nowait: 0,
            arguments: arena.table(arguments))
        let reply = try call(
            CRA_QUEUE_DECLARE, on: channel, &declare, reply: CRA_QUEUE_DECLARE_OK,
            operation: "queue.declare '\(name)'")
        let ok = reply.decoded.assumingMemoryBound(to: amqp_queue_declare_ok_t.self).pointee
        return QueueDeclareResult(
            queue: String(amqpBytes: ok.queue), messageCount: ok.message_count, consumerCount: ok.consumer_count)
    }

    func deleteQueue(channel: UInt16, name: String, ifUnused: Bool, ifEmpty: Bool) throws(AMQPError) -> UInt32 {
        _ = try requireChannel(channel)
        defer { arena.reset() }
        var delete = amqp_queue_delete_t(
            ticket: 0, queue: arena.bytes(name), if_unused: ifUnused ? 1 : 0, if_empty: ifEmpty ? 1 : 0, nowait: 0)
        let reply = try call(
            CRA_QUEUE_DELETE, on: channel, &delete, reply: CRA_QUEUE_DELETE_OK, operation: "queue.delete '\(name)'")
        return reply.decoded.assumingMemoryBound(to: amqp_queue_delete_ok_t.self).pointee.message_count
    }

    func deleteExchange(channel: UInt16, name: String) throws(AMQPError) {
        _ = try requireChannel(channel)
        defer { arena.reset() }
        var delete = amqp_exchange_delete_t(ticket: 0, exchange: arena.bytes(name), if_unused: 0, nowait: 0)
        _ = try call(
            CRA_EXCHANGE_DELETE, on: channel, &delete, reply: CRA_EXCHANGE_DELETE_OK,
            operation: "exchange.delete '\(name)'")
    }

    func bindQueue(
        channel: UInt16, queue: String, exchange: String, routingKey: String, arguments: AMQPTable
    )
        throws(AMQPError)
    {
        _ = try requireChannel(channel)
        defer { arena.reset() }
        var bind = amqp_queue_bind_t(
            ticket: 0, queue: arena.bytes(queue), exchange: arena.bytes(exchange),
            routing_key: arena.bytes(routingKey), nowait: 0, arguments: arena.table(arguments))
        _ = try call(
            CRA_QUEUE_BIND, on: channel, &bind, reply: CRA_QUEUE_BIND_OK,
            operation: "queue.bind '\(queue)' to '\(exchange)'")
    }

    func qos(channel: UInt16, prefetchCount: UInt16, global: Bool) throws(AMQPError) {
        _ = try requireChannel(channel)
        var qos = amqp_basic_qos_t(prefetch_size: 0, prefetch_count: prefetchCount, global: global ? 1 : 0)
        _ = try call(CRA_BASIC_QOS, on: channel, &qos, reply: CRA_BASIC_QOS_OK, operation: "basic.qos")
        try requireChannel(channel).prefetch = prefetchCount
    }

    func confirmSelect(channel: UInt16) throws(AMQPError) {
        let state = try requireChannel(channel)
        guard !state.confirmMode else { return }
        var select = amqp_confirm_select_t(nowait: 0)
        _ = try call(
            CRA_CONFIRM_SELECT, on: channel, &select, reply: CRA_CONFIRM_SELECT_OK, operation: "confirm.select")
        state.confirmMode = true
    }

    func consume(
        channel: UInt16, queue: String, consumerTag: String, noAck: Bool, exclusive: Bool, arguments: AMQPTable,
        continuation: AsyncThrowingStream<[AMQPDelivery], any Error>.Continuation
    ) throws(AMQPError) -> String {
        let state = try requireChannel(channel)
        defer { arena.reset() }
        var consume = amqp_basic_consume_t(
            ticket: 0, queue: arena.bytes(queue),
            consumer_tag: consumerTag.isEmpty ? amqp_empty_bytes : arena.bytes(consumerTag), no_local: 0,
            no_ack: noAck ? 1 : 0, exclusive: exclusive ? 1 : 0, nowait: 0, arguments: arena.table(arguments))
        let reply = try call(
            CRA_BASIC_CONSUME, on: channel, &consume, reply: CRA_BASIC_CONSUME_OK,
            operation: "basic.consume from '\(queue)'")
        let tag = String(
            amqpBytes: reply.decoded.assumingMemoryBound(to: amqp_basic_consume_ok_t.self).pointee.consumer_tag)
        consumers[tag] = ConsumerState(
            channel: channel, batchLimit: state.prefetch == 0 ? 512 : max(1, min(512, Int(state.prefetch) / 5)),
            continuation: continuation)
        state.consumerTags.insert(tag)
        return tag
    }

    func cancel(channel: UInt16, consumerTag: String) throws(AMQPError) {
        guard consumers[consumerTag] != nil else { return }
        finishContentInProgress(on: channel)
        defer { arena.reset() }
        var cancel = amqp_basic_cancel_t(consumer_tag: arena.bytes(consumerTag), nowait: 0)
        // Deliveries that arrive before cancel-ok are still handed out; then the sequence ends.
        do {
            _ = try call(CRA_BASIC_CANCEL, on: channel, &cancel, reply: CRA_BASIC_CANCEL_OK, operation: "basic.cancel")
        } catch {
            endConsumer(tag: consumerTag, error: error)
            throw error
        }
        endConsumer(tag: consumerTag, error: nil)
    }

    func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool) throws(AMQPError) {
        let connection = try requireConnection()
        _ = try requireChannel(channel)
        try checkStatus(amqp_basic_ack(connection, channel, deliveryTag, multiple ? 1 : 0), operation: "basic.ack")
    }

    func nack(channel: UInt16, deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws(AMQPError) {
        let connection = try requireConnection()
        _ = try requireChannel(channel)
        try checkStatus(
            amqp_basic_nack(connection, channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0),
            operation: "basic.nack")
    }

    /// Writes the messages; the batch completes as their confirms arrive (at once without confirm
    /// mode). While the broker blocks publishing, or the socket has no room, they wait their turn.
    func publish(channel: UInt16, messages: [AMQPMessage], batch: PublishBatch) {
        guard failure == nil, connection != nil else {
            // The connection has ended (or is ending): nothing will ever write these.
            batch.fail(with: failure ?? finalError ?? .closedByClient)
            return
        }
        heldPublishes.append(HeldPublish(channel: channel, messages: messages[...], batch: batch))
        writeHeldPublishes()
    }

    /// Writes held publishes in order, as far as the broker and the socket allow.
    private func writeHeldPublishes() {
        while !isBlocked, failure == nil, var entry = heldPublishes.first {
            let done = write(&entry)
            if done {
                heldPublishes.removeFirst()
                if !heldPublishes.isEmpty { heldPublishes[0].progressed() }
            } else {
                heldPublishes[0] = entry
                return
            }
        }
    }

    /// Writes what the socket has room for, a frame at a time; true when the entry is done
    /// (written or failed). A message goes out as basic.publish, its content header and body
    /// frames sized to the room there is, so one larger than the send buffer is written in
    /// parts as the socket drains; frames of other channels (acks, heartbeats) may come
    /// between its frames, which the protocol allows.
    private func write(_ entry: inout HeldPublish) -> Bool {
        let state: ChannelState
        let connection: amqp_connection_state_t
        do {
            connection = try requireConnection()
            state = try requireChannel(entry.channel, forContent: true)
        } catch {
            entry.batch.fail(with: error)
            return true
        }
        defer { arena.reset() }
        while let index = entry.messages.indices.first {
            let message = entry.messages[index]
            let room = cra_socket_send_room(socketFD)
            var status = AMQP_STATUS_OK.rawValue
            if entry.bodyBytesSent == nil {
                // The method and the header (at most one frame) go out together.
                if room >= 0 && room < min(configuration.frameMax + frameSlack, sendCapacity / 2) { return false }
                arena.reset()
                var properties = arena.properties(message.properties)
                status = cra_send_publish_method(
                    connection, entry.channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                    message.mandatory ? 1 : 0)
                if status == AMQP_STATUS_OK.rawValue {
                    if state.confirmMode { state.track(batch: entry.batch, index: index) }
                    status = cra_send_content_header(connection, entry.channel, UInt64(message.body.count), &properties)
                }
                entry.bodyBytesSent = 0
                entry.progressed()
            }
            while status == AMQP_STATUS_OK.rawValue, let sent = entry.bodyBytesSent, sent < message.body.count {
                let room = cra_socket_send_room(socketFD)
                let remaining = message.body.count - sent
                var length = min(remaining, configuration.frameMax - 8)
                if room >= 0 {
                    // Never a frame the socket cannot take at once (rabbitmq-c would wait in send),
                    // nor a crowd of tiny ones: wait for a useful amount of room.
                    length = min(length, room - frameSlack)
                    if length < min(remaining, smallestBodyFrame) { return false }
                }
                status = message.body.withUnsafeBytes { body in
                    cra_send_body_frame(connection, entry.channel, body.baseAddress! + sent, length)
                }
                entry.bodyBytesSent = sent + length
                entry.progressed()
            }
            if status != AMQP_STATUS_OK.rawValue {
                let error = lostError(status: status)
                failure = error
                entry.batch.fail(with: error)
                return true
            }
            if !state.confirmMode { entry.batch.complete(index, .sent) }
            entry.messages = entry.messages.dropFirst()
            entry.bodyBytesSent = nil
        }
        return true
    }

    /// Writes the rest of the message half written on channel `id`, if there is one, waiting in
    /// send as amqp_basic_publish does: a method on that channel must not land inside its content.
    private func finishContentInProgress(on id: UInt16) {
        guard let connection, failure == nil, var entry = heldPublishes.first, entry.channel == id,
            let sent = entry.bodyBytesSent, let index = entry.messages.indices.first
        else { return }
        let body = entry.messages[index].body
        var offset = sent
        while offset < body.count {
            let length = min(body.count - offset, configuration.frameMax - 8)
            let status = body.withUnsafeBytes { cra_send_body_frame(connection, id, $0.baseAddress! + offset, length) }
            if status != AMQP_STATUS_OK.rawValue {
                let error = lostError(status: status)
                failure = error
                entry.batch.fail(with: error)
                heldPublishes.removeFirst()
                return
            }
            offset += length
        }
        if channels[id]?.confirmMode != true { entry.batch.complete(index, .sent) }
        entry.messages = entry.messages.dropFirst()
        entry.bodyBytesSent = nil
        entry.progressed()
        if entry.messages.isEmpty {
            heldPublishes.removeFirst()
            if !heldPublishes.isEmpty { heldPublishes[0].progressed() }
        } else {
            heldPublishes[0] = entry
        }
    }

    /// What the socket's send buffer holds when empty. The kernel grows it as data flows, so
    /// the thresholds below are relative to it: a small buffer still takes frames, smaller ones.
    private var sendCapacity: Int {
        let capacity = cra_socket_send_capacity(socketFD)
        return capacity > 0 ? capacity : 1 << 30
    }
    /// Room kept free beside a frame: its 8 bytes of framing, TLS record overhead.
    private var frameSlack: Int { min(4096, sendCapacity / 8) }
    /// Body frames smaller than this wait for more room (unless the rest of the body is smaller).
    private var smallestBodyFrame: Int { min(16384, sendCapacity / 4) }

    /// Ends the connection when publishing has been stuck longer than `blockedTimeout`: blocked
    /// by the broker with publishes waiting (held, or written and unconfirmed), or a socket that
    /// has taken nothing more of a held publish. Every waiting publish then fails with the reason;
    /// nothing hangs.
    private func failHeldPublishesPastTimeout() {
        guard let limit = configuration.blockedTimeout else { return }
        let now = ContinuousClock.now
        if isBlocked, let since = blockedSince, now - since >= limit,
            !heldPublishes.isEmpty || channels.values.contains(where: \.hasUnconfirmed)
        {
            failure = .blocked(reason: blockedReason, waited: limit)
        } else if !isBlocked, let entry = heldPublishes.first, now - entry.lastProgress >= limit {
            failure = .publishStalled(detail: stallDetail(entry, waited: limit))
        }
    }

    /// Which publish is stuck and how: its size and destination, how far it got, what the socket holds.
    private func stallDetail(_ entry: HeldPublish, waited: Duration) -> String {
        let queued =
            cra_socket_send_room(socketFD) >= 0 ? "\(sendCapacity - cra_socket_send_room(socketFD))" : "unknown"
        guard let message = entry.messages.first else { return "an empty publish on channel \(entry.channel)" }
        let target = message.exchange.isEmpty ? "queue '\(message.routingKey)'" : "exchange '\(message.exchange)'"
        let progress =
            entry.bodyBytesSent.map { "\($0) of its \(message.body.count) body bytes written" }
            ?? "none of its \(message.body.count) body bytes written"
        return "a \(message.body.count)-byte message to \(target) on channel \(entry.channel) (\(entry.messages.count)"
            + " message(s) in this publish, \(heldPublishes.count) publish(es) held): \(progress), nothing more for"
            + " \(waited); \(queued) bytes queued unsent in the socket; the broker did not block this connection"
            + " (no connection.blocked)"
    }

    /// True when held publishes wait only for room in the socket (so poll for writability).
    var waitsForSocketRoom: Bool { !heldPublishes.isEmpty && !isBlocked }
}

// MARK: - State kept per channel and per consumer

final class ConsumerState {
    let channel: UInt16
    /// Deliveries handed over at once at most.
    let batchLimit: Int
    let continuation: AsyncThrowingStream<[AMQPDelivery], any Error>.Continuation
    var pending: [AMQPDelivery] = []

    init(
        channel: UInt16, batchLimit: Int, continuation: AsyncThrowingStream<[AMQPDelivery], any Error>.Continuation
    ) {
        self.channel = channel
        self.batchLimit = batchLimit
        self.continuation = continuation
    }
}

/// The messages of one `publish` call, completed when every one has its outcome.
/// The messages of one `publish` call, completed when every one has its outcome.
/// Touched on the connection thread only; `completion` runs there, once.
final class PublishBatch: @unchecked Sendable {
    private var outcomes: [PublishOutcome]
    private var remaining: Int
    private var completion: (@Sendable (Result<[PublishOutcome], AMQPError>) -> Void)?

    init(count: Int, completion: @escaping @Sendable (Result<[PublishOutcome], AMQPError>) -> Void) {
        self.outcomes = Array(repeating: .nacked, count: count)
        self.remaining = count
        self.completion = completion
        if count == 0 { finishIfDone() }
    }

    func complete(_ index: Int, _ outcome: PublishOutcome) {
        guard completion != nil else { return }
        outcomes[index] = outcome
        remaining -= 1
        finishIfDone()
    }

    func fail(with error: AMQPError) {
        completion?(.failure(error))
        completion = nil
    }

    private func finishIfDone() {
        if remaining == 0 {
            completion?(.success(outcomes))
            completion = nil
        }
    }
}

final class ChannelState {
    let id: UInt16
    var confirmMode = false
    /// basic.qos prefetch count (0: none set).
    var prefetch: UInt16 = 0
    var consumerTags: Set<String> = []
    var pendingReturn: PublishOutcome?
    private var nextSequence: UInt64 = 1
    private var oldestUnconfirmed: UInt64 = 1
    private var unconfirmed: [UInt64: (batch: PublishBatch, index: Int)] = [:]

    init(id: UInt16) {
        self.id = id
    }

    func track(batch: PublishBatch, index: Int) {
        unconfirmed[nextSequence] = (batch, index)
        nextSequence += 1
    }

    /// Applies a basic.ack / basic.nack from the broker: `multiple` covers every
    /// sequence number up to `tag`. A pending basic.return belongs to `tag` itself.
    func confirm(upTo tag: UInt64, multiple: Bool, outcome: PublishOutcome) {
        var outcomeForTag = outcome
        if let returned = pendingReturn {
            outcomeForTag = returned
            pendingReturn = nil
        }
        if multiple {
            var sequence = oldestUnconfirmed
            while sequence <= tag {
                if let entry = unconfirmed.removeValue(forKey: sequence) {
                    entry.batch.complete(entry.index, sequence == tag ? outcomeForTag : outcome)
                }
                sequence += 1
            }
            oldestUnconfirmed = max(oldestUnconfirmed, tag &+ 1)
        } else if let entry = unconfirmed.removeValue(forKey: tag) {
            entry.batch.complete(entry.index, outcomeForTag)
        }
        while oldestUnconfirmed < nextSequence && unconfirmed[oldestUnconfirmed] == nil {
            oldestUnconfirmed += 1
        }
    }

    var hasUnconfirmed: Bool { !unconfirmed.isEmpty }

    func fail(with error: AMQPError) {
        for entry in unconfirmed.values { entry.batch.fail(with: error) }
        unconfirmed.removeAll()
    }
}

extension timeval {
    init(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
