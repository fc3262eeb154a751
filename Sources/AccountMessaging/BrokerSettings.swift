public import AMQP

#if canImport(Glibc)
    import Glibc
#endif

/// One setting both programs take: its flag (kebab case), its environment variable, its
/// default as shown to a user, and what it means. Used for `--help` and by ``BrokerSettings``.
public struct SettingDescriptor: Sendable {
    public var flag: String
    public var variable: String
    public var defaultText: String?
    public var help: String
    /// Takes no value (`--help`); the others all take one.
    public var isSwitch: Bool
    /// What the value is, for help: `--http-port <port>`.
    public var valueName: String

    public init(
        flag: String, variable: String, defaultText: String? = nil, help: String, isSwitch: Bool = false,
        valueName: String = "value"
    ) {
        self.flag = flag
        self.variable = variable
        self.defaultText = defaultText
        self.help = help
        self.isSwitch = isSwitch
        self.valueName = valueName
    }
}

/// The broker settings of docs/operations.md#configuration, each a flag or the environment variable of the
/// same
/// name (a flag wins). Free of any argument parser: each program reads its flags its own way
/// and hands them over by name.
public enum BrokerSettings {
    public static let descriptors: [SettingDescriptor] = [
        .init(
            flag: "amqp-url", variable: "AMQP_URL", defaultText: AMQPURL.defaultURL,
            help:
                "Broker URL, amqp://user:pass@host:port/vhost, or amqps:// for TLS; for a cluster, one URL per node"
                + " separated by commas", valueName: "url"),
        .init(
            flag: "amqp-password-file", variable: "AMQP_PASSWORD_FILE",
            help: "File holding the broker password (a Docker secret); wins over the URL's password", valueName: "file"),
        .init(
            flag: "amqp-tls-ca-file", variable: "AMQP_TLS_CA_FILE", defaultText: "the system's CAs",
            help: "PEM file of the CAs trusted for the broker's certificate", valueName: "file"),
        .init(
            flag: "amqp-tls-cert-file", variable: "AMQP_TLS_CERT_FILE", help: "PEM client certificate for TLS",
            valueName: "file"),
        .init(
            flag: "amqp-tls-key-file", variable: "AMQP_TLS_KEY_FILE", help: "PEM key of the client certificate",
            valueName: "file"),
        .init(
            flag: "amqp-tls-verify", variable: "AMQP_TLS_VERIFY", defaultText: "true",
            help: "Check the broker's certificate chain and host name: true or false", valueName: "bool"),
        .init(
            flag: "amqp-heartbeat", variable: "AMQP_HEARTBEAT", defaultText: "30",
            help: "Heartbeat interval in seconds, 0 for none", valueName: "seconds"),
        .init(
            flag: "amqp-connect-timeout", variable: "AMQP_CONNECT_TIMEOUT", defaultText: "5",
            help: "Seconds to connect and log in before giving up on one attempt", valueName: "seconds"),
    ]

    /// The client configuration the flags (looked up by name, e.g. `amqp-url`) and the
    /// environment describe, with the password from `AMQP_PASSWORD_FILE` when one is named.
    /// Errors name the setting and the fix, never the password.
    public static func configuration(
        connectionName: String,
        flags: (String) -> String?,
        environment: Environment = .process
    ) throws(SettingError) -> AMQPConfiguration {
        func value(_ flag: String, _ variable: String) -> String? { flags(flag) ?? environment[variable] }
        let urlText = value("amqp-url", "AMQP_URL") ?? AMQPURL.defaultURL
        var nodes: [AMQPURL]
        do {
            nodes = try AMQPURLList.parse(urlText)
        } catch {
            throw SettingError(setting: "AMQP_URL / --amqp-url", problem: error.description)
        }
        if let path = value("amqp-password-file", "AMQP_PASSWORD_FILE") {
            let password = try readPassword(path: path)
            for index in nodes.indices { nodes[index].password = password }
        }
        var tls = AMQPConfiguration.TLS()
        tls.caFile = value("amqp-tls-ca-file", "AMQP_TLS_CA_FILE")
        tls.certFile = value("amqp-tls-cert-file", "AMQP_TLS_CERT_FILE")
        tls.keyFile = value("amqp-tls-key-file", "AMQP_TLS_KEY_FILE")
        if let verify = value("amqp-tls-verify", "AMQP_TLS_VERIFY") {
            guard let flag = parseBool(verify) else {
                throw SettingError(
                    setting: "AMQP_TLS_VERIFY / --amqp-tls-verify", problem: "'\(verify)' is not true or false")
            }
            tls.verifyPeer = flag
        }
        var heartbeat = 30
        if let text = value("amqp-heartbeat", "AMQP_HEARTBEAT") {
            guard let seconds = Int(text) else {
                throw SettingError(
                    setting: "AMQP_HEARTBEAT / --amqp-heartbeat", problem: "'\(text)' is not a whole number of seconds")
            }
            heartbeat = seconds
        }
        var connectTimeout: Duration = .seconds(5)
        if let text = value("amqp-connect-timeout", "AMQP_CONNECT_TIMEOUT") {
            guard let seconds = Double(text), seconds > 0 else {
                throw SettingError(
                    setting: "AMQP_CONNECT_TIMEOUT / --amqp-connect-timeout",
                    problem: "'\(text)' is not a number of seconds above 0")
            }
            connectTimeout = .milliseconds(Int64(seconds * 1000))
        }
        var configuration = AMQPConfiguration(
            url: nodes[0], heartbeat: heartbeat, connectTimeout: connectTimeout, tls: tls,
            connectionName: connectionName)
        configuration.nodes = nodes
        do {
            try configuration.validate()
        } catch {
            throw SettingError(setting: "AMQP settings", problem: error.description)
        }
        return configuration
    }

    /// The password file's bytes, less one trailing newline (docs/operations.md#configuration).
    static func readPassword(path: String) throws(SettingError) -> String {
        guard let file = fopen(path, "rb") else {
            throw SettingError(
                setting: "AMQP_PASSWORD_FILE / --amqp-password-file",
                problem: "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: return nil
        }
    }
}

/// A setting that cannot be used: which one, and what is wrong with it.
public struct SettingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var setting: String
    public var problem: String

    public init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "\(setting): \(problem)" }
}

/// Environment variables, read once; tests pass their own.
public struct Environment: Sendable {
    public var values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    public subscript(name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var process: Environment {
        var values: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return Environment(values)
    }
}

extension Environment {
    /// A setting from its flag, else its environment variable, else the default.
    /// A value that does not parse is an error naming both the variable and the flag.
    public func setting<T>(
        _ flag: T?, _ name: String, default defaultValue: T, parse: (String) -> T?, expected: String
    ) throws(SettingError) -> T {
        if let flag { return flag }
        guard let text = self[name] else { return defaultValue }
        guard let value = parse(text) else {
            throw SettingError(setting: "\(name) / --\(Self.flagName(name))", problem: "'\(text)' is not \(expected)")
        }
        return value
    }

    /// `EVENTS_STREAM` → `events-stream`: every variable's flag (docs/operations.md#configuration).
    public static func flagName(_ variable: String) -> String {
        variable.lowercased().replacingUnderscores()
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(self.map { $0 == "_" ? "-" : $0 })
    }
}
