import AccountMessaging
import AccountProjection
import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// accountctl: the producer and checker CLI of the account service (docs/operations.md#configuration).
struct Accountctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accountctl",
        abstract: "Publish account events to the broker, and check what the account service answers.",
        discussion: """
            Broker settings come from flags or the environment (AMQP_URL, AMQP_PASSWORD_FILE, \
            AMQP_TLS_CA_FILE, AMQP_TLS_CERT_FILE, AMQP_TLS_KEY_FILE, AMQP_TLS_VERIFY); the service URL \
            from --url or SERVICE_URL.

            Shell completion: `accountctl --generate-completion-script bash` (or zsh, fish) prints a \
            script to source or to install in the shell's completion directory.

            \(Exit.helpText)
            """,
        version: "accountctl \(ProductVersion.current)",
        subcommands: [Publish.self, Generate.self, Verify.self, Get.self, Health.self, Invalid.self])
}

/// Calls the async `run()` (on an existential, `run()` would pick the synchronous one).
func runAsync<Command: AsyncParsableCommand>(_ command: inout Command) async throws {
    try await command.run()
}

// Run the chosen subcommand with accountctl's exit statuses: ArgumentParser's usage errors
// become 2 (not 64), errors meant for the user are printed as `accountctl: …`.
do {
    var command = try await Accountctl.asyncParseAsRoot()
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(&asyncCommand)
    } else {
        try command.run()
    }
    exit(Exit.ok)
} catch let error as CLIError {
    printError("accountctl: \(error.message)")
    exit(error.status)
} catch {
    if Accountctl.exitCode(for: error) == .validationFailure {
        printError(Accountctl.fullMessage(for: error))
        exit(Exit.usage)
    }
    Accountctl.exit(withError: error)
}
