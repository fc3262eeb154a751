import AccountProjection
import TestSupport
import Testing

/// A valid random history over a few accounts, and the accounts it must give, computed
/// here by a model independent of the projection.
struct GeneratedHistory {
    var bodies: [[UInt8]] = []
    var expected: [String: Account] = [:]

    static let owners = [
        "Ada Lovelace", "Björn Dvořák", "Yūko Øster", "\"Ziggy\" Stardust", "😀 Emoji", "Back\\slash", "Tab\tName",
        "中文名字",
    ]

    init(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let ids = (0..<Int.random(in: 1...4, using: &random)).map { "acc-\(seed)-\($0)" }
        let length = Int.random(in: 1...40, using: &random)
        for step in 0..<length {
            let id = ids.randomElement(using: &random)!
            let time = Self.timestamp(step)
            guard var account = expected[id] else {
                let owner = Self.owners.randomElement(using: &random)!
                let currency = ["EUR", "USD", "JPY"].randomElement(using: &random)!
                bodies.append(Body.opened(id, owner: owner, currency: currency, at: time))
                expected[id] = Account(
                    id: id, owner: owner, currency: currency, balance: 0, status: .open, version: 1, openedAt: time,
                    updatedAt: time)
                continue
            }
            guard account.status == .open else { continue }  // nothing follows a close
            account.version += 1
            account.updatedAt = time
            let sequence = account.version
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<45:
                let amount = Int64.random(in: 1...1_000_000, using: &random)
                bodies.append(Body.deposited(id, sequence: sequence, amount: amount, at: time))
                account.balance += amount
            case 45..<75:
                let amount = Int64.random(in: 1...1_000_000, using: &random)
                bodies.append(Body.withdrawn(id, sequence: sequence, amount: amount, at: time))
                account.balance -= amount
            case 75..<92:
                let owner = Self.owners.randomElement(using: &random)!
                bodies.append(Body.renamed(id, sequence: sequence, owner: owner, at: time))
                account.owner = owner
            default:
                bodies.append(Body.closed(id, sequence: sequence, at: time))
                account.status = .closed
            }
            expected[id] = account
        }
    }

    /// A distinct RFC 3339 time per step, 250 ms apart, like the bench's generator.
    static func timestamp(_ step: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let milliseconds = step * 250
        let seconds = milliseconds / 1000
        return
            "2026-11-24T15:\(padded(seconds / 60 % 60, 2)):\(padded(seconds % 60, 2)).\(padded(milliseconds % 1000, 3))Z"
    }
}

@Suite("Delivery order does not matter")
struct DeliveryOrderPropertyTests {
    /// Every opened account, through the listing.
    static func allAccounts(_ projection: inout Projection<Int>) -> [Account] {
        projection.accounts(after: nil, limit: Int.max).items
    }

    @Test func theGeneratorsModelMatchesInOrderDelivery() {
        for seed in UInt64(1)...50 {
            let history = GeneratedHistory(seed: seed)
            var projection = Projection<Int>()
            var rejected: [RejectedEvent<Int>] = []
            for (i, body) in history.bodies.enumerated() {
                #expect(projection.apply(body, origin: i, rejected: &rejected) == .applied, "seed \(seed), event \(i)")
            }
            let expected = history.expected.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
            #expect(Self.allAccounts(&projection) == expected, "seed \(seed)")
            for account in expected {
                #expect(projection.account(id: account.id) == account)
            }
            #expect(projection.statistics.eventsApplied == history.bodies.count)
        }
    }

    @Test(arguments: [UInt64(1_000), 2_000, 3_000, 4_000])
    func shuffledDeliveryWithDuplicatesGivesTheSameAccounts(firstSeed: UInt64) {
        for seed in firstSeed..<firstSeed + 60 {
            let history = GeneratedHistory(seed: seed)
            var inOrder = Projection<Int>()
            var rejected: [RejectedEvent<Int>] = []
            for (i, body) in history.bodies.enumerated() {
                _ = inOrder.apply(body, origin: i, rejected: &rejected)
            }
            let reference = Self.allAccounts(&inOrder)
            #expect(reference.count == history.expected.count)

            var random = SplitMix64(seed: seed &* 31)
            for round in 0..<6 {
                var deliveries = Array(history.bodies.indices)
                let copies = Int.random(in: 0...history.bodies.count, using: &random)
                for _ in 0..<copies {
                    deliveries.append(deliveries.randomElement(using: &random)!)
                }
                deliveries.shuffle(using: &random)  // across and within accounts

                var shuffled = Projection<Int>(parkingLimit: 1_000)
                var shuffledRejections: [RejectedEvent<Int>] = []
                for index in deliveries {
                    _ = shuffled.apply(history.bodies[index], origin: index, rejected: &shuffledRejections)
                }
                let statistics = shuffled.statistics
                #expect(Self.allAccounts(&shuffled) == reference, "seed \(seed) round \(round)")
                #expect(statistics.eventsApplied == history.bodies.count, "seed \(seed) round \(round)")
                #expect(statistics.duplicates == copies, "seed \(seed) round \(round)")
                #expect(statistics.invalid == 0 && statistics.parked == 0 && shuffledRejections.isEmpty)
            }
        }
    }
}
