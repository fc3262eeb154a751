import AMQP
import AccountMessaging
import ArgumentParser

/// The broker flags of docs/operations.md#configuration for accountctl's subcommands; each also reads the
/// environment variable of the same name (see ``BrokerSettings``).
struct BrokerOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("amqp-url"), help: help("amqp-url"))
    var amqpURL: String?

    @Option(name: .customLong("amqp-password-file"), help: help("amqp-password-file"))
    var amqpPasswordFile: String?

    @Option(name: .customLong("amqp-tls-ca-file"), help: help("amqp-tls-ca-file"))
    var amqpTLSCAFile: String?

    @Option(name: .customLong("amqp-tls-cert-file"), help: help("amqp-tls-cert-file"))
    var amqpTLSCertFile: String?

    @Option(name: .customLong("amqp-tls-key-file"), help: help("amqp-tls-key-file"))
    var amqpTLSKeyFile: String?

    @Option(name: .customLong("amqp-tls-verify"), help: help("amqp-tls-verify"))
    var amqpTLSVerify: String?

    @Option(name: .customLong("amqp-heartbeat"), help: help("amqp-heartbeat"))
    var amqpHeartbeat: String?

    @Option(name: .customLong("amqp-connect-timeout"), help: help("amqp-connect-timeout"))
    var amqpConnectTimeout: String?

    func configuration(
        connectionName: String, environment: Environment = .process
    ) throws(SettingError)
        -> AMQPConfiguration
    {
        let flags: [String: String?] = [
            "amqp-url": amqpURL, "amqp-password-file": amqpPasswordFile, "amqp-tls-ca-file": amqpTLSCAFile,
            "amqp-tls-cert-file": amqpTLSCertFile, "amqp-tls-key-file": amqpTLSKeyFile,
            "amqp-tls-verify": amqpTLSVerify, "amqp-heartbeat": amqpHeartbeat,
            "amqp-connect-timeout": amqpConnectTimeout,
        ]
        return try BrokerSettings.configuration(
            connectionName: connectionName, flags: { flags[$0] ?? nil }, environment: environment)
    }
}

/// The help line of a broker flag, from its descriptor: meaning, variable, default.
private func help(_ flag: String) -> ArgumentHelp {
    guard let setting = BrokerSettings.descriptors.first(where: { $0.flag == flag }) else { return ArgumentHelp() }
    let defaultText = setting.defaultText.map { " (default: \($0))" } ?? ""
    return ArgumentHelp("\(setting.help) [env: \(setting.variable)]\(defaultText)", valueName: setting.valueName)
}
