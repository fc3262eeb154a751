import JSON

/// Decodes and validates an event body (docs/events.md#field-rules and #decoding-details) in one pass over
/// its bytes.
///
/// Only the strings an event keeps are materialized, escapes are decoded only when a
/// backslash is present, and unknown members are checked and skipped.
public enum EventDecoder {
    /// Bodies above this many bytes are `too_large`.
    public static let maximumBodySize = 65_536
    /// The largest `sequence`: 2^53-1, what a double holds exactly.
    public static let maximumSequence: Int64 = (1 << 53) - 1
    /// The largest `amount`: 10^15 minor units.
    public static let maximumAmount: Int64 = 1_000_000_000_000_000

    /// Decodes a body. `.failure` is for a body that takes no place in any history: too
    /// large, not UTF-8, not JSON, not an object (`malformed_json`), or with no valid
    /// `accountId` and `sequence` (`invalid_field`). Every other fault is the event's `problem`.
    public static func decode(_ body: UnsafeRawBufferPointer) -> Result<Event, EventProblem> {
        guard body.count <= maximumBodySize else {
            return .failure(
                EventProblem(
                    reason: .tooLarge,
                    detail: "body is \(body.count) bytes; the limit is \(maximumBodySize)"
                )
            )
        }
        var parser = EventParser(body)
        do throws(JSONSyntaxError) {
            try parser.parse()
        } catch {
            return .failure(
                EventProblem(
                    reason: .malformedJSON,
                    detail: "body is not valid JSON: \(error.message) at byte \(error.offset)"
                )
            )
        }
        return parser.makeEvent()
    }

    /// Decodes a body; see `decode(_:)` for the raw-buffer form.
    public static func decode(_ body: [UInt8]) -> Result<Event, EventProblem> {
        body.withUnsafeBytes { decode($0) }
    }

    /// Whether `id` is 1..64 characters of `A-Z a-z 0-9 . _ : -` (the `accountId` rule,
    /// which the read API applies to the ids it is asked for).
    public static func isValidAccountID(_ id: String) -> Bool {
        withUTF8Bytes(id) { isValidAccountID(bytes: $0) }
    }

    /// The same rule on raw bytes (the read API checks the id in the request target).
    @inline(__always)
    public static func isValidAccountID(bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 1 && bytes.count <= 64 else { return false }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "-"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Whether `timestamp` is an RFC 3339 `date-time`.
    public static func isValidTimestamp(_ timestamp: String) -> Bool {
        withUTF8Bytes(timestamp) { RFC3339.isValid($0) }
    }
}

/// A member the decoder keeps, as found in the text (the last occurrence wins).
private enum StringMember {
    /// Missing or `null` (null counts as absent: docs/events.md#decoding-details).
    case absent
    case string(StringSpan)
    /// Any other JSON type.
    case other
}

private enum NumberMember {
    case absent
    case number(NumberSpan)
    /// A string, a bool, null, an object or an array.
    case other
}

private enum DataMember {
    /// Missing or `null`.
    case absent
    case object
    case other
}

/// One pass over an event body, then the checks.
private struct EventParser {
    var scanner: JSONScanner
    var topLevelKind: JSONKind = .object
    var eventId = StringMember.absent
    var type = StringMember.absent
    var accountId = StringMember.absent
    var occurredAt = StringMember.absent
    var sequence = NumberMember.absent
    var data = DataMember.absent
    var owner = StringMember.absent
    var currency = StringMember.absent
    var amount = NumberMember.absent
    /// The first known member holding the wrong JSON type, in document order: the Go
    /// peer's decoder reports it ahead of every other content check.
    var mismatch: (member: StaticString, kind: JSONKind)?

    init(_ body: UnsafeRawBufferPointer) {
        scanner = JSONScanner(body)
    }

    mutating func parse() throws(JSONSyntaxError) {
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else {
            // Not an object: still tell a valid non-object from broken JSON.
            guard let kind = JSONKind(firstByte: scanner.peek()) else { throw scanner.unexpected() }
            try scanner.skipValue()
            try scanner.expectEnd()
            topLevelKind = kind
            return
        }
        scanner.position += 1
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.position += 1
        } else {
            while true {
                try topLevelValue(nextKey(inData: false))
                scanner.skipWhitespace()
                if scanner.peek() == UInt8(ascii: ",") {
                    scanner.position += 1
                    scanner.skipWhitespace()
                    continue
                }
                try scanner.expect(UInt8(ascii: "}"))
                break
            }
        }
        try scanner.expectEnd()
    }

    /// The members the decoder reads.
    private enum Member {
        case type, accountId, sequence, data, eventId, occurredAt
        case amount, owner, currency
        case other

        static let topLevel: [Member] = [.type, .accountId, .sequence, .data, .eventId, .occurredAt]
        static let inData: [Member] = [.amount, .owner, .currency]

        var name: StaticString {
            switch self {
            case .type: "type"
            case .accountId: "accountId"
            case .sequence: "sequence"
            case .data: "data"
            case .eventId: "eventId"
            case .occurredAt: "occurredAt"
            case .amount: "amount"
            case .owner: "owner"
            case .currency: "currency"
            case .other: ""
            }
        }
    }

    /// When the key at the position is one of the decoder's own, written plainly, moves past
    /// it and its colon and returns which. Its letters and closing quote are compared as a
    /// word and a few bytes: scanning each key as a string and then comparing it was a third
    /// of the JSON's cost. Anything else (an escape, another key, the end) returns nil.
    @inline(__always)
    private mutating func knownKey(inData: Bool) throws(JSONSyntaxError) -> Member? {
        let bytes = scanner.bytes
        let start = scanner.position &+ 1  // after the opening quote
        guard start &+ 8 <= bytes.count, bytes[scanner.position] == UInt8(ascii: "\"") else { return nil }
        // The key's first eight bytes, the first lowest; constants below are the same
        // letters and quote read that way ("type\"" is 0x22_6570_7974).
        let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        // The bytes after those eight, for the longer keys.
        @inline(__always) func then(_ count: Int, _ expected: UInt32) -> Bool {
            guard start &+ 8 &+ count <= bytes.count else { return false }
            var value: UInt32 = 0
            for i in 0..<count { value |= UInt32(bytes[start &+ 8 &+ i]) << (8 &* UInt32(i)) }
            return value == expected
        }
        let found: (Member, Int)? =
            if !inData {
                switch word & 0xFF {
                case 0x74 /* t */ where word & 0xFF_FFFF_FFFF == 0x22_6570_7974: (.type, 5)
                case 0x64 /* d */ where word & 0xFF_FFFF_FFFF == 0x22_6174_6164: (.data, 5)
                case 0x65 /* e */ where word == 0x2264_4974_6E65_7665: (.eventId, 8)
                case 0x73 /* s */ where word == 0x6563_6E65_7571_6573 && then(1, 0x22): (.sequence, 9)
                case 0x61 /* a */ where word == 0x4974_6E75_6F63_6361 && then(2, 0x2264): (.accountId, 10)
                case 0x6F /* o */ where word == 0x6465_7272_7563_636F && then(3, 0x22_7441): (.occurredAt, 11)
                default: nil
                }
            } else {
                switch word & 0xFF {
                case 0x61 /* a */ where word & 0xFF_FFFF_FFFF_FFFF == 0x22_746E_756F_6D61: (.amount, 7)
                case 0x6F /* o */ where word & 0xFFFF_FFFF_FFFF == 0x2272_656E_776F: (.owner, 6)
                case 0x63 /* c */ where word == 0x7963_6E65_7272_7563 && then(1, 0x22): (.currency, 9)
                default: nil
                }
            }
        guard let (member, length) = found else { return nil }
        scanner.position = start &+ length
        scanner.skipWhitespace()
        try scanner.expect(UInt8(ascii: ":"))
        scanner.skipWhitespace()
        return member
    }

    /// The next key, top-level or inside `data`, and its colon.
    private mutating func nextKey(inData: Bool) throws(JSONSyntaxError) -> Member {
        if let member = try knownKey(inData: inData) { return member }
        // Anything else, escapes included: scanned, then compared (lengths first).
        let key = try scanner.scanKeyAndColon()
        for member in inData ? Member.inData : Member.topLevel where scanner.key(key, is: member.name) {
            return member
        }
        return .other
    }

    private mutating func topLevelValue(_ member: Member) throws(JSONSyntaxError) {
        switch member {
        case .type: type = try stringValue("type")
        case .accountId: accountId = try stringValue("accountId")
        case .sequence: sequence = try numberValue()
        case .data: try dataValue()
        case .eventId: eventId = try stringValue("eventId")
        case .occurredAt: occurredAt = try stringValue("occurredAt")
        default: try scanner.skipValue()
        }
    }

    private mutating func dataValue() throws(JSONSyntaxError) {
        let first = scanner.peek()
        guard first == UInt8(ascii: "{") else {
            if first == UInt8(ascii: "n") {
                _ = try scanner.scanLiteral()  // only `null` starts with n
                data = .absent
                return
            }
            try skipMismatched("data")
            data = .other
            return
        }
        // A later "data" replaces an earlier one as a whole.
        data = .object
        owner = .absent
        currency = .absent
        amount = .absent
        scanner.position += 1
        scanner.skipWhitespace()
        if scanner.peek() == UInt8(ascii: "}") {
            scanner.position += 1
            return
        }
        while true {
            switch try nextKey(inData: true) {
            case .amount: amount = try numberValue()
            case .owner: owner = try stringValue("data.owner")
            case .currency: currency = try stringValue("data.currency")
            default: try scanner.skipValue()
            }
            scanner.skipWhitespace()
            let byte = scanner.peek()
            if byte == UInt8(ascii: ",") {
                scanner.position += 1
                scanner.skipWhitespace()
                continue
            }
            try scanner.expect(UInt8(ascii: "}"))
            return
        }
    }

    @inline(__always)
    private mutating func stringValue(_ member: StaticString) throws(JSONSyntaxError) -> StringMember {
        switch scanner.peek() {
        case UInt8(ascii: "\""):
            return .string(try scanner.scanString())
        case UInt8(ascii: "n"):
            _ = try scanner.scanLiteral()  // only `null` starts with n
            return .absent
        default:
            try skipMismatched(member)
            return .other
        }
    }

    @inline(__always)
    private mutating func numberValue() throws(JSONSyntaxError) -> NumberMember {
        let first = scanner.peek()
        if first == UInt8(ascii: "-") || first &- UInt8(ascii: "0") < 10 {
            return .number(try scanner.scanNumber())
        }
        try scanner.skipValue()
        return .other
    }

    private mutating func skipMismatched(_ member: StaticString) throws(JSONSyntaxError) {
        guard let kind = JSONKind(firstByte: scanner.peek()) else { throw scanner.unexpected() }
        try scanner.skipValue()
        mismatch = mismatch ?? (member, kind)
    }

    // MARK: Checks

    func makeEvent() -> Result<Event, EventProblem> {
        guard topLevelKind == .object else {
            return .failure(
                EventProblem(reason: .malformedJSON, detail: "body is a JSON \(topLevelKind.rawValue), not an object")
            )
        }
        guard case .string(let idSpan) = accountId,
            scanner.withDecodedBytes(idSpan, { EventDecoder.isValidAccountID(bytes: $0) })
        else {
            return .failure(
                EventProblem(
                    reason: .invalidField,
                    detail: "accountId must be 1..64 characters of A-Z a-z 0-9 . _ : -"
                )
            )
        }
        guard case .number(let number) = sequence, number.fitsInt64,
            number.value >= 1, number.value <= EventDecoder.maximumSequence
        else {
            return .failure(
                EventProblem(reason: .invalidField, detail: "sequence must be an integer in 1..2^53-1")
            )
        }
        let type = eventType()
        var content = Content()
        let problem = check(type: type, sequence: number.value, into: &content)
        // The optimizer copies this Event once and destroys the first (six retains and
        // releases); `consume`, a helper of its own and a typed-throws return all kept that.
        return .success(
            Event(
                packedEventId: packedEventId(),
                type: type,
                accountId: scanner.string(idSpan),
                sequence: number.value,
                packedOccurredAt: packedOccurredAt(),
                owner: content.owner,
                currency: content.currency,
                amount: content.amount,
                problem: problem
            )
        )
    }

    /// What `data` contributes to a valid event.
    private struct Content {
        var owner = ""
        var currency = ""
        var amount: Int64 = 0
    }

    /// The two members every event keeps but few read, in the forms that need no heap
    /// String for the usual shapes (a lowercase UUID, a millisecond UTC timestamp).
    @inline(__always)
    private func packedEventId() -> PackedEventID {
        guard case .string(let span) = eventId else { return .text("") }
        return scanner.withDecodedBytes(span) { PackedEventID(bytes: $0) }
    }

    @inline(__always)
    private func packedOccurredAt() -> String {
        guard case .string(let span) = occurredAt else { return "" }
        return scanner.withDecodedBytes(span) { CompactTimestamp.pack(bytes: $0) }
    }

    private func eventType() -> EventType? {
        guard case .string(let span) = type else { return nil }
        return scanner.withDecodedBytes(span) { name -> EventType? in
            func matches(_ literal: StaticString) -> Bool {
                bytesEqual(name, UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
            }
            switch name.count {
            case 13:
                if matches("AccountOpened") { return .accountOpened }
                if matches("AccountClosed") { return .accountClosed }
            case 14:
                if matches("MoneyDeposited") { return .moneyDeposited }
                if matches("MoneyWithdrawn") { return .moneyWithdrawn }
                if matches("AccountRenamed") { return .accountRenamed }
            default:
                break
            }
            return nil
        }
    }

    /// The content checks, in the order of docs/events.md#decoding-details; fills in what `data` holds.
    private func check(type: EventType?, sequence: Int64, into content: inout Content) -> EventProblem? {
        if let mismatch {
            return EventProblem(
                reason: .invalidField, detail: "\(mismatch.member) must not be a JSON \(mismatch.kind.rawValue)")
        }
        guard let type else {
            return EventProblem(reason: .unknownType, detail: "unknown event type \(quotedTypeName())")
        }
        guard case .string(let idSpan) = eventId, idSpan.scalars >= 1, idSpan.scalars <= 128 else {
            return EventProblem(reason: .invalidField, detail: "eventId must be a string of 1..128 characters")
        }
        guard case .string(let timeSpan) = occurredAt, scanner.withDecodedBytes(timeSpan, { RFC3339.isValid($0) })
        else {
            return EventProblem(reason: .invalidField, detail: "occurredAt must be an RFC 3339 timestamp")
        }
        if (type == .accountOpened) != (sequence == 1) {
            return EventProblem(
                reason: .invalidField,
                detail: "sequence 1 is AccountOpened, and AccountOpened is sequence 1"
            )
        }
        guard case .object = data else {
            if type == .accountClosed { return nil }  // AccountClosed carries nothing
            return EventProblem(reason: .invalidField, detail: "data must be an object")
        }
        switch type {
        case .accountOpened:
            guard let ownerName = validOwner() else { return ownerProblem }
            guard case .string(let span) = currency,
                scanner.withDecodedBytes(
                    span,
                    { bytes in
                        bytes.count == 3 && bytes.allSatisfy { $0 &- UInt8(ascii: "A") < 26 }
                    })
            else {
                return EventProblem(reason: .invalidField, detail: "data.currency must be three letters A-Z")
            }
            content.owner = ownerName
            content.currency = scanner.string(span)
        case .accountRenamed:
            guard let ownerName = validOwner() else { return ownerProblem }
            content.owner = ownerName
        case .moneyDeposited, .moneyWithdrawn:
            guard case .number(let number) = amount, number.isInteger else {
                return EventProblem(reason: .invalidField, detail: "data.amount must be an integer")
            }
            guard number.fitsInt64, number.value >= 1, number.value <= EventDecoder.maximumAmount else {
                return EventProblem(reason: .amountOutOfRange, detail: "data.amount must be in 1..10^15")
            }
            content.amount = number.value
        case .accountClosed:
            break
        }
        return nil
    }

    private var ownerProblem: EventProblem {
        EventProblem(reason: .invalidField, detail: "data.owner must be a string of 1..200 characters")
    }

    private func validOwner() -> String? {
        guard case .string(let span) = owner, span.scalars >= 1, span.scalars <= 200 else { return nil }
        return scanner.string(span)
    }

    /// The unknown type for the detail, cut to 64 characters: the detail travels in an
    /// AMQP header, which must fit in one frame.
    private func quotedTypeName() -> String {
        guard case .string(let span) = type else { return "\"\"" }
        var name = scanner.string(span)
        if span.scalars > 64 {
            name = String(name.unicodeScalars.prefix(64)) + "…"
        }
        var quoted: [UInt8] = []
        JSONWriter.writeString(name, into: &quoted)
        return String(decoding: quoted, as: UTF8.self)
    }
}

/// RFC 3339 `date-time`, checked in full: field ranges, days per month with leap years,
/// seconds up to 60 (a leap second), an optional fraction, `Z` or a ±HH:MM offset.
/// `T` and `Z` may be lowercase (RFC 3339 §5.6).
enum RFC3339 {
    static func isValid(_ text: UnsafeRawBufferPointer) -> Bool {
        let n = text.count
        guard n >= 20 else { return false }
        @inline(__always) func number(_ at: Int, _ width: Int) -> Int {
            var value = 0
            for i in at..<at + width {
                let digit = text[i] &- UInt8(ascii: "0")
                guard digit < 10 else { return -1 }
                value = value * 10 + Int(digit)
            }
            return value
        }
        let year = number(0, 4)
        let month = number(5, 2)
        let day = number(8, 2)
        let hour = number(11, 2)
        let minute = number(14, 2)
        let second = number(17, 2)
        guard year >= 0, text[4] == UInt8(ascii: "-"), month >= 1, month <= 12,
            text[7] == UInt8(ascii: "-"), day >= 1, day <= daysIn(month: month, year: year),
            text[10] | 0x20 == UInt8(ascii: "t"), hour >= 0, hour <= 23,
            text[13] == UInt8(ascii: ":"), minute >= 0, minute <= 59,
            text[16] == UInt8(ascii: ":"), second >= 0, second <= 60
        else { return false }
        var i = 19
        if text[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            while i < n && text[i] &- UInt8(ascii: "0") < 10 { i += 1 }
            guard i > fractionStart, i < n else { return false }
        }
        if text[i] | 0x20 == UInt8(ascii: "z") {
            return i + 1 == n
        }
        guard text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-"), i + 6 == n else { return false }
        let offsetHour = number(i + 1, 2)
        let offsetMinute = number(i + 4, 2)
        return offsetHour >= 0 && offsetHour <= 23 && text[i + 3] == UInt8(ascii: ":")
            && offsetMinute >= 0 && offsetMinute <= 59
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
