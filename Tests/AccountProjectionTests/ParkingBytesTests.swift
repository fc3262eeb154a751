import Testing

@testable import AccountProjection

@Suite("The parking lot is bounded in bytes")
struct ParkingBytesTests {
    @Test("past the byte bound the longest-parked goes out as sequence_gap, and the bytes come back as events leave")
    func byteBoundEvicts() throws {
        // Each origin counts as 10,000 bytes: two fit in 25,000, a third does not.
        var projection = Projection<Int>(parkingLimit: 100, parkingByteLimit: 25_000, originBytes: { _ in 10_000 })
        var rejected: [RejectedEvent<Int>] = []
        _ = projection.apply(Body.opened("a"), origin: 0, rejected: &rejected)
        #expect(
            projection.apply(Body.deposited("a", sequence: 3, amount: 1), origin: 1, rejected: &rejected) == .parked)
        #expect(
            projection.apply(Body.deposited("a", sequence: 4, amount: 1), origin: 2, rejected: &rejected) == .parked)
        #expect(rejected.isEmpty)
        #expect(projection.parkedBytes > 20_000 && projection.parkedBytes <= 25_000)
        #expect(
            projection.apply(Body.deposited("a", sequence: 5, amount: 1), origin: 3, rejected: &rejected) == .parked)
        #expect(rejected.map(\.origin) == [1])
        #expect(rejected.first?.reason == .sequenceGap)
        #expect(rejected.first?.detail.contains("25000 bytes") == true)
        #expect(projection.statistics.parked == 2)
        // Sequence 2 arrives: nothing parked is due (3 went out), so the lot keeps 4 and 5.
        #expect(
            projection.apply(Body.deposited("a", sequence: 2, amount: 1), origin: 4, rejected: &rejected) == .applied)
        #expect(projection.parkedBytes <= 25_000)
    }

    @Test("an event larger than the whole bound is rejected at once, the others stay parked")
    func eventLargerThanTheBound() throws {
        var projection = Projection<Int>(parkingLimit: 100, parkingByteLimit: 25_000, originBytes: { $0 })
        var rejected: [RejectedEvent<Int>] = []
        _ = projection.apply(Body.opened("a"), origin: 0, rejected: &rejected)
        #expect(
            projection.apply(Body.deposited("a", sequence: 3, amount: 1), origin: 100, rejected: &rejected) == .parked)
        // A 30,000-byte origin alone passes the bound: the oldest goes first, then the new one.
        #expect(
            projection.apply(Body.deposited("a", sequence: 4, amount: 1), origin: 30_000, rejected: &rejected)
                == .rejected(.sequenceGap))
        #expect(rejected.map(\.origin) == [100, 30_000])
        #expect(projection.parkedBytes == 0)
    }
}
