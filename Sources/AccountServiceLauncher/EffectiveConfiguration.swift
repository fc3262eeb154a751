import AccountMessaging
import Logging

/// The configuration as the process took it, for the start-up log line: every setting,
/// where its value came from, and no secret: the broker URL goes through `shown`, as
/// `AMQPURL` describes it (without the password).
enum EffectiveConfiguration {
    /// One entry per setting, keyed by its variable: `value (flag|env|default)`.
    /// `shown` overrides the text of a value (the broker URL without its password).
    static func describe(
        _ settings: [SettingDescriptor], flags: [String: String], environment: Environment,
        shown: [String: String] = [:]
    ) -> Logger.Metadata {
        var described: Logger.Metadata = [:]
        for setting in settings where !setting.isSwitch {
            let source: String
            let value: String?
            if let flag = flags[setting.flag] {
                (value, source) = (flag, "flag")
            } else if let variable = environment[setting.variable] {
                (value, source) = (variable, "env")
            } else {
                (value, source) = (setting.defaultText, "default")
            }
            // The password lives in the URL (shown without it) or in AMQP_PASSWORD_FILE (its path).
            described[setting.variable] = "\(shown[setting.variable] ?? value ?? "unset") (\(source))"
        }
        return described
    }
}
