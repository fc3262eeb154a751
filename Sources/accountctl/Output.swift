import ArgumentParser
import JSON

/// How a subcommand prints its result on standard output.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// `--output text|json`, for the subcommands whose result a script may read.
struct OutputOptions: ParsableArguments {
    @Option(
        name: .customLong("output"),
        help: ArgumentHelp(
            "text (for people) or json (one object on standard output, for scripts)", valueName: "format"))
    var format: OutputFormat = .text
}

/// Builds one JSON object, key by key, in the order added.
struct JSONObjectWriter {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        JSONWriter.writeString(name, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A value already in JSON (a number, an object, an array).
    mutating func add(raw name: String, _ json: String) {
        key(name)
        bytes += Array(json.utf8)
    }

    mutating func add(_ name: String, _ value: Int) { add(raw: name, "\(value)") }

    mutating func add(_ name: String, _ value: Int64) { add(raw: name, "\(value)") }

    mutating func add(_ name: String, _ value: Bool) { add(raw: name, value ? "true" : "false") }

    /// A string, or null for nil.
    mutating func add(_ name: String, _ value: String?) {
        key(name)
        if let value { JSONWriter.writeString(value, into: &bytes) } else { bytes += Array("null".utf8) }
    }

    mutating func add(_ name: String, strings: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in strings.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(value, into: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    var text: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }
}

/// A JSON array of objects already written.
func jsonArray(_ objects: [JSONObjectWriter]) -> String {
    "[" + objects.map(\.text).joined(separator: ",") + "]"
}
