/// Why a text is not JSON: what the lexer met and at which byte offset.
public struct JSONSyntaxError: Error, Sendable {
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
}

/// The JSON type of a value, named as in error details ("must not be a JSON number").
public enum JSONKind: String, Sendable {
    case object, array, string, number, bool, null

    /// The kind a value starting with `byte` has, or nil when no value starts so.
    @inline(__always)
    @inlinable public init?(firstByte byte: UInt8) {
        switch byte {
        case UInt8(ascii: "{"): self = .object
        case UInt8(ascii: "["): self = .array
        case UInt8(ascii: "\""): self = .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): self = .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): self = .bool
        case UInt8(ascii: "n"): self = .null
        default: return nil
        }
    }
}

/// Where a string's content lies in the text (between the quotes), as scanned.
public struct StringSpan: Sendable {
    public var start: Int
    public var end: Int
    /// Whether the raw bytes hold a backslash, so decoding must run.
    public var escaped: Bool
    /// Unicode scalars in the decoded string (Go's RuneCount).
    public var scalars: Int

    @inlinable public init(start: Int, end: Int, escaped: Bool, scalars: Int) {
        (self.start, self.end, self.escaped, self.scalars) = (start, end, escaped, scalars)
    }
}

/// A number literal as scanned, with its value when it is an integer literal.
public struct NumberSpan: Sendable {
    public var start: Int
    public var end: Int
    /// No fraction and no exponent.
    public var isInteger: Bool
    /// The integer literal fits in Int64 (`value` is then exact).
    public var fitsInt64: Bool
    public var value: Int64

    @inlinable public init(start: Int, end: Int, isInteger: Bool, fitsInt64: Bool, value: Int64) {
        (self.start, self.end, self.isInteger, self.fitsInt64, self.value) = (start, end, isInteger, fitsInt64, value)
    }
}

/// A strict RFC 8259 lexer over a byte buffer, shared by the event decoder and `JSONValue`.
///
/// It validates UTF-8 inside strings as it scans them and never copies: strings are
/// returned as spans and decoded only when the caller wants them.
public struct JSONScanner {
    public let bytes: UnsafeRawBufferPointer
    public var position = 0

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    @inlinable public var isAtEnd: Bool { position >= bytes.count }

    /// The byte at the position, or 0 at the end (0 is wrong wherever a byte is expected).
    @inline(__always)
    @inlinable public func peek() -> UInt8 {
        position < bytes.count ? bytes[position] : 0
    }

    @inline(__always)
    @inlinable public mutating func skipWhitespace() {
        let count = bytes.count
        while position < count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// The error for the byte at the position, which is not what the grammar allows there.
    public func unexpected() -> JSONSyntaxError {
        if isAtEnd {
            return JSONSyntaxError(offset: position, message: "unexpected end of input")
        }
        return JSONSyntaxError(offset: position, message: "unexpected byte 0x" + hex(bytes[position]))
    }

    public func failure(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: position, message: message)
    }

    @inline(__always)
    @inlinable public mutating func expect(_ byte: UInt8) throws(JSONSyntaxError) {
        guard peek() == byte else { throw unexpected() }
        position += 1
    }

    /// Checks that nothing but whitespace follows.
    public mutating func expectEnd() throws(JSONSyntaxError) {
        skipWhitespace()
        guard isAtEnd else { throw failure("unexpected byte 0x" + hex(bytes[position]) + " after the JSON value") }
    }

    // MARK: Strings

    /// Scans the string whose opening quote is at the position; stops after the closing quote.
    @inline(__always)
    @inlinable public mutating func scanString() throws(JSONSyntaxError) -> StringSpan {
        position += 1
        let start = position
        let count = bytes.count
        var scalars = 0
        var escaped = false
        while true {
            if position &+ 8 <= count {
                // Eight bytes at a time (SWAR): flag bytes ≥ 0x80, < 0x20, '"' and '\\'. The
                // lowest flag is always exact, so the plain bytes before it are skipped at once.
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let ones: UInt64 = 0x0101_0101_0101_0101
                let quotes = word ^ (ones &* 0x22)
                let backslashes = word ^ (ones &* 0x5C)
                let special =
                    (word | ((word &- ones &* 0x20) & ~word) | ((quotes &- ones) & ~quotes)
                        | ((backslashes &- ones) & ~backslashes)) & (ones &* 0x80)
                if special == 0 {
                    position &+= 8
                    scalars &+= 8
                    continue
                }
                let plain = special.trailingZeroBitCount &>> 3
                position &+= plain
                scalars &+= plain
            } else {
                guard position < count else { break }
                let byte = bytes[position]
                if byte &- 0x20 < 0x60 && byte != 0x22 && byte != 0x5C {
                    position &+= 1
                    scalars &+= 1
                    continue
                }
            }
            let byte = bytes[position]
            if byte == 0x22 {
                let span = StringSpan(start: start, end: position, escaped: escaped, scalars: scalars)
                position &+= 1
                return span
            }
            if byte == 0x5C {
                escaped = true
                try scanEscape()
            } else if byte < 0x20 {
                throw failure("control character 0x" + hex(byte) + " in a string")
            } else {
                try scanMultiByteScalar(byte)
            }
            scalars &+= 1
        }
        throw failure("unterminated string")
    }

    /// Scans one escape (a surrogate pair counts as one) at the position.
    @inlinable mutating func scanEscape() throws(JSONSyntaxError) {
        let next = position + 1 < bytes.count ? bytes[position + 1] : 0
        switch next {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(at: position + 2) else { throw failure("invalid \\u escape") }
            position += 6
            if unit >= 0xDC00 && unit <= 0xDFFF {
                throw failure("lone low surrogate in a \\u escape")
            }
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate must be followed at once by an escaped low one.
                guard position + 1 < bytes.count, bytes[position] == 0x5C, bytes[position + 1] == UInt8(ascii: "u"),
                    let low = hex4(at: position + 2), low >= 0xDC00, low <= 0xDFFF
                else { throw failure("lone high surrogate in a \\u escape") }
                position += 6
            }
        default:
            throw failure("invalid escape in a string")
        }
    }

    /// Checks the UTF-8 sequence that starts with `lead` (≥ 0x80) at the position.
    @inlinable mutating func scanMultiByteScalar(_ lead: UInt8) throws(JSONSyntaxError) {
        let p = position
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0  // no overlong forms
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F  // no UTF-16 surrogates
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F  // nothing above U+10FFFF
        default: throw failure("invalid UTF-8")
        }
        guard p + length <= bytes.count else { throw failure("invalid UTF-8") }
        let second = bytes[p + 1]
        guard second >= low && second <= high else { throw failure("invalid UTF-8") }
        var i = p + 2
        while i < p + length {
            guard bytes[i] & 0xC0 == 0x80 else { throw failure("invalid UTF-8") }
            i += 1
        }
        position = p + length
    }

    @inline(__always)
    @inlinable func hex4(at index: Int) -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for i in index..<index + 4 {
            guard let digit = hexDigit(bytes[i]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    /// The raw bytes of a span (between the quotes, escapes as written).
    @inline(__always)
    @inlinable public func raw(_ span: StringSpan) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.end])
    }

    /// Writes the decoded UTF-8 of a scanned span to `out` (room for `span.end - span.start`
    /// bytes: decoding never grows a string) and returns how many bytes it wrote.
    @inlinable public func decode(_ span: StringSpan, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var i = span.start
        var n = 0
        while i < span.end {
            let byte = bytes[i]
            guard byte == 0x5C else {
                out[n] = byte
                n += 1
                i += 1
                continue
            }
            let kind = bytes[i + 1]
            i += 2
            switch kind {
            case UInt8(ascii: "b"): out[n] = 0x08
            case UInt8(ascii: "f"): out[n] = 0x0C
            case UInt8(ascii: "n"): out[n] = 0x0A
            case UInt8(ascii: "r"): out[n] = 0x0D
            case UInt8(ascii: "t"): out[n] = 0x09
            case UInt8(ascii: "u"):
                var scalar = hex4(at: i)!
                i += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = hex4(at: i + 2)!
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                n += encodeUTF8(scalar, into: out + n)
                continue
            default: out[n] = kind  // \" \\ \/
            }
            n += 1
        }
        return n
    }

    /// Calls `body` with the decoded bytes of a span: the raw bytes when there is no escape.
    @inline(__always)
    @inlinable public func withDecodedBytes<R>(_ span: StringSpan, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let raw = raw(span)
        guard span.escaped else { return body(raw) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: raw.count) { buffer in
            let n = decode(span, into: buffer.baseAddress!)
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<n]))
        }
    }

    /// The span as a Swift string.
    @inline(__always)
    @inlinable public func string(_ span: StringSpan) -> String {
        let raw = raw(span)
        guard span.escaped else { return String(decoding: raw, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: raw.count) { buffer in
            decode(span, into: buffer.baseAddress!)
        }
    }

    // MARK: Numbers and literals

    /// Scans a number literal at the position (RFC 8259: no leading zeros, no `+`, digits
    /// after `.` and after the exponent), computing its value when it is an integer.
    @inline(__always)
    @inlinable public mutating func scanNumber() throws(JSONSyntaxError) -> NumberSpan {
        let start = position
        let negative = peek() == UInt8(ascii: "-")
        if negative { position += 1 }
        var magnitude: UInt64 = 0
        var overflow = false
        let first = peek()
        if first == UInt8(ascii: "0") {
            position += 1
        } else if first &- UInt8(ascii: "1") < 9 {
            let count = bytes.count
            let digitsStart = position
            while position < count {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10 else { break }
                magnitude = magnitude &* 10 &+ UInt64(digit)
                position += 1
            }
            // No leading zeros: 19 digits stay below 10^19 < 2^64, exact; 20 or more are at
            // least 10^19, above every Int64 (the value wrapped, and is not used).
            overflow = position - digitsStart > 19
        } else {
            throw unexpected()
        }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            try scanDigits()
        }
        if peek() | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            try scanDigits()
        }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        let fits = isInteger && !overflow && magnitude <= limit
        var value: Int64 = 0
        if fits {
            value = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude)
        }
        return NumberSpan(start: start, end: position, isInteger: isInteger, fitsInt64: fits, value: value)
    }

    /// One or more digits.
    @inlinable mutating func scanDigits() throws(JSONSyntaxError) {
        guard peek() &- UInt8(ascii: "0") < 10 else { throw unexpected() }
        let count = bytes.count
        while position < count && bytes[position] &- UInt8(ascii: "0") < 10 {
            position += 1
        }
    }

    /// Scans `true`, `false` or `null` at the position and returns which.
    @inlinable public mutating func scanLiteral() throws(JSONSyntaxError) -> JSONKind {
        let (word, kind): (StaticString, JSONKind) =
            switch peek() {
            case UInt8(ascii: "t"): ("true", .bool)
            case UInt8(ascii: "f"): ("false", .bool)
            case UInt8(ascii: "n"): ("null", .null)
            default: throw unexpected()
            }
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw failure("unexpected end of input") }
        for i in 0..<length where bytes[position + i] != word.utf8Start[i] {
            position += i
            throw unexpected()
        }
        position += length
        return kind
    }

    // MARK: Skipping

    /// Checks and skips one value of any depth; nesting is kept on the heap, not the call stack.
    @inlinable public mutating func skipValue() throws(JSONSyntaxError) {
        var nesting: [Bool] = []  // true: inside an object
        while true {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "{"):
                position += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") {
                    position += 1
                } else {
                    nesting.append(true)
                    try scanKeyAndColon()
                    continue
                }
            case UInt8(ascii: "["):
                position += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "]") {
                    position += 1
                } else {
                    nesting.append(false)
                    continue
                }
            case UInt8(ascii: "\""):
                _ = try scanString()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                _ = try scanNumber()
            default:
                _ = try scanLiteral()
            }
            // After a value: close what ends here, then go on with the next element.
            while true {
                guard let inObject = nesting.last else { return }
                skipWhitespace()
                let byte = peek()
                if byte == UInt8(ascii: ",") {
                    position += 1
                    if inObject {
                        skipWhitespace()
                        try scanKeyAndColon()
                    }
                    break
                }
                guard byte == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { throw unexpected() }
                position += 1
                nesting.removeLast()
            }
        }
    }

    /// A member's key and the colon after it; returns the key.
    @inline(__always) @discardableResult
    @inlinable public mutating func scanKeyAndColon() throws(JSONSyntaxError) -> StringSpan {
        guard peek() == UInt8(ascii: "\"") else { throw unexpected() }
        let key = try scanString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
        return key
    }

    /// Whether a key span spells `name` exactly (after decoding any escape).
    @inline(__always)
    @inlinable public func key(_ span: StringSpan, is name: StaticString) -> Bool {
        if !span.escaped {
            return span.end - span.start == name.utf8CodeUnitCount
                && bytesEqual(raw(span), UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        return withDecodedBytes(span) { decoded in
            bytesEqual(decoded, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
    }
}

// MARK: Byte helpers

@inline(__always)
@inlinable public func hexDigit(_ byte: UInt8) -> UInt32? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte &- UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte &- UInt8(ascii: "a") &+ 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte &- UInt8(ascii: "A") &+ 10)
    default: nil
    }
}

/// Two lowercase hex digits.
public func hex(_ byte: UInt8) -> String {
    let digits: StaticString = "0123456789abcdef"
    let high = digits.utf8Start[Int(byte >> 4)]
    let low = digits.utf8Start[Int(byte & 0x0F)]
    return String(decoding: [high, low], as: UTF8.self)
}

/// Writes a scalar as UTF-8 and returns the byte count.
@inline(__always)
@inlinable public func encodeUTF8(_ scalar: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
    switch scalar {
    case 0..<0x80:
        out[0] = UInt8(scalar)
        return 1
    case 0x80..<0x800:
        out[0] = UInt8(0xC0 | scalar >> 6)
        out[1] = UInt8(0x80 | scalar & 0x3F)
        return 2
    case 0x800..<0x10000:
        out[0] = UInt8(0xE0 | scalar >> 12)
        out[1] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[2] = UInt8(0x80 | scalar & 0x3F)
        return 3
    default:
        out[0] = UInt8(0xF0 | scalar >> 18)
        out[1] = UInt8(0x80 | scalar >> 12 & 0x3F)
        out[2] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[3] = UInt8(0x80 | scalar & 0x3F)
        return 4
    }
}

@inline(__always)
@inlinable public func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    let count = a.count
    guard count == b.count else { return false }
    // Eight bytes at a time, then four, two, one: a key or an id is a few compares.
    var i = 0
    while i &+ 8 <= count {
        guard a.loadUnaligned(fromByteOffset: i, as: UInt64.self) == b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        else { return false }
        i &+= 8
    }
    if i &+ 4 <= count {
        guard a.loadUnaligned(fromByteOffset: i, as: UInt32.self) == b.loadUnaligned(fromByteOffset: i, as: UInt32.self)
        else { return false }
        i &+= 4
    }
    if i &+ 2 <= count {
        guard a.loadUnaligned(fromByteOffset: i, as: UInt16.self) == b.loadUnaligned(fromByteOffset: i, as: UInt16.self)
        else { return false }
        i &+= 2
    }
    return i == count || a[i] == b[i]
}

/// Byte-wise lexicographic order (the order of Unicode scalars, with no normalization).
@inline(__always)
@inlinable public func bytesPrecede(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    let n = min(a.count, b.count)
    for i in 0..<n where a[i] != b[i] {
        return a[i] < b[i]
    }
    return a.count < b.count
}

/// Calls `body` with a string's UTF-8 bytes without copying a native string.
@inline(__always)
@inlinable public func withUTF8Bytes<R>(_ string: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    if let result = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    var copy = string
    return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
}
