import AccountHistory
import AccountProjection
import JSON
import Testing

/// FNV-1a over every body and a newline: a digest of the whole JSONL output.
func digest(_ generator: HistoryGenerator) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for event in generator {
        for byte in event.body + [10] {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
    }
    return hash
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("HistoryGenerator")
struct HistoryGeneratorTests {
    @Test("the same flags give byte-identical output")
    func deterministic() {
        let a = Array(HistoryGenerator(accounts: 200, events: 5000, seed: 7))
        let b = Array(HistoryGenerator(accounts: 200, events: 5000, seed: 7))
        #expect(a == b)
        #expect(
            digest(HistoryGenerator(accounts: 200, events: 5000, seed: 7))
                == digest(HistoryGenerator(accounts: 200, events: 5000, seed: 7)))
    }

    @Test("a different seed gives a different history")
    func seedMatters() {
        let one = digest(HistoryGenerator(accounts: 200, events: 5000, seed: 1))
        let two = digest(HistoryGenerator(accounts: 200, events: 5000, seed: 2))
        #expect(one != two)
        let first = HistoryGenerator(accounts: 200, events: 5000, seed: 1).first { _ in true }
        let second = HistoryGenerator(accounts: 200, events: 5000, seed: 2).first { _ in true }
        #expect(first?.eventId != second?.eventId)
    }

    /// Pins the output itself: the same on every machine and Swift version, so a history
    /// published from one host verifies from another.
    @Test("the output is pinned (golden first line and digest)")
    func golden() {
        let generator = HistoryGenerator(accounts: 5, events: 20, seed: 1)
        let first = generator.first { _ in true }
        #expect(
            first.map { text($0.body) }
                == #"{"eventId":"67897060-e036-474a-b641-beb1bbff27bc","type":"AccountOpened","accountId":"acc-000003","sequence":1,"occurredAt":"2026-11-24T15:00:00.000Z","data":{"owner":"Søren Øster","currency":"GBP"}}"#
        )
        #expect(digest(generator) == HistoryGeneratorTests.goldenDigest)
    }

    static let goldenDigest: UInt64 = 2_578_555_728_446_953_919

    @Test(
        "exactly M events; every account opened first, sequences contiguous, nothing after a close",
        arguments: [(1, 1), (1, 50), (7, 7), (30, 31), (300, 6000), (1000, 20_000)])
    func structure(accounts: Int, events: Int) throws {
        var versions: [String: Int64] = [:]
        var closed = Set<String>()
        var eventIDs = Set<String>()
        var count = 0
        for event in HistoryGenerator(accounts: accounts, events: events, seed: 11) {
            #expect(event.index == count)
            count += 1
            let version = versions[event.accountId] ?? 0
            #expect(event.sequence == version + 1, "\(event.accountId) sequence \(event.sequence) after \(version)")
            #expect((event.sequence == 1) == (event.type == .accountOpened))
            #expect(!closed.contains(event.accountId), "\(event.accountId) has an event after its close")
            if event.type == .accountClosed {
                closed.insert(event.accountId)
                #expect(event.sequence >= 2)
            }
            versions[event.accountId] = event.sequence
            #expect(eventIDs.insert(event.eventId).inserted, "duplicate eventId \(event.eventId)")
            #expect(event.occurredAt == HistoryGenerator.timestamp(index: event.index))
        }
        #expect(count == events)
        #expect(versions.count == accounts)
        #expect(versions.values.reduce(0, +) == Int64(events))
        for index in 0..<accounts {
            #expect(versions[HistoryGenerator.accountID(index: index, accounts: accounts)] != nil)
        }
    }

    @Test("each body is the documented JSON, keys in order, matching the exposed fields")
    func bodies() throws {
        let keys = ["eventId", "type", "accountId", "sequence", "occurredAt", "data"]
        for event in HistoryGenerator(accounts: 50, events: 2000, seed: 5) {
            let value = try JSONValue.parse(event.body)
            let members = try #require(value.objectValue)
            #expect(members.map(\.key) == keys)
            #expect(value["eventId"]?.stringValue == event.eventId)
            #expect(value["type"]?.stringValue == event.type.rawValue)
            #expect(value["accountId"]?.stringValue == event.accountId)
            #expect(value["sequence"]?.int64Value == event.sequence)
            #expect(value["occurredAt"]?.stringValue == event.occurredAt)
            #expect(!event.body.contains(10) && !event.body.contains(13), "a body must fit on one JSONL line")
            let id = Array(event.eventId.utf8)
            #expect(id.count == 36 && id[8] == 45 && id[13] == 45 && id[18] == 45 && id[23] == 45)
            #expect(id[14] == UInt8(ascii: "4"), "version-4 shaped")
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(id[19]))
            let data = try #require(value["data"]?.objectValue)
            switch event.type {
            case .accountOpened:
                #expect(data.map(\.key) == ["owner", "currency"])
            case .moneyDeposited, .moneyWithdrawn:
                let amount = try #require(value["data"]?["amount"]?.int64Value)
                #expect((1...1_000_000_000_000_000).contains(amount))
            case .accountRenamed:
                #expect(data.map(\.key) == ["owner"])
            case .accountClosed:
                #expect(data.isEmpty)
            }
        }
    }

    @Test("every event decodes as valid and the history applies cleanly through the projection")
    func appliesCleanly() {
        let accounts = 2000
        let events = 30_000
        var projection = Projection<Int>()
        var rejected: [RejectedEvent<Int>] = []
        for event in HistoryGenerator(accounts: accounts, events: events, seed: 42) {
            switch EventDecoder.decode(event.body) {
            case .success(let decoded):
                #expect(decoded.problem == nil, "\(text(event.body)): \(decoded.problem?.detail ?? "")")
                #expect(decoded.type == event.type)
                #expect(decoded.accountId == event.accountId)
                #expect(decoded.sequence == event.sequence)
            case .failure(let problem):
                Issue.record("\(text(event.body)) does not decode: \(problem.detail)")
            }
            let disposition = projection.apply(event.body, origin: event.index, rejected: &rejected)
            #expect(disposition == .applied)
        }
        let statistics = projection.statistics
        #expect(rejected.isEmpty)
        #expect(statistics.eventsApplied == events)
        #expect(statistics.accounts == accounts)
        #expect(statistics.invalid == 0)
        #expect(statistics.duplicates == 0)
        #expect(statistics.parked == 0)
        let closed = projection.accounts(after: nil, limit: accounts).items.filter { $0.status == .closed }.count
        // About 5 % of the accounts close (only those with two or more events can).
        #expect((accounts * 2 / 100...accounts * 9 / 100).contains(closed), "\(closed) closed")
    }

    @Test(
        "the mix: deposits 55 %, withdrawals 35 %, renames 10 %; non-ASCII owners, a quoted nickname, rare large amounts"
    )
    func mix() {
        var counts: [EventType: Int] = [:]
        var nonASCII = false
        var quoted = false
        var large = 0
        for event in HistoryGenerator(accounts: 1000, events: 60_000, seed: 3) {
            counts[event.type, default: 0] += 1
            if event.type == .accountOpened || event.type == .accountRenamed {
                if event.body.contains(where: { $0 >= 0x80 }) { nonASCII = true }
                if text(event.body).contains(#"\"Tiny\" Smith"#) { quoted = true }
            }
            if event.type == .moneyDeposited || event.type == .moneyWithdrawn,
                case .success(let decoded) = EventDecoder.decode(event.body), decoded.amount > 100_000
            {
                large += 1
            }
        }
        let changes = Double(
            (counts[.moneyDeposited] ?? 0) + (counts[.moneyWithdrawn] ?? 0) + (counts[.accountRenamed] ?? 0))
        #expect(counts[.accountOpened] == 1000)
        #expect(abs(Double(counts[.moneyDeposited] ?? 0) / changes - 0.55) < 0.02)
        #expect(abs(Double(counts[.moneyWithdrawn] ?? 0) / changes - 0.35) < 0.02)
        #expect(abs(Double(counts[.accountRenamed] ?? 0) / changes - 0.10) < 0.02)
        #expect(nonASCII)
        #expect(quoted)
        #expect(large > 0 && large < 300, "\(large) large amounts")
    }

    @Test("close rate 0 closes nothing, 1 closes every account with two or more events")
    func closeRate() {
        let none = HistoryGenerator(accounts: 100, events: 1000, seed: 1, closeRate: 0).filter {
            $0.type == .accountClosed
        }
        #expect(none.isEmpty)
        var perAccount: [String: Int] = [:]
        var closes = 0
        for event in HistoryGenerator(accounts: 100, events: 1000, seed: 1, closeRate: 1) {
            perAccount[event.accountId, default: 0] += 1
            if event.type == .accountClosed { closes += 1 }
        }
        #expect(closes == perAccount.values.filter { $0 >= 2 }.count)
    }

    @Test("occurredAt advances 250 ms per event, across days, months and years")
    func timestamps() {
        #expect(HistoryGenerator.timestamp(index: 0) == "2026-11-24T15:00:00.000Z")
        #expect(HistoryGenerator.timestamp(index: 1) == "2026-11-24T15:00:00.250Z")
        #expect(HistoryGenerator.timestamp(index: 7) == "2026-11-24T15:00:01.750Z")
        #expect(HistoryGenerator.timestamp(index: 9 * 3600 * 4) == "2026-11-25T00:00:00.000Z")
        #expect(HistoryGenerator.timestamp(index: (6 * 86_400 + 9 * 3600) * 4 - 1) == "2026-11-30T23:59:59.750Z")
        #expect(HistoryGenerator.timestamp(index: (6 * 86_400 + 9 * 3600) * 4) == "2026-12-01T00:00:00.000Z")
        #expect(HistoryGenerator.timestamp(index: (37 * 86_400 + 9 * 3600) * 4) == "2027-01-01T00:00:00.000Z")
        #expect(HistoryGenerator.timestamp(index: 1_000_000) == "2026-11-27T12:26:40.000Z")
    }

    @Test("account ids: six digits, wider when there are more accounts")
    func accountIDs() {
        #expect(HistoryGenerator.accountID(index: 41, accounts: 100) == "acc-000042")
        #expect(HistoryGenerator.accountID(index: 0, accounts: 999_999) == "acc-000001")
        #expect(HistoryGenerator.accountID(index: 0, accounts: 1_000_000) == "acc-0000001")
        for index in [0, 5, 99] {
            #expect(EventDecoder.isValidAccountID(HistoryGenerator.accountID(index: index, accounts: 100)))
        }
    }

    @Test("arguments that cannot make a history are explained")
    func problems() {
        #expect(HistoryGenerator.problem(accounts: 0, events: 10) != nil)
        #expect(HistoryGenerator.problem(accounts: 5, events: 4) != nil)
        #expect(HistoryGenerator.problem(accounts: 5, events: 5, closeRate: 1.5) != nil)
        #expect(HistoryGenerator.problem(accounts: 5, events: 5, closeRate: .nan) != nil)
        #expect(HistoryGenerator.problem(accounts: 5, events: 5) == nil)
    }

    @Test("it streams: the count is known up front and iteration can stop early")
    func streams() {
        let generator = HistoryGenerator(accounts: 1000, events: 2_000_000, seed: 1)
        #expect(generator.underestimatedCount == 2_000_000)
        var iterator = generator.makeIterator()
        #expect(iterator.next()?.index == 0)
        #expect(iterator.next()?.index == 1)
    }
}
