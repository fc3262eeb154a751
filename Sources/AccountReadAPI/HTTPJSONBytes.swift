import AccountProjection
import JSON

// The read API's JSON bodies: UTF-8 bytes appended straight to a `[UInt8]`, without
// intermediate Strings or Dictionaries, through the JSON module's JSONWriter.

extension Array where Element == UInt8 {
    /// Appends the bytes of a compile-time string (keys, punctuation).
    @inline(__always)
    mutating func appendStatic(_ s: StaticString) {
        s.withUTF8Buffer { self.append(contentsOf: $0) }
    }

    /// Appends `s` as a JSON string literal (the projection module's writer: `"`, `\` and
    /// control characters escaped, everything else as UTF-8).
    mutating func appendJSONString(_ s: String) {
        JSONWriter.writeString(s, into: &self)
    }

    /// Appends a decimal integer (JSON number).
    mutating func appendDecimal(_ value: Int64) {
        JSONWriter.writeInteger(value, into: &self)
    }

    mutating func appendDecimal(_ value: Int) {
        JSONWriter.writeInteger(Int64(value), into: &self)
    }

    mutating func appendJSONBool(_ value: Bool) {
        if value { self.appendStatic("true") } else { self.appendStatic("false") }
    }

    /// Appends an account as docs/read-api.md shows it: exactly its eight fields, in that order
    /// (the projection module's writer, shared with the CLI's checks).
    @inline(__always)
    mutating func appendAccountJSON(_ account: Account) {
        account.writeJSON(into: &self)
    }
}
