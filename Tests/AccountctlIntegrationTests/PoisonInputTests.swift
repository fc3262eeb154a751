import AMQP
import AccountHistory
import AccountMessaging
import AccountProjection
import JSON
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Poison input at scale (docs/events.md#rejections-and-the-invalid-queue): a valid history interleaved with
/// 10,000 bad
/// messages — random bytes, truncated and mutated bodies, wrong JSON types, huge numbers,
/// deep nesting, invalid UTF-8, oversized bodies; garbage or missing properties, headers of
/// every AMQP field type (invalid UTF-8, deep nesting, forged `x-` headers), odd routing
/// keys — published in a seeded, reproducible order through librabbitmq directly, so that
/// any byte can go anywhere. The real `accountservice` must apply every valid event, send
/// every bad one to the invalid queue with a documented reason, stay up, and keep its memory.
@Suite("poison input at scale", .tags(.broker, .slow), .timeLimit(.minutes(10)), .enabled(if: TestBroker.enabled))
struct PoisonInputTests {
    static let validEvents = 5_000
    static let badMessages = 10_000

    @Test("5,000 valid events among 10,000 bad messages: all applied, all rejected with a reason, memory bounded")
    func poisonAtScale() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let log = PoisonLog(seed: 0x5EED_0F_BAD_1DEA)
        let messages = log.messages
        let expectation = try #require(Expectation(messages), "the generator made a log it cannot predict")
        // The generator's promise, checked on the pure projection before any broker is involved.
        #expect(expectation.statistics.eventsApplied == log.validCount)
        #expect(expectation.statistics.invalid == Self.badMessages)
        #expect(expectation.statistics.duplicates == 0)
        #expect(expectation.statistics.parked == 0)
        #expect(log.validCount >= Self.validEvents)

        let topology = uniqueTopology("poison")
        try await cleaningUp({ await deleteTopology(topology) }) {
            // Offsets are read below as message indexes: one segment keeps them so (RabbitMQ
            // spends an offset on a tracking chunk at the start of each new segment).
            let service = try await ServiceProcess(
                topology: topology, replica: "poison", extraEnvironment: ["STREAM_MAX_SEGMENT_SIZE": "500000000"])
            #expect(await service.wait { service.get("/ready")?.status == 200 }, "log:\n\(service.log)")
            let rssBefore = try #require(residentKilobytes(service.pid))

            try await offPool { try RawPublisher.publish(messages, exchange: topology.exchange) }
            let published = clock.now
            let handled = await service.waitUntilHandled(messages.count, timeout: .seconds(90))
            let stats = StatsView(service.get("/stats")?.bodyText ?? "")
            let stuckAt = Int(stats["lastOffset"] + 1)
            let stuck = stuckAt < messages.count ? messages[stuckAt].summary : "-"
            #expect(
                handled,
                "stuck before offset \(stuckAt): \(stuck)\nstats: \(stats.json.map { "\($0)" } ?? "-")\nlog:\n\(service.log.suffix(2000))"
            )
            let rssAfter = try #require(residentKilobytes(service.pid))
            print(
                "poison: \(messages.count) messages (\(log.validCount) valid, \(Self.badMessages) bad, "
                    + "\(messages.reduce(0) { $0 + $1.body.count } / 1024) KiB of bodies) published in "
                    + "\(published - started), handled in \(clock.now - published); RSS \(rssBefore) kB before, "
                    + "\(rssAfter) kB after")

            // Every valid event applied, every bad one rejected, nothing parked or counted twice.
            #expect(stats["eventsApplied"] == Int64(log.validCount))
            #expect(stats["invalid"] == Int64(Self.badMessages))
            #expect(stats["duplicates"] == 0)
            #expect(stats["parked"] == 0)
            #expect(stats["lastOffset"] == Int64(messages.count - 1))

            // The accounts: exactly the pure projection's; the history's accounts exactly as the
            // history alone makes them (no bad message touched one).
            let served = try await allAccounts(service)
            #expect(served.count == expectation.accounts.count)
            #expect(
                firstDifference(served, expectation.accounts) == nil,
                "the service's accounts differ from the projection's")
            let historyOnly = expectation.historyAccounts(log.history)
            #expect(firstDifference(served.filter { $0.id.hasPrefix("acc-") }, historyOnly) == nil)
            #expect(historyOnly.count == log.historyAccounts)

            // Every bad message in the invalid queue, with its body, offset and a documented reason.
            // Read in one session, and on for 2 s past the last expected one: a copy would show
            // (a queue's depth after a reader closes is no proof: a quorum queue may hand back
            // the last messages read, redelivered, when acks sent just before the close are lost).
            let rejected = try await readInvalidQueue(topology.invalidQueue, count: Self.badMessages)
            #expect(rejected.count == Self.badMessages, "more or fewer messages in the invalid queue than bad ones")
            var seen = Set<Int64>()
            var mismatches: [String] = []
            for message in rejected {
                let headers = message.properties.headers
                guard let offset = headers?["x-stream-offset"]?.int64Value, seen.insert(offset).inserted,
                    let expected = expectation.rejections[Int(offset)]
                else {
                    mismatches.append("unexpected x-stream-offset \(String(describing: headers?["x-stream-offset"]))")
                    continue
                }
                let reason = headers?["x-error"]?.stringValue
                if reason != expected.rawValue || RejectionReason(rawValue: reason ?? "") == nil {
                    mismatches.append("offset \(offset): x-error \(reason ?? "none"), expected \(expected.rawValue)")
                }
                if headers?["x-error-detail"]?.stringValue?.isEmpty != false {
                    mismatches.append("offset \(offset): no x-error-detail")
                }
                // A body past the decoder's limit goes back as its first 64 KiB, saying so.
                let original = messages[Int(offset)].body
                let limit = EventDecoder.maximumBodySize
                if message.body != Array(original.prefix(limit)) {
                    mismatches.append("offset \(offset): the body is not the original")
                }
                if original.count > limit && headers?["x-original-body-size"] != .int64(Int64(original.count)) {
                    mismatches.append("offset \(offset): no x-original-body-size for a \(original.count)-byte body")
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(10))")

            var byReason: [String: Int] = [:]
            for reason in expectation.rejections.values { byReason[reason.rawValue, default: 0] += 1 }
            print("poison: rejections by reason \(byReason.sorted { $0.key < $1.key })")

            // Alive, and its memory bounded.
            #expect(service.isRunning)
            #expect(service.get("/health")?.status == 200)
            #expect(service.get("/ready")?.status == 200)
            // Under a sanitizer its shadow memory (and ASan's quarantine of freed blocks) is most
            // of the RSS: ThreadSanitizer gets a looser bound, AddressSanitizer none (scripts/sanitizers).
            switch environment("SANITIZER") {
            case "address": break
            case "thread": #expect(rssAfter < 400_000, "RSS \(rssAfter) kB after the poison (\(rssBefore) kB before)")
            default: #expect(rssAfter < 150_000, "RSS \(rssAfter) kB after the poison (\(rssBefore) kB before)")
            }
            #expect(await service.terminate() == 0, "log:\n\(service.log.suffix(4000))")
            #expect(clock.now - started < .seconds(120))
        }
    }

    @Test("rejected messages whose properties cannot go back as they came still reach the invalid queue")
    func propertiesThatCannotGoBackAsTheyCame() async throws {
        let topology = uniqueTopology("poison-props")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let invalidUTF8 = [UInt8](repeating: 0xFF, count: 255)  // U+FFFD (3 bytes) each once read as a String
            var count = 0
            func message(_ configure: (inout RawProperties) -> Void) -> RawMessage {
                count += 1
                // unknown_type: a place in a fresh account's history, and no type.
                var message = RawMessage(
                    routingKey: Array("account.opened".utf8),
                    body: Array(#"{"accountId":"bad-\#(count)","sequence":1}"#.utf8))
                configure(&message.properties)
                return message
            }
            let messages = [
                message { $0.messageID = invalidUTF8 },
                message { $0.type = invalidUTF8 },
                message { $0.headers = RawHeaders(entries: [RawEntry(key: invalidUTF8, value: .bool(true))]) },
                message {
                    $0.headers = RawHeaders(entries: [
                        RawEntry(key: Array("nested".utf8), value: .table([RawEntry(key: invalidUTF8, value: .void)]))
                    ])
                },
                // Fits the frame as delivered, not with the x-error headers added.
                message {
                    $0.headers = RawHeaders(entries: [
                        RawEntry(key: Array("big".utf8), value: .bytes([UInt8](repeating: 7, count: 130_500)))
                    ])
                },
                // Grows past the frame once its invalid UTF-8 is repaired.
                message {
                    $0.headers = RawHeaders(entries: [
                        RawEntry(
                            key: Array("text".utf8),
                            value: .longString(invalidUTF8 + [UInt8](repeating: 0xFF, count: 60_000)))
                    ])
                },
                // A TTL would let the invalid queue drop it.
                message { $0.expiration = Array("1".utf8) },
                RawMessage(routingKey: Array("account.opened".utf8), body: TestEvent.opened("acc-2")),
            ]
            let service = try await ServiceProcess(topology: topology, replica: "poison-props")
            #expect(await service.wait { service.get("/ready")?.status == 200 }, "log:\n\(service.log)")
            try await offPool { try RawPublisher.publish(messages, exchange: topology.exchange) }
            let handled = await service.waitUntilHandled(messages.count, timeout: .seconds(20))
            let stats = StatsView(service.get("/stats")?.bodyText ?? "")
            #expect(handled, "stats: \(stats.json.map { "\($0)" } ?? "-")\nlog:\n\(service.log.suffix(3000))")
            #expect(stats["invalid"] == Int64(messages.count - 1), "stats: \(stats.json.map { "\($0)" } ?? "-")")
            #expect(stats["eventsApplied"] == 1)
            try await Task.sleep(for: .milliseconds(300))  // an expiration of 1 ms would have dropped one by now
            let rejected = try await readInvalidQueue(topology.invalidQueue, count: messages.count - 1)
            #expect(rejected.count == messages.count - 1)
            for message in rejected {
                #expect(message.properties.headers?["x-error"] == .string("unknown_type"))
                #expect(message.body.starts(with: Array(#"{"accountId":"bad-"#.utf8)))
                #expect(message.properties.expiration == nil)
            }
            #expect(service.get("/ready")?.status == 200)
            #expect(await service.terminate() == 0)
        }
    }

    /// Every account the service lists, page by page.
    private func allAccounts(_ service: ServiceProcess) async throws -> [Account] {
        var accounts: [Account] = []
        var after: String?
        while true {
            var path = "/accounts?limit=1000"
            if let after { path += "&after=" + after }
            let page = try JSONValue.parse(try #require(service.get(path)).body)
            for item in page["items"]?.arrayValue ?? [] {
                accounts.append(try #require(Account(json: item)))
            }
            guard let next = page["next"]?.stringValue else { return accounts }
            after = next
        }
    }

    /// Every message of `queue`: at least `count`, then whatever else comes within `linger`.
    private func readInvalidQueue(
        _ queue: String, count: Int, linger: Duration = .seconds(2)
    ) async throws
        -> [AMQPDelivery]
    {
        let connection = try await TestBroker.connect()
        return try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            try await channel.qos(prefetchCount: 500)
            let consumer = try await channel.consume(queue: queue)
            let got = Mutex<[AMQPDelivery]>([])
            let reader = Task {
                for try await delivery in consumer {
                    got.withLock { $0.append(delivery) }
                    channel.ack(deliveryTag: delivery.deliveryTag)
                }
            }
            defer { reader.cancel() }
            // The last rejections may still wait for their confirm when /stats already counts them.
            let deadline = ContinuousClock.now + .seconds(60)
            while got.withLock({ $0.count }) < count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: linger)
            return got.withLock { $0 }
        }
    }

}

/// The first account where two listings differ, for a readable failure.
func firstDifference(_ a: [Account], _ b: [Account]) -> String? {
    for (x, y) in zip(a, b) where x != y { return "\(x) vs \(y)" }
    return a.count == b.count ? nil : "\(a.count) accounts vs \(b.count)"
}

/// VmRSS of a process, in kB.
func residentKilobytes(_ pid: pid_t) -> Int? {
    guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmRSS:") {
            return Int(text.dropFirst(6).filter { $0.isNumber })
        }
    }
    return nil
}

// MARK: The expected outcome

/// What the service must end with, from the same pure projection over the same bodies:
/// the service decides by the body alone (docs/events.md#field-rules), so properties, headers and routing
/// keys change nothing.
struct Expectation {
    var statistics: ProjectionStatistics
    var accounts: [Account]
    /// The reason for each offset that must reach the invalid queue.
    var rejections: [Int: RejectionReason]

    init?(_ messages: [RawMessage]) {
        var projection = Projection<Int>()
        var rejected: [RejectedEvent<Int>] = []
        for (offset, message) in messages.enumerated() {
            _ = projection.apply(message.body, origin: offset, rejected: &rejected)
        }
        statistics = projection.statistics
        accounts = projection.accounts(after: nil, limit: Int.max).items
        rejections = [:]
        for event in rejected {
            guard rejections.updateValue(event.reason, forKey: event.origin) == nil else { return nil }
        }
    }

    /// The accounts the history alone makes.
    func historyAccounts(_ history: [GeneratedEvent]) -> [Account] {
        var projection = Projection<Int>()
        var rejected: [RejectedEvent<Int>] = []
        for event in history { _ = projection.apply(event.body, origin: event.index, rejected: &rejected) }
        return projection.accounts(after: nil, limit: Int.max).items
    }
}

// MARK: The log

/// The draws the poison log makes.
extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// The published log: the history (plus the openings and closings of a few accounts the
/// bad messages need) with the bad messages spread through it.
struct PoisonLog {
    var random: SplitMix64
    let history: [GeneratedEvent]
    static let historyAccounts = 300
    var historyAccounts: Int { Self.historyAccounts }
    private(set) var messages: [RawMessage] = []
    private(set) var validCount = 0
    /// Accounts opened (and some closed) at the start, for `amount_out_of_range` and
    /// `account_closed`: their next sequence.
    private var openPoison: [(id: String, next: Int64)] = []
    private var closedPoison: [(id: String, next: Int64)] = []
    private var freshAccounts = 0

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
        history = Array(
            HistoryGenerator(accounts: Self.historyAccounts, events: PoisonInputTests.validEvents, seed: seed))
        for n in 0..<20 {
            let id = "poison-open-\(n)"
            append(valid: poisonBody("AccountOpened", id, 1, data: #"{"owner":"Mallory","currency":"EUR"}"#))
            if n < 10 {
                append(valid: poisonBody("AccountClosed", id, 2))
                closedPoison.append((id, 3))
            } else {
                openPoison.append((id, 2))
            }
        }
        // Bad messages spread uniformly through the history, in order.
        var badBefore = [Int](repeating: 0, count: history.count + 1)
        for _ in 0..<PoisonInputTests.badMessages { badBefore[random.below(history.count + 1)] += 1 }
        for (index, event) in history.enumerated() {
            for _ in 0..<badBefore[index] { appendBad() }
            append(valid: event.body, routingKey: EventMessage.routingKey(forType: event.type.rawValue))
        }
        for _ in 0..<badBefore[history.count] { appendBad() }
    }

    private mutating func append(valid body: [UInt8], routingKey: String = "account.opened") {
        validCount += 1
        var message = RawMessage(routingKey: Array(routingKey.utf8), body: body)
        message.properties.contentType = Array("application/json".utf8)
        message.properties.deliveryMode = 2
        if random.chance(10) {
            // Garbage around a valid body changes nothing: the body decides.
            message.properties = garbageProperties()
            message.routingKey = garbageRoutingKey()
        }
        messages.append(message)
    }

    private mutating func appendBad() {
        var message = RawMessage(routingKey: garbageRoutingKey(), body: badBody())
        if random.chance(70) { message.properties = garbageProperties() }
        messages.append(message)
    }

    private func poisonBody(_ type: String, _ id: String, _ sequence: Int64, data: String? = nil) -> [UInt8] {
        var text =
            #"{"eventId":"p-\#(id)-\#(sequence)","type":"\#(type)","accountId":"\#(id)","sequence":\#(sequence),"#
        text += #""occurredAt":"2026-11-24T16:00:00Z""#
        if let data { text += #","data":\#(data)"# }
        return Array((text + "}").utf8)
    }

    /// A fresh account id: its one event is sequence 1 and rejected, so it never opens.
    private mutating func freshAccount() -> String {
        freshAccounts += 1
        return "poison-\(freshAccounts)"
    }

    private mutating func historyBody() -> [UInt8] { random.pick(history).body }

    /// A body that cannot be applied, by construction (the pure projection confirms it).
    private mutating func badBody() -> [UInt8] {
        switch random.below(30) {
        case 0, 1:  // random bytes
            return random.bytes(random.below(300))
        case 2, 3:  // a strict prefix of a valid body
            let body = historyBody()
            return Array(body[0..<random.below(body.count)])
        case 4, 5:  // a valid body, mutated until it has no place in any history
            return mutatedBody()
        case 6, 7:  // invalid UTF-8 inside or outside a string
            var body = historyBody()
            let sequences: [[UInt8]] = [
                [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3], [0x80],
            ]
            let at = random.chance(50) ? (body.firstIndex(of: UInt8(ascii: "\""))! + 1) : random.below(body.count)
            body.insert(contentsOf: random.pick(sequences), at: at)
            return body
        case 8, 9:  // wrong JSON types for the known members
            return wrongTypeBody()
        case 10, 11:  // numbers no integer holds, or out of range
            return hugeNumberBody()
        case 12:  // deep nesting, balanced (a place, no type) or not (malformed)
            let arrays = random.chance(50)
            let depth = 1_000 + random.below(arrays ? 30_000 : 10_000)
            let (open, close): (String, String) = arrays ? ("[", "]") : (#"{"a":"#, "}")
            let nested = String(repeating: open, count: depth) + "0" + String(repeating: close, count: depth)
            let unbalanced = random.chance(30)
            return Array(
                (#"{"accountId":"\#(freshAccount())","sequence":1,"x":"# + nested + (unbalanced ? "" : "}")).utf8)
        case 13:  // too large
            let size = EventDecoder.maximumBodySize + 1 + random.below(20_000)
            var body = Array(#"{"accountId":"acc-000001","sequence":2,"pad":""#.utf8)
            body += [UInt8](repeating: UInt8(ascii: "x"), count: size - body.count - 2)
            return body + Array("\"}".utf8)
        case 14, 15:  // an unknown type
            let type = random.pick(["MoneyTeleported", "accountOpened", "", "AccountOpened ", "Account\\u004fpened?"])
            return poisonBody(type, freshAccount(), 1, data: "{}")
        case 16, 17:  // content faults on a fresh account (sequence 1 must be a valid AccountOpened)
            let data = random.pick([
                #"{"owner":"","currency":"EUR"}"#, #"{"owner":"A","currency":"eur"}"#, #"{"owner":"A"}"#,
                #"{"owner":"\#(String(repeating: "é", count: 201))","currency":"EUR"}"#, "[]", "null",
                #"{"owner":"A","currency":"EURO"}"#,
            ])
            let type = random.chance(80) ? "AccountOpened" : "MoneyDeposited"
            return poisonBody(type, freshAccount(), 1, data: data)
        case 18, 19:  // amount out of range on an open account
            let index = random.below(openPoison.count)
            let (id, next) = openPoison[index]
            openPoison[index].next += 1
            let amount = random.pick([
                "1000000000000001", "0", "-5", "9223372036854775808", "-0", "99999999999999999999",
            ])
            return poisonBody("MoneyDeposited", id, next, data: #"{"amount":\#(amount)}"#)
        case 20, 21:  // anything after the close
            let index = random.below(closedPoison.count)
            let (id, next) = closedPoison[index]
            closedPoison[index].next += 1
            return poisonBody("MoneyDeposited", id, next, data: #"{"amount":5}"#)
        case 22, 23:  // not an object, or nothing
            return Array(random.pick(["", " ", "null", "[]", "42", "\"AccountOpened\"", "true", "\u{FEFF}{}"]).utf8)
        case 24, 25:  // no valid accountId
            let id = random.pick(["\"\"", "\"acc 1\"", "\"\(String(repeating: "z", count: 65))\"", "\"accé\"", "null"])
            return Array(
                #"{"eventId":"e","type":"AccountClosed","accountId":\#(id),"sequence":2,"occurredAt":"2026-11-24T15:00:00Z"}"#
                    .utf8)
        default:  // syntax errors
            let text = random.pick([
                #"{"a":1,}"#, #"{"a":01}"#, #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, "{'a':1}", #"{"a":NaN}"#,
                #"{"a":1}{}"#, #"{"accountId":"acc-000001","sequence":2"#,
            ])
            return Array(text.utf8)
        }
    }

    private mutating func mutatedBody() -> [UInt8] {
        while true {
            var body = historyBody()
            for _ in 0..<(1 + random.below(4)) {
                let at = random.below(body.count)
                switch random.below(3) {
                case 0: body[at] = UInt8(truncatingIfNeeded: random.next())
                case 1: body.remove(at: at)
                default: body.insert(UInt8(truncatingIfNeeded: random.next()), at: at)
                }
            }
            // Only a body with no place can do no harm to the history's accounts.
            if case .failure = EventDecoder.decode(body) { return body }
        }
    }

    private mutating func wrongTypeBody() -> [UInt8] {
        let id = freshAccount()
        let members = [
            #""eventId":"e""#, #""type":"AccountOpened""#, #""accountId":"\#(id)""#, #""sequence":1"#,
            #""occurredAt":"2026-11-24T15:00:00Z""#, #""data":{"owner":"A","currency":"EUR"}"#,
        ]
        let wrong = random.pick([
            #""eventId":5"#, #""type":42"#, #""sequence":"1""#, #""occurredAt":[]"#, #""data":[1]"#,
            #""data":{"owner":true,"currency":"EUR"}"#, #""data":{"owner":"A","currency":{}}"#, #""sequence":1.0"#,
            #""accountId":42"#, #""sequence":true"#,
        ])
        return Array(("{" + (members + [wrong]).joined(separator: ",") + "}").utf8)
    }

    private mutating func hugeNumberBody() -> [UInt8] {
        let sequence = random.pick(["1e400", "99999999999999999999", "9007199254740992", "-1", "0", "1.5", "-0"])
        return Array(
            #"{"eventId":"e","type":"AccountClosed","accountId":"acc-000001","sequence":\#(sequence),"occurredAt":"2026-11-24T15:00:00Z"}"#
                .utf8)
    }

    // MARK: Garbage around the body

    private mutating func garbageRoutingKey() -> [UInt8] {
        switch random.below(5) {
        case 0: return Array("account.deposited".utf8)  // maybe the wrong kind for the body
        case 1: return Array("account".utf8)
        case 2: return Array("account.".utf8) + random.bytes(random.below(240)).map { $0 == 0 ? 1 : $0 }
        case 3: return Array("account.unknown.deeper.still".utf8)
        default: return Array("account.\(random.pick(["opened", "closed", "renamed", "withdrawn", "#", "*"]))".utf8)
        }
    }

    /// Short strings of any bytes (invalid UTF-8 too, up to the 255-byte limit), headers of
    /// every field kind, or nothing at all.
    private mutating func garbageProperties() -> RawProperties {
        var p = RawProperties()
        func shortString(_ r: inout SplitMix64) -> [UInt8]? {
            switch r.below(4) {
            case 0: return nil
            case 1: return r.bytes(r.below(256))
            case 2: return [UInt8](repeating: 0xFF, count: 255)  // invalid UTF-8 at the length limit
            default: return Array("text/plain; charset=latin1".utf8)
            }
        }
        p.contentType = shortString(&random)
        p.contentEncoding = shortString(&random)
        p.correlationID = shortString(&random)
        p.replyTo = shortString(&random)
        p.messageID = shortString(&random)
        p.type = shortString(&random)
        p.appID = shortString(&random)
        p.clusterID = shortString(&random)
        if random.chance(50) { p.deliveryMode = random.chance(50) ? 1 : 2 }  // the broker refuses others
        if random.chance(50) { p.priority = UInt8(truncatingIfNeeded: random.next()) }
        if random.chance(50) { p.timestamp = random.next() }
        if random.chance(70) { p.headers = garbageHeaders() }
        return p
    }

    private mutating func garbageHeaders() -> RawHeaders {
        switch random.below(12) {
        case 0:  // deeply nested tables, up to what a frame holds
            return RawHeaders(entries: [], nestedDepth: random.chance(90) ? 100 + random.below(2_000) : 15_000)
        case 1:  // near the frame size
            return RawHeaders(entries: [RawEntry(key: Array("big".utf8), value: .longString(random.bytes(100_000)))])
        case 2:  // forged headers the broker and the service set themselves
            return RawHeaders(entries: [
                RawEntry(
                    key: Array("x-stream-offset".utf8),
                    value: random.pick([.longString(Array("9".utf8)), .i64(1 << 40), .i64(-1)])),
                RawEntry(key: Array("x-error".utf8), value: .longString(Array("none".utf8))),
                RawEntry(key: Array("x-original-routing-key".utf8), value: .bytes([0xFF, 0x00])),
            ])
        case 3:  // many entries
            return RawHeaders(entries: (0..<2_000).map { RawEntry(key: Array("k\($0)".utf8), value: .i32(Int32($0))) })
        default:
            return RawHeaders(
                entries: (0..<random.below(12)).map { _ in
                    RawEntry(key: random.bytes(1 + random.below(255)), value: garbageValue(depth: 0))
                })
        }
    }

    private mutating func garbageValue(depth: Int) -> RawValue {
        switch random.below(depth < 3 ? 18 : 16) {
        case 0: return .bool(random.chance(50))
        case 1: return .i8(Int8(truncatingIfNeeded: random.next()))
        case 2: return .u8(UInt8(truncatingIfNeeded: random.next()))
        case 3: return .i16(Int16(truncatingIfNeeded: random.next()))
        case 4: return .u16(UInt16(truncatingIfNeeded: random.next()))
        case 5: return .i32(Int32(truncatingIfNeeded: random.next()))
        case 6: return .u32(UInt32(truncatingIfNeeded: random.next()))
        case 7: return .i64(Int64(bitPattern: random.next()))
        case 8: return .i64(Int64(bitPattern: random.next()))  // no u64 ('L'): RabbitMQ's table grammar has none
        // Finite floats only: RabbitMQ's parser (Erlang) cannot read a NaN or an infinity, and drops the
        // connection.
        case 9: return .f32(Float(Int32(truncatingIfNeeded: random.next())) / 7)
        case 10: return .f64(Double(Int64(bitPattern: random.next())) * 1e-300)
        case 11: return .bytes([])  // no decimal: RabbitMQ 3.10 cannot store one in a stream (the channel crashes)
        case 12: return .longString(random.bytes(random.below(600)))
        case 13: return .bytes(random.bytes(random.below(600)))
        case 14: return .timestamp(random.next())
        case 15: return .void
        case 16: return .array((0..<random.below(6)).map { _ in garbageValue(depth: depth + 1) })
        default:
            return .table(
                (0..<random.below(6)).map { _ in
                    RawEntry(key: random.bytes(random.below(40)), value: garbageValue(depth: depth + 1))
                })
        }
    }
}
