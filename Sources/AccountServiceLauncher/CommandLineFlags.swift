import AccountMessaging

/// `--name value` and `--name=value` flags, checked against the settings a program knows.
/// (The service keeps to this rather than an argument-parsing library, which would bring
/// FoundationEssentials into its binary: idle memory and start-up time are headline figures.)
enum CommandLineFlags {
    enum Problem: Error, CustomStringConvertible {
        case help
        case version
        case unknown(String)
        case missingValue(String)
        case unexpectedArgument(String)

        var description: String {
            switch self {
            case .help: return "help"
            case .version: return "version"
            case .unknown(let flag): return "unknown option '\(flag)' (see --help)"
            case .missingValue(let flag): return "option '--\(flag)' needs a value (see --help)"
            case .unexpectedArgument(let argument): return "unexpected argument '\(argument)' (see --help)"
            }
        }
    }

    /// The values given, by flag name without dashes; throws `.help` for `-h`/`--help`,
    /// `.version` for `--version`.
    static func parse(_ arguments: [String], known: [SettingDescriptor]) throws(Problem) -> [String: String] {
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" { throw .help }
            if argument == "--version" { throw .version }
            guard argument.hasPrefix("--") else { throw .unexpectedArgument(argument) }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard known.contains(where: { $0.flag == name }) else { throw .unknown("--\(name)") }
            if value == nil {
                guard index < arguments.count, !arguments[index].hasPrefix("--") else { throw .missingValue(name) }
                value = arguments[index]
                index += 1
            }
            values[name] = value
        }
        return values
    }

    /// `--help`: usage, what it does, every setting with its variable and default. The
    /// descriptions start in one column (a name too long for it has a line of its own) and
    /// wrap to `width`; `[env: …]` and `(default: …)` follow on a line of their own, each kept whole.
    static func help(
        usage: String, abstract: String, settings: [SettingDescriptor], discussion: String, width: Int = 79
    ) -> String {
        typealias Entry = (name: String, help: String, origin: [String])
        let entries: [Entry] =
            settings.map { setting in
                let name = "--\(setting.flag)" + (setting.isSwitch ? "" : " <\(setting.valueName)>")
                var origin = ["[env: \(setting.variable)]"]
                if let defaultText = setting.defaultText { origin.append("(default: \(defaultText))") }
                return (name, setting.help, origin)
            } + [("-h, --help", "Show this help", []), ("--version", "Print the version", [])]
        let column = 2 + min(entries.map(\.name.count).max() ?? 0, 26) + 2
        let room = max(20, width - column)
        let overview = wrap("OVERVIEW: \(abstract)", width: width).joined(separator: "\n")
        var text = "\(overview)\n\nUSAGE: \(usage)\n\nOPTIONS:\n"
        let indent = String(repeating: " ", count: column)
        for (name, description, origin) in entries {
            var lines = wrap(description, width: room)
            let joined = origin.joined(separator: " ")
            if !origin.isEmpty { lines += joined.count <= room ? [joined] : origin }
            var lead = "  " + name
            if lead.count + 2 > column {
                text += lead + "\n"
                lead = ""
            }
            text += lead + String(repeating: " ", count: column - lead.count) + lines[0] + "\n"
            for line in lines.dropFirst() { text += indent + line + "\n" }
        }
        // Paragraphs (split at blank lines) reflowed to the width.
        let paragraphs = discussion.split(separator: "\n\n", omittingEmptySubsequences: false).map { paragraph in
            wrap(paragraph.split(separator: "\n").joined(separator: " "), width: width).joined(separator: "\n")
        }
        return text + "\n" + paragraphs.joined(separator: "\n\n") + "\n"
    }

    /// Words in lines of at most `width` characters (a longer word gets a line of its own).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }
}
