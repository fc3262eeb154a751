/// Strong entity tags of the read API's JSON answers, and `If-None-Match` (RFC 9110 §8.8.3, §13.1.2).
enum EntityTag {
    /// A 64-bit FNV-1a digest of `parts` (each followed by a 0 byte), quoted: `"0123456789abcdef"`.
    static func make(_ parts: [[UInt8]]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
    }

    /// The tag of one account: its id and version.
    static func account(id: String, version: Int) -> String {
        make([Array(id.utf8), Array(String(version).utf8)])
    }

    /// Whether `If-None-Match` (a list of tags, or `*`) matches `tag`, by weak comparison.
    static func matches(ifNoneMatch field: String, tag: String) -> Bool {
        for candidate in field.split(separator: ",") {
            var text = candidate.drop { $0 == " " || $0 == "\t" }
            while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
            if text == "*" { return true }
            if text.hasPrefix("W/") { text = text.dropFirst(2) }
            if text == tag { return true }
        }
        return false
    }
}
