import CRabbitMQ
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A method this client sends.
enum OutgoingMethod {
    case channelOpen
    case channelClose
    case channelCloseOK
    case connectionClose
    case connectionCloseOK
    case exchangeDeclare(
        name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool, internal: Bool,
        arguments: AMQPTable)
    case exchangeDelete(name: String)
    case queueDeclare(
        name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: AMQPTable)
    case queueDelete(name: String, ifUnused: Bool, ifEmpty: Bool)
    case queueBind(queue: String, exchange: String, routingKey: String, arguments: AMQPTable)
    case basicQos(prefetchCount: UInt16, global: Bool)
    case confirmSelect
    case basicConsume(queue: String, consumerTag: String, noAck: Bool, exclusive: Bool, arguments: AMQPTable)
    case basicCancel(consumerTag: String)
}

extension OutgoingMethod {
    /// The method number of the reply a synchronous method waits for (nil: none).
    var replyID: UInt32? {
        switch self {
        case .channelOpen: CRA_CHANNEL_OPEN_OK
        case .channelClose: CRA_CHANNEL_CLOSE_OK
        case .connectionClose: CRA_CONNECTION_CLOSE_OK
        case .channelCloseOK, .connectionCloseOK: nil
        case .exchangeDeclare: CRA_EXCHANGE_DECLARE_OK
        case .exchangeDelete: CRA_EXCHANGE_DELETE_OK
        case .queueDeclare: CRA_QUEUE_DECLARE_OK
        case .queueDelete: CRA_QUEUE_DELETE_OK
        case .queueBind: CRA_QUEUE_BIND_OK
        case .basicQos: CRA_BASIC_QOS_OK
        case .confirmSelect: CRA_CONFIRM_SELECT_OK
        case .basicConsume: CRA_BASIC_CONSUME_OK
        case .basicCancel: CRA_BASIC_CANCEL_OK
        }
    }
}

/// A frame read from the broker. Noncopyable so that switching on it moves a delivery out
/// instead of copying it (five references retained and released per message).
enum IncomingFrame: ~Copyable {
    /// basic.deliver with its content read.
    case delivery(channel: UInt16, AMQPDelivery)
    case method(channel: UInt16, IncomingMethod)
    /// A heartbeat, or a frame nobody handles.
    case other
}

/// One librabbitmq connection: the only code that calls the C library. It connects, logs in,
/// sends methods and the frames of a publish, and reads frames back as Swift values, so no C
/// type leaves this file. Not thread-safe (nor is librabbitmq): the connection thread owns it.
final class RabbitConnection {
    let configuration: AMQPConfiguration
    private var state: amqp_connection_state_t?
    private let socketFD: Int32
    /// The highest channel id the broker allows.
    let channelMax: UInt16
    private let arena = CArena()
    /// Strings that repeat from delivery to delivery, shared instead of allocated each time.
    private var recentStrings = RecentStrings()
    /// How long the rest of a message may take to arrive once its first frame has.
    private let contentTimeout: timeval

    private init(configuration: AMQPConfiguration, state: amqp_connection_state_t) {
        self.configuration = configuration
        self.state = state
        self.socketFD = amqp_get_sockfd(state)
        let max = amqp_get_channel_max(state)
        self.channelMax = max <= 0 ? 2047 : UInt16(clamping: max)
        self.contentTimeout = timeval(duration: configuration.rpcTimeout)
    }

    deinit { destroy() }

    /// The socket, for `poll`.
    var fileDescriptor: Int32 { socketFD }

    /// Frees the C connection (closes the socket); nothing more can be sent or read.
    func destroy() {
        if let state {
            amqp_destroy_connection(state)
            self.state = nil
        }
    }

    // MARK: - Connecting

    /// Opens the socket (TLS when the URL says so) and logs in.
    static func connect(_ configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) -> RabbitConnection {
        try configuration.validate()
        guard let state = amqp_new_connection() else {
            throw .library(operation: "amqp_new_connection", status: 0, message: "out of memory")
        }
        do {
            try open(state, configuration)
        } catch {
            amqp_destroy_connection(state)
            throw error
        }
        logger.debug("connected to \(configuration.url)", metadata: ["heartbeat": "\(amqp_get_heartbeat(state))"])
        return RabbitConnection(configuration: configuration, state: state)
    }

    private static func open(_ state: amqp_connection_state_t, _ configuration: AMQPConfiguration) throws(AMQPError) {
        let url = configuration.url
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
            throw connectError(status: openStatus, configuration)
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
    }

    private static func connectError(status: Int32, _ configuration: AMQPConfiguration) -> AMQPError {
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

    private func lostError(status: Int32) -> AMQPError {
        if status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue {
            return .connectionLost(reason: "no heartbeat from the broker for \(2 * configuration.heartbeat) s")
        }
        return .connectionLost(reason: statusMessage(status))
    }

    private func check(_ status: Int32) throws(AMQPError) {
        if status != AMQP_STATUS_OK.rawValue { throw lostError(status: status) }
    }

    private func live() throws(AMQPError) -> amqp_connection_state_t {
        guard let state else { throw .closedByClient }
        return state
    }

    // MARK: - Reading

    /// True when frames are already read from the socket (or its bytes buffered) but not handled.
    var hasQueuedInput: Bool {
        guard let state else { return false }
        return amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    /// Gives the memory of handled frames back to librabbitmq's pool.
    func releaseBuffers() {
        if let state { amqp_maybe_release_buffers(state) }
    }

    /// Reads the next frame, waiting at most `timeout` (nil: not at all, though a due
    /// heartbeat is still sent and a missed one noticed); nil when none came. A delivery's
    /// or a return's content is read with it.
    func nextFrame(timeout: Duration?) throws(AMQPError) -> IncomingFrame? {
        let state = try live()
        var frame = amqp_frame_t()
        var deadline = timeout.map { timeval(duration: $0) } ?? timeval(tv_sec: 0, tv_usec: 1)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &deadline)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        try check(status)
        guard frame.frame_type == CRA_FRAME_METHOD else { return .other }
        let channel = frame.channel
        let method = frame.payload.method
        if method.id == CRA_BASIC_DELIVER {
            return .delivery(channel: channel, try readDelivery(method, channel: channel, state))
        }
        return .method(channel: channel, try decode(method, channel: channel, state))
    }

    private func readDelivery(
        _ method: amqp_method_t, channel: UInt16, _ state: amqp_connection_state_t
    ) throws(AMQPError) -> AMQPDelivery {
        let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
        // Strings first: reading the body gives the method frame's memory back to librabbitmq.
        let (tag, exchange, routingKey) = recentStrings.deliveryStrings(deliver)
        let (properties, streamOffset, body, bodySize) = try readDeliveryContent(state, channel: channel)
        return AMQPDelivery(
            deliveryTag: deliver.delivery_tag,
            redelivered: deliver.redelivered != 0,
            exchange: exchange,
            routingKey: routingKey,
            consumerTag: tag,
            deferredProperties: properties,
            streamOffset: streamOffset,
            body: body,
            bodySize: bodySize)
    }

    private func decode(
        _ method: amqp_method_t, channel: UInt16, _ state: amqp_connection_state_t
    ) throws(AMQPError) -> IncomingMethod {
        switch method.id {
        case CRA_BASIC_ACK:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(deliveryTag: ack.delivery_tag, multiple: ack.multiple != 0)
        case CRA_BASIC_NACK:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(deliveryTag: nack.delivery_tag, multiple: nack.multiple != 0)
        case CRA_BASIC_RETURN:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let reply = String(amqpBytes: returned.reply_text)
            let code = returned.reply_code
            try skipContent(state, channel: channel)
            return .returned(code: code, reply: reply)
        case CRA_BASIC_CANCEL:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .cancel(consumerTag: String(amqpBytes: cancel.consumer_tag))
        case CRA_CHANNEL_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return .channelClose(code: close.reply_code, reply: String(amqpBytes: close.reply_text))
        case CRA_CONNECTION_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return .connectionClose(code: close.reply_code, reply: String(amqpBytes: close.reply_text))
        case CRA_CONNECTION_BLOCKED:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(reason: String(amqpBytes: blocked.reason))
        case CRA_CONNECTION_UNBLOCKED:
            return .unblocked
        case CRA_QUEUE_DECLARE_OK:
            let ok = method.decoded.assumingMemoryBound(to: amqp_queue_declare_ok_t.self).pointee
            let result = QueueDeclareResult(
                queue: String(amqpBytes: ok.queue), messageCount: ok.message_count, consumerCount: ok.consumer_count)
            return .reply(MethodReply(id: method.id, fields: .queueDeclareOK(result)))
        case CRA_QUEUE_DELETE_OK:
            let ok = method.decoded.assumingMemoryBound(to: amqp_queue_delete_ok_t.self).pointee
            return .reply(MethodReply(id: method.id, fields: .queueDeleteOK(messageCount: ok.message_count)))
        case CRA_BASIC_CONSUME_OK:
            let ok = method.decoded.assumingMemoryBound(to: amqp_basic_consume_ok_t.self).pointee
            return .reply(
                MethodReply(id: method.id, fields: .consumeOK(consumerTag: String(amqpBytes: ok.consumer_tag))))
        default:
            return .reply(MethodReply(id: method.id))
        }
    }

    /// Reads the content of a delivery, keeping its properties encoded: one copy of their
    /// bytes instead of a String per property. The stream offset is read from them at once.
    private func readDeliveryContent(
        _ state: amqp_connection_state_t, channel: UInt16
    ) throws(AMQPError) -> (DeferredProperties, streamOffset: Int64?, body: [UInt8], bodySize: Int) {
        let frame = try nextContentFrame(state, channel: channel, type: CRA_FRAME_HEADER)
        let header = frame.payload.properties
        let decoded = header.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee
        let properties = DeferredProperties(encoded: [UInt8](amqpBytes: header.raw))
        let streamOffset = decoded.streamOffset
        let size = Int(header.body_size)
        let body = try readBody(state, channel: channel, size: size, keep: configuration.maxBodyBytes ?? size)
        return (properties, streamOffset, body, size)
    }

    /// Reads and drops the content header and body frames that follow basic.return.
    private func skipContent(_ state: amqp_connection_state_t, channel: UInt16) throws(AMQPError) {
        let frame = try nextContentFrame(state, channel: channel, type: CRA_FRAME_HEADER)
        _ = try readBody(state, channel: channel, size: Int(frame.payload.properties.body_size), keep: 0)
    }

    /// Reads a body of `size` bytes, keeping the first `keep`: the frames past them are read
    /// and dropped one by one, so a body of any size never sits in memory whole.
    private func readBody(
        _ state: amqp_connection_state_t, channel: UInt16, size: Int, keep: Int
    ) throws(AMQPError) -> [UInt8] {
        let kept = min(size, max(0, keep))
        var body: [UInt8] = []
        var read = 0
        while read < size {
            let frame = try nextContentFrame(state, channel: channel, type: CRA_FRAME_BODY)
            let bytes = frame.payload.body_fragment
            let fragment = UnsafeRawBufferPointer(start: bytes.bytes, count: bytes.len)
            if read == 0 && fragment.count == kept {
                // Most bodies: one frame, kept whole, copied once into storage of their size.
                body = [UInt8](fragment)
            } else if body.count < kept {
                if body.isEmpty { body.reserveCapacity(kept) }
                body.append(contentsOf: fragment.prefix(kept - body.count))
            }
            read += fragment.count
            // Frames already handled go back to librabbitmq's pool instead of piling up.
            amqp_maybe_release_buffers_on_channel(state, channel)
        }
        return body
    }

    private func nextContentFrame(
        _ state: amqp_connection_state_t, channel: UInt16, type: UInt8
    ) throws(AMQPError) -> amqp_frame_t {
        var frame = amqp_frame_t()
        var timeout = contentTimeout
        let status = amqp_simple_wait_frame_noblock(state, &frame, &timeout)
        if status == AMQP_STATUS_TIMEOUT.rawValue { throw .timeout(operation: "the rest of a message") }
        try check(status)
        // RabbitMQ writes a message's frames together, so nothing else can come in between.
        guard frame.frame_type == type, frame.channel == channel else {
            throw .connectionLost(reason: "protocol error: expected a content frame on channel \(channel)")
        }
        return frame
    }

    // MARK: - Sending

    /// Sends a method; a failure to write means the connection is lost.
    func send(_ method: OutgoingMethod, on channel: UInt16) throws(AMQPError) {
        let state = try live()
        defer { arena.reset() }
        let arena = self.arena
        func send<Arguments>(_ id: amqp_method_number_t, _ arguments: Arguments) -> Int32 {
            var arguments = arguments
            return withUnsafeMutablePointer(to: &arguments) { amqp_send_method(state, channel, id, $0) }
        }
        let status: Int32
        switch method {
        case .channelOpen:
            status = send(CRA_CHANNEL_OPEN, amqp_channel_open_t(out_of_band: amqp_empty_bytes))
        case .channelClose:
            status = send(
                CRA_CHANNEL_CLOSE,
                amqp_channel_close_t(
                    reply_code: UInt16(AMQP_REPLY_SUCCESS), reply_text: amqp_empty_bytes, class_id: 0, method_id: 0))
        case .channelCloseOK:
            status = send(CRA_CHANNEL_CLOSE_OK, amqp_channel_close_ok_t(dummy: 0))
        case .connectionClose:
            status = send(
                CRA_CONNECTION_CLOSE,
                amqp_connection_close_t(
                    reply_code: UInt16(AMQP_REPLY_SUCCESS), reply_text: amqp_empty_bytes, class_id: 0, method_id: 0))
        case .connectionCloseOK:
            status = send(CRA_CONNECTION_CLOSE_OK, amqp_connection_close_ok_t(dummy: 0))
        case .exchangeDeclare(
            let name, let type, let passive, let durable, let autoDelete, let `internal`, let arguments):
            status = send(
                CRA_EXCHANGE_DECLARE,
                amqp_exchange_declare_t(
                    ticket: 0, exchange: arena.bytes(name), type: arena.bytes(type), passive: passive ? 1 : 0,
                    durable: durable ? 1 : 0, auto_delete: autoDelete ? 1 : 0, internal: `internal` ? 1 : 0,
                    nowait: 0, arguments: arena.table(arguments)))
        case .exchangeDelete(let name):
            status = send(
                CRA_EXCHANGE_DELETE,
                amqp_exchange_delete_t(ticket: 0, exchange: arena.bytes(name), if_unused: 0, nowait: 0))
        case .queueDeclare(let name, let passive, let durable, let exclusive, let autoDelete, let arguments):
            status = send(
                CRA_QUEUE_DECLARE,
                amqp_queue_declare_t(
                    ticket: 0, queue: arena.bytes(name), passive: passive ? 1 : 0, durable: durable ? 1 : 0,
                    exclusive: exclusive ? 1 : 0, auto_delete: autoDelete ? 1 : 0, nowait: 0,
                    arguments: arena.table(arguments)))
        case .queueDelete(let name, let ifUnused, let ifEmpty):
            status = send(
                CRA_QUEUE_DELETE,
                amqp_queue_delete_t(
                    ticket: 0, queue: arena.bytes(name), if_unused: ifUnused ? 1 : 0, if_empty: ifEmpty ? 1 : 0,
                    nowait: 0))
        case .queueBind(let queue, let exchange, let routingKey, let arguments):
            status = send(
                CRA_QUEUE_BIND,
                amqp_queue_bind_t(
                    ticket: 0, queue: arena.bytes(queue), exchange: arena.bytes(exchange),
                    routing_key: arena.bytes(routingKey), nowait: 0, arguments: arena.table(arguments)))
        case .basicQos(let prefetchCount, let global):
            status = send(
                CRA_BASIC_QOS, amqp_basic_qos_t(prefetch_size: 0, prefetch_count: prefetchCount, global: global ? 1 : 0)
            )
        case .confirmSelect:
            status = send(CRA_CONFIRM_SELECT, amqp_confirm_select_t(nowait: 0))
        case .basicConsume(let queue, let consumerTag, let noAck, let exclusive, let arguments):
            status = send(
                CRA_BASIC_CONSUME,
                amqp_basic_consume_t(
                    ticket: 0, queue: arena.bytes(queue),
                    consumer_tag: consumerTag.isEmpty ? amqp_empty_bytes : arena.bytes(consumerTag), no_local: 0,
                    no_ack: noAck ? 1 : 0, exclusive: exclusive ? 1 : 0, nowait: 0,
                    arguments: arena.table(arguments)))
        case .basicCancel(let consumerTag):
            status = send(CRA_BASIC_CANCEL, amqp_basic_cancel_t(consumer_tag: arena.bytes(consumerTag), nowait: 0))
        }
        try check(status)
    }

    func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool) throws(AMQPError) {
        try check(amqp_basic_ack(try live(), channel, deliveryTag, multiple ? 1 : 0))
    }

    func nack(channel: UInt16, deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws(AMQPError) {
        try check(amqp_basic_nack(try live(), channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0))
    }

    // MARK: - Publishing, a frame at a time

    /// Bytes the socket's send buffer takes now without blocking; nil when unknown.
    var sendRoom: Int? {
        let room = cra_socket_send_room(socketFD)
        return room >= 0 ? room : nil
    }

    /// What the socket's send buffer holds when empty (it grows as data flows).
    var sendCapacity: Int {
        let capacity = cra_socket_send_capacity(socketFD)
        return capacity > 0 ? capacity : 1 << 30
    }

    /// Writes basic.publish for the message; `sent` runs between it and the content header
    /// (where a confirm-mode channel numbers the message).
    func sendPublishStart(channel: UInt16, _ message: AMQPMessage, sent: () -> Void) throws(AMQPError) {
        let state = try live()
        defer { arena.reset() }
        try check(
            cra_send_publish_method(
                state, channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                message.mandatory ? 1 : 0))
        sent()
        var properties = arena.properties(message.properties)
        try check(cra_send_content_header(state, channel, UInt64(message.body.count), &properties))
    }

    /// Writes `length` bytes of the body from `offset` as one body frame.
    func sendBodyFrame(channel: UInt16, _ body: [UInt8], offset: Int, length: Int) throws(AMQPError) {
        let state = try live()
        try check(body.withUnsafeBytes { cra_send_body_frame(state, channel, $0.baseAddress! + offset, length) })
    }
}

extension timeval {
    init(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
