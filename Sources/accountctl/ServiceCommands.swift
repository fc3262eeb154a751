import AccountMessaging
import AccountProjection
import ArgumentParser
import JSON

#if canImport(Glibc)
    import Glibc
#endif

/// Where the account service answers.
struct ServiceOptions: ParsableArguments {
    static let defaultURL = "http://127.0.0.1:6767"

    @Option(
        help: ArgumentHelp(
            "Base URL of the account service, http://host:port or https://host:port [env: SERVICE_URL] (default: \(defaultURL))",
            valueName: "url"))
    var url: String?

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp(
            "For https://: PEM file of the CAs trusted for the service's certificate [env: SERVICE_CA_FILE] (default: the system's CAs)",
            valueName: "path"))
    var caFile: String?

    /// The CA file, checked now: an unreadable one is a usage error, not an unreachable service.
    func tlsSettings(environment: Environment = .process) throws(CLIError) -> TLSSettings {
        let path = caFile ?? environment["SERVICE_CA_FILE"]
        if let path, access(path, R_OK) != 0 {
            throw CLIError(
                Exit.usage, "cannot read the CA file '\(path)' (--ca-file / SERVICE_CA_FILE): \(errnoText())")
        }
        return TLSSettings(caFile: path)
    }

    func serviceURL(environment: Environment = .process) throws(CLIError) -> ServiceURL {
        let text = url ?? environment["SERVICE_URL"] ?? Self.defaultURL
        do {
            return try ServiceURL(parsing: text)
        } catch {
            throw CLIError(Exit.usage, error.description)
        }
    }
}

extension HTTPClient {
    /// GET, with a transport failure turned into the CLI's "service unreachable".
    func fetch(_ path: String) throws(CLIError) -> HTTPResponse {
        do {
            return try get(path)
        } catch {
            throw CLIError(Exit.service, error.description)
        }
    }
}

/// The `detail` of a problem+json answer, else the body's start.
func problemDetail(_ response: HTTPResponse) -> String {
    if let value = try? JSONValue.parse(response.body), let detail = value["detail"]?.stringValue {
        return detail
    }
    let text = response.bodyText
    return text.isEmpty ? "HTTP \(response.status)" : "HTTP \(response.status): \(String(text.prefix(200)))"
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one account as the service shows it.",
        discussion: """
            GET /accounts/<id>: prints the account's JSON on standard output. An unknown account \
            prints the service's problem detail on standard error and exits 1.

            \(Exit.helpText)
            """)

    @Argument(help: ArgumentHelp("The account id, e.g. acc-000042", valueName: "id"))
    var id: String

    @OptionGroup var service: ServiceOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Seconds to wait for the service to connect and answer", valueName: "seconds"))
    var timeout: Double = 5

    func validate() throws {
        if id.isEmpty { throw ValidationError("the account id is empty") }
        if !(timeout > 0) { throw ValidationError(outOfRange("--timeout", timeout, "above 0")) }
    }

    func run() throws {
        let client = HTTPClient(url: try service.serviceURL(), timeout: timeout, tls: try service.tlsSettings())
        let response = try client.fetch("/accounts/" + percentEncoded(id))
        switch response.status {
        case 200:
            writeAll(fd: 1, response.body + [UInt8(ascii: "\n")])
        case 404:
            // The service's detail names the account already; say it once.
            let detail = problemDetail(response)
            throw CLIError(Exit.failed, detail.contains(id) ? detail : "no account \(id) (\(detail))")
        case 400:
            throw CLIError(Exit.usage, "'\(id)' is not a valid account id: \(problemDetail(response))")
        default:
            throw CLIError(Exit.service, "the service answered \(response.status): \(problemDetail(response))")
        }
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the service answers /health (or /ready) with 200: a HEALTHCHECK without curl.",
        discussion: """
            GET /health (with --ready, GET /ready) within --timeout. Prints the answer's body on \
            standard output when it is 200, on standard error otherwise.

            Exit status: 0 the service answered 200; 1 it answered something else (e.g. 503 while \
            catching up); 2 bad usage; 4 no answer within the timeout.
            """)

    @OptionGroup var service: ServiceOptions

    @Flag(help: "Ask /ready (connected to the broker and caught up) instead of /health (the process serves)")
    var ready = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Seconds to wait for the service to connect and answer", valueName: "seconds"))
    var timeout: Double = 2

    func validate() throws {
        if !(timeout > 0) { throw ValidationError(outOfRange("--timeout", timeout, "above 0")) }
    }

    func run() throws {
        let client = HTTPClient(url: try service.serviceURL(), timeout: timeout, tls: try service.tlsSettings())
        let response = try client.fetch(ready ? "/ready" : "/health")
        guard response.status == 200 else {
            throw CLIError(
                Exit.failed, "\(ready ? "/ready" : "/health") answered \(response.status): \(response.bodyText)")
        }
        writeAll(fd: 1, response.body + [UInt8(ascii: "\n")])
    }
}
