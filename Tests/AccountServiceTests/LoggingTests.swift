import AccountProjection
import JSON
import Logging
import Synchronization
import TestSupport
import Testing

@testable import AccountService

@Suite("log lines")
struct LoggingTests {
    /// Collects what a handler writes.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func sink() -> @Sendable ([UInt8]) -> Void {
            { bytes in self.lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
        }
    }

    @Test func aJSONLineIsOneValidObjectWithTheExpectedKeys() throws {
        let lines = Lines()
        var logger = Logger(label: "accountservice") {
            ServiceLogHandler(label: $0, level: .info, format: .json, sink: lines.sink())
        }
        logger[metadataKey: "replica"] = "r\"1"
        logger.info(
            "consuming \"stream\"\nnext line",
            metadata: [
                "offset": "42", "nested": ["list": ["a", "b"], "n": "\(7)"],
            ])
        logger.debug("below the level: not written")
        let written = lines.all
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line per record")
        let json = try JSONValue.parse(Array(line.utf8))
        #expect(json["level"]?.stringValue == "info")
        #expect(json["logger"]?.stringValue == "accountservice")
        #expect(json["message"]?.stringValue == "consuming \"stream\"\nnext line")
        let timestamp = try #require(json["timestamp"]?.stringValue)
        #expect(timestamp.count == 24 && timestamp.hasSuffix("Z") && timestamp.dropFirst(10).hasPrefix("T"))
        #expect(json["metadata"]?["replica"]?.stringValue == "r\"1")
        #expect(json["metadata"]?["offset"]?.stringValue == "42")
        #expect(json["metadata"]?["nested"]?["n"]?.stringValue == "7")
        #expect(json["metadata"]?["nested"]?["list"] == .array([.string("a"), .string("b")]))
    }

    @Test func textLinesAreForPeople() {
        let line = ServiceLogHandler.line(
            format: .text, timestamp: "2026-11-28T05:10:00.123Z", level: .warning, label: "accountservice",
            message: "broker unavailable", metadata: ["broker": "amqp://b", "attempt": "2"])
        #expect(
            String(decoding: line, as: UTF8.self)
                == "2026-11-28T05:10:00.123Z warning accountservice: broker unavailable attempt=2 broker=amqp://b\n")
    }

    @Test func textLinesEscapeControlCharactersAndQuoteValues() {
        let line = String(
            decoding: ServiceLogHandler.line(
                format: .text, timestamp: "2026-11-28T05:10:00.123Z", level: .info, label: "accountservice",
                message: "read API listening\r\nforged",
                metadata: [
                    "replica": "r1\r\n2026-11-28T05:10:00.124Z error accountservice: forged\u{1B}[31m",
                    "path": #"C:\x"#, "empty": "", "list": ["a b", "c\td"], "plain": "r2", "\u{85}k": "\u{2028}",
                ]),
            as: UTF8.self)
        #expect(line.filter { $0 == "\n" || $0 == "\r" } == "\n", "exactly one line break, at the end: \(line)")
        #expect(line.hasSuffix("\n"))
        #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" })
        #expect(
            line
                == #"2026-11-28T05:10:00.123Z info accountservice: read API listening\r\nforged"#
                + #" empty="" list=["a b", c\td] path=C:\\x plain=r2"#
                + #" replica="r1\r\n2026-11-28T05:10:00.124Z error accountservice: forged\u{1B}[31m""#
                + #" \u{85}k=\u{2028}"# + "\n")
    }

    @Test func timestampsAreRFC3339InUTC() {
        #expect(ServiceLogHandler.timestamp(seconds: 0, milliseconds: 5) == "1970-01-01T00:00:00.005Z")
        #expect(ServiceLogHandler.timestamp(seconds: 1_795_849_800, milliseconds: 999) == "2026-11-28T07:10:00.999Z")
    }

    @Test func theDefaultFormatIsTextOnATerminalAndJSONElsewhere() {
        #expect(LogFormat.automatic(standardErrorIsTerminal: true) == .text)
        #expect(LogFormat.automatic(standardErrorIsTerminal: false) == .json)
    }
}
