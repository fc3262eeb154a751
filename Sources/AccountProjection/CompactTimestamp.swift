import JSON

/// A record's timestamps kept without a heap string when they have the usual shape.
///
/// A timestamp such as `2026-11-24T15:00:00.250Z` is 24 bytes: too long for a small
/// (inline) String, so each one held its own heap buffer, 80 bytes with malloc's
/// overhead, two per account (opened, updated): more than half of a million accounts'
/// memory. That shape's 17 digits fit in 57 bits, kept as `~` and ten 6-bit characters:
/// an 11-byte small string, no heap. Any other text is kept as it is (prefixed with one
/// more `~` if it starts with `~`, which no RFC 3339 timestamp does), so every string
/// comes back unchanged.
enum CompactTimestamp {
    private static let marker = UInt8(ascii: "~")
    /// Where the 24-byte shape has its separators; every other byte is a digit.
    private static let separators: [(Int, UInt8)] = [
        (4, UInt8(ascii: "-")), (7, UInt8(ascii: "-")), (10, UInt8(ascii: "T")), (13, UInt8(ascii: ":")),
        (16, UInt8(ascii: ":")), (19, UInt8(ascii: ".")), (23, UInt8(ascii: "Z")),
    ]
    private static let digitPositions = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]
    private static let packedCount = 11

    /// What a record stores for `text`.
    static func pack(_ text: String) -> String {
        withUTF8Bytes(text) { bytes in packedForm(bytes) } ?? text
    }

    /// What a record stores for the text in `bytes` (UTF-8): the decoder packs an event's
    /// `occurredAt` straight from the body, with no 24-byte heap String on the way.
    static func pack(bytes: UnsafeRawBufferPointer) -> String {
        packedForm(bytes) ?? String(decoding: bytes, as: UTF8.self)
    }

    /// The stored form, or nil when the text is stored as it is.
    @inline(__always)
    private static func packedForm(_ bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.first == marker { return "~" + String(decoding: bytes, as: UTF8.self) }
        guard bytes.count == 24 else { return nil }
        // Runs once per event: the 24 bytes as three words (SWAR), not a loop over positions.
        @inline(__always) func word(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        guard let first = digits(word(0), separators: 0xFF00_00FF_0000_0000, are: 0x2D00_002D_0000_0000),
            let second = digits(word(8), separators: 0x0000_FF00_00FF_0000, are: 0x0000_3A00_0054_0000),
            let third = digits(word(16), separators: 0xFF00_0000_FF00_00FF, are: 0x5A00_0000_2E00_003A)
        else { return nil }
        // The 17 digits in order, skipping each word's separator bytes (zeros now). A struct, not
        // a closure over a `var`: that access would be checked at run time, per event.
        var number = DecimalDigits()
        number.append(first, 0); number.append(first, 1); number.append(first, 2); number.append(first, 3)
        number.append(first, 5); number.append(first, 6); number.append(second, 0); number.append(second, 1)
        number.append(second, 3); number.append(second, 4); number.append(second, 6); number.append(second, 7)
        number.append(third, 1); number.append(third, 2); number.append(third, 4); number.append(third, 5)
        number.append(third, 6)
        let value = number.value
        return String(unsafeUninitializedCapacity: packedCount) { buffer in
            buffer[0] = marker
            for i in 0..<10 {
                buffer[1 + i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value >> UInt64(54 - 6 * i)) & 63
            }
            return packedCount
        }
    }

    /// Eight bytes of the shape, first byte lowest: nil unless the bytes under `separators`
    /// are those of `are` and every other byte is a digit; else each digit's value, with
    /// zeros for the separators.
    @inline(__always)
    private static func digits(_ word: UInt64, separators: UInt64, are expected: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = ones &* 0x80
        guard word & separators == expected else { return nil }
        let text = word & ~separators | (ones &* 0x30) & separators  // separators read as "0"
        // Below 0x80, adding 0x50 sets a byte's top bit when it is at least "0", adding 0x46
        // when it is above "9"; no carry crosses a byte.
        guard text & high == 0, (text &+ ones &* 0x50) & ~(text &+ ones &* 0x46) & high == high else { return nil }
        return text &- ones &* 0x30
    }

    /// The UTF-8 length of `unpack(stored)`, without making it.
    static func textCount(_ stored: String) -> Int {
        let count = stored.utf8.count
        guard stored.utf8.first == marker else { return count }
        let isPacked = count == packedCount && stored.utf8.dropFirst().first != marker
        return isPacked ? 24 : count - 1
    }

    /// The text a record's stored value stands for.
    static func unpack(_ stored: String) -> String {
        let value: UInt64?? = withUTF8Bytes(stored) { bytes in
            guard bytes.first == marker else { return nil }
            // Packed characters are "0"..."o", never "~": a second "~" marks kept text.
            guard bytes.count == packedCount, bytes[1] != marker else { return .some(nil) }
            var value: UInt64 = 0
            for i in 1..<packedCount { value = value << 6 | UInt64(bytes[i] &- UInt8(ascii: "0")) }
            return .some(value)
        }
        switch value {
        case .none: return stored
        case .some(.none): return String(stored.utf8.dropFirst())!
        case .some(.some(var value)):
            return String(unsafeUninitializedCapacity: 24) { buffer in
                for (position, byte) in separators { buffer[position] = byte }
                for position in digitPositions.reversed() {
                    buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                return 24
            }
        }
    }
}

/// A number read digit by digit from bytes of a word (each byte a digit's value).
private struct DecimalDigits {
    var value: UInt64 = 0

    @inline(__always) mutating func append(_ word: UInt64, _ byte: UInt64) {
        value = value &* 10 &+ (word >> (8 &* byte) & 0xFF)
    }
}
