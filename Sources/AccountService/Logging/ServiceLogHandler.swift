import JSON
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// How log lines look: `json`, one object per line (for collectors), or `text`, for people.
public enum LogFormat: String, Sendable, CaseIterable {
    case json
    case text

    /// `LOG_FORMAT`'s default: text on a terminal, JSON otherwise.
    public static func automatic() -> LogFormat {
        automatic(standardErrorIsTerminal: isatty(2) == 1)
    }

    static func automatic(standardErrorIsTerminal: Bool) -> LogFormat {
        standardErrorIsTerminal ? .text : .json
    }
}

/// A swift-log handler writing one line per record to standard error (or to `sink`, in tests).
///
/// JSON lines carry `timestamp` (RFC 3339, UTC, milliseconds), `level`, `logger` (the
/// label), `message` and `metadata` (an object; nested lists and objects kept), e.g.
/// `{"timestamp":"2026-11-28T05:10:00.123Z","level":"info","logger":"accountservice","message":"starting","metadata":{"replica":"r1"}}`.
/// Text lines: `2026-11-28T05:10:00.123Z info accountservice: starting replica=r1`; control
/// characters anywhere in them are escaped (`\n`, `\r`, `\t`, `\u{1B}`), so no value can start a
/// forged line or drive a terminal, and a metadata value with a space, `"` or `=` is quoted
/// (`replica="a b"`).
/// Each line goes out in one `write`, so lines of concurrent loggers never interleave.
public struct ServiceLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let format: LogFormat
    private let sink: @Sendable ([UInt8]) -> Void

    public init(
        label: String, level: Logger.Level, format: LogFormat,
        sink: @escaping @Sendable ([UInt8]) -> Void = ServiceLogHandler.standardError
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
    }

    public static let standardError: @Sendable ([UInt8]) -> Void = { line in
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        sink(
            Self.line(
                format: format, timestamp: Self.now(), level: event.level, label: label,
                message: "\(event.message)", metadata: merged))
    }

    /// One formatted line, newline included.
    static func line(
        format: LogFormat, timestamp: String, level: Logger.Level, label: String, message: String,
        metadata: Logger.Metadata
    ) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(160 + message.utf8.count)
        let keys = metadata.keys.sorted()
        switch format {
        case .json:
            line.append(contentsOf: #"{"timestamp":"#.utf8)
            JSONWriter.writeString(timestamp, into: &line)
            line.append(contentsOf: #","level":"#.utf8)
            JSONWriter.writeString(level.rawValue, into: &line)
            line.append(contentsOf: #","logger":"#.utf8)
            JSONWriter.writeString(label, into: &line)
            line.append(contentsOf: #","message":"#.utf8)
            JSONWriter.writeString(message, into: &line)
            line.append(contentsOf: #","metadata":{"#.utf8)
            for (index, key) in keys.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(key, into: &line)
                line.append(UInt8(ascii: ":"))
                writeJSON(metadata[key]!, into: &line)
            }
            line.append(contentsOf: "}}\n".utf8)
        case .text:
            line.append(contentsOf: "\(timestamp) \(level.rawValue) ".utf8)
            writeText(label, into: &line)
            line.append(contentsOf: ": ".utf8)
            writeText(message, into: &line)
            for key in keys {
                line.append(UInt8(ascii: " "))
                writeText(key, into: &line)
                line.append(UInt8(ascii: "="))
                writeTextValue(metadata[key]!, into: &line)
            }
            line.append(UInt8(ascii: "\n"))
        }
        return line
    }

    /// `text` for a text line: control characters (C0, DEL, C1, line and paragraph separators)
    /// escaped; as a value, a backslash escaped too and the whole quoted when it holds a space,
    /// `"` or `=` (or is empty), so that `key=value` pairs read back unambiguously.
    private static func writeText(_ text: String, into line: inout [UInt8], quotingValue: Bool = false) {
        let quoted =
            quotingValue
            && (text.isEmpty
                || text.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") })
        if quoted { line.append(UInt8(ascii: "\"")) }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": line.append(contentsOf: #"\n"#.utf8)
            case "\r": line.append(contentsOf: #"\r"#.utf8)
            case "\t": line.append(contentsOf: #"\t"#.utf8)
            case "\\" where quotingValue: line.append(contentsOf: #"\\"#.utf8)
            case "\"" where quoted: line.append(contentsOf: #"\""#.utf8)
            case "\u{00}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}":
                line.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".utf8)
            default: UTF8.encode(scalar) { line.append($0) }
            }
        }
        if quoted { line.append(UInt8(ascii: "\"")) }
    }

    /// A metadata value for a text line: lists as `[a, b]`, dictionaries as `[k: v]`, each
    /// string in them as ``writeText(_:into:quotingValue:)`` writes a value.
    private static func writeTextValue(_ value: Logger.Metadata.Value, into line: inout [UInt8]) {
        switch value {
        case .string(let string):
            writeText(string, into: &line, quotingValue: true)
        case .stringConvertible(let convertible):
            writeText(convertible.description, into: &line, quotingValue: true)
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(contentsOf: ", ".utf8) }
                writeTextValue(element, into: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            line.append(UInt8(ascii: "["))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line.append(contentsOf: ", ".utf8) }
                writeText(key, into: &line, quotingValue: true)
                line.append(contentsOf: ": ".utf8)
                writeTextValue(dictionary[key]!, into: &line)
            }
            line.append(UInt8(ascii: "]"))
        }
    }

    private static func writeJSON(_ value: Logger.Metadata.Value, into line: inout [UInt8]) {
        switch value {
        case .string(let string):
            JSONWriter.writeString(string, into: &line)
        case .stringConvertible(let convertible):
            JSONWriter.writeString(convertible.description, into: &line)
        case .array(let values):
            line.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                writeJSON(element, into: &line)
            }
            line.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            line.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(key, into: &line)
                line.append(UInt8(ascii: ":"))
                writeJSON(dictionary[key]!, into: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    /// Now, as RFC 3339 in UTC with milliseconds.
    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec) / 1_000_000)
    }

    static func timestamp(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }
}
