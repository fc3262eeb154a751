/// Why `JSONValue.parse` refused a text.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset where parsing stopped.
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// A JSON value, as a small general reader for the read API's answers (the CLI's
/// `verify`) and other bodies. Same strict grammar as the event decoder.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal as written (`1.0` and `1` are different values).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in text order, duplicates kept (the subscript takes the last).
    case object([(key: String, value: JSONValue)])

    /// The deepest nesting `parse` accepts: it recurses, so the depth must be bounded.
    public static let maximumDepth = 512

    /// Parses one complete JSON text (RFC 8259 strict: UTF-8, no trailing garbage, no
    /// leading zeros, no control characters in strings, no lone surrogates).
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    /// Parses one complete JSON text; see `parse(_:)` on an array.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var scanner = JSONScanner(bytes)
        do throws(JSONSyntaxError) {
            let value = try scanner.parseValue(depth: 0)
            try scanner.expectEnd()
            return value
        } catch {
            throw JSONParseError(offset: error.offset, message: error.message)
        }
    }

    /// Parses the UTF-8 of a string; see `parse(_:)` on an array.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    // MARK: Accessors

    /// The value of the last member named `key` of an object; nil for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value of an integer literal (no fraction, no exponent) that fits in Int64.
    public var int64Value: Int64? {
        guard case .number(let literal) = self else { return nil }
        return Array(literal.utf8).withUnsafeBytes { bytes -> Int64? in
            var scanner = JSONScanner(bytes)
            guard let number = try? scanner.scanNumber(), scanner.isAtEnd, number.fitsInt64 else { return nil }
            return number.value
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [(key: String, value: JSONValue)]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    // MARK: Writing

    /// Writes the value compactly (numbers as their literal, strings escaped as
    /// `JSONWriter.writeString` does).
    public func write(into buffer: inout [UInt8]) {
        switch self {
        case .null: JSONWriter.writeRaw("null", into: &buffer)
        case .bool(let value): JSONWriter.writeRaw(value ? "true" : "false", into: &buffer)
        case .number(let literal): buffer.append(contentsOf: literal.utf8)
        case .string(let value): JSONWriter.writeString(value, into: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { buffer.append(UInt8(ascii: ",")) }
                element.write(into: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let members):
            buffer.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { buffer.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(member.key, into: &buffer)
                buffer.append(UInt8(ascii: ":"))
                member.value.write(into: &buffer)
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }
}

extension JSONScanner {
    /// Parses the value at the position into a tree.
    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            guard depth < JSONValue.maximumDepth else { throw failure("nested deeper than \(JSONValue.maximumDepth)") }
            position += 1
            skipWhitespace()
            var members: [(key: String, value: JSONValue)] = []
            if peek() == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                let key = string(try scanKeyAndColon())
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    skipWhitespace()
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return .object(members)
            }
        case UInt8(ascii: "["):
            guard depth < JSONValue.maximumDepth else { throw failure("nested deeper than \(JSONValue.maximumDepth)") }
            position += 1
            skipWhitespace()
            var elements: [JSONValue] = []
            if peek() == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return .array(elements)
            }
        case UInt8(ascii: "\""):
            return .string(string(try scanString()))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let number = try scanNumber()
            return .number(
                String(decoding: UnsafeRawBufferPointer(rebasing: bytes[number.start..<number.end]), as: UTF8.self))
        default:
            let start = position
            switch try scanLiteral() {
            case .null: return .null
            default: return .bool(bytes[start] == UInt8(ascii: "t"))
            }
        }
    }
}
