import JSON

/// An event's `eventId` as an `Event` keeps it: a lowercase UUID, the shape producers send,
/// in two words; any other text as it is.
///
/// A 36-byte id would be a heap String: an allocation and a free for every event, for a
/// field read only when an event is parked or written to a snapshot. Each text has one
/// form (only the lowercase shape packs), so comparing forms compares texts.
enum PackedEventID: Sendable, Equatable {
    case uuid(UInt64, UInt64)
    case text(String)

    /// The 8-4-4-4-12 shape: where its dashes are.
    private static let dashBits: UInt64 = 1 << 8 | 1 << 13 | 1 << 18 | 1 << 23

    init(_ text: String) {
        if let (high, low) = withUTF8Bytes(text, { Self.uuid($0) }) {
            self = .uuid(high, low)
        } else {
            self = .text(text)
        }
    }

    init(bytes: UnsafeRawBufferPointer) {
        if let (high, low) = Self.uuid(bytes) {
            self = .uuid(high, low)
        } else {
            self = .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    var text: String {
        switch self {
        case .text(let text):
            return text
        case .uuid(let high, let low):
            let digits: StaticString = "0123456789abcdef"
            return String(unsafeUninitializedCapacity: 36) { buffer in
                var nibble = 0
                for position in 0..<36 {
                    if Self.dashBits & (1 << UInt64(position)) != 0 {
                        buffer[position] = UInt8(ascii: "-")
                        continue
                    }
                    let word = nibble < 16 ? high : low
                    let shift = UInt64(60 - 4 * (nibble & 15))
                    buffer[position] = digits.utf8Start[Int(word >> shift & 15)]
                    nibble += 1
                }
                return 36
            }
        }
    }

    /// The UTF-8 length of `text`, without making it.
    var utf8Count: Int {
        if case .text(let text) = self { return text.utf8.count }
        return 36
    }

    /// The 32 digits of a lowercase UUID as two words, or nil for any other text. Eight
    /// digits at a time (SWAR): a byte loop cost about 900 instructions an event.
    @inline(__always)
    private static func uuid(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        guard bytes.count == 36, bytes[8] == UInt8(ascii: "-"), bytes[13] == UInt8(ascii: "-"),
            bytes[18] == UInt8(ascii: "-"), bytes[23] == UInt8(ascii: "-")
        else { return nil }
        @inline(__always) func word(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        @inline(__always) func half(_ offset: Int) -> UInt64 {
            UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        guard let a = hex8(word(0)), let b = hex8(half(9) | half(14) << 32),
            let c = hex8(half(19) | half(24) << 32), let d = hex8(word(28))
        else { return nil }
        return (a << 32 | b, c << 32 | d)
    }

    /// Eight lowercase hex digits (the first in the lowest byte) as a 32-bit value, or nil
    /// when any byte is not one of `0-9 a-f`.
    @inline(__always)
    private static func hex8(_ word: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = ones &* 0x80
        guard word & high == 0 else { return nil }
        // For bytes below 0x80, adding 0x80 - low sets a byte's top bit when it is at least
        // `low`, and adding 0x7F - top when it is above `top`; no carry crosses a byte.
        @inline(__always) func within(_ low: UInt64, _ top: UInt64) -> UInt64 {
            (word &+ ones &* (0x80 - low)) & ~(word &+ ones &* (0x7F - top)) & high
        }
        guard within(0x30, 0x39) | within(0x61, 0x66) == high else { return nil }
        // 0-9 keep their low nibble; a-f (bit 6 set) add 9 to theirs.
        var value = (word & (ones &* 0x0F)) &+ (word >> 6 & ones) &* 9
        value = value.byteSwapped  // the first digit to the top byte
        value = (value | value >> 4) & 0x00FF_00FF_00FF_00FF
        value = (value | value >> 8) & 0x0000_FFFF_0000_FFFF
        return (value | value >> 16) & 0xFFFF_FFFF
    }
}
