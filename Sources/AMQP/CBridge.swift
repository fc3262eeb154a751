import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// C memory for one call into librabbitmq: strings, bodies and tables copied out of
/// Swift values, freed together when the call is done. Used on the connection thread only.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { reset() }

    func reset() {
        for block in blocks { free(block) }
        blocks.removeAll(keepingCapacity: true)
    }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let block = malloc(max(size, 1))!
        blocks.append(block)
        return block
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        let block = allocate(buffer.count)
        if let base = buffer.baseAddress { block.copyMemory(from: base, byteCount: buffer.count) }
        return amqp_bytes_t(len: buffer.count, bytes: block)
    }

    func bytes(_ array: [UInt8]) -> amqp_bytes_t {
        array.withUnsafeBytes { bytes($0) }
    }

    func table(_ table: AMQPTable?) -> amqp_table_t {
        guard let table, !table.isEmpty else { return amqp_empty_table }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.entries.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: table.entries.count)
        for (index, entry) in table.entries.enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(entry.key), value: fieldValue(entry.value))
        }
        return amqp_table_t(num_entries: Int32(table.entries.count), entries: entries)
    }

    func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }
        switch value {
        case .bool(let v):
            field.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            field.kind = kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .uint8(let v):
            field.kind = kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .int16(let v):
            field.kind = kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .uint16(let v):
            field.kind = kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .int32(let v):
            field.kind = kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .uint32(let v):
            field.kind = kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .int64(let v):
            field.kind = kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .uint64(let v):
            field.kind = kind(AMQP_FIELD_KIND_U64)
            field.value.u64 = v
        case .float(let v):
            field.kind = kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .double(let v):
            field.kind = kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let scale, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .string(let s):
            field.kind = kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(s)
        case .bytes(let b):
            field.kind = kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(b)
        case .timestamp(let v):
            field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = v
        case .array(let values):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * values.count)
                .bindMemory(to: amqp_field_value_t.self, capacity: values.count)
            for (index, element) in values.enumerated() { entries[index] = fieldValue(element) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
        case .table(let t):
            field.kind = kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(t)
        case .void:
            field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    /// Fills `amqp_basic_properties_t` from Swift properties; the C strings live in this arena.
    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        if let v = p.contentType { c.content_type = bytes(v); flags |= CRA_CONTENT_TYPE_FLAG }
        if let v = p.contentEncoding { c.content_encoding = bytes(v); flags |= CRA_CONTENT_ENCODING_FLAG }
        if let v = p.headers { c.headers = table(v); flags |= CRA_HEADERS_FLAG }
        if let v = p.deliveryMode { c.delivery_mode = v; flags |= CRA_DELIVERY_MODE_FLAG }
        if let v = p.priority { c.priority = v; flags |= CRA_PRIORITY_FLAG }
        if let v = p.correlationID { c.correlation_id = bytes(v); flags |= CRA_CORRELATION_ID_FLAG }
        if let v = p.replyTo { c.reply_to = bytes(v); flags |= CRA_REPLY_TO_FLAG }
        if let v = p.expiration { c.expiration = bytes(v); flags |= CRA_EXPIRATION_FLAG }
        if let v = p.messageID { c.message_id = bytes(v); flags |= CRA_MESSAGE_ID_FLAG }
        if let v = p.timestamp { c.timestamp = v; flags |= CRA_TIMESTAMP_FLAG }
        if let v = p.type { c.type = bytes(v); flags |= CRA_TYPE_FLAG }
        if let v = p.userID { c.user_id = bytes(v); flags |= CRA_USER_ID_FLAG }
        if let v = p.appID { c.app_id = bytes(v); flags |= CRA_APP_ID_FLAG }
        c._flags = flags
        return c
    }
}

// MARK: - From C to Swift

extension String {
    init(amqpBytes b: amqp_bytes_t) {
        guard b.len > 0, let base = b.bytes else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: b.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(amqpBytes b: amqp_bytes_t) {
        guard b.len > 0, let base = b.bytes else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: base, count: b.len))
    }
}

extension AMQPTable {
    init(c table: amqp_table_t) {
        var strings = RecentStrings()
        self.init(c: table, strings: &strings)
    }

    init(c table: amqp_table_t, strings: inout RecentStrings) {
        var entries: [Entry] = []
        entries.reserveCapacity(Int(table.num_entries))
        for index in 0..<Int(table.num_entries) {
            let entry = table.entries[index]
            entries.append(Entry(key: strings.string(entry.key), value: AMQPFieldValue(c: entry.value)))
        }
        self.init(entries)
    }
}

extension AMQPFieldValue {
    init(c field: amqp_field_value_t) {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: self = .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: self = .int8(field.value.i8)
        case AMQP_FIELD_KIND_U8.rawValue: self = .uint8(field.value.u8)
        case AMQP_FIELD_KIND_I16.rawValue: self = .int16(field.value.i16)
        case AMQP_FIELD_KIND_U16.rawValue: self = .uint16(field.value.u16)
        case AMQP_FIELD_KIND_I32.rawValue: self = .int32(field.value.i32)
        case AMQP_FIELD_KIND_U32.rawValue: self = .uint32(field.value.u32)
        case AMQP_FIELD_KIND_I64.rawValue: self = .int64(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: self = .uint64(field.value.u64)
        case AMQP_FIELD_KIND_F32.rawValue: self = .float(field.value.f32)
        case AMQP_FIELD_KIND_F64.rawValue: self = .double(field.value.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            self = .decimal(scale: field.value.decimal.decimals, value: field.value.decimal.value)
        case AMQP_FIELD_KIND_UTF8.rawValue: self = .string(String(amqpBytes: field.value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: self = .bytes([UInt8](amqpBytes: field.value.bytes))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: self = .timestamp(field.value.u64)
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = field.value.array
            self = .array((0..<Int(array.num_entries)).map { AMQPFieldValue(c: array.entries[$0]) })
        case AMQP_FIELD_KIND_TABLE.rawValue: self = .table(AMQPTable(c: field.value.table))
        default: self = .void
        }
    }
}

extension AMQPProperties {
    init(c p: amqp_basic_properties_t) {
        var strings = RecentStrings()
        self.init(c: p, strings: &strings)
    }

    /// The properties, sharing the strings that repeat between messages (content type and
    /// encoding, type, user and app id, header names) through `strings`.
    init(c p: amqp_basic_properties_t, strings: inout RecentStrings) {
        self.init()
        let flags = p._flags
        if flags & CRA_CONTENT_TYPE_FLAG != 0 { contentType = strings.string(p.content_type) }
        if flags & CRA_CONTENT_ENCODING_FLAG != 0 { contentEncoding = strings.string(p.content_encoding) }
        if flags & CRA_HEADERS_FLAG != 0 { headers = AMQPTable(c: p.headers, strings: &strings) }
        if flags & CRA_DELIVERY_MODE_FLAG != 0 { deliveryMode = p.delivery_mode }
        if flags & CRA_PRIORITY_FLAG != 0 { priority = p.priority }
        if flags & CRA_CORRELATION_ID_FLAG != 0 { correlationID = String(amqpBytes: p.correlation_id) }
        if flags & CRA_REPLY_TO_FLAG != 0 { replyTo = String(amqpBytes: p.reply_to) }
        if flags & CRA_EXPIRATION_FLAG != 0 { expiration = String(amqpBytes: p.expiration) }
        if flags & CRA_MESSAGE_ID_FLAG != 0 { messageID = String(amqpBytes: p.message_id) }
        if flags & CRA_TIMESTAMP_FLAG != 0 { timestamp = p.timestamp }
        if flags & CRA_TYPE_FLAG != 0 { type = strings.string(p.type) }
        if flags & CRA_USER_ID_FLAG != 0 { userID = strings.string(p.user_id) }
        if flags & CRA_APP_ID_FLAG != 0 { appID = strings.string(p.app_id) }
        if flags & CRA_CLUSTER_ID_FLAG != 0 { clusterID = String(amqpBytes: p.cluster_id) }
    }
}

extension AMQPProperties {
    /// Decodes AMQP-encoded basic properties (what a content header frame carries after the
    /// class id and body size); empty properties when the bytes do not decode.
    init(encoded: [UInt8]) {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var decoded: UnsafeMutableRawPointer?
        let status = encoded.withUnsafeBytes { raw in
            let bytes = amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return amqp_decode_properties(UInt16(CRA_BASIC_CLASS), &pool, bytes, &decoded)
        }
        guard status == AMQP_STATUS_OK.rawValue, let decoded else {
            self.init()
            return
        }
        self.init(c: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
    }
}

extension amqp_basic_properties_t {
    /// The `x-stream-offset` header, read straight from the C table.
    var streamOffset: Int64? {
        guard _flags & CRA_HEADERS_FLAG != 0 else { return nil }
        var found: Int64?
        for index in 0..<Int(headers.num_entries) {
            let entry = headers.entries[index]
            guard entry.key.len == 15, memcmp(entry.key.bytes, "x-stream-offset", 15) == 0 else { continue }
            found = AMQPFieldValue(c: entry.value).int64Value
        }
        return found
    }
}

/// librabbitmq's text for a status code.
func statusMessage(_ status: Int32) -> String {
    String(cString: amqp_error_string2(status))
}
