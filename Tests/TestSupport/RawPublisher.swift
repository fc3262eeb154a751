import AMQP
import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// A message as raw bytes: routing key, properties and headers may hold anything.
public struct RawMessage: Sendable {
    public var routingKey: [UInt8]
    public var body: [UInt8]
    public var properties = RawProperties()

    public init(routingKey: [UInt8], body: [UInt8], properties: RawProperties = RawProperties()) {
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
    }

    /// What a failure report needs to say about it.
    public var summary: String {
        let p = properties
        func size(_ bytes: [UInt8]?) -> String { bytes.map { "\($0.count) B" } ?? "-" }
        var text =
            "routing key \(routingKey.count) B, body \(body.count) B (\(String(decoding: body.prefix(80), as: UTF8.self))), "
        text += "content-type \(size(p.contentType)), encoding \(size(p.contentEncoding)), "
        text += "correlation \(size(p.correlationID)), reply-to \(size(p.replyTo)), message-id \(size(p.messageID)), "
        text += "type \(size(p.type)), app-id \(size(p.appID)), cluster-id \(size(p.clusterID)), "
        text += "delivery mode \(p.deliveryMode.map { "\($0)" } ?? "-"), priority \(p.priority.map { "\($0)" } ?? "-")"
        if let headers = p.headers {
            text += ", headers: \(headers.entries.count) entries, nested \(headers.nestedDepth) deep: "
            text += headers.entries.prefix(20).map { "\($0.key.count) B key = \($0.value.summary)" }.joined(
                separator: "; ")
        }
        return text
    }
}

public struct RawProperties: Sendable {
    public var contentType: [UInt8]?
    public var contentEncoding: [UInt8]?
    public var headers: RawHeaders?
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: [UInt8]?
    public var replyTo: [UInt8]?
    public var expiration: [UInt8]?
    public var messageID: [UInt8]?
    public var timestamp: UInt64?
    public var type: [UInt8]?
    public var appID: [UInt8]?
    public var clusterID: [UInt8]?

    public init() {}
}

/// A header table; `nestedDepth` > 0 adds one entry that nests tables that deep (built
/// without recursion).
public struct RawHeaders: Sendable {
    public var entries: [RawEntry]
    public var nestedDepth = 0

    public init(entries: [RawEntry], nestedDepth: Int = 0) {
        self.entries = entries
        self.nestedDepth = nestedDepth
    }
}

public struct RawEntry: Sendable {
    public var key: [UInt8]
    public var value: RawValue

    public init(key: [UInt8], value: RawValue) {
        self.key = key
        self.value = value
    }
}

public indirect enum RawValue: Sendable {
    public var summary: String {
        switch self {
        case .longString(let b): "S \(b.count) B"
        case .bytes(let b): "x \(b.count) B"
        case .array(let values): "A [\(values.map(\.summary).joined(separator: ", "))]"
        case .table(let entries):
            "F {\(entries.map { "\($0.key.count) B: \($0.value.summary)" }.joined(separator: ", "))}"
        default: "\(self)"
        }
    }

    case bool(Bool)
    case i8(Int8)
    case u8(UInt8)
    case i16(Int16)
    case u16(UInt16)
    case i32(Int32)
    case u32(UInt32)
    case i64(Int64)
    case u64(UInt64)
    case f32(Float)
    case f64(Double)
    case decimal(UInt8, UInt32)
    case longString([UInt8])
    case bytes([UInt8])
    case timestamp(UInt64)
    case array([RawValue])
    case table([RawEntry])
    case void
}

/// Publishes through librabbitmq directly, on one channel in confirm mode, mandatory, in order, and
/// waits for every confirm. Blocking: call it off the cooperative pool.
public enum RawPublisher {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func publish(_ messages: [RawMessage], exchange: String) throws {
        let url = try AMQPURL(parsing: try TestBroker.requireURL())
        guard let state = amqp_new_connection() else { throw Failure(description: "amqp_new_connection") }
        defer { amqp_destroy_connection(state) }
        let socket = amqp_tcp_socket_new(state)
        guard amqp_socket_open(socket, url.host, Int32(url.port)) == AMQP_STATUS_OK.rawValue else {
            throw Failure(description: "cannot connect to \(url.host):\(url.port)")
        }
        let login = cra_login_plain(state, url.vhost, 0, 131_072, 0, "poison-publisher", url.user, url.password)
        guard login.reply_type == AMQP_RESPONSE_NORMAL else { throw Failure(description: "login refused") }
        defer { _ = amqp_connection_close(state, 200) }
        _ = amqp_channel_open(state, 1)
        guard amqp_get_rpc_reply(state).reply_type == AMQP_RESPONSE_NORMAL else {
            throw Failure(description: "channel.open failed")
        }
        _ = amqp_confirm_select(state, 1)
        guard amqp_get_rpc_reply(state).reply_type == AMQP_RESPONSE_NORMAL else {
            throw Failure(description: "confirm.select failed")
        }
        var published: UInt64 = 0
        var confirmed: UInt64 = 0
        var start = 0
        while start < messages.count {
            // Batches, so that the confirms never fill the socket while we only write.
            let end = min(messages.count, start + 200)
            for message in messages[start..<end] {
                let arena = RawArena()
                var properties = arena.properties(message.properties)
                let status = message.body.withUnsafeBytes { body in
                    amqp_basic_publish(
                        state, 1, arena.bytes(Array(exchange.utf8)), arena.bytes(message.routingKey), 1, 0,
                        &properties,
                        amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
                }
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw Failure(description: "amqp_basic_publish: \(String(cString: amqp_error_string2(status)))")
                }
                published += 1
            }
            do {
                try waitForConfirms(state, upTo: published, confirmed: &confirmed)
            } catch let failure as Failure {
                throw Failure(description: "messages \(start)..<\(end): \(failure.description)")
            }
            start = end
        }
    }

    private static func text(_ bytes: amqp_bytes_t) -> String {
        String(decoding: UnsafeRawBufferPointer(start: bytes.bytes, count: bytes.len), as: UTF8.self)
    }

    private static func waitForConfirms(
        _ state: amqp_connection_state_t, upTo published: UInt64, confirmed: inout UInt64
    ) throws {
        var singles = Set<UInt64>()
        while confirmed < published {
            var frame = amqp_frame_t()
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &timeout)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw Failure(description: "waiting for confirms: \(String(cString: amqp_error_string2(status)))")
            }
            guard frame.frame_type == CRA_FRAME_METHOD else { continue }
            let method = frame.payload.method
            switch method.id {
            case CRA_BASIC_ACK:
                let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                if ack.multiple != 0 {
                    confirmed = max(confirmed, ack.delivery_tag)
                } else {
                    singles.insert(ack.delivery_tag)
                }
                while singles.remove(confirmed + 1) != nil { confirmed += 1 }
            case CRA_BASIC_NACK:
                throw Failure(description: "the broker nacked a message")
            case CRA_BASIC_RETURN:
                throw Failure(description: "the broker returned a message: no queue is bound for its routing key")
            case CRA_CHANNEL_CLOSE:
                let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw Failure(
                    description: "the broker closed the channel: \(close.reply_code) \(text(close.reply_text))")
            case CRA_CONNECTION_CLOSE:
                let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw Failure(
                    description: "the broker closed the connection: \(close.reply_code) \(text(close.reply_text))")
            default:
                continue
            }
        }
    }
}

/// C memory for one message, freed with it.
final class RawArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for block in blocks { free(block) } }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let block = malloc(max(size, 1))!
        blocks.append(block)
        return block
    }

    func bytes(_ bytes: [UInt8]) -> amqp_bytes_t {
        let block = allocate(bytes.count)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { block.copyMemory(from: base, byteCount: $0.count) } }
        return amqp_bytes_t(len: bytes.count, bytes: block)
    }

    func entries(_ count: Int) -> UnsafeMutablePointer<amqp_table_entry_t> {
        allocate(MemoryLayout<amqp_table_entry_t>.stride * max(count, 1)).bindMemory(
            to: amqp_table_entry_t.self, capacity: max(count, 1))
    }

    func table(_ entries: [RawEntry]) -> amqp_table_t {
        let pointer = self.entries(entries.count)
        for (index, entry) in entries.enumerated() {
            pointer[index] = amqp_table_entry_t(key: bytes(entry.key), value: value(entry.value))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: pointer)
    }

    func headers(_ headers: RawHeaders) -> amqp_table_t {
        var all = headers.entries
        if headers.nestedDepth > 0 { all.append(RawEntry(key: Array("nested".utf8), value: .void)) }
        let table = self.table(all)
        guard headers.nestedDepth > 0 else { return table }
        // {"nested": {"n": {"n": … {}}}}, innermost first.
        var inner = amqp_table_t(num_entries: 0, entries: nil)
        for _ in 0..<headers.nestedDepth {
            let entry = self.entries(1)
            var field = amqp_field_value_t()
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = inner
            entry[0] = amqp_table_entry_t(key: bytes([UInt8(ascii: "n")]), value: field)
            inner = amqp_table_t(num_entries: 1, entries: entry)
        }
        table.entries[all.count - 1].value.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
        table.entries[all.count - 1].value.value.table = inner
        return table
    }

    func value(_ value: RawValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }
        switch value {
        case .bool(let v):
            field.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .i8(let v):
            field.kind = kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .u8(let v):
            field.kind = kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .i16(let v):
            field.kind = kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .u16(let v):
            field.kind = kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .i32(let v):
            field.kind = kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .u32(let v):
            field.kind = kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .i64(let v):
            field.kind = kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .u64(let v):
            field.kind = kind(AMQP_FIELD_KIND_U64)
            field.value.u64 = v
        case .f32(let v):
            field.kind = kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .f64(let v):
            field.kind = kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let scale, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .longString(let b):
            field.kind = kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(b)
        case .bytes(let b):
            field.kind = kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(b)
        case .timestamp(let v):
            field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = v
        case .array(let values):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            let pointer = allocate(MemoryLayout<amqp_field_value_t>.stride * max(values.count, 1))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(values.count, 1))
            for (index, element) in values.enumerated() { pointer[index] = self.value(element) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: pointer)
        case .table(let entries):
            field.kind = kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(entries)
        case .void:
            field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    func properties(_ p: RawProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        if let v = p.contentType { c.content_type = bytes(v); flags |= CRA_CONTENT_TYPE_FLAG }
        if let v = p.contentEncoding { c.content_encoding = bytes(v); flags |= CRA_CONTENT_ENCODING_FLAG }
        if let v = p.headers { c.headers = headers(v); flags |= CRA_HEADERS_FLAG }
        if let v = p.deliveryMode { c.delivery_mode = v; flags |= CRA_DELIVERY_MODE_FLAG }
        if let v = p.priority { c.priority = v; flags |= CRA_PRIORITY_FLAG }
        if let v = p.correlationID { c.correlation_id = bytes(v); flags |= CRA_CORRELATION_ID_FLAG }
        if let v = p.replyTo { c.reply_to = bytes(v); flags |= CRA_REPLY_TO_FLAG }
        if let v = p.expiration { c.expiration = bytes(v); flags |= CRA_EXPIRATION_FLAG }
        if let v = p.messageID { c.message_id = bytes(v); flags |= CRA_MESSAGE_ID_FLAG }
        if let v = p.timestamp { c.timestamp = v; flags |= CRA_TIMESTAMP_FLAG }
        if let v = p.type { c.type = bytes(v); flags |= CRA_TYPE_FLAG }
        if let v = p.appID { c.app_id = bytes(v); flags |= CRA_APP_ID_FLAG }
        if let v = p.clusterID { c.cluster_id = bytes(v); flags |= CRA_CLUSTER_ID_FLAG }
        c._flags = flags
        return c
    }
}
