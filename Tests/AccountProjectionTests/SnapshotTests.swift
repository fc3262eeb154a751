import TestSupport
import Testing

@testable import AccountProjection

@Suite("Projection snapshots")
struct SnapshotTests {
    static let identity = "stream=s;exchange=e;parkedLimit=8;format=1"

    static func encode(_ origin: Int, _ writer: inout SnapshotWriter) {
        writer.write(Int64(origin))
    }

    static func decode(_ reader: inout SnapshotReader) throws(SnapshotError) -> Int {
        Int(try reader.read(Int64.self))
    }

    static func restore(
        _ bytes: [UInt8], identity: String = identity
    ) throws(SnapshotError) -> (
        projection: Projection<Int>, offset: Int64
    ) {
        try Projection<Int>.restore(from: bytes, identity: identity, decodeOrigin: decode)
    }

    /// Several random histories delivered shuffled, with duplicates, and with events that
    /// are rejected, park for ever, or belong to accounts never opened; cut in two.
    static func deliveries(seed: UInt64) -> (before: [[UInt8]], after: [[UInt8]]) {
        var random = SplitMix64(seed: seed)
        var bodies: [[UInt8]] = []
        for history in 0..<6 {
            bodies += GeneratedHistory(seed: seed &* 100 &+ UInt64(history)).bodies
        }
        for _ in 0..<bodies.count / 5 {
            bodies.append(bodies.randomElement(using: &random)!)
        }
        bodies.shuffle(using: &random)
        let cut = Int.random(in: 0...bodies.count, using: &random)
        var after = Array(bodies[cut...])
        // Always in the snapshot: a rejection, a never-opened account, two parked events.
        let special: [[UInt8]] = [
            Array("{not json".utf8),
            Body.deposited("ghost-\(seed)", sequence: 1, amount: 5),  // never opened: takes version 1
            Body.deposited("ghost-\(seed)", sequence: 3, amount: 5),  // parks behind the missing 2
            Body.deposited("far-\(seed)", sequence: 9, amount: 5),  // parks, account otherwise unseen
            Body.event(type: "\"Nope\"", accountId: "\"odd-\(seed)\"", sequence: "1"),
        ]
        // What fills the gaps left above, and more of the same after the restore.
        after += [
            Body.deposited("ghost-\(seed)", sequence: 2, amount: 5),
            Body.opened("late-\(seed)"),
            Body.deposited("late-\(seed)", sequence: 3, amount: 7),
            Body.deposited("late-\(seed)", sequence: 2, amount: 7),
        ]
        return (Array(bodies[..<cut]) + special, after)
    }

    static func everyID(_ before: [[UInt8]], _ after: [[UInt8]]) -> Set<String> {
        var ids = Set<String>()
        for body in before + after {
            if case .success(let event) = EventDecoder.decode(body) { ids.insert(event.accountId) }
        }
        return ids
    }

    static func expectSameState(
        _ a: inout Projection<Int>, _ b: inout Projection<Int>, ids: Set<String>, _ note: Comment
    ) {
        #expect(a.statistics == b.statistics, note)
        #expect(a.accounts(after: nil, limit: Int.max).items == b.accounts(after: nil, limit: Int.max).items, note)
        #expect(a.accounts(after: "acc-", limit: 3).items == b.accounts(after: "acc-", limit: 3).items, note)
        for id in ids {
            #expect(a.account(id: id) == b.account(id: id), note)
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func aRestoredProjectionIsTheSameAndBehavesTheSame(seed: UInt64) throws {
        let (before, after) = Self.deliveries(seed: seed)
        let ids = Self.everyID(before, after)
        var original = Projection<Int>(parkingLimit: 8)
        var rejected: [RejectedEvent<Int>] = []
        for (i, body) in before.enumerated() {
            _ = original.apply(body, origin: i, rejected: &rejected)
        }
        let bytes = original.snapshot(
            identity: Self.identity, offset: Int64(before.count) - 1, encodeOrigin: Self.encode)
        #expect(original.statistics.parked >= 2 && original.statistics.invalid >= 2)
        #expect(original.account(id: "ghost-\(seed)") == nil)
        var (restored, offset) = try Self.restore(bytes)
        #expect(offset == Int64(before.count) - 1)
        #expect(restored.parkingLimit == 8)
        Self.expectSameState(&original, &restored, ids: ids, "seed \(seed), at the snapshot")
        // The same bytes again: nothing was lost or reordered.
        #expect(restored.snapshot(identity: Self.identity, offset: offset, encodeOrigin: Self.encode) == bytes)

        var originalRejected: [RejectedEvent<Int>] = []
        var restoredRejected: [RejectedEvent<Int>] = []
        for (i, body) in after.enumerated() {
            let origin = before.count + i
            let a = original.apply(body, origin: origin, rejected: &originalRejected)
            let b = restored.apply(body, origin: origin, rejected: &restoredRejected)
            #expect(a == b, "seed \(seed), event \(origin)")
        }
        #expect(originalRejected == restoredRejected, "seed \(seed)")
        Self.expectSameState(&original, &restored, ids: ids, "seed \(seed), after the continuation")
    }

    @Test func parkedEventsKeepTheirOrderAndOrigin() throws {
        var projection = Projection<Int>(parkingLimit: 2)
        var rejected: [RejectedEvent<Int>] = []
        _ = projection.apply(Body.opened("a"), origin: 0, rejected: &rejected)
        _ = projection.apply(Body.deposited("a", sequence: 3, amount: 1), origin: 1, rejected: &rejected)
        _ = projection.apply(Body.deposited("b", sequence: 5, amount: 1), origin: 2, rejected: &rejected)
        let bytes = projection.snapshot(identity: "x", offset: 2, encodeOrigin: Self.encode)
        var (restored, _) = try Self.restore(bytes, identity: "x")
        #expect(restored.statistics.parked == 2)
        // A third parked event evicts the longest-parked one: a#3, origin 1.
        var evicted: [RejectedEvent<Int>] = []
        #expect(restored.apply(Body.deposited("c", sequence: 4, amount: 1), origin: 3, rejected: &evicted) == .parked)
        #expect(evicted.map(\.origin) == [1])
        #expect(evicted.map(\.reason) == [.sequenceGap])
    }

    @Test func anEmptyProjectionRoundTrips() throws {
        let empty = Projection<Int>(parkingLimit: 0)
        let bytes = empty.snapshot(identity: "", offset: -1, encodeOrigin: Self.encode)
        var (restored, offset) = try Self.restore(bytes, identity: "")
        #expect(offset == -1)
        #expect(restored.statistics == empty.statistics)
        #expect(restored.accounts(after: nil, limit: 10).items.isEmpty)
    }

    static func sample() -> [UInt8] {
        let (before, _) = deliveries(seed: 42)
        var projection = Projection<Int>(parkingLimit: 8)
        var rejected: [RejectedEvent<Int>] = []
        for (i, body) in before.enumerated() {
            _ = projection.apply(body, origin: i, rejected: &rejected)
        }
        return projection.snapshot(identity: identity, offset: 1234, encodeOrigin: encode)
    }

    @Test func aFlippedByteAnywhereIsCorrupt() {
        let bytes = Self.sample()
        #expect(bytes.count > 200)
        for position in bytes.indices {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = bytes
                damaged[position] ^= mask
                #expect(throws: SnapshotError.self, "byte \(position)") { try Self.restore(damaged) }
                do {
                    _ = try Self.restore(damaged)
                } catch {
                    guard case .corrupt = error else {
                        Issue.record("byte \(position) flipped gave \(error)")
                        continue
                    }
                }
            }
        }
    }

    @Test func everyTruncationIsDetected() {
        let bytes = Self.sample()
        for length in 0..<bytes.count {
            #expect(throws: SnapshotError.truncated, "length \(length)") {
                try Self.restore(Array(bytes[..<length]))
            }
        }
        #expect(throws: SnapshotError.self) { try Self.restore(bytes + [0]) }
    }

    @Test func aNewerFormatIsRefused() {
        let newer = ProjectionSnapshot.frame(identity: Self.identity, offset: 1, version: 2) { $0.write(UInt64(7)) }
        #expect(throws: SnapshotError.newerFormat(found: 2, supported: 1)) { try Self.restore(newer) }
    }

    @Test func anotherIdentityIsForeign() {
        #expect(throws: SnapshotError.foreign(expected: "stream=other", found: Self.identity)) {
            try Self.restore(Self.sample(), identity: "stream=other")
        }
    }

    @Test func aSoundFrameWithAnInconsistentPayloadIsCorrupt() {
        let payloads: [(inout SnapshotWriter) -> Void] = [
            { _ in },  // nothing at all
            { $0.write(Int64(-1)) },  // a negative parking limit
            { writer in  // a parked event for an account that is not there
                writer.write(Int64(8))
                writer.write(Int64(0))
                writer.write(Int64(0))
                writer.write(UInt8(0))
                writer.write(UInt32(0))
                writer.write(UInt32(1))
                writer.writeEvent(
                    Event(eventId: "e", type: .moneyDeposited, accountId: "x", sequence: 3, occurredAt: ""))
                writer.write(Int64(0))
            },
        ]
        for build in payloads {
            let bytes = ProjectionSnapshot.frame(identity: Self.identity, offset: 1, version: 1, build: build)
            do {
                _ = try Self.restore(bytes)
                Issue.record("accepted")
            } catch {
                guard case .corrupt = error else {
                    Issue.record("gave \(error)")
                    continue
                }
            }
        }
    }

    @Test func crc32MatchesTheKnownCheckValue() {
        #expect(ProjectionSnapshot.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
