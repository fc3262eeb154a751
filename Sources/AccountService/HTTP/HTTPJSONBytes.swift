import AccountProjection

// Small JSON writers for the read API: they append UTF-8 bytes straight to a
// `[UInt8]`, without building intermediate Strings or Dictionaries. They are
// private to the HTTP layer on purpose (the projection module may grow its own).

extension Array where Element == UInt8 {
    /// Appends the bytes of a compile-time string (keys, punctuation).
    @inline(__always)
    mutating func appendStatic(_ s: StaticString) {
        s.withUTF8Buffer { self.append(contentsOf: $0) }
    }

    /// Appends `s` as a JSON string literal, quotes included. Escapes `"`, `\`
    /// and the control characters U+0000..U+001F; everything else (non-ASCII
    /// included) goes out as its UTF-8 bytes.
    mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { self.appendJSONString(utf8: $0) }
    }

    /// Appends already valid UTF-8 bytes as a JSON string literal.
    mutating func appendJSONString(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        self.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if runStart < i {
                self.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            }
            self.appendJSONEscape(b)
            i += 1
            runStart = i
        }
        if runStart < n {
            self.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n]))
        }
        self.append(UInt8(ascii: "\""))
    }

    private mutating func appendJSONEscape(_ b: UInt8) {
        self.append(UInt8(ascii: "\\"))
        switch b {
        case UInt8(ascii: "\""): self.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): self.append(UInt8(ascii: "\\"))
        case 0x0A: self.append(UInt8(ascii: "n"))
        case 0x0D: self.append(UInt8(ascii: "r"))
        case 0x09: self.append(UInt8(ascii: "t"))
        case 0x08: self.append(UInt8(ascii: "b"))
        case 0x0C: self.append(UInt8(ascii: "f"))
        default:
            let hex: StaticString = "0123456789abcdef"
            self.append(UInt8(ascii: "u"))
            self.append(UInt8(ascii: "0"))
            self.append(UInt8(ascii: "0"))
            hex.withUTF8Buffer { digits in
                self.append(digits[Int(b >> 4)])
                self.append(digits[Int(b & 0x0F)])
            }
        }
    }

    /// Appends a decimal integer (JSON number).
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            self.append(UInt8(ascii: "-"))
        }
        self.appendDecimal(unsigned: value.magnitude)
    }

    mutating func appendDecimal(_ value: Int) {
        self.appendDecimal(Int64(value))
    }

    mutating func appendDecimal(unsigned value: UInt64) {
        if value < 10 {
            self.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        // At most 20 digits; fill a small stack buffer from the end.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var v = value
            var start = 20
            while v > 0 {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            }
            self.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    mutating func appendJSONBool(_ value: Bool) {
        if value { self.appendStatic("true") } else { self.appendStatic("false") }
    }

    /// Appends an account as CONTRACT §4 shows it: exactly its eight fields, in that order
    /// (the projection module's writer, shared with the CLI's checks).
    @inline(__always)
    mutating func appendAccountJSON(_ account: Account) {
        account.writeJSON(into: &self)
    }
}
