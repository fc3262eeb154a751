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

    /// Bit i set: byte i of the 24-byte shape is a separator (the `Z` at 23 is checked apart).
    private static let separatorBits: UInt32 = 1 << 4 | 1 << 7 | 1 << 10 | 1 << 13 | 1 << 16 | 1 << 19

    /// What a record stores for `text`.
    static func pack(_ text: String) -> String {
        // Runs once per applied event: plain comparisons, no table of positions to walk.
        let packed: UInt64?? = withUTF8Bytes(text) { bytes in
            if bytes.first == marker { return .some(nil) }
            guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
                bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
                bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z")
            else { return nil }
            var value: UInt64 = 0
            for position in 0..<23 where separatorBits & (1 << UInt32(position)) == 0 {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value &* 10 &+ UInt64(digit)
            }
            return .some(value)
        }
        switch packed {
        case .none: return text
        case .some(.none): return "~" + text
        case .some(.some(let value)):
            return String(unsafeUninitializedCapacity: packedCount) { buffer in
                buffer[0] = marker
                for i in 0..<10 {
                    buffer[1 + i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value >> UInt64(54 - 6 * i)) & 63
                }
                return packedCount
            }
        }
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
