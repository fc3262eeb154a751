import AccountProjection
import JSON

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's entry point: every input is one event body for the decoder, and its lines
/// are a small event log for the projection. Not crashing is not enough: each check below
/// traps (and libFuzzer keeps the input) when an invariant of the decoder, the JSON
/// reader and writer, the projection rules or the snapshot does not hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = UnsafeRawBufferPointer(start: data, count: size)
    checkDecoder(body)
    checkProjection(lines(of: body))
    return 0
}

// MARK: Reporting

/// Traps with `message` when `condition` is false.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    let text = Array("fuzz invariant violated: \(message())\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

// MARK: The decoder

/// One body through the decoder (both entry points, twice), the JSON reader and writer,
/// and back through the decoder.
func checkDecoder(_ body: UnsafeRawBufferPointer) {
    let decoded = EventDecoder.decode(body)
    let array = Array(body)
    require(EventDecoder.decode(array) == decoded, "the raw-buffer and array forms disagree")
    require(EventDecoder.decode(body) == decoded, "decoding the same body twice gave different results")

    switch decoded {
    case .failure(let problem):
        require(
            (problem.reason == .tooLarge) == (body.count > EventDecoder.maximumBodySize),
            "too_large for a body of \(body.count) bytes: \(problem)")
        require(
            problem.reason == .tooLarge || problem.reason == .malformedJSON || problem.reason == .invalidField,
            "a body with no place in any history failed as \(problem.reason)")
        require(!problem.detail.isEmpty, "a failure without a detail")
    case .success(let event):
        checkEvent(event)
    }
    checkAgainstJSONReader(body, decoded)
}

/// What a decoded event promises (Event's documentation, docs/events.md#field-rules).
func checkEvent(_ event: Event) {
    require(EventDecoder.isValidAccountID(event.accountId), "an event with accountId \(event.accountId)")
    require(
        event.sequence >= 1 && event.sequence <= EventDecoder.maximumSequence,
        "an event with sequence \(event.sequence)")
    guard let problem = event.problem else {
        checkValidEvent(event)
        return
    }
    require(!problem.detail.isEmpty, "a problem without a detail")
    require(
        problem.reason != .tooLarge && problem.reason != .malformedJSON && problem.reason != .accountClosed
            && problem.reason != .sequenceGap,
        "the decoder gave an event the problem \(problem.reason)")
    require(
        event.owner.isEmpty && event.currency.isEmpty && event.amount == 0,
        "an event with a problem still carries content: \(event)")
    if event.type == nil && problem.reason != .unknownType {
        require(problem.reason == .invalidField, "no type, and the problem is \(problem.reason)")
    }
}

/// A valid event: every field rule holds, and it survives being written out and read again.
func checkValidEvent(_ event: Event) {
    guard let type = event.type else {
        require(false, "a valid event without a type")
        return
    }
    let idLength = event.eventId.unicodeScalars.count
    require(idLength >= 1 && idLength <= 128, "a valid event with an eventId of \(idLength) characters")
    require(EventDecoder.isValidTimestamp(event.occurredAt), "a valid event at \(event.occurredAt)")
    require((type == .accountOpened) == (event.sequence == 1), "a valid \(type) with sequence \(event.sequence)")
    let ownerLength = event.owner.unicodeScalars.count
    switch type {
    case .accountOpened, .accountRenamed:
        require(ownerLength >= 1 && ownerLength <= 200, "a valid \(type) with an owner of \(ownerLength) characters")
        require(event.amount == 0, "a valid \(type) with an amount")
        if type == .accountOpened {
            require(
                event.currency.utf8.count == 3 && event.currency.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A },
                "a valid opening with currency \(event.currency)")
        } else {
            require(event.currency.isEmpty, "a valid rename with a currency")
        }
    case .moneyDeposited, .moneyWithdrawn:
        require(
            event.amount >= 1 && event.amount <= EventDecoder.maximumAmount,
            "a valid \(type) with amount \(event.amount)")
        require(event.owner.isEmpty && event.currency.isEmpty, "a valid \(type) with an owner or currency")
    case .accountClosed:
        require(event.owner.isEmpty && event.currency.isEmpty && event.amount == 0, "a valid close with content")
    }
    let canonical = canonicalBody(event)
    let again = EventDecoder.decode(canonical)
    require(
        again == .success(event),
        "a valid event written out canonically decodes differently: \(event) -> \(again)\n"
            + String(decoding: canonical, as: UTF8.self))
}

/// The event as a producer would write it, through our JSON writer.
func canonicalBody(_ event: Event) -> [UInt8] {
    var out: [UInt8] = []
    func member(_ name: String) {
        out.append(out.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
        JSONWriter.writeString(name, into: &out)
        out.append(UInt8(ascii: ":"))
    }
    member("eventId")
    JSONWriter.writeString(event.eventId, into: &out)
    member("type")
    JSONWriter.writeString(event.type?.rawValue ?? "", into: &out)
    member("accountId")
    JSONWriter.writeString(event.accountId, into: &out)
    member("sequence")
    JSONWriter.writeInteger(event.sequence, into: &out)
    member("occurredAt")
    JSONWriter.writeString(event.occurredAt, into: &out)
    member("data")
    switch event.type {
    case .accountOpened:
        out += Array("{\"owner\":".utf8)
        JSONWriter.writeString(event.owner, into: &out)
        out += Array(",\"currency\":".utf8)
        JSONWriter.writeString(event.currency, into: &out)
        out.append(UInt8(ascii: "}"))
    case .accountRenamed:
        out += Array("{\"owner\":".utf8)
        JSONWriter.writeString(event.owner, into: &out)
        out.append(UInt8(ascii: "}"))
    case .moneyDeposited, .moneyWithdrawn:
        out += Array("{\"amount\":".utf8)
        JSONWriter.writeInteger(event.amount, into: &out)
        out.append(UInt8(ascii: "}"))
    case .accountClosed, nil:
        out += Array("{}".utf8)
    }
    out.append(UInt8(ascii: "}"))
    return out
}

/// The general JSON reader (`JSONValue`, its own recursive driver over the same lexer) and
/// the event decoder must agree on what is JSON; and a body written back compactly by our
/// writer decodes to exactly the same result (whitespace and escapes make no difference).
func checkAgainstJSONReader(_ body: UnsafeRawBufferPointer, _ decoded: Result<Event, EventProblem>) {
    guard body.count <= EventDecoder.maximumBodySize else { return }
    let value: JSONValue
    do {
        value = try JSONValue.parse(body)
    } catch let error as JSONParseError {
        // The decoder skips unknown members without recursion, so it has no depth limit.
        if error.message.hasPrefix("nested deeper") { return }
        guard case .failure(let problem) = decoded, problem.reason == .malformedJSON else {
            require(false, "JSONValue refused the body (\(error)) but the decoder said \(decoded)")
            return
        }
        return
    } catch {
        require(false, "JSONValue.parse threw \(error)")
        return
    }
    guard case .object = value else {
        require(
            decoded.failure?.reason == .malformedJSON && decoded.failure?.detail.hasSuffix("not an object") == true,
            "a JSON non-object decoded as \(decoded)")
        return
    }
    require(decoded.failure?.reason != .malformedJSON, "a JSON object was malformed_json: \(decoded)")
    var written: [UInt8] = []
    value.write(into: &written)
    require(written.count <= body.count, "writing a value back made it longer")
    let reparsed = try? JSONValue.parse(written)
    require(reparsed == value, "a value written back reads differently")
    let redecoded = EventDecoder.decode(written)
    require(
        redecoded == decoded,
        "the compact rewrite decodes differently: \(decoded) vs \(redecoded)\n"
            + String(decoding: written, as: UTF8.self))
}

extension Result where Failure == EventProblem {
    var failure: EventProblem? {
        if case .failure(let problem) = self { return problem }
        return nil
    }
}

// MARK: The projection

/// The input's lines (at most 64), each an event body.
func lines(of body: UnsafeRawBufferPointer) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0
    for i in 0..<body.count where body[i] == UInt8(ascii: "\n") {
        result.append(Array(body[start..<i]))
        start = i + 1
        if result.count == 64 { return result }
    }
    result.append(Array(body[start..<body.count]))
    return result
}

/// The lines as a log through the projection rules (docs/events.md#how-the-projection-applies-an-event),
/// checking the counters
/// after every event, the listing, the read API's JSON, duplicates and the snapshot.
func checkProjection(_ bodies: [[UInt8]]) {
    // A parking limit of 2 so that evictions (sequence_gap) happen.
    var projection = Projection<Int>(parkingLimit: 2)
    var rejectedOrigins = Set<Int>()
    for (index, body) in bodies.enumerated() {
        let before = projection.statistics
        var rejected: [RejectedEvent<Int>] = []
        let disposition = projection.apply(body, origin: index, rejected: &rejected)
        let after = projection.statistics
        require(
            after.eventsApplied + after.duplicates + after.invalid + after.parked == index + 1,
            "after \(index + 1) events the counters are \(after)")
        require(after.invalid - before.invalid == rejected.count, "\(rejected.count) rejected, counters \(after)")
        require(after.parked <= projection.parkingLimit, "\(after.parked) parked over the limit")
        require(after.invalidByReason.values.reduce(0, +) == after.invalid, "the reasons do not add up: \(after)")
        for event in rejected {
            require(rejectedOrigins.insert(event.origin).inserted, "event \(event.origin) rejected twice")
            require(event.origin <= index, "a rejected event that was never handed over")
            require(!event.detail.isEmpty, "a rejection without a detail")
        }
        switch disposition {
        case .applied: require(after.eventsApplied > before.eventsApplied, "applied, but the counter did not move")
        case .duplicate: require(after.duplicates == before.duplicates + 1, "a duplicate not counted")
        case .parked:
            // Parking past the limit sends the longest-parked event out as sequence_gap.
            let evicted = rejected.filter { $0.reason == .sequenceGap }.count
            require(after.parked == before.parked + 1 - evicted, "parked, but the parking lot did not grow")
        case .rejected(let reason):
            require(
                rejected.contains { $0.origin == index && $0.reason == reason },
                "rejected as \(reason) but not handed back")
        }
    }
    checkListing(&projection)
    checkSnapshot(projection, nextBody: bodies.first ?? [])
    checkDuplicatesChangeNothing(bodies)
}

/// The listing is in strict byte order of id, holds every opened account, pages the same
/// one by one, and each account reads back from the read API's JSON.
func checkListing(_ projection: inout Projection<Int>) {
    let (all, hasMore) = projection.accounts(after: nil, limit: Int.max)
    require(!hasMore, "more accounts after an unlimited listing")
    require(
        all.count == projection.statistics.accounts, "\(all.count) listed, \(projection.statistics.accounts) counted")
    for (a, b) in zip(all, all.dropFirst()) {
        require(Array(a.id.utf8).lexicographicallyPrecedes(Array(b.id.utf8)), "\(a.id) listed before \(b.id)")
    }
    var paged: [Account] = []
    var after: String?
    while true {
        let page = projection.accounts(after: after, limit: 1)
        paged += page.items
        guard page.hasMore, let last = page.items.last else { break }
        after = last.id
    }
    require(paged == all, "paging one by one lists other accounts")
    for account in all {
        require(projection.account(id: account.id) == account, "account(id:) disagrees with the listing")
        require(account.version >= 1, "an opened account at version \(account.version)")
        var json: [UInt8] = []
        account.writeJSON(into: &json)
        let read = (try? JSONValue.parse(json)).flatMap { Account(json: $0) }
        require(read == account, "an account does not read back from its JSON: \(account)")
    }
}

/// A restored snapshot is the same projection and behaves the same.
func checkSnapshot(_ projection: Projection<Int>, nextBody: [UInt8]) {
    let bytes = projection.snapshot(identity: "fuzz", offset: 7) { origin, writer in writer.write(Int64(origin)) }
    let restored: (projection: Projection<Int>, offset: Int64)
    do {
        restored = try Projection<Int>.restore(from: bytes, identity: "fuzz") {
            (reader: inout SnapshotReader) throws(SnapshotError) -> Int in Int(try reader.read(Int64.self))
        }
    } catch {
        require(false, "a fresh snapshot does not restore: \(error)")
        return
    }
    var original = projection
    var copy = restored.projection
    require(restored.offset == 7, "the snapshot covers offset \(restored.offset)")
    require(copy.statistics == original.statistics, "restored counters \(copy.statistics) vs \(original.statistics)")
    require(
        copy.accounts(after: nil, limit: Int.max).items == original.accounts(after: nil, limit: Int.max).items,
        "the restored accounts differ")
    var rejectedOriginal: [RejectedEvent<Int>] = []
    var rejectedCopy: [RejectedEvent<Int>] = []
    let a = original.apply(nextBody, origin: -1, rejected: &rejectedOriginal)
    let b = copy.apply(nextBody, origin: -1, rejected: &rejectedCopy)
    require(a == b && rejectedOriginal == rejectedCopy, "the restored projection behaves differently")
    require(copy.statistics == original.statistics, "restored counters drift after one more event")
}

/// Every event delivered twice in a row gives the state it gives once
/// (docs/events.md#how-the-projection-applies-an-event):
/// the second copy of anything that decodes is a duplicate; a body that takes no place
/// in any history is rejected again.
func checkDuplicatesChangeNothing(_ bodies: [[UInt8]]) {
    var once = Projection<Int>(parkingLimit: 1_000)
    var twice = Projection<Int>(parkingLimit: 1_000)
    var rejected: [RejectedEvent<Int>] = []
    var placeless = 0
    for (index, body) in bodies.enumerated() {
        let decoded = EventDecoder.decode(body)
        if case .failure = decoded { placeless += 1 }
        _ = once.apply(decoded, origin: index, rejected: &rejected)
        _ = twice.apply(decoded, origin: index, rejected: &rejected)
        let second = twice.apply(decoded, origin: index, rejected: &rejected)
        if case .success = decoded {
            require(second == .duplicate, "the second copy of event \(index) was \(second)")
        }
    }
    let a = once.statistics
    let b = twice.statistics
    require(
        a.eventsApplied == b.eventsApplied && a.parked == b.parked && a.accounts == b.accounts
            && b.duplicates == a.duplicates + bodies.count - placeless && b.invalid == a.invalid + placeless,
        "delivered twice: \(b); once: \(a)")
    require(
        once.accounts(after: nil, limit: Int.max).items == twice.accounts(after: nil, limit: Int.max).items,
        "delivering every event twice changed the accounts")
}
