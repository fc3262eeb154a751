import TestSupport
import Testing

@testable import AccountProjection

@Suite("Streamed snapshots")
struct SnapshotStreamTests {
    /// The encoder as it was when snapshots were built whole in one growing array, kept
    /// verbatim: what the streamed encoder must reproduce byte for byte.
    static func wholeEncoding(_ projection: Projection<Int>, identity: String, offset: Int64) -> [UInt8] {
        var writer = SnapshotWriter()
        writer.bytes.append(contentsOf: ProjectionSnapshot.magic)
        writer.write(ProjectionSnapshot.formatVersion)
        writer.write(UInt64(0))
        writer.write(UInt32(0))
        writer.write(identity)
        writer.write(offset)
        writer.write(Int64(projection.parkingLimit))
        writer.write(Int64(projection.applied))
        writer.write(Int64(projection.duplicates))
        writer.write(UInt8(RejectionReason.allCases.count))
        for reason in RejectionReason.allCases {
            writer.write(reason.rawValue)
            writer.write(Int64(projection.invalidCounts[reason.counterIndex]))
        }
        writer.write(UInt32(projection.table.count))
        projection.table.forEachLive { record in
            writer.write(record.id)
            writer.write(record.owner)
            writer.write(record.openedAt)
            writer.write(record.updatedAt)
            writer.write(record.balance)
            writer.write(record.version)
            writer.write(record.currency)
            writer.write(record.phase.rawValue)
        }
        writer.write(UInt32(projection.parking.count))
        projection.parking.forEachOldestFirst { entry in
            writer.writeEvent(entry.event)
            SnapshotTests.encode(entry.origin, &writer)
        }
        let total = UInt64(writer.bytes.count + 4)
        for i in 0..<8 { writer.bytes[10 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(i))) }
        let headerCRC = ProjectionSnapshot.crc32(writer.bytes[0..<18])
        for i in 0..<4 { writer.bytes[18 + i] = UInt8(truncatingIfNeeded: headerCRC >> (8 * UInt32(i))) }
        writer.write(ProjectionSnapshot.crc32(writer.bytes))
        return writer.bytes
    }

    /// A projection with parked events, never-opened accounts, rejections and duplicates,
    /// and every invalid counter set to a value of its own.
    static func projection(seed: UInt64) -> Projection<Int> {
        let (before, _) = SnapshotTests.deliveries(seed: seed)
        var projection = Projection<Int>(parkingLimit: 8)
        var rejected: [RejectedEvent<Int>] = []
        for (i, body) in before.enumerated() {
            _ = projection.apply(body, origin: i, rejected: &rejected)
        }
        projection.duplicates += 17  // whatever the cut left of the delivered duplicates
        for reason in RejectionReason.allCases {
            projection.invalidCounts[reason.counterIndex] += 1000 * (reason.counterIndex + 1)
        }
        return projection
    }

    static func assemble(_ pieces: [[UInt8]], header: [UInt8], trailer: [UInt8]) -> [UInt8] {
        var bytes = Array(pieces.joined())
        bytes.replaceSubrange(0..<header.count, with: header)
        return bytes + trailer
    }

    @Test func crc32ContinuesAndCombines() {
        #expect(ProjectionSnapshot.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        var random = SplitMix64(seed: 7)
        for length in [0, 1, 2, 5, 22, 100, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let whole = ProjectionSnapshot.crc32(bytes)
            for cut in Set([0, length / 3, length / 2, length]) {
                let a = ProjectionSnapshot.crc32(bytes[..<cut])
                let b = ProjectionSnapshot.crc32(bytes[cut...])
                #expect(ProjectionSnapshot.crc32(bytes[cut...], after: a) == whole, "length \(length), cut \(cut)")
                #expect(
                    ProjectionSnapshot.crc32Combine(a, b, secondLength: UInt64(length - cut)) == whole,
                    "length \(length), cut \(cut)")
            }
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func theStreamIsByteForByteTheWholeEncoding(seed: UInt64) throws {
        let projection = Self.projection(seed: seed)
        #expect(projection.statistics.parked >= 2 && projection.statistics.invalid >= 2)
        #expect(projection.duplicates > 0 && projection.table.count > projection.opened)
        let expected = Self.wholeEncoding(projection, identity: SnapshotTests.identity, offset: 77)
        #expect(
            projection.snapshot(identity: SnapshotTests.identity, offset: 77, encodeOrigin: SnapshotTests.encode)
                == expected)
        for chunkSize in [1, 7, 64, 4096, ProjectionSnapshot.chunkSize] {
            var pieces: [[UInt8]] = []
            let (header, trailer) = projection.streamSnapshot(
                identity: SnapshotTests.identity, offset: 77, chunkSize: chunkSize,
                encodeOrigin: SnapshotTests.encode
            ) { pieces.append($0) }
            #expect(pieces.first == [UInt8](repeating: 0, count: ProjectionSnapshot.headerSize))
            #expect(Self.assemble(pieces, header: header, trailer: trailer) == expected, "chunk size \(chunkSize)")
            if chunkSize < expected.count / 4 { #expect(pieces.count > 4, "chunk size \(chunkSize)") }
        }
        let (restored, offset) = try SnapshotTests.restore(expected)
        #expect(offset == 77)
        #expect(restored.statistics == projection.statistics)
    }

    struct Stop: Error {}

    @Test func anOutputErrorEndsTheStream() {
        let projection = Self.projection(seed: 3)
        var calls = 0
        #expect(throws: Stop.self) {
            _ = try projection.streamSnapshot(
                identity: "x", offset: 1, chunkSize: 16, encodeOrigin: SnapshotTests.encode
            ) { _ in
                calls += 1
                if calls == 3 { throw Stop() }
            }
        }
        #expect(calls == 3)
    }
}
