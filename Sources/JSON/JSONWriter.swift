/// Appends JSON to a byte buffer, for the read API's bodies and the CLI.
public enum JSONWriter {
    /// Writes `string` as a JSON string: `"` and `\` escaped, control characters as
    /// `\n`, `\t`… or `\u00XX`, everything else (non-ASCII too) as raw UTF-8.
    public static func writeString(_ string: String, into buffer: inout [UInt8]) {
        withUTF8Bytes(string) { writeString(utf8: $0, into: &buffer) }
    }

    /// Writes UTF-8 bytes (assumed valid) as a JSON string; see `writeString(_:into:)`.
    public static func writeString(utf8 bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<bytes.count {
            let byte = bytes[i]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            // Copy the run that needs no escaping in one go.
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
            runStart = i + 1
            buffer.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): buffer.append(byte)
            case 0x08: buffer.append(UInt8(ascii: "b"))
            case 0x0C: buffer.append(UInt8(ascii: "f"))
            case 0x0A: buffer.append(UInt8(ascii: "n"))
            case 0x0D: buffer.append(UInt8(ascii: "r"))
            case 0x09: buffer.append(UInt8(ascii: "t"))
            default:
                let digits: StaticString = "0123456789abcdef"
                buffer.append(contentsOf: [
                    UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    digits.utf8Start[Int(byte >> 4)], digits.utf8Start[Int(byte & 0x0F)],
                ])
            }
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        buffer.append(UInt8(ascii: "\""))
    }

    /// Writes an integer in decimal, without going through a String.
    public static func writeInteger(_ value: Int64, into buffer: inout [UInt8]) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits
        let count = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
            var n = 0
            repeat {
                scratch[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude > 0
            return n
        }
        withUnsafeBytes(of: &digits) { scratch in
            for i in stride(from: count - 1, through: 0, by: -1) {
                buffer.append(scratch[i])
            }
        }
    }

    /// Appends ASCII text as is.
    @inlinable @inline(__always)
    public static func writeRaw(_ text: StaticString, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
