import JSON
import Testing

@Suite("JSON writing and reading")
struct JSONTests {
    static func written(_ string: String) -> String {
        var buffer: [UInt8] = []
        JSONWriter.writeString(string, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test(arguments: [
        ("plain", #""plain""#),
        ("", #""""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("back\\slash", #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("\n\r\t\u{08}\u{0C}", #""\n\r\t\b\f""#),
        ("\u{00}\u{01}\u{1F}", #""\u0000\u0001\u001f""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("Björn 中 😀", "\"Björn 中 😀\""),
    ])
    func stringsAreEscapedAsJSONNeeds(input: String, output: String) {
        #expect(Self.written(input) == output)
    }

    @Test(arguments: [Int64(0), 7, -7, 1250, Int64.max, Int64.min, 1_000_000_000_000_000])
    func integersAreWrittenInDecimal(value: Int64) {
        var buffer: [UInt8] = []
        JSONWriter.writeInteger(value, into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == String(value))
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#" {"a":[1,-2.5e3,true,false,null,"s\u00e9"],"b":{},"c":[],"a":0} "#)
        #expect(
            value
                == .object([
                    ("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("sé")])),
                    ("b", .object([])),
                    ("c", .array([])),
                    ("a", .number("0")),
                ]))
        #expect(value["a"] == .number("0"))  // the last duplicate wins
        #expect(value["missing"] == nil)
        #expect(value["c"]?.arrayValue == [])
        #expect(value["b"]?.objectValue?.isEmpty == true)
        #expect(JSONValue.null["a"] == nil)
        #expect(JSONValue.null.isNull && !JSONValue.bool(false).isNull)
        #expect(JSONValue.bool(true).boolValue == true)
    }

    @Test func writingThenParsingGivesTheSameValue() throws {
        let value = JSONValue.object([
            ("k\"ey", .array([.string("\u{01}\n😀"), .number("12"), .null, .bool(true)])),
            ("n", .object([("x", .number("-0.5"))])),
        ])
        var buffer: [UInt8] = []
        value.write(into: &buffer)
        #expect(try JSONValue.parse(buffer) == value)
    }

    @Test(
        arguments: [
            ("12", Int64(12)), ("-9223372036854775808", Int64.min), ("9223372036854775807", Int64.max), ("0", 0),
            ("1000000000000000000", 1_000_000_000_000_000_000), ("-1", -1),
        ] as [(String, Int64)])
    func int64ValueReadsIntegerLiterals(literal: String, value: Int64) throws {
        #expect(try JSONValue.parse(literal).int64Value == value)
    }

    // 20 digits and more: 18446744073709551616 is 2^64, which a wrapping sum would read as 0.
    @Test(arguments: [
        "12.0", "1e3", "9223372036854775808", "-9223372036854775809", "\"12\"", "null", "9999999999999999999",
        "10000000000000000000", "18446744073709551615", "18446744073709551616", "-18446744073709551617",
        "99999999999999999999", "100000000000000000000000000000",
    ])
    func int64ValueRefusesAnythingElse(text: String) throws {
        #expect(try JSONValue.parse(text).int64Value == nil)
    }

    @Test(arguments: ["", "{", "[1,]", "01", "1 2", "\"\\ud800\"", "\"a\u{01}\"", "{\"a\"}", "nul", "[1]]"])
    func theReaderIsStrict(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func nestingIsBounded() throws {
        let ok =
            String(repeating: "[", count: JSONValue.maximumDepth)
            + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try JSONValue.parse(ok) }
        let deep = "[" + ok + "]"
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        #expect(error?.offset == JSONValue.maximumDepth)
    }

    @Test func aParseErrorSaysWhere() {
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1, 2 x]") }
        #expect(error == JSONParseError(offset: 6, message: "unexpected byte 0x78"))
    }
}
