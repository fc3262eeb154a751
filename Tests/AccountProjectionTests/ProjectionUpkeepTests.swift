import Testing

@testable import AccountProjection

/// A projection with `count` opened accounts `u-0`…, in an order unlike their ids' byte order.
private func opened(_ count: Int, from start: Int = 0, into feed: inout Feed) {
    for n in start..<(start + count) {
        feed.send(Body.opened("u-\((n * 7919) % 1_000_003)"))
    }
}

private func listedIDs(_ projection: inout Projection<Int>) -> [String] {
    var ids: [String] = []
    var after: String?
    while true {
        let page = projection.accounts(after: after, limit: 333)
        ids += page.items.map(\.id)
        after = page.items.last?.id
        if !page.hasMore { return ids }
    }
}

@Suite("Projection upkeep")
struct ProjectionUpkeepTests {
    @Test func thresholdIsAFewWhenCaughtUpAndAnEighthOfTheRunDuringAReplay() {
        #expect(ProjectionUpkeep.orderThreshold(sorted: 0, caughtUp: false) == ProjectionUpkeep.orderMinimum)
        #expect(ProjectionUpkeep.orderThreshold(sorted: 800_000, caughtUp: false) == 100_000)
        #expect(ProjectionUpkeep.orderThreshold(sorted: 800_000, caughtUp: true) == ProjectionUpkeep.orderMinimum)
    }

    @Test func nothingIsDueBelowTheThresholds() {
        var feed = Feed()
        opened(10, into: &feed)
        #expect(feed.projection.upkeep(incoming: 1, caughtUp: true) == nil)
    }

    @Test func growsTheSlotsAheadSoThatTheBatchInsertsWithoutGrowing() throws {
        var feed = Feed()
        opened(3_000, into: &feed)
        let capacity = feed.projection.table.slotCapacity
        let incoming = capacity * 3 / 4 - feed.projection.table.count + 1
        var upkeep = try #require(feed.projection.upkeep(incoming: incoming, caughtUp: false))
        upkeep.prepare()
        feed.projection.install(upkeep)
        let grown = feed.projection.table.slotCapacity
        #expect(grown > capacity)
        opened(incoming, from: 3_000, into: &feed)
        #expect(feed.projection.table.slotCapacity == grown)
        for n in 0..<(3_000 + incoming) {
            #expect(feed.projection.account(id: "u-\((n * 7919) % 1_000_003)") != nil)
        }
    }

    @Test func sortsTheNewIdsSoThatListingsFindThemInPlace() throws {
        var feed = Feed()
        var expected: [String] = []
        for round in 0..<3 {
            opened(ProjectionUpkeep.orderMinimum + 100, from: round * 10_000, into: &feed)
            expected += (round * 10_000..<(round * 10_000 + ProjectionUpkeep.orderMinimum + 100)).map {
                "u-\(($0 * 7919) % 1_000_003)"
            }
            var upkeep = try #require(feed.projection.upkeep(incoming: 0, caughtUp: true))
            upkeep.prepare()
            #expect(upkeep.replacedBytes > 0)
            feed.projection.install(upkeep)
            #expect(feed.projection.order.unsorted.isEmpty)
            // New ids after the upkeep stay unsorted until a listing.
            opened(5, from: 900_000 + round * 10, into: &feed)
            expected += (900_000 + round * 10..<900_005 + round * 10).map { "u-\(($0 * 7919) % 1_000_003)" }
            #expect(feed.projection.order.unsorted.count == 5)
            #expect(
                listedIDs(&feed.projection)
                    == expected.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        }
    }

    @Test func anUpkeepOvertakenByAListingChangesNothing() throws {
        var feed = Feed()
        opened(ProjectionUpkeep.orderMinimum, into: &feed)
        var upkeep = try #require(feed.projection.upkeep(incoming: 0, caughtUp: true))
        upkeep.prepare()
        let before = listedIDs(&feed.projection)  // merges first
        opened(3, from: 500_000, into: &feed)
        feed.projection.install(upkeep)
        #expect(feed.projection.order.unsorted.count == 3)
        let after = listedIDs(&feed.projection)
        #expect(after.count == before.count + 3)
        #expect(after == after.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
    }

    @Test func aRestoredSnapshotListsInOrderWithNothingLeftToSort() throws {
        var feed = Feed()
        opened(2_000, into: &feed)
        let expected = listedIDs(&feed.projection)
        var bytes: [UInt8] = []
        let (header, trailer) = feed.projection.streamSnapshot(
            identity: "t", offset: 1, encodeOrigin: { origin, writer in writer.write(Int64(origin)) },
            output: { bytes += $0 })
        bytes.replaceSubrange(0..<header.count, with: header)
        bytes += trailer
        var (restored, _) = try Projection<Int>.restore(
            from: bytes, identity: "t",
            decodeOrigin: { reader throws(SnapshotError) in Int(try reader.read() as Int64) })
        #expect(restored.order.unsorted.isEmpty)
        #expect(listedIDs(&restored) == expected)
    }
}
