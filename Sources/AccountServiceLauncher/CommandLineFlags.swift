import AccountMessaging

/// `--name value` and `--name=value` flags, checked against the settings a program knows.
/// (The service keeps to this rather than an argument-parsing library, which would bring
/// FoundationEssentials into its binary: idle memory and start-up time are headline figures.)
enum CommandLineFlags {
    enum Problem: Error, CustomStringConvertible {
        case help
        case unknown(String)
        case missingValue(String)
        case unexpectedArgument(String)

        var description: String {
            switch self {
            case .help: return "help"
            case .unknown(let flag): return "unknown option '\(flag)' (see --help)"
            case .missingValue(let flag): return "option '--\(flag)' needs a value (see --help)"
            case .unexpectedArgument(let argument): return "unexpected argument '\(argument)' (see --help)"
            }
        }
    }

    /// The values given, by flag name without dashes; throws `.help` for `-h`/`--help`.
    static func parse(_ arguments: [String], known: [SettingDescriptor]) throws(Problem) -> [String: String] {
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" { throw .help }
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

    /// `--help`: usage, what it does, every setting with its variable and default.
    static func help(usage: String, abstract: String, settings: [SettingDescriptor], discussion: String) -> String {
        var text = "OVERVIEW: \(abstract)\n\nUSAGE: \(usage)\n\nOPTIONS:\n"
        for setting in settings {
            let name = "  --\(setting.flag) <value>"
            let defaultText = setting.defaultText.map { " (default: \($0))" } ?? ""
            let line = "\(setting.help) [env: \(setting.variable)]\(defaultText)"
            let padding = max(1, 32 - name.count)
            text += name + String(repeating: " ", count: padding) + line + "\n"
        }
        text += "  -h, --help" + String(repeating: " ", count: 22) + "Show this help.\n\n" + discussion + "\n"
        return text
    }
}
