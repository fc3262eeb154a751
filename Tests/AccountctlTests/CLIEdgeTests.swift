import AccountHistory
import TestSupport
import Testing

/// The edges a new user meets first: versions, numbers out of range, a directory for a file,
/// `get` of an unknown account, the service's --help, shell completion.
@Suite("accountctl and accountservice at their edges")
struct CLIEdgeTests {
    @Test("--version prints the same release on both programs")
    func version() async throws {
        let cli = try await runAccountctl(["--version"])
        #expect(cli.status == 0)
        let service = try await runProcess(try builtProduct("accountservice"), ["--version"], timeout: 10)
        #expect(service.status == 0)
        #expect(cli.out.hasPrefix("accountctl "), "\(cli.out)")
        #expect(service.out.hasPrefix("accountservice "), "\(service.out)")
        let release = String(cli.out.dropFirst("accountctl ".count))
        #expect(release.split(separator: ".").count == 3, "\(release)")
        #expect(service.out == "accountservice " + release)
    }

    @Test(
        "a negative number says it is out of range (not 'Missing value')",
        arguments: [
            ["generate", "--events", "-5"], ["generate", "--accounts", "-1"], ["generate", "--seed", "-2"],
            ["publish", "--window", "-3"],
            ["publish", "--rate", "-10"], ["publish", "--confirm-timeout", "-1"], ["verify", "--timeout", "-1"],
            ["get", "acc-1", "--timeout", "-2"],
            ["health", "--timeout", "-1"], ["invalid", "list", "--limit", "-4"],
        ])
    func negativeNumber(arguments: [String]) async throws {
        let result = try await runAccountctl(arguments)
        #expect(result.status == 2, "\(arguments): \(result.status) \(result.err)")
        #expect(result.err.contains("out of range"), "\(arguments): \(result.err)")
        #expect(!result.err.contains("Missing value"), "\(arguments): \(result.err)")
        #expect(result.err.contains(arguments[arguments.count - 1]), "names the value: \(result.err)")
    }

    @Test("--file with a directory fails like a missing file: exit 2, before any broker")
    func fileIsDirectory() async throws {
        let result = try await runAccountctl(
            ["publish", "--file", "/tmp"], environment: ["AMQP_URL": "amqp://guest:guest@127.0.0.1:9/%2f"])
        #expect(result.status == 2, "\(result.err)")
        #expect(result.err.contains("'/tmp'") && result.err.contains("directory"), "\(result.err)")
        #expect(result.stdout.isEmpty)
    }

    @Test("get of an unknown account names it once")
    func unknownAccountOnce() async throws {
        let service = try FakeService(generator: HistoryGenerator(accounts: 3, events: 10, seed: 1))
        defer { service.stop() }
        let missing = try await runAccountctl(["get", "acc-999999", "--url", service.url])
        #expect(missing.status == 1)
        #expect(
            missing.err.split(separator: "acc-999999", omittingEmptySubsequences: false).count == 2, "\(missing.err)")
        #expect(missing.err == "accountctl: no account acc-999999\n", "\(missing.err)")
    }

    @Test("accountservice --help: aligned, named values, every line under 80 columns")
    func serviceHelp() async throws {
        let result = try await runProcess(try builtProduct("accountservice"), ["--help"], timeout: 10)
        #expect(result.status == 0)
        let lines = result.out.split(separator: "\n", omittingEmptySubsequences: false)
        for line in lines { #expect(line.count < 80, "\(line.count) columns: \(line)") }
        // Each option's description starts in the same column, continuation lines too (a name
        // too long for the column stands on a line of its own).
        let options = lines.drop { $0 != "OPTIONS:" }.dropFirst().prefix { !$0.isEmpty }
        #expect(options.count > 20)
        let columns = Set(
            options.compactMap { line -> Int? in
                guard line.hasPrefix("  -") else { return line.prefix { $0 == " " }.count }
                return line.firstRange(of: "  ", startingAt: 2)?.upperBound
            })
        #expect(columns.count == 1, "descriptions start in columns \(columns)")
        for name in [
            "--http-port <port>", "--amqp-url <url>", "--snapshot-dir <dir>", "--shutdown-timeout <seconds>",
            "--amqp-password-file <file>", "--version",
        ] {
            #expect(result.out.contains(name), "\(name)")
        }
        #expect(!options.contains { $0.contains("<value>") }, "every value is named for what it is")
    }

    @Test("--generate-completion-script bash prints a bash completion script")
    func completion() async throws {
        let result = try await runAccountctl(["--generate-completion-script", "bash"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("complete -o") || result.out.contains("complete -F"), "\(result.out.prefix(300))")
        #expect(result.out.contains("_accountctl"))
        for word in ["publish", "verify", "invalid", "--output"] { #expect(result.out.contains(word), "\(word)") }
        let check = try await runProcess("/bin/bash", ["-n", "-c", result.out], timeout: 10)
        #expect(check.status == 0, "bash -n: \(check.err)")
    }
}

extension Substring {
    /// The first range of `text` at or after the offset `start`.
    fileprivate func firstRange(of text: String, startingAt start: Int) -> Range<Int>? {
        let characters = Array(self)
        let needle = Array(text)
        guard characters.count >= needle.count + start else { return nil }
        for index in start...(characters.count - needle.count)
        where Array(characters[index..<index + needle.count]) == needle {
            var end = index + needle.count
            while end < characters.count && characters[end] == " " { end += 1 }
            return index..<end
        }
        return nil
    }
}
