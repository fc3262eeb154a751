import TestSupport
import Testing

@testable import AccountProjection

/// A projection fed bodies one at a time; each event's origin is its delivery number.
struct Feed {
    var projection: Projection<Int>
    var rejected: [RejectedEvent<Int>] = []
    var delivered = 0

    init(parkingLimit: Int = 10_000) {
        projection = Projection(parkingLimit: parkingLimit)
    }

    @discardableResult
    mutating func send(_ body: [UInt8]) -> Disposition {
        defer { delivered += 1 }
        return projection.apply(body, origin: delivered, rejected: &rejected)
    }

    /// The reasons of the rejections so far, in order.
    var reasons: [RejectionReason] { rejected.map(\.reason) }
}

@Suite("Projection rules")
struct ProjectionTests {
    @Test func aHistoryAppliedInOrderGivesTheAccount() throws {
        var feed = Feed()
        #expect(
            feed.send(Body.opened("acc-1", owner: "Ada", currency: "EUR", at: "2026-11-24T15:00:00.000Z")) == .applied)
        #expect(feed.send(Body.deposited("acc-1", sequence: 2, amount: 1000, at: "2026-11-24T15:00:01Z")) == .applied)
        #expect(feed.send(Body.withdrawn("acc-1", sequence: 3, amount: 1250, at: "2026-11-24T15:00:02Z")) == .applied)
        #expect(
            feed.send(Body.renamed("acc-1", sequence: 4, owner: "Ada King", at: "2026-11-24T15:00:03Z")) == .applied)
        let account = try #require(feed.projection.account(id: "acc-1"))
        #expect(
            account
                == Account(
                    id: "acc-1", owner: "Ada King", currency: "EUR", balance: -250, status: .open, version: 4,
                    openedAt: "2026-11-24T15:00:00.000Z", updatedAt: "2026-11-24T15:00:03Z"
                ))
        #expect(feed.send(Body.closed("acc-1", sequence: 5, at: "2026-11-24T15:00:04+01:00")) == .applied)
        #expect(feed.projection.account(id: "acc-1")?.status == .closed)
        #expect(feed.projection.account(id: "acc-1")?.updatedAt == "2026-11-24T15:00:04+01:00")
        #expect(feed.rejected.isEmpty)
        #expect(feed.projection.statistics.eventsApplied == 5)
    }

    @Test func anUnknownAccountIsNil() {
        let feed = Feed()
        #expect(feed.projection.account(id: "acc-1") == nil)
    }

    // MARK: Duplicates

    @Test func anEventAtOrBelowTheVersionIsADuplicateAndChangesNothing() throws {
        var feed = Feed()
        feed.send(Body.opened())
        feed.send(Body.deposited(sequence: 2, amount: 100))
        let before = try #require(feed.projection.account(id: "acc-1"))
        #expect(feed.send(Body.opened()) == .duplicate)
        #expect(feed.send(Body.deposited(sequence: 2, amount: 100)) == .duplicate)
        #expect(feed.send(Body.deposited(sequence: 2, amount: 999, at: "2030-01-01T00:00:00Z")) == .duplicate)
        #expect(feed.projection.account(id: "acc-1") == before)
        #expect(feed.projection.statistics.duplicates == 3)
        #expect(feed.projection.statistics.eventsApplied == 2)
    }

    @Test func aDuplicateWithBadContentIsStillADuplicate() {
        var feed = Feed()
        feed.send(Body.opened())
        feed.send(Body.deposited(sequence: 2, amount: 100))
        #expect(feed.send(Body.event(type: "\"Bogus\"", sequence: "2", data: "{\"amount\":-1}")) == .duplicate)
        #expect(
            feed.send(Body.event(type: "\"AccountOpened\"", sequence: "1", occurredAt: "\"yesterday\"")) == .duplicate)
        #expect(feed.rejected.isEmpty)
        #expect(feed.projection.statistics.duplicates == 2)
    }

    // MARK: Parking

    @Test func eventsAheadOfTheVersionWaitAndApplyWhenTheGapFills() throws {
        var feed = Feed()
        #expect(feed.send(Body.withdrawn(sequence: 4, amount: 5, at: "2026-11-24T15:00:04Z")) == .parked)
        #expect(feed.send(Body.deposited(sequence: 3, amount: 7, at: "2026-11-24T15:00:03Z")) == .parked)
        #expect(feed.send(Body.deposited(sequence: 2, amount: 100, at: "2026-11-24T15:00:02Z")) == .parked)
        #expect(feed.projection.account(id: "acc-1") == nil)
        #expect(feed.projection.statistics.parked == 3)
        #expect(feed.send(Body.opened(at: "2026-11-24T15:00:01Z")) == .applied)
        let account = try #require(feed.projection.account(id: "acc-1"))
        #expect(account.balance == 102 && account.version == 4 && account.updatedAt == "2026-11-24T15:00:04Z")
        #expect(account.openedAt == "2026-11-24T15:00:01Z")
        let statistics = feed.projection.statistics
        #expect(statistics.parked == 0 && statistics.eventsApplied == 4 && statistics.duplicates == 0)
    }

    @Test func drainingStopsAtTheNextGap() throws {
        var feed = Feed()
        feed.send(Body.deposited(sequence: 2, amount: 1))
        feed.send(Body.deposited(sequence: 4, amount: 10))
        feed.send(Body.opened())
        #expect(feed.projection.account(id: "acc-1")?.version == 2)
        #expect(feed.projection.statistics.parked == 1)
        feed.send(Body.deposited(sequence: 3, amount: 100))
        #expect(feed.projection.account(id: "acc-1")?.balance == 111)
        #expect(feed.projection.statistics.parked == 0)
    }

    @Test func aSecondCopyOfAParkedEventIsADuplicate() {
        var feed = Feed()
        feed.send(Body.opened())
        #expect(feed.send(Body.deposited(sequence: 3, amount: 5)) == .parked)
        #expect(feed.send(Body.deposited(sequence: 3, amount: 5)) == .duplicate)
        let statistics = feed.projection.statistics
        #expect(statistics.parked == 1 && statistics.duplicates == 1)
        feed.send(Body.deposited(sequence: 2, amount: 1))
        #expect(feed.projection.account(id: "acc-1")?.balance == 6)  // applied once
    }

    @Test func pastTheParkingLimitTheLongestParkedGoesOutAsSequenceGap() throws {
        var feed = Feed(parkingLimit: 3)
        feed.send(Body.opened("b"))
        #expect(feed.send(Body.deposited("a", sequence: 3, amount: 1)) == .parked)  // origin 1
        #expect(feed.send(Body.deposited("b", sequence: 3, amount: 1)) == .parked)  // origin 2
        #expect(feed.send(Body.deposited("c", sequence: 2, amount: 1)) == .parked)  // origin 3
        #expect(feed.rejected.isEmpty)
        #expect(feed.send(Body.deposited("b", sequence: 5, amount: 1)) == .parked)  // origin 4 evicts origin 1
        #expect(feed.rejected.map(\.origin) == [1])
        #expect(feed.rejected.first?.reason == .sequenceGap)
        #expect(feed.rejected.first?.detail == "sequence 3 of a waited for 1; the parking limit (3) was reached")
        #expect(feed.send(Body.deposited("a", sequence: 4, amount: 1)) == .parked)  // origin 5 evicts origin 2
        #expect(feed.rejected.map(\.origin) == [1, 2])
        #expect(feed.projection.statistics.parked == 3)
        #expect(feed.projection.statistics.invalidByReason[.sequenceGap] == 2)
        // b's 3 is gone for good: b's 4 and 5 can never be applied; a later 2 is.
        #expect(feed.send(Body.deposited("b", sequence: 2, amount: 10)) == .applied)
        #expect(feed.projection.account(id: "b")?.version == 2)
    }

    @Test func anEvictedEventLeavesNoTraceOfAnUnknownAccount() throws {
        var feed = Feed(parkingLimit: 1)
        for i in 0..<200 {
            feed.send(Body.deposited("ghost-\(i)", sequence: 5, amount: 1))
        }
        #expect(feed.rejected.count == 199)
        #expect(feed.projection.statistics.parked == 1)
        // Evicted accounts are forgotten; the table stays consistent for the survivors.
        #expect(feed.send(Body.opened("ghost-3")) == .applied)
        #expect(feed.send(Body.opened("ghost-199")) == .applied)
        #expect(feed.projection.account(id: "ghost-3")?.version == 1)
        #expect(feed.projection.account(id: "ghost-199")?.version == 1)
        #expect(feed.projection.statistics.parked == 1)  // ghost-199's 5 waits for 2..4
    }

    @Test func withNoRoomTheEventItselfIsTheOneEvicted() {
        var feed = Feed(parkingLimit: 0)
        #expect(feed.send(Body.deposited(sequence: 3, amount: 1)) == .rejected(.sequenceGap))
        #expect(feed.rejected.map(\.origin) == [0])
        #expect(feed.projection.statistics.parked == 0)
    }

    @Test func parkedEventsThatFailWhenDueAreRejectedWithTheirOrigin() throws {
        var feed = Feed()
        feed.send(Body.event(type: "\"Bogus\"", sequence: "3"))  // origin 0
        feed.send(Body.deposited(sequence: 2, amount: 0))  // origin 1
        #expect(feed.send(Body.opened()) == .applied)  // origin 2
        #expect(feed.rejected.map(\.origin) == [1, 0])
        #expect(feed.reasons == [.amountOutOfRange, .unknownType])
        #expect(feed.projection.account(id: "acc-1")?.version == 3)
    }

    // MARK: Invalid events take their place

    @Test func anInvalidEventMovesTheVersionButNotUpdatedAt() throws {
        var feed = Feed()
        feed.send(Body.opened(at: "2026-11-24T15:00:00Z"))
        #expect(
            feed.send(Body.deposited(sequence: 2, amount: 1_000_000_000_000_001, at: "2026-11-24T16:00:00Z"))
                == .rejected(.amountOutOfRange))
        let account = try #require(feed.projection.account(id: "acc-1"))
        #expect(account.version == 2 && account.balance == 0 && account.updatedAt == "2026-11-24T15:00:00Z")
        #expect(feed.send(Body.deposited(sequence: 3, amount: 5)) == .applied)
        #expect(feed.projection.account(id: "acc-1")?.version == 3)
        #expect(feed.rejected.map(\.origin) == [1])
    }

    @Test(arguments: [
        (Body.event(type: "\"Bogus\""), RejectionReason.unknownType),
        (Body.event(eventId: "\"\""), .invalidField),
        (Body.event(occurredAt: "\"2026-02-29T00:00:00Z\""), .invalidField),
        (Body.event(type: "\"AccountOpened\"", data: "{\"owner\":\"x\",\"currency\":\"EUR\"}"), .invalidField),
        (Body.event(data: "{\"amount\":12.5}"), .invalidField),
        (Body.event(data: "{\"amount\":\"12\"}"), .invalidField),
        (Body.event(data: "{\"amount\":1e400}"), .invalidField),
        (Body.event(data: "{\"amount\":-0}"), .amountOutOfRange),
        (Body.event(type: "\"AccountRenamed\"", data: "{\"owner\":\"\"}"), .invalidField),
    ])
    func eachContentFaultIsRejectedInItsTurn(body: [UInt8], reason: RejectionReason) {
        var feed = Feed()
        feed.send(Body.opened())
        #expect(feed.send(body) == .rejected(reason))
        #expect(feed.projection.account(id: "acc-1")?.version == 2)
        #expect(feed.projection.statistics.invalidByReason[reason] == 1)
    }

    @Test func bodiesWithNoPlaceAreRejectedAndCounted() {
        var feed = Feed()
        #expect(feed.send(Array("[1]".utf8)) == .rejected(.malformedJSON))
        #expect(feed.send([0xFF]) == .rejected(.malformedJSON))
        #expect(feed.send([UInt8](repeating: 0x20, count: 65_537)) == .rejected(.tooLarge))
        #expect(feed.send(Body.event(accountId: "\"bad id\"")) == .rejected(.invalidField))
        #expect(feed.send(Body.event(sequence: "0")) == .rejected(.invalidField))
        #expect(feed.rejected.map(\.origin) == [0, 1, 2, 3, 4])
        let statistics = feed.projection.statistics
        #expect(statistics.invalid == 5)
        #expect(statistics.invalidByReason[.malformedJSON] == 2)
        #expect(statistics.invalidByReason[.tooLarge] == 1)
        #expect(statistics.invalidByReason[.invalidField] == 2)
        #expect(statistics.invalidByReason.count == RejectionReason.allCases.count)
        #expect(statistics.invalidByReason[.sequenceGap] == 0)
    }

    // MARK: Closed accounts

    @Test func afterACloseEveryLaterEventIsAccountClosed() throws {
        var feed = Feed()
        feed.send(Body.opened())
        feed.send(Body.closed(sequence: 2, at: "2026-11-24T15:00:09Z"))
        #expect(feed.send(Body.deposited(sequence: 3, amount: 5)) == .rejected(.accountClosed))
        // The closed check comes before the content checks (docs/events.md#decoding-details).
        #expect(feed.send(Body.event(type: "\"Bogus\"", sequence: "4")) == .rejected(.accountClosed))
        #expect(feed.send(Body.closed(sequence: 5)) == .rejected(.accountClosed))
        let account = try #require(feed.projection.account(id: "acc-1"))
        #expect(account.status == .closed && account.version == 5 && account.balance == 0)
        #expect(account.updatedAt == "2026-11-24T15:00:09Z")
        #expect(feed.rejected.first?.detail == "account acc-1 is closed")
        #expect(feed.projection.statistics.accounts == 1)
    }

    // MARK: Opening

    @Test func anAccountWhoseOpeningWasRejectedIsNeverOpened() {
        var feed = Feed()
        #expect(feed.send(Body.opened(currency: "eur")) == .rejected(.invalidField))
        #expect(feed.projection.account(id: "acc-1") == nil)
        #expect(feed.send(Body.deposited(sequence: 2, amount: 5)) == .rejected(.invalidField))
        #expect(feed.rejected.last?.detail == "account acc-1 was never opened")
        #expect(feed.projection.account(id: "acc-1") == nil)
        #expect(feed.projection.accounts(after: nil, limit: 10).items.isEmpty)
        #expect(feed.projection.statistics.accounts == 0)
        // Its history still moves: sequence 2 is taken.
        #expect(feed.send(Body.deposited(sequence: 2, amount: 5)) == .duplicate)
    }

    @Test func anOpeningAtAnotherSequenceAndAnotherTypeAtOneAreInvalid() {
        var feed = Feed()
        #expect(feed.send(Body.deposited("x", sequence: 1, amount: 5)) == .rejected(.invalidField))
        #expect(feed.projection.account(id: "x") == nil)
        feed.send(Body.opened("y"))
        #expect(feed.send(Body.opened("y", sequence: 2)) == .rejected(.invalidField))
        #expect(feed.projection.account(id: "y")?.version == 2)
        #expect(feed.reasons == [.invalidField, .invalidField])
    }

    // MARK: Balance

    @Test func aBalanceLeavingInt64IsAmountOutOfRangeBothWays() throws {
        let maxAmount = EventDecoder.maximumAmount
        let steps = Int64.max / maxAmount  // 9223 deposits of 10^15 still fit
        for sign: Int64 in [1, -1] {
            var feed = Feed()
            feed.send(Body.opened())
            var sequence: Int64 = 2
            for _ in 0..<steps {
                let body =
                    sign > 0
                    ? Body.deposited(sequence: sequence, amount: maxAmount)
                    : Body.withdrawn(sequence: sequence, amount: maxAmount)
                #expect(feed.send(body) == .applied)
                sequence += 1
            }
            #expect(feed.projection.account(id: "acc-1")?.balance == sign * steps * maxAmount)
            let over =
                sign > 0
                ? Body.deposited(sequence: sequence, amount: maxAmount)
                : Body.withdrawn(sequence: sequence, amount: maxAmount)
            #expect(feed.send(over) == .rejected(.amountOutOfRange))
            #expect(feed.projection.account(id: "acc-1")?.balance == sign * steps * maxAmount)
            #expect(feed.projection.account(id: "acc-1")?.version == sequence)
            // A smaller amount that still fits is applied.
            // What is left to the bound: |Int64.min| is one more than Int64.max.
            let fitting = Int64.max - steps * maxAmount + (sign > 0 ? 0 : 1)
            let last =
                sign > 0
                ? Body.deposited(sequence: sequence + 1, amount: fitting)
                : Body.withdrawn(sequence: sequence + 1, amount: fitting)
            #expect(feed.send(last) == .applied)
            #expect(feed.projection.account(id: "acc-1")?.balance == (sign > 0 ? Int64.max : Int64.min))
        }
    }

    // MARK: Statistics

    @Test func statisticsCountEveryOutcome() {
        var feed = Feed(parkingLimit: 1)
        feed.send(Body.opened("a"))  // applied
        feed.send(Body.opened("b"))  // applied
        feed.send(Body.closed("b", sequence: 2))  // applied
        feed.send(Body.opened("a"))  // duplicate
        feed.send(Body.deposited("a", sequence: 4, amount: 1))  // parked
        feed.send(Body.deposited("a", sequence: 4, amount: 1))  // duplicate of a parked one
        feed.send(Body.deposited("a", sequence: 5, amount: 1))  // parked, evicts a:4 (sequence_gap)
        feed.send(Body.deposited("b", sequence: 3, amount: 1))  // account_closed
        feed.send(Array("null".utf8))  // malformed_json
        feed.send(Body.opened("c", currency: "E"))  // invalid_field: c never opened
        let statistics = feed.projection.statistics
        #expect(
            statistics
                == ProjectionStatistics(
                    accounts: 2, eventsApplied: 3, duplicates: 2, invalid: 4,
                    invalidByReason: [
                        .malformedJSON: 1, .tooLarge: 0, .unknownType: 0, .invalidField: 1, .accountClosed: 1,
                        .sequenceGap: 1, .amountOutOfRange: 0,
                    ],
                    parked: 1
                ))
    }

    @Test func theProjectionIsSendableWhenItsOriginIs() {
        func requireSendable<T: Sendable>(_: T) -> Bool { true }
        #expect(requireSendable(Projection<[UInt8]>()))
        #expect(requireSendable(RejectedEvent(reason: .tooLarge, detail: "", origin: 1)))
    }
}

@Suite("Listing accounts")
struct ListingTests {
    static let ids = ["acc_1", "B", "acc-10", "a", "acc-2", "Z", "acc.1", "acc:1", "acc-1", "0", "acc-1a", "_"]

    /// A projection with the ids above opened in that (unsorted) order.
    static func feed() -> Feed {
        var feed = Feed()
        for id in ids { feed.send(Body.opened(id)) }
        return feed
    }

    /// The ids in byte order, computed independently.
    static let sorted = ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }

    @Test func accountsComeInByteOrderOfId() {
        var feed = Self.feed()
        let page = feed.projection.accounts(after: nil, limit: 100)
        #expect(page.items.map(\.id) == Self.sorted)
        #expect(
            page.items.map(\.id) == [
                "0", "B", "Z", "_", "a", "acc-1", "acc-10", "acc-1a", "acc-2", "acc.1", "acc:1", "acc_1",
            ])
        #expect(!page.hasMore)
    }

    @Test func pagesFollowEachOtherWithHasMore() {
        var feed = Self.feed()
        var seen: [String] = []
        var after: String?
        var pages = 0
        while pages < 10 {  // bounded: a broken order must fail the test, not hang it
            let page = feed.projection.accounts(after: after, limit: 5)
            seen += page.items.map(\.id)
            pages += 1
            guard page.hasMore else { break }
            after = page.items.last?.id
        }
        #expect(seen == Self.sorted)
        #expect(pages == 3)
    }

    @Test func anExactlyFullLastPageHasNoMore() {
        var feed = Self.feed()
        let page = feed.projection.accounts(after: Self.sorted[6], limit: 5)
        #expect(page.items.map(\.id) == Array(Self.sorted[7...]))
        #expect(!page.hasMore)
        #expect(feed.projection.accounts(after: Self.sorted[5], limit: 5).hasMore)
    }

    @Test(arguments: [
        ("", 0), ("acc-1", 6), ("acc-0", 5), ("acc-1\u{0}", 6), ("acc-", 5), ("~", 12), ("é", 12), ("acc-\u{212A}", 9),
        ("Ω", 12), ("AZ", 1), ("\u{0}", 0),
    ])
    func afterMayBeAnyString(after: String, skipped: Int) {
        var feed = Self.feed()
        let page = feed.projection.accounts(after: after, limit: 1_000)
        #expect(page.items.map(\.id) == Array(Self.sorted[skipped...]))
        #expect(page.items.map(\.id) == Self.sorted.filter { after.utf8.lexicographicallyPrecedes($0.utf8) })
    }

    @Test func aLimitOfZeroOrLessGivesNothing() {
        var feed = Self.feed()
        let empty = feed.projection.accounts(after: nil, limit: 0)
        #expect(empty.items.isEmpty && empty.hasMore)
        let atTheEnd = feed.projection.accounts(after: "zzz", limit: 0)
        #expect(atTheEnd.items.isEmpty && !atTheEnd.hasMore)
        #expect(feed.projection.accounts(after: nil, limit: -3).items.isEmpty)
        #expect(feed.projection.accounts(after: nil, limit: Int.max).items.count == Self.ids.count)
    }

    @Test func accountsOpenedBetweenListingsAreMergedIn() {
        var feed = Feed()
        var opened: [String] = []
        var generator = SplitMix64(seed: 7)
        for round in 0..<20 {
            for _ in 0..<(round * 7 % 13) {
                let id = "id-\(generator.next() % 100_000)"
                if feed.send(Body.opened(id)) == .applied { opened.append(id) }
            }
            let page = feed.projection.accounts(after: nil, limit: 10_000)
            #expect(page.items.map(\.id) == opened.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        }
        #expect(opened.count > 50)
    }

    @Test func closedAccountsAreListedAndCounted() {
        var feed = Feed()
        feed.send(Body.opened("a"))
        feed.send(Body.closed("a", sequence: 2))
        #expect(feed.projection.accounts(after: nil, limit: 10).items.map(\.status) == [.closed])
        #expect(feed.projection.statistics.accounts == 1)
    }

    @Test func idsAreComparedAsBytesNotByCanonicalEquivalence() {
        var feed = Feed()
        feed.send(Body.opened("K"))
        #expect("\u{212A}" == "K")  // Swift's String == would confuse the Kelvin sign with K
        #expect(feed.projection.account(id: "\u{212A}") == nil)
        #expect(feed.projection.account(id: "K") != nil)
    }
}

@Suite("Account table")
struct AccountTableTests {
    @Test func insertsFindsAndRemovesLikeADictionary() {
        var table = AccountTable()
        var model: [String: Int] = [:]
        var generator = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            let id = "k\(generator.next() % 3_000)"
            if generator.next() % 3 == 0 {
                if let index = model.removeValue(forKey: id) {
                    #expect(table.find(id) == index)
                    table.remove(at: index)
                }
            } else {
                let index = table.findOrInsert(id)
                if let known = model[id] {
                    #expect(index == known)
                } else {
                    model[id] = index
                }
            }
        }
        #expect(table.count == model.count)
        for (id, index) in model {
            #expect(table.find(id) == index)
            #expect(table[index].id == id)
        }
        #expect(table.find("absent") == nil)
    }
}
