import Testing

@testable import AccountProjection

#if canImport(Glibc)
    import Glibc
#endif

/// The rejection examples of docs/examples/invalid-events.jsonl (docs/events.md#json-schema):
/// the projection must give each the reason the docs claim, so docs and code cannot drift.
@Suite("Documented rejection examples")
struct DocumentedExamplesTests {
    struct Example: CustomTestStringConvertible {
        var reason: String
        var note: String
        var body: [UInt8]
        var testDescription: String { note }
    }

    /// Each line is `{"reason":…,"note":…,"event":<the body>}`; the body is everything after
    /// `"event":` up to the line's closing brace, kept byte for byte.
    static func examples() -> [Example] {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // …/Tests/AccountProjectionTests/this file
        let path = parts.joined(separator: "/") + "/docs/examples/invalid-events.jsonl"
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            text += buffer[0..<n]
        }
        return text.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let line = String(decoding: line, as: UTF8.self)
            guard let eventStart = line.firstRange(of: "\"event\":"), line.hasSuffix("}") else { return nil }
            let fields = line[..<eventStart.lowerBound]
            func field(_ name: String) -> String? {
                guard let start = fields.firstRange(of: "\"\(name)\":\"") else { return nil }
                return String(fields[start.upperBound...].prefix { $0 != "\"" })
            }
            guard let reason = field("reason"), let note = field("note") else { return nil }
            let body = Array(line[eventStart.upperBound...].dropLast().utf8)
            return Example(reason: reason, note: note, body: body)
        }
    }

    @Test func theExamplesFileIsThere() {
        #expect(Self.examples().count >= 20)
    }

    /// Each example is sent after `acc-000001` was opened (sequence 1); `acc-new` is unknown.
    @Test(arguments: DocumentedExamplesTests.examples())
    func eachExampleIsRejectedForTheDocumentedReason(_ example: Example) throws {
        var feed = Feed()
        #expect(feed.send(Body.opened("acc-000001")) == .applied)
        let disposition = feed.send(example.body)
        let reason = try #require(RejectionReason(rawValue: example.reason))
        #expect(disposition == .rejected(reason))
        #expect(feed.rejected.map(\.reason) == [reason])
    }
}
