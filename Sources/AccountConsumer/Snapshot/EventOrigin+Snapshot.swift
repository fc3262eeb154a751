import AMQP
public import AccountProjection

/// How a parked event's origin goes into a snapshot: the body, the routing key, the
/// stream offset and every basic property, headers included (each field value with its
/// AMQP kind, tables and arrays nested), so that an event rejected after a restart goes
/// to the invalid queue exactly as it would have before.
extension EventOrigin {
    public static func encode(_ origin: EventOrigin, _ writer: inout SnapshotWriter) {
        writer.write(origin.body)
        writer.write(origin.routingKey)
        writer.write(origin.offset != nil)
        if let offset = origin.offset { writer.write(offset) }
        let p = origin.properties
        writer.write(p.contentType)
        writer.write(p.contentEncoding)
        writer.write(p.headers != nil)
        if let headers = p.headers { writeTable(headers, &writer) }
        writeOptional(p.deliveryMode, &writer)
        writeOptional(p.priority, &writer)
        writer.write(p.correlationID)
        writer.write(p.replyTo)
        writer.write(p.expiration)
        writer.write(p.messageID)
        writeOptional(p.timestamp, &writer)
        writer.write(p.type)
        writer.write(p.userID)
        writer.write(p.appID)
        writer.write(p.clusterID)
    }

    public static func decode(_ reader: inout SnapshotReader) throws(SnapshotError) -> EventOrigin {
        let body = try reader.readBytes()
        let routingKey = try reader.readString()
        let offset: Int64? = try reader.readBool() ? try reader.read() : nil
        var p = AMQPProperties()
        p.contentType = try reader.readOptionalString()
        p.contentEncoding = try reader.readOptionalString()
        p.headers = try reader.readBool() ? try readTable(&reader, depth: 0) : nil
        p.deliveryMode = try readOptional(&reader)
        p.priority = try readOptional(&reader)
        p.correlationID = try reader.readOptionalString()
        p.replyTo = try reader.readOptionalString()
        p.expiration = try reader.readOptionalString()
        p.messageID = try reader.readOptionalString()
        p.timestamp = try readOptional(&reader)
        p.type = try reader.readOptionalString()
        p.userID = try reader.readOptionalString()
        p.appID = try reader.readOptionalString()
        p.clusterID = try reader.readOptionalString()
        return EventOrigin(body: body, properties: p, routingKey: routingKey, offset: offset)
    }

    private static func writeOptional<T: FixedWidthInteger>(_ value: T?, _ writer: inout SnapshotWriter) {
        writer.write(value != nil)
        if let value { writer.write(value) }
    }

    private static func readOptional<T: FixedWidthInteger>(_ reader: inout SnapshotReader) throws(SnapshotError) -> T? {
        try reader.readBool() ? try reader.read(T.self) : nil
    }

    private static func writeTable(_ table: AMQPTable, _ writer: inout SnapshotWriter) {
        writer.write(UInt32(table.entries.count))
        for entry in table.entries {
            writer.write(entry.key)
            writeValue(entry.value, &writer)
        }
    }

    private static func readTable(_ reader: inout SnapshotReader, depth: Int) throws(SnapshotError) -> AMQPTable {
        guard depth < 32 else { throw .corrupt("headers nested too deep") }
        let count: UInt32 = try reader.read()
        var entries: [AMQPTable.Entry] = []
        for _ in 0..<count {
            let key = try reader.readString()
            entries.append(AMQPTable.Entry(key: key, value: try readValue(&reader, depth: depth)))
        }
        return AMQPTable(entries)
    }

    private static func writeValue(_ value: AMQPFieldValue, _ writer: inout SnapshotWriter) {
        switch value {
        case .bool(let v): writer.write(UInt8(1)); writer.write(v)
        case .int8(let v): writer.write(UInt8(2)); writer.write(v)
        case .uint8(let v): writer.write(UInt8(3)); writer.write(v)
        case .int16(let v): writer.write(UInt8(4)); writer.write(v)
        case .uint16(let v): writer.write(UInt8(5)); writer.write(v)
        case .int32(let v): writer.write(UInt8(6)); writer.write(v)
        case .uint32(let v): writer.write(UInt8(7)); writer.write(v)
        case .int64(let v): writer.write(UInt8(8)); writer.write(v)
        case .uint64(let v): writer.write(UInt8(9)); writer.write(v)
        case .float(let v): writer.write(UInt8(10)); writer.write(v.bitPattern)
        case .double(let v): writer.write(UInt8(11)); writer.write(v.bitPattern)
        case .decimal(let scale, let v):
            writer.write(UInt8(12))
            writer.write(scale)
            writer.write(v)
        case .string(let v): writer.write(UInt8(13)); writer.write(v)
        case .bytes(let v): writer.write(UInt8(14)); writer.write(v)
        case .timestamp(let v): writer.write(UInt8(15)); writer.write(v)
        case .array(let values):
            writer.write(UInt8(16))
            writer.write(UInt32(values.count))
            for v in values { writeValue(v, &writer) }
        case .table(let table): writer.write(UInt8(17)); writeTable(table, &writer)
        case .void: writer.write(UInt8(18))
        }
    }

    private static func readValue(_ reader: inout SnapshotReader, depth: Int) throws(SnapshotError) -> AMQPFieldValue {
        let kind: UInt8 = try reader.read()
        switch kind {
        case 1: return .bool(try reader.readBool())
        case 2: return .int8(try reader.read())
        case 3: return .uint8(try reader.read())
        case 4: return .int16(try reader.read())
        case 5: return .uint16(try reader.read())
        case 6: return .int32(try reader.read())
        case 7: return .uint32(try reader.read())
        case 8: return .int64(try reader.read())
        case 9: return .uint64(try reader.read())
        case 10: return .float(Float(bitPattern: try reader.read()))
        case 11: return .double(Double(bitPattern: try reader.read()))
        case 12:
            let scale: UInt8 = try reader.read()
            return .decimal(scale: scale, value: try reader.read())
        case 13: return .string(try reader.readString())
        case 14: return .bytes(try reader.readBytes())
        case 15: return .timestamp(try reader.read())
        case 16:
            guard depth < 32 else { throw .corrupt("headers nested too deep") }
            let count: UInt32 = try reader.read()
            var values: [AMQPFieldValue] = []
            for _ in 0..<count { values.append(try readValue(&reader, depth: depth + 1)) }
            return .array(values)
        case 17: return .table(try readTable(&reader, depth: depth + 1))
        case 18: return .void
        default: throw .corrupt("header value kind \(kind)")
        }
    }
}
