import AccountHistory
import AccountProjection
import ArgumentParser
import JSON

#if canImport(Glibc)
    import Glibc
#endif

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a running service's accounts against the projection of the generated history.",
        discussion: """
            Computes the expected accounts itself, by applying the generator's history (the same \
            --accounts/--events/--seed/--close-rate as `accountctl publish`) through the projection. \
            Then waits, at most --timeout seconds in all, for GET /ready to answer 200 and for /stats \
            to account for every event and stop moving; a service that says it is caught up and whose \
            counters have not moved for --settle seconds has nothing more to come, so it compares then \
            (and fails at once when events are missing). While it waits it prints progress on standard \
            error (not with --quiet). It reads every account with \
            GET /accounts?limit=1000&after=… and compares all eight fields (openedAt and updatedAt as \
            the strings echoed). Prints /stats, then

              accounts expected=N served=N missing=N unexpected=N different=N

            and the first 10 differences (with --output json, one object with the same figures and \
            the differences instead). Succeeds only on an exact match, with /stats showing N \
            accounts, M events applied and none parked.

            \(Exit.helpText) (1 also when the service is not ready within --timeout.)
            """)

    @OptionGroup(title: "Generated history") var generator: GeneratorOptions

    @OptionGroup var service: ServiceOptions

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Most seconds to wait for the service to be ready and caught up", valueName: "seconds"))
    var timeout: Double = 60

    @Option(
        name: .customLong("show"), parsing: .unconditional,
        help: ArgumentHelp("How many differences to print", valueName: "K"))
    var shown: Int = 10

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds a caught-up service's counters must stay still before comparing", valueName: "seconds"))
    var settle: Double = 2

    @Flag(help: "No progress on standard error while waiting")
    var quiet = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if !(timeout > 0) { throw ValidationError(outOfRange("--timeout", timeout, "above 0")) }
        if shown < 0 { throw ValidationError(outOfRange("--show", shown, "0 or more")) }
        if !(settle >= 0) { throw ValidationError(outOfRange("--settle", settle, "0 or more")) }
    }

    func run() throws {
        let deadline = now() + timeout
        let url = try service.serviceURL()
        let client = HTTPClient(url: url, timeout: 10, tls: try service.tlsSettings())
        let progress = WaitProgress(quiet: quiet)
        if output.format == .text { print("verify: \(url) against the history of \(generator.summary)") }

        // The expected state, by the same rules the service applies.
        var projection = Projection<Void>()
        var rejected: [RejectedEvent<Void>] = []
        for event in generator.generator {
            _ = projection.apply(event.body, origin: (), rejected: &rejected)
        }
        let expectedStats = projection.statistics
        let expected = projection.accounts(after: nil, limit: Int.max).items

        try waitUntilReady(client, deadline: deadline, progress: progress)
        let stats = try waitUntilSettled(
            client, deadline: deadline, events: generator.resolved.events, progress: progress)

        // Every account the service serves, page by page.
        var served: [Account] = []
        var after: String?
        var pages = 0
        while true {
            var path = "/accounts?limit=1000"
            if let after { path += "&after=" + percentEncoded(after) }
            let response = try client.fetch(path)
            guard response.status == 200 else {
                throw CLIError(Exit.failed, "GET \(path) answered \(response.status): \(problemDetail(response))")
            }
            guard let page = try? JSONValue.parse(response.body), let items = page["items"]?.arrayValue,
                let next = page["next"], next.isNull || next.stringValue != nil
            else {
                throw CLIError(
                    Exit.failed,
                    "GET \(path): not a page {\"items\":[…],\"next\":…}: \(String(response.bodyText.prefix(200)))")
            }
            for item in items {
                guard let account = Account(json: item) else {
                    var text: [UInt8] = []
                    item.write(into: &text)
                    throw CLIError(
                        Exit.failed,
                        "GET \(path): not an account of eight fields: \(String(decoding: text.prefix(300), as: UTF8.self))"
                    )
                }
                served.append(account)
            }
            pages += 1
            guard let nextID = next.stringValue else { break }
            if let after, !bytesPrecede(after, nextID) {
                throw CLIError(
                    Exit.failed,
                    "GET \(path): next '\(nextID)' does not come after '\(after)': the listing would not end")
            }
            if items.isEmpty {
                throw CLIError(Exit.failed, "GET \(path): an empty page with next '\(nextID)'")
            }
            after = nextID
        }

        // Compare.
        var expectedByID: [String: Account] = [:]
        expectedByID.reserveCapacity(expected.count)
        for account in expected { expectedByID[account.id] = account }
        var seen = Set<String>()
        var differences: [String] = []
        var unexpected = 0
        var different = 0
        var outOfOrder: String?
        var previous: String?
        for account in served {
            if let previous, outOfOrder == nil, !bytesPrecede(previous, account.id) {
                outOfOrder = "'\(account.id)' is listed after '\(previous)'"
            }
            previous = account.id
            guard let want = expectedByID[account.id] else {
                unexpected += 1
                differences.append("\(account.id): served but not in the history")
                continue
            }
            guard seen.insert(account.id).inserted else {
                unexpected += 1
                differences.append("\(account.id): served twice")
                continue
            }
            let fields = fieldDifferences(expected: want, served: account)
            if !fields.isEmpty {
                different += 1
                differences.append("\(account.id): " + fields.joined(separator: "; "))
            }
        }
        var missing = 0
        for account in expected where !seen.contains(account.id) {
            missing += 1
            differences.append("\(account.id): missing (expected \(describe(account)))")
        }

        var statsProblems: [String] = []
        if stats.accounts != expectedStats.accounts {
            statsProblems.append("accounts \(stats.accounts), expected \(expectedStats.accounts)")
        }
        if stats.eventsApplied != expectedStats.eventsApplied {
            statsProblems.append("eventsApplied \(stats.eventsApplied), expected \(expectedStats.eventsApplied)")
        }
        if stats.parked != 0 { statsProblems.append("parked \(stats.parked), expected 0") }
        let matches = differences.isEmpty && outOfOrder == nil && statsProblems.isEmpty

        switch output.format {
        case .text:
            print(
                "stats accounts=\(stats.accounts) eventsApplied=\(stats.eventsApplied) duplicates=\(stats.duplicates)"
                    + " invalid=\(stats.invalid) parked=\(stats.parked) lastOffset=\(stats.lastOffset) caughtUp=\(stats.caughtUp)"
                    + " replica=\(stats.replica)")
            print(
                "accounts expected=\(expected.count) served=\(served.count) missing=\(missing) unexpected=\(unexpected) different=\(different)"
            )
            for line in differences.prefix(shown) { print("  " + line) }
            if differences.count > shown { print("  … and \(differences.count - shown) more") }
            if let outOfOrder { print("listing not in ascending byte order: \(outOfOrder)") }
            for problem in statsProblems { print("stats differ: \(problem)") }
            print(matches ? "OK: all \(expected.count) accounts match (\(pages) pages read)" : "MISMATCH")
        case .json:
            var statsObject = JSONObjectWriter()
            statsObject.add("accounts", stats.accounts)
            statsObject.add("eventsApplied", stats.eventsApplied)
            statsObject.add("duplicates", stats.duplicates)
            statsObject.add("invalid", stats.invalid)
            statsObject.add("parked", stats.parked)
            statsObject.add("caughtUp", stats.caughtUp == "true")
            statsObject.add("replica", stats.replica)
            var object = JSONObjectWriter()
            object.add("url", url.description)
            object.add("history", generator.summary)
            object.add("ok", matches)
            object.add("expected", expected.count)
            object.add("served", served.count)
            object.add("missing", missing)
            object.add("unexpected", unexpected)
            object.add("different", different)
            object.add("pages", pages)
            object.add(raw: "stats", statsObject.text)
            object.add("differences", strings: Array(differences.prefix(shown)))
            object.add("moreDifferences", max(0, differences.count - shown))
            object.add("outOfOrder", outOfOrder)
            object.add("statsProblems", strings: statsProblems)
            print(object.text)
        }
        if !matches { throw ExitCode(Exit.failed) }
    }

    /// Polls GET /ready until it answers 200.
    private func waitUntilReady(_ client: HTTPClient, deadline: Double, progress: WaitProgress) throws(CLIError) {
        var last = ""
        while true {
            do {
                let response = try client.get("/ready")
                if response.status == 200 { return }
                last = "answered \(response.status) \(response.bodyText)"
                progress.say("waiting for /ready, which \(last)")
            } catch .tls(let reason) {
                throw CLIError(Exit.service, reason)
            } catch {
                client.disconnect()
                last = error.description
                if now() >= deadline {
                    throw CLIError(
                        Exit.service, "the service did not answer within \(formatSeconds(timeout)) s: \(last)")
                }
            }
            if now() >= deadline {
                throw CLIError(
                    Exit.failed, "the service is not ready after \(formatSeconds(timeout)) s: /ready \(last)")
            }
            usleep(250_000)
        }
    }

    /// Polls /stats until every event of the history is accounted for (applied, duplicate,
    /// invalid or parked) and the counters stop moving; or the service says it is caught up
    /// and its counters stay still for `settle` seconds (nothing more is coming); or the
    /// deadline passes.
    private func waitUntilSettled(
        _ client: HTTPClient, deadline: Double, events: Int, progress: WaitProgress
    ) throws(CLIError) -> ServiceStats {
        var previous: ServiceStats?
        var stillSince = now()
        while true {
            let stats = try readStats(client)
            let time = now()
            let handled = stats.eventsApplied + stats.duplicates + stats.invalid + stats.parked
            if handled >= events, let previous, previous == stats { return stats }
            if previous != stats { stillSince = time }
            if stats.caughtUp == "true", previous == stats, time - stillSince >= settle {
                if handled < events && !quiet {
                    printError(
                        "verify: the service is caught up and has handled \(handled) of \(events) events, unchanged for \(formatSeconds(time - stillSince)) s: comparing now"
                    )
                }
                return stats
            }
            progress.say(
                "waiting for the service: \(handled) of \(events) events handled, caughtUp=\(stats.caughtUp), lastOffset=\(stats.lastOffset)"
            )
            if time >= deadline {
                if handled < events {
                    printError(
                        "accountctl: after \(formatSeconds(timeout)) s the service has handled \(handled) of \(events) events; comparing anyway"
                    )
                }
                return stats
            }
            previous = stats
            usleep(handled >= events ? 500_000 : 250_000)
        }
    }

    private func readStats(_ client: HTTPClient) throws(CLIError) -> ServiceStats {
        let response = try client.fetch("/stats")
        guard response.status == 200, let value = try? JSONValue.parse(response.body),
            let accounts = value["accounts"]?.int64Value, let applied = value["eventsApplied"]?.int64Value,
            let duplicates = value["duplicates"]?.int64Value, let invalid = value["invalid"]?.int64Value,
            let parked = value["parked"]?.int64Value
        else {
            throw CLIError(
                Exit.failed, "GET /stats answered \(response.status): \(String(response.bodyText.prefix(300)))")
        }
        return ServiceStats(
            accounts: Int(accounts), eventsApplied: Int(applied), duplicates: Int(duplicates), invalid: Int(invalid),
            parked: Int(parked), lastOffset: value["lastOffset"]?.int64Value.map { "\($0)" } ?? "null",
            caughtUp: value["caughtUp"]?.boolValue.map { "\($0)" } ?? "?",
            replica: value["replica"]?.stringValue ?? "?")
    }
}

struct ServiceStats: Equatable {
    var accounts: Int
    var eventsApplied: Int
    var duplicates: Int
    var invalid: Int
    var parked: Int
    var lastOffset: String
    var caughtUp: String
    var replica: String
}

/// "field: expected X, served Y" for each of the eight fields that differ.
func fieldDifferences(expected: Account, served: Account) -> [String] {
    var out: [String] = []
    func check(_ name: String, _ a: String, _ b: String) {
        if a != b { out.append("\(name) expected \(a), served \(b)") }
    }
    check("owner", quoted(expected.owner), quoted(served.owner))
    check("currency", quoted(expected.currency), quoted(served.currency))
    check("balance", "\(expected.balance)", "\(served.balance)")
    check("status", expected.status.rawValue, served.status.rawValue)
    check("version", "\(expected.version)", "\(served.version)")
    check("openedAt", quoted(expected.openedAt), quoted(served.openedAt))
    check("updatedAt", quoted(expected.updatedAt), quoted(served.updatedAt))
    return out
}

func describe(_ account: Account) -> String {
    var bytes: [UInt8] = []
    account.writeJSON(into: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

func quoted(_ text: String) -> String {
    var bytes: [UInt8] = []
    JSONWriter.writeString(text, into: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

/// Byte order of UTF-8 (what the listing sorts by).
func bytesPrecede(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// Progress lines on standard error while verify waits: at most one a second, each one
/// different from the last (none with --quiet).
final class WaitProgress {
    private let quiet: Bool
    private var lastText = ""
    private var lastTime = -Double.infinity

    init(quiet: Bool) { self.quiet = quiet }

    func say(_ text: String) {
        guard !quiet, text != lastText, now() - lastTime >= 1 else { return }
        lastText = text
        lastTime = now()
        printError("verify: " + text)
    }
}
