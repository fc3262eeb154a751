public import AMQP
public import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// The broker settings both programs take (CONTRACT §5), each as a flag or an
/// environment variable of the same name; a flag wins over the environment.
public struct BrokerOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("amqp-url"),
        help: ArgumentHelp(
            "Broker URL, amqp://user:pass@host:port/vhost or amqps:// for TLS [env: AMQP_URL] (default: \(AMQPURL.defaultURL))",
            valueName: "url"))
    public var amqpURL: String?

    @Option(
        name: .customLong("amqp-password-file"),
        help: ArgumentHelp(
            "File holding the broker password (a Docker secret); wins over the URL's password [env: AMQP_PASSWORD_FILE]",
            valueName: "path"))
    public var amqpPasswordFile: String?

    @Option(
        name: .customLong("amqp-tls-ca-file"),
        help: ArgumentHelp(
            "PEM file of the CAs trusted for the broker's certificate, replacing the system's [env: AMQP_TLS_CA_FILE]",
            valueName: "path"))
    public var amqpTLSCAFile: String?

    @Option(
        name: .customLong("amqp-tls-cert-file"),
        help: ArgumentHelp("PEM client certificate for TLS [env: AMQP_TLS_CERT_FILE]", valueName: "path"))
    public var amqpTLSCertFile: String?

    @Option(
        name: .customLong("amqp-tls-key-file"),
        help: ArgumentHelp("PEM key of the client certificate [env: AMQP_TLS_KEY_FILE]", valueName: "path"))
    public var amqpTLSKeyFile: String?

    @Option(
        name: .customLong("amqp-tls-verify"),
        help: ArgumentHelp(
            "Check the broker's certificate chain and host name: true or false [env: AMQP_TLS_VERIFY] (default: true)",
            valueName: "bool"))
    public var amqpTLSVerify: String?

    @Option(
        name: .customLong("amqp-heartbeat"),
        help: ArgumentHelp(
            "Heartbeat interval in seconds, 0 for none [env: AMQP_HEARTBEAT] (default: 30)", valueName: "seconds"))
    public var amqpHeartbeat: Int?

    @Option(
        name: .customLong("amqp-connect-timeout"),
        help: ArgumentHelp(
            "Seconds to connect and log in before giving up on one attempt [env: AMQP_CONNECT_TIMEOUT] (default: 5)",
            valueName: "seconds"))
    public var amqpConnectTimeout: Double?

    public init() {}

    /// The client configuration these settings describe, with the password from
    /// `AMQP_PASSWORD_FILE` when one is named. Errors name the setting and the fix, never the password.
    public func configuration(
        connectionName: String, environment: Environment = .process
    ) throws(SettingError)
        -> AMQPConfiguration
    {
        let urlText = amqpURL ?? environment["AMQP_URL"] ?? AMQPURL.defaultURL
        var url: AMQPURL
        do {
            url = try AMQPURL(parsing: urlText)
        } catch {
            throw SettingError(setting: "AMQP_URL / --amqp-url", problem: error.description)
        }
        if let path = amqpPasswordFile ?? environment["AMQP_PASSWORD_FILE"] {
            url.password = try Self.readPassword(path: path)
        }
        var tls = AMQPConfiguration.TLS()
        tls.caFile = amqpTLSCAFile ?? environment["AMQP_TLS_CA_FILE"]
        tls.certFile = amqpTLSCertFile ?? environment["AMQP_TLS_CERT_FILE"]
        tls.keyFile = amqpTLSKeyFile ?? environment["AMQP_TLS_KEY_FILE"]
        if let verify = amqpTLSVerify ?? environment["AMQP_TLS_VERIFY"] {
            guard let value = Self.parseBool(verify) else {
                throw SettingError(
                    setting: "AMQP_TLS_VERIFY / --amqp-tls-verify", problem: "'\(verify)' is not true or false")
            }
            tls.verifyPeer = value
        }
        var heartbeat = 30
        if let value = amqpHeartbeat ?? environment["AMQP_HEARTBEAT"].flatMap({ Int($0) }) {
            heartbeat = value
        } else if let text = environment["AMQP_HEARTBEAT"] {
            throw SettingError(setting: "AMQP_HEARTBEAT", problem: "'\(text)' is not a whole number of seconds")
        }
        var connectTimeout: Duration = .seconds(5)
        if let seconds = amqpConnectTimeout ?? environment["AMQP_CONNECT_TIMEOUT"].flatMap({ Double($0) }) {
            guard seconds > 0 else {
                throw SettingError(setting: "AMQP_CONNECT_TIMEOUT / --amqp-connect-timeout", problem: "must be above 0")
            }
            connectTimeout = .milliseconds(Int64(seconds * 1000))
        }
        let configuration = AMQPConfiguration(
            url: url, heartbeat: heartbeat, connectTimeout: connectTimeout, tls: tls, connectionName: connectionName)
        do {
            try configuration.validate()
        } catch {
            throw SettingError(setting: "AMQP settings", problem: error.description)
        }
        return configuration
    }

    /// The password file's bytes, less one trailing newline (CONTRACT §6).
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

    /// `EVENTS_STREAM` → `events-stream`: every variable's flag (CONTRACT §5).
    public static func flagName(_ variable: String) -> String {
        variable.lowercased().replacingUnderscores()
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(self.map { $0 == "_" ? "-" : $0 })
    }
}
