/// A projection's whole state as bytes, and back (pure: no I/O).
///
/// Layout, integers little-endian, strings as a UInt32 byte count and UTF-8 bytes:
///
///     header   magic "ACCTSNAP" (8) | format version UInt16 | total length UInt64
///              | CRC-32 of the 18 bytes before it (UInt32)
///     body     identity string | covered stream offset Int64 | payload
///     trailer  CRC-32 of every byte before it (UInt32)
///
/// The payload: parking limit, events applied, duplicates, the invalid counters as
/// (reason name, count) pairs, the account records in table order (id, owner, openedAt,
/// updatedAt, balance, version, packed currency, phase; never-opened accounts included),
/// then the parked events oldest first, each an event and its origin (written by the
/// caller). What can be derived (opened count, per-account parked counts, the listing
/// order) is rebuilt on load.
///
/// Encoded streamed, in pieces of about `chunkSize` bytes: the header, which holds the
/// length, is known last and goes over zeros; the trailer's CRC-32 combines the header's
/// with the body's, summed as the pieces went out. Never whole in memory.
///
/// Decoding checks, in order: magic and header checksum (`corrupt`), format version
/// (`newerFormat`), length (`truncated`), whole-file checksum (`corrupt`), identity
/// (`foreign`), then the payload's consistency (`corrupt`).
public enum ProjectionSnapshot {
    public static let magic: [UInt8] = Array("ACCTSNAP".utf8)
    public static let formatVersion: UInt16 = 1
    /// Magic, version, length and the header's checksum.
    public static let headerSize = 22

    /// Bytes a streamed snapshot encodes before handing them on: with one record or parked
    /// event over, the most of the encoding it holds at once.
    public static let chunkSize = 1 << 20

    /// CRC-32 (IEEE 802.3, reflected, as zlib computes it), continuing `previous`, the CRC-32
    /// of the bytes before these: `crc32(b, after: crc32(a)) == crc32(a + b)`.
    public static func crc32<C: Collection<UInt8>>(_ bytes: C, after previous: UInt32 = 0) -> UInt32 {
        var crc = previous ^ 0xFFFF_FFFF
        let table = crcTable
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let polynomial: UInt32 = 0xEDB8_8320

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = c & 1 != 0 ? polynomial ^ (c >> 1) : c >> 1
        }
        return c
    }

    /// The CRC-32 of `a + b` from `crc32(a)`, `crc32(b)` and `b`'s length, as zlib's
    /// `crc32_combine`: the header, known last, goes before a body whose CRC is already summed.
    public static func crc32Combine(_ first: UInt32, _ second: UInt32, secondLength: UInt64) -> UInt32 {
        var power: UInt32 = 1 << 31  // x^0; becomes x^(8 * secondLength) mod P, by squares
        var n = secondLength
        var k = 3
        while n != 0 {
            if n & 1 != 0 { power = multiplyModP(xToThe2ToThe[k & 31], power) }
            n >>= 1
            k += 1
        }
        return multiplyModP(power, first) ^ second
    }

    /// a * b modulo the CRC polynomial, bits reflected; `a` is never zero here.
    private static func multiplyModP(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var b = b
        var m: UInt32 = 1 << 31
        var product: UInt32 = 0
        while true {
            if a & m != 0 {
                product ^= b
                if a & (m &- 1) == 0 { break }
            }
            m >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ polynomial : b >> 1
        }
        return product
    }

    /// x^(2^k) modulo the CRC polynomial, for k in 0..<32.
    private static let xToThe2ToThe: [UInt32] = {
        var table: [UInt32] = [1 << 30]  // x^1
        for _ in 1..<32 { table.append(multiplyModP(table[table.count - 1], table[table.count - 1])) }
        return table
    }()

    /// The header to put over the first `headerSize` bytes of a streamed snapshot (it holds
    /// the length, known last) and the trailer to put after the body: the CRC-32 of every
    /// byte before it, the header's combined with the body's, summed as it went out.
    static func ends(version: UInt16, bodyCRC: UInt32, bodyLength: UInt64) -> (header: [UInt8], trailer: [UInt8]) {
        var header = SnapshotWriter()
        header.bytes = magic
        header.write(version)
        header.write(UInt64(headerSize) + bodyLength + 4)
        header.write(crc32(header.bytes))
        var trailer = SnapshotWriter()
        trailer.write(crc32Combine(crc32(header.bytes), bodyCRC, secondLength: bodyLength))
        return (header.bytes, trailer.bytes)
    }

    /// A whole snapshot around the payload `build` writes (for tests of the framing).
    static func frame(
        identity: String, offset: Int64, version: UInt16, build: (inout SnapshotWriter) -> Void
    ) -> [UInt8] {
        var body = SnapshotWriter()
        body.write(identity)
        body.write(offset)
        build(&body)
        let (header, trailer) = ends(
            version: version, bodyCRC: crc32(body.bytes), bodyLength: UInt64(body.bytes.count))
        return header + body.bytes + trailer
    }

    /// What the header and trailer say, checked: a reader positioned at the payload.
    static func open(
        _ bytes: [UInt8], identity expected: String
    ) throws(SnapshotError) -> (
        reader: SnapshotReader, offset: Int64
    ) {
        let prefix = min(bytes.count, magic.count)
        guard bytes[0..<prefix].elementsEqual(magic[0..<prefix]) else { throw .corrupt("not a snapshot (bad magic)") }
        guard bytes.count >= headerSize else { throw .truncated }
        var header = SnapshotReader(bytes)
        header.position = magic.count
        let version: UInt16 = try header.read()
        let length: UInt64 = try header.read()
        let headerCRC: UInt32 = try header.read()
        guard headerCRC == crc32(bytes[0..<18]) else { throw .corrupt("header checksum mismatch") }
        guard version >= 1 else { throw .corrupt("format version 0") }
        guard version <= formatVersion else { throw .newerFormat(found: version, supported: formatVersion) }
        guard length >= UInt64(headerSize + 4) else { throw .corrupt("length \(length) too small") }
        guard UInt64(bytes.count) >= length else { throw .truncated }
        guard UInt64(bytes.count) == length else {
            throw .corrupt("\(UInt64(bytes.count) - length) bytes after the end")
        }
        let end = bytes.count - 4
        var trailer = SnapshotReader(bytes)
        trailer.position = end
        let stored: UInt32 = try trailer.read()
        guard stored == crc32(bytes[0..<end]) else { throw .corrupt("checksum mismatch") }
        var reader = SnapshotReader(bytes, end: end)
        reader.position = headerSize
        do throws(SnapshotError) {
            let identity = try reader.readString()
            guard identity == expected else { throw SnapshotError.foreign(expected: expected, found: identity) }
            let offset: Int64 = try reader.read()
            return (reader, offset)
        } catch .truncated {
            throw .corrupt("the body ends early")
        }
    }
}

/// Why a snapshot cannot be loaded.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not a snapshot, or damaged: a checksum or a value does not hold.
    case corrupt(String)
    /// Written by a later version of this program.
    case newerFormat(found: UInt16, supported: UInt16)
    /// Written for another stream or configuration.
    case foreign(expected: String, found: String)
    /// Shorter than its header says.
    case truncated

    public var description: String {
        switch self {
        case .corrupt(let why): "corrupt snapshot: \(why)"
        case .newerFormat(let found, let supported):
            "snapshot format \(found) is newer than the supported format \(supported)"
        case .foreign(let expected, let found): "snapshot is for '\(found)', not '\(expected)'"
        case .truncated: "truncated snapshot"
        }
    }
}

/// Appends little-endian integers and length-prefixed strings.
public struct SnapshotWriter: Sendable {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Bool) {
        write(UInt8(value ? 1 : 0))
    }

    public mutating func write(_ bytes: [UInt8]) {
        write(UInt32(bytes.count))
        self.bytes.append(contentsOf: bytes)
    }

    public mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            write(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A string that may be absent: a presence byte, then the string.
    public mutating func write(_ string: String?) {
        write(string != nil)
        if let string { write(string) }
    }
}

/// Reads what a ``SnapshotWriter`` wrote; running out throws `.truncated`.
public struct SnapshotReader: Sendable {
    private let bytes: [UInt8]
    private let end: Int
    public internal(set) var position = 0

    public init(_ bytes: [UInt8], end: Int? = nil) {
        self.bytes = bytes
        self.end = end ?? bytes.count
    }

    public var isAtEnd: Bool { position == end }

    private mutating func take(_ count: Int) throws(SnapshotError) -> Range<Int> {
        guard count >= 0, end - position >= count else { throw .truncated }
        defer { position += count }
        return position..<position + count
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(SnapshotError) -> T {
        let range = try take(MemoryLayout<T>.size)
        var value: T = 0
        for (i, byte) in bytes[range].enumerated() {
            value |= T(truncatingIfNeeded: byte) << (8 * i)
        }
        return value
    }

    public mutating func readBool() throws(SnapshotError) -> Bool {
        switch try read(UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw .corrupt("\(other) is not a boolean")
        }
    }

    public mutating func readBytes() throws(SnapshotError) -> [UInt8] {
        let count = try read(UInt32.self)
        return Array(bytes[try take(Int(count))])
    }

    public mutating func readString() throws(SnapshotError) -> String {
        let count = try read(UInt32.self)
        let range = try take(Int(count))
        guard let string = String(validating: bytes[range], as: UTF8.self) else {
            throw .corrupt("a string is not UTF-8")
        }
        return string
    }

    public mutating func readOptionalString() throws(SnapshotError) -> String? {
        try readBool() ? try readString() : nil
    }
}

extension Projection {
    /// The whole state as a snapshot covering the stream up to `offset`; `identity` says
    /// what it was built from and is compared on load. `encodeOrigin` writes the origin
    /// of each parked event. Whole in memory: a file takes ``streamSnapshot``.
    public func snapshot(
        identity: String, offset: Int64, encodeOrigin: (Origin, inout SnapshotWriter) -> Void
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        let (header, trailer) = streamSnapshot(identity: identity, offset: offset, encodeOrigin: encodeOrigin) {
            bytes.append(contentsOf: $0)
        }
        bytes.replaceSubrange(0..<header.count, with: header)
        bytes.append(contentsOf: trailer)
        return bytes
    }

    /// The same snapshot in pieces of about `chunkSize` bytes, for a file: `output` gets them
    /// in order, the first ``ProjectionSnapshot/headerSize`` bytes zeros; the returned `header`
    /// goes over those and the `trailer` after the rest. An error `output` throws ends it.
    public func streamSnapshot<Failure: Error>(
        identity: String, offset: Int64, chunkSize: Int = ProjectionSnapshot.chunkSize,
        encodeOrigin: (Origin, inout SnapshotWriter) -> Void, output: ([UInt8]) throws(Failure) -> Void
    ) throws(Failure) -> (header: [UInt8], trailer: [UInt8]) {
        try output([UInt8](repeating: 0, count: ProjectionSnapshot.headerSize))
        var bodyCRC: UInt32 = 0
        var bodyLength: UInt64 = 0
        func emit(_ writer: inout SnapshotWriter) throws(Failure) {
            guard !writer.bytes.isEmpty else { return }
            bodyCRC = ProjectionSnapshot.crc32(writer.bytes, after: bodyCRC)
            bodyLength += UInt64(writer.bytes.count)
            try output(writer.bytes)
            writer.bytes.removeAll(keepingCapacity: true)
        }
        var writer = SnapshotWriter()
        writer.bytes.reserveCapacity(chunkSize)
        writer.write(identity)
        writer.write(offset)
        try encodePayload(&writer, encodeOrigin: encodeOrigin) { (writer: inout SnapshotWriter) throws(Failure) in
            if writer.bytes.count >= chunkSize { try emit(&writer) }
        }
        try emit(&writer)
        return ProjectionSnapshot.ends(
            version: ProjectionSnapshot.formatVersion, bodyCRC: bodyCRC, bodyLength: bodyLength)
    }

    /// The payload, handing `drain` the writer after each record and parked event so that
    /// full chunks go out.
    private func encodePayload<Failure: Error>(
        _ writer: inout SnapshotWriter, encodeOrigin: (Origin, inout SnapshotWriter) -> Void,
        drain: (inout SnapshotWriter) throws(Failure) -> Void
    ) throws(Failure) {
        writer.write(Int64(parkingLimit))
        writer.write(Int64(applied))
        writer.write(Int64(duplicates))
        writer.write(UInt8(RejectionReason.allCases.count))
        for reason in RejectionReason.allCases {
            writer.write(reason.rawValue)
            writer.write(Int64(invalidCounts[reason.counterIndex]))
        }
        writer.write(UInt32(table.count))
        try table.forEachLive { (record) throws(Failure) in
            writer.write(record.id)
            writer.write(record.owner)
            writer.write(record.openedAt)
            writer.write(record.updatedAt)
            writer.write(record.balance)
            writer.write(record.version)
            writer.write(record.currency)
            writer.write(record.phase.rawValue)
            try drain(&writer)
        }
        writer.write(UInt32(parking.count))
        try parking.forEachOldestFirst { (entry) throws(Failure) in
            writer.writeEvent(entry.event)
            encodeOrigin(entry.origin, &writer)
            try drain(&writer)
        }
    }

    /// The projection a snapshot holds and the offset it covers; throws when the bytes
    /// are not a whole, sound snapshot of this format for this `identity`.
    public static func restore(
        from bytes: [UInt8], identity: String,
        decodeOrigin: (inout SnapshotReader) throws(SnapshotError) -> Origin,
        parkingByteLimit: Int = .max, originBytes: (@Sendable (Origin) -> Int)? = nil
    ) throws(SnapshotError) -> (projection: Projection, offset: Int64) {
        var (reader, offset) = try ProjectionSnapshot.open(bytes, identity: identity)
        do throws(SnapshotError) {
            let limit: Int64 = try reader.read()
            guard limit >= 0, limit <= Int64(Int32.max) else { throw SnapshotError.corrupt("parking limit \(limit)") }
            var projection = Projection(
                parkingLimit: Int(limit), parkingByteLimit: parkingByteLimit, originBytes: originBytes)
            let applied: Int64 = try reader.read()
            let duplicates: Int64 = try reader.read()
            guard applied >= 0, duplicates >= 0 else { throw SnapshotError.corrupt("negative counter") }
            projection.applied = Int(applied)
            projection.duplicates = Int(duplicates)
            let reasons: UInt8 = try reader.read()
            for _ in 0..<reasons {
                let name = try reader.readString()
                let count: Int64 = try reader.read()
                guard let reason = RejectionReason(rawValue: name), count >= 0 else {
                    throw SnapshotError.corrupt("invalid counter '\(name)' = \(count)")
                }
                projection.invalidCounts[reason.counterIndex] = Int(count)
            }
            let accounts: UInt32 = try reader.read()
            for _ in 0..<accounts {
                let id = try reader.readString()
                let before = projection.table.count
                let index = projection.table.findOrInsert(id)
                guard projection.table.count == before + 1 else { throw SnapshotError.corrupt("account \(id) twice") }
                projection.table[index].owner = try reader.readString()
                projection.table[index].openedAt = try reader.readString()
                projection.table[index].updatedAt = try reader.readString()
                projection.table[index].balance = try reader.read()
                projection.table[index].version = try reader.read()
                let currency: UInt32 = try reader.read()
                guard currency <= 0x00FF_FFFF else {
                    throw SnapshotError.corrupt("account \(id) has currency \(currency)")
                }
                projection.table[index].currency = currency
                guard let phase = AccountRecord.Phase(rawValue: try reader.read()) else {
                    throw SnapshotError.corrupt("account \(id) has no valid phase")
                }
                projection.table[index].phase = phase
                if phase != .unopened {
                    projection.opened += 1
                    projection.order.insert(Int32(index))
                }
            }
            let parked: UInt32 = try reader.read()
            for _ in 0..<parked {
                let event = try reader.readEvent()
                let origin = try decodeOrigin(&reader)
                guard let account = projection.table.find(event.accountId),
                    event.sequence > projection.table[account].version + 1,
                    !projection.parking.contains(account: account, sequence: event.sequence)
                else {
                    throw SnapshotError.corrupt("parked event \(event.accountId)#\(event.sequence) does not fit")
                }
                let bytes = event.heldBytes + (originBytes?(origin) ?? 0)
                _ = projection.parking.park(account: account, event: event, origin: origin, bytes: bytes)
                projection.table[account].parked += 1
            }
            guard reader.isAtEnd else { throw SnapshotError.corrupt("bytes after the payload") }
            // Sorted here, outside any lock, not by the first listing under it.
            projection.order.mergeUnsorted(projection.table)
            return (projection, offset)
        } catch .truncated {
            throw .corrupt("the payload ends early")
        }
    }
}

extension SnapshotWriter {
    mutating func writeEvent(_ event: Event) {
        write(event.eventId)
        write(UInt8(event.type.flatMap { EventType.allCases.firstIndex(of: $0) }.map { $0 + 1 } ?? 0))
        write(event.accountId)
        write(event.sequence)
        write(event.occurredAt)
        write(event.owner)
        write(event.currency)
        write(event.amount)
        write(event.problem != nil)
        if let problem = event.problem {
            write(problem.reason.rawValue)
            write(problem.detail)
        }
    }
}

extension SnapshotReader {
    mutating func readEvent() throws(SnapshotError) -> Event {
        let eventId = try readString()
        let typeCode: UInt8 = try read()
        guard Int(typeCode) <= EventType.allCases.count else { throw .corrupt("event type \(typeCode)") }
        let type = typeCode == 0 ? nil : EventType.allCases[Int(typeCode) - 1]
        let accountId = try readString()
        let sequence: Int64 = try read()
        let occurredAt = try readString()
        let owner = try readString()
        let currency = try readString()
        let amount: Int64 = try read()
        var problem: EventProblem?
        if try readBool() {
            let name = try readString()
            guard let reason = RejectionReason(rawValue: name) else { throw .corrupt("rejection reason '\(name)'") }
            problem = EventProblem(reason: reason, detail: try readString())
        }
        return Event(
            eventId: eventId, type: type, accountId: accountId, sequence: sequence, occurredAt: occurredAt,
            owner: owner, currency: currency, amount: amount, problem: problem)
    }
}
