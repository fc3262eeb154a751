public import AccountProjection
import JSON

/// A deterministic, valid, interleaved history of account events (docs/events.md#field-rules), the
/// workload `accountctl publish` sends and `accountctl verify` checks against.
///
/// - Exactly `events` events over `accounts` accounts (`1 <= accounts <= events`).
/// - Every account starts with `AccountOpened` (sequence 1) and then gets deposits
///   (55 %), withdrawals (35 %, a balance may go negative) and renames (10 %); about
///   `closeRate` of the accounts with two or more events end with `AccountClosed`,
///   after which they get nothing.
/// - The histories are interleaved uniformly at random, each in sequence order, so the
///   log is valid and in order.
/// - `occurredAt` advances 250 ms per event from `2026-11-24T15:00:00.000Z`; owners have
///   non-ASCII letters and a quoted nickname (a JSON escape); amounts are mostly in
///   1...100,000, one in a thousand anywhere in 1...10^15.
///
/// The same arguments give the same bytes on every machine: the generator has its own
/// PRNG (xoshiro256** seeded by SplitMix64), its own bounded draws, and formats only
/// integers. It streams: memory is O(accounts), whatever the number of events.
public struct HistoryGenerator: Sequence, Sendable {
    public let accounts: Int
    public let events: Int
    public let seed: UInt64
    public let closeRate: Double

    /// How far `occurredAt` advances per event of the log.
    public static let stepMilliseconds = 250

    /// - Precondition: `1 <= accounts <= events` and `0 <= closeRate <= 1`
    ///   (``problem(accounts:events:closeRate:)`` says what is wrong beforehand).
    public init(accounts: Int, events: Int, seed: UInt64, closeRate: Double = 0.05) {
        if let problem = Self.problem(accounts: accounts, events: events, closeRate: closeRate) {
            preconditionFailure(problem)
        }
        self.accounts = accounts
        self.events = events
        self.seed = seed
        self.closeRate = closeRate
    }

    /// Why these arguments cannot make a history, or nil when they can.
    public static func problem(accounts: Int, events: Int, closeRate: Double = 0.05) -> String? {
        if accounts < 1 { return "the number of accounts must be at least 1 (got \(accounts))" }
        if events < accounts {
            return
                "the number of events (\(events)) must be at least the number of accounts (\(accounts)): every account is opened"
        }
        if events > Int(Int32.max) { return "at most \(Int32.max) events" }
        if !(closeRate >= 0 && closeRate <= 1) { return "the close rate must be between 0 and 1" }
        return nil
    }

    public var underestimatedCount: Int { events }

    public func makeIterator() -> Iterator {
        Iterator(accounts: accounts, events: events, seed: seed, closeRate: closeRate)
    }

    /// The id of the account at `index` (0-based): `acc-` and the 1-based number, zero-padded
    /// to six digits or to the width of the largest number.
    public static func accountID(index: Int, accounts: Int) -> String {
        var bytes: [UInt8] = Array("acc-".utf8)
        appendPadded(index + 1, width: idWidth(accounts: accounts), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func idWidth(accounts: Int) -> Int {
        var width = 1
        var n = accounts
        while n >= 10 {
            n /= 10
            width += 1
        }
        return Swift.max(6, width)
    }

    /// The `occurredAt` of the event at `index` in the log: `2026-11-24T15:00:00.000Z`
    /// plus 250 ms per event.
    public static func timestamp(index: Int) -> String {
        var bytes: [UInt8] = []
        appendTimestamp(index: index, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// 2026-11-24T15:00:00Z in seconds since the Unix epoch.
    static let firstSecond: Int = 1_795_532_400

    static func appendTimestamp(index: Int, to bytes: inout [UInt8]) {
        let milliseconds = index * stepMilliseconds
        let seconds = firstSecond + milliseconds / 1000
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = civil(fromDays: days)
        appendPadded(year, width: 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendPadded(month, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        appendPadded(day, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        appendPadded(secondOfDay / 3600, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(secondOfDay / 60 % 60, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendPadded(secondOfDay % 60, width: 2, to: &bytes)
        bytes.append(UInt8(ascii: "."))
        appendPadded(milliseconds % 1000, width: 3, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func appendPadded(_ value: Int, width: Int, to bytes: inout [UInt8]) {
        var digits: [UInt8] = []
        var n = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(n % 10))
            n /= 10
        } while n > 0
        if digits.count < width {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
        }
        bytes.append(contentsOf: digits.reversed())
    }

    // MARK: The iterator

    /// Produces the events in log order. Holds O(accounts) state.
    public struct Iterator: IteratorProtocol, Sendable {
        private var random: Xoshiro256StarStar
        private let accounts: Int
        private let events: Int
        private let idWidth: Int
        private var index = 0
        /// Events each account still gets.
        private var remaining: [Int32]
        /// The sequence of each account's last event so far.
        private var version: [Int32]
        /// Whether each account ends with `AccountClosed`.
        private var closes: [Bool]
        /// Each account's balance so far, to keep the rare large amounts in range.
        private var balance: [Int64]
        /// A Fenwick tree over `remaining`, to draw the next account in O(log accounts).
        private var tree: [Int]
        private var treeTop: Int
        private var bodyCapacity = 256

        init(accounts: Int, events: Int, seed: UInt64, closeRate: Double) {
            self.accounts = accounts
            self.events = events
            self.idWidth = HistoryGenerator.idWidth(accounts: accounts)
            random = Xoshiro256StarStar(seed: seed)
            // Each account: the opening plus a uniform share of the rest (multinomial).
            remaining = [Int32](repeating: 1, count: accounts)
            for _ in 0..<(events - accounts) {
                remaining[Int(random.below(UInt64(accounts)))] += 1
            }
            // Only accounts with two or more events may close (the opening is not a close).
            let threshold = UInt64(closeRate * 9_007_199_254_740_992.0)  // closeRate * 2^53, exact
            closes = [Bool](repeating: false, count: accounts)
            for account in 0..<accounts where remaining[account] >= 2 {
                closes[account] = (random.next() >> 11) < threshold
            }
            version = [Int32](repeating: 0, count: accounts)
            balance = [Int64](repeating: 0, count: accounts)
            // Fenwick tree (1-based) over the remaining counts, built in O(accounts).
            tree = [Int](repeating: 0, count: accounts + 1)
            for i in 1...accounts {
                tree[i] += Int(remaining[i - 1])
                let parent = i + (i & -i)
                if parent <= accounts { tree[parent] += tree[i] }
            }
            var top = 1
            while top * 2 <= accounts { top *= 2 }
            treeTop = top
        }

        /// The account holding the `target`-th (0-based) remaining event.
        private func find(_ target: Int) -> Int {
            var position = 0
            var rest = target
            var step = treeTop
            while step > 0 {
                let next = position + step
                if next <= accounts && tree[next] <= rest {
                    position = next
                    rest -= tree[next]
                }
                step >>= 1
            }
            return position  // 0-based account index
        }

        private mutating func takeOne(from account: Int) {
            remaining[account] -= 1
            var i = account + 1
            while i <= accounts {
                tree[i] -= 1
                i += i & -i
            }
        }

        public mutating func next() -> GeneratedEvent? {
            guard index < events else { return nil }
            let account = find(Int(random.below(UInt64(events - index))))
            takeOne(from: account)
            let sequence = version[account] + 1
            version[account] = sequence

            let type: EventType
            var data: [UInt8] = []
            if sequence == 1 {
                type = .accountOpened
                data.append(contentsOf: #"{"owner":"#.utf8)
                appendOwner(to: &data)
                data.append(contentsOf: #","currency":""#.utf8)
                data.append(contentsOf: Names.currencies[Int(random.below(UInt64(Names.currencies.count)))])
                data.append(contentsOf: #""}"#.utf8)
            } else if remaining[account] == 0 && closes[account] {
                type = .accountClosed
                data.append(contentsOf: "{}".utf8)
            } else {
                let roll = random.below(100)
                if roll < 90 {
                    let deposit = roll < 55
                    var amount = Int64(random.below(deposit ? 100_000 : 60_000)) + 1
                    if random.below(1000) == 0 {
                        let large = Int64(random.below(1_000_000_000_000_000)) + 1
                        let after = balance[account] + (deposit ? large : -large)
                        if after.magnitude < 4_000_000_000_000_000_000 { amount = large }
                    }
                    balance[account] += deposit ? amount : -amount
                    type = deposit ? .moneyDeposited : .moneyWithdrawn
                    data.append(contentsOf: #"{"amount":"#.utf8)
                    HistoryGenerator.appendPadded(Int(amount), width: 1, to: &data)
                    data.append(UInt8(ascii: "}"))
                } else {
                    type = .accountRenamed
                    data.append(contentsOf: #"{"owner":"#.utf8)
                    appendOwner(to: &data)
                    data.append(UInt8(ascii: "}"))
                }
            }

            // The envelope, keys in the documented order.
            var body: [UInt8] = []
            body.reserveCapacity(bodyCapacity)
            body.append(contentsOf: #"{"eventId":""#.utf8)
            let idStart = body.count
            appendUUID(to: &body)
            let eventID = String(decoding: body[idStart...], as: UTF8.self)
            body.append(contentsOf: #"","type":""#.utf8)
            body.append(contentsOf: type.rawValue.utf8)
            body.append(contentsOf: #"","accountId":""#.utf8)
            let accountStart = body.count
            body.append(contentsOf: "acc-".utf8)
            HistoryGenerator.appendPadded(account + 1, width: idWidth, to: &body)
            let accountID = String(decoding: body[accountStart...], as: UTF8.self)
            body.append(contentsOf: #"","sequence":"#.utf8)
            HistoryGenerator.appendPadded(Int(sequence), width: 1, to: &body)
            body.append(contentsOf: #","occurredAt":""#.utf8)
            let timeStart = body.count
            HistoryGenerator.appendTimestamp(index: index, to: &body)
            let occurredAt = String(decoding: body[timeStart...], as: UTF8.self)
            body.append(contentsOf: #"","data":"#.utf8)
            body.append(contentsOf: data)
            body.append(UInt8(ascii: "}"))
            bodyCapacity = Swift.max(bodyCapacity, body.count)

            defer { index += 1 }
            return GeneratedEvent(
                index: index, body: body, eventId: eventID, type: type, accountId: accountID,
                sequence: Int64(sequence), occurredAt: occurredAt)
        }

        /// A first name, a space and a last name, as a JSON string (escapes included).
        private mutating func appendOwner(to bytes: inout [UInt8]) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: Names.first[Int(random.below(UInt64(Names.first.count)))])
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: Names.last[Int(random.below(UInt64(Names.last.count)))])
            bytes.append(UInt8(ascii: "\""))
        }

        /// 128 random bits shaped as a version-4 UUID, lowercase hex, 8-4-4-4-12.
        private mutating func appendUUID(to bytes: inout [UInt8]) {
            let high = (random.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
            let low = (random.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
            let hex: StaticString = "0123456789abcdef"
            for position in 0..<32 {
                if position == 8 || position == 12 || position == 16 || position == 20 {
                    bytes.append(UInt8(ascii: "-"))
                }
                let word = position < 16 ? high : low
                let value = Int((word >> UInt64(60 - 4 * (position % 16))) & 0xF)
                bytes.append(hex.utf8Start[value])
            }
        }
    }
}

/// One event of a generated history: the body as it goes on the wire, and the fields a
/// publisher needs for the message properties without parsing it again.
public struct GeneratedEvent: Sendable, Equatable {
    /// Position in the log, from 0.
    public var index: Int
    /// The UTF-8 JSON body (docs/events.md#field-rules), keys in the documented order, no newline.
    public var body: [UInt8]
    public var eventId: String
    public var type: EventType
    public var accountId: String
    public var sequence: Int64
    public var occurredAt: String

    public init(
        index: Int, body: [UInt8], eventId: String, type: EventType, accountId: String, sequence: Int64,
        occurredAt: String
    ) {
        self.index = index
        self.body = body
        self.eventId = eventId
        self.type = type
        self.accountId = accountId
        self.sequence = sequence
        self.occurredAt = occurredAt
    }
}

/// The names and currencies owners are drawn from, as JSON string contents (escaped).
enum Names {
    static let first: [[UInt8]] = [
        "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus",
        "Zoë", "José", "Søren", "Łukasz", "Ægir", "Chloé", "Björn", "Nuño",
        "Yūko", "Aiyana", "Ngozi", "Priya", "Дмитрий", "美咲",
    ].map(escaped)
    static let last: [[UInt8]] = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton",
        "Torvalds", "Müller", "Núñez", "O'Brien", "Van der Berg", "Øster", "Nakamura",
        "Çelik", "Dvořák", "Okafor", "\"Tiny\" Smith", "Wong-Baker", "Ibáñez", "Παπαδοπούλου",
    ].map(escaped)
    static let currencies: [[UInt8]] = ["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK"].map { Array($0.utf8) }

    static func escaped(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        JSONWriter.writeString(text, into: &bytes)
        return Array(bytes.dropFirst().dropLast())
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: the same numbers on
/// every platform and Swift version, unlike the standard library's generators.
struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    init(seed: UInt64) {
        var state = seed
        func splitMix() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in 0..<bound (bound > 0), by Lemire's multiply-and-reject: unbiased and
    /// fully specified here, so it cannot change with the standard library.
    mutating func below(_ bound: UInt64) -> UInt64 {
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }
}
