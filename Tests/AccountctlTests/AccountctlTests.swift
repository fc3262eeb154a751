import AMQP
import AccountHistory
import AccountProjection
import JSON
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("accountctl without a broker")
struct AccountctlOfflineTests {
    @Test("generate prints the generator's bodies, one a line, the same every time")
    func generate() async throws {
        let result = try await runAccountctl(["generate", "--accounts", "40", "--events", "700", "--seed", "9"])
        #expect(result.status == 0, "\(result.err)")
        var expected: [UInt8] = []
        for event in HistoryGenerator(accounts: 40, events: 700, seed: 9) { expected += event.body + [10] }
        #expect(result.stdout == expected)
        let again = try await runAccountctl(["generate", "--accounts", "40", "--events", "700", "--seed", "9"])
        #expect(again.stdout == result.stdout)
    }

    @Test("generate --out writes the file")
    func generateToFile() async throws {
        let path = "/tmp/accountctl-test-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        defer { unlink(path) }
        let result = try await runAccountctl(["generate", "--accounts", "3", "--events", "10", "--out", path])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.stdout.isEmpty)
        let file = try #require(fopen(path, "rb"))
        defer { fclose(file) }
        var lines = 0
        while fgetc(file) != EOF {}
        rewind(file)
        var character = fgetc(file)
        while character != EOF {
            if character == 10 { lines += 1 }
            character = fgetc(file)
        }
        #expect(lines == 10)
    }

    @Test(
        "bad usage exits 2 with a readable message",
        arguments: [
            ["generate", "--accounts", "5", "--events", "3"],
            ["generate", "--accounts", "0"],
            ["generate", "--close-rate", "2"],
            ["publish", "--file", "-", "--seed", "2"],
            ["publish", "--window", "0"],
            ["publish", "--rate", "0"],
            ["publish", "--amqp-url", "http://x"],
            ["publish", "--file", "/nonexistent/events.jsonl"],
            ["verify", "--url", "ftp://host"],
            ["health", "--url", "https://127.0.0.1:9", "--ca-file", "/nonexistent/ca.pem"],
            ["get", ""],
            ["health", "--timeout", "0"],
            ["nonsense"],
        ])
    func usage(arguments: [String]) async throws {
        let result = try await runAccountctl(arguments)
        #expect(result.status == 2, "\(arguments): \(result.status) \(result.err)")
        #expect(!result.err.isEmpty)
        #expect(result.stdout.isEmpty)
    }

    @Test(
        "every subcommand explains its flags and the exit statuses",
        arguments: ["publish", "generate", "verify", "get", "health"])
    func help(subcommand: String) async throws {
        let result = try await runAccountctl([subcommand, "--help"])
        #expect(result.status == 0)
        #expect(result.out.contains("Exit status"))
        #expect(result.out.contains("USAGE"))
    }

    @Test(
        "an unreachable service exits 4 at once",
        arguments: [["health"], ["get", "acc-000001"], ["verify", "--timeout", "1"]])
    func unreachable(arguments: [String]) async throws {
        // Port 9 (discard): nothing listens there, the connection is refused.
        let result = try await runAccountctl(arguments + ["--url", "http://127.0.0.1:9"], timeout: 20)
        #expect(result.status == 4, "\(result.status) \(result.err)")
        #expect(result.err.contains("127.0.0.1:9"))
        #expect(result.seconds < 10)
    }
}

@Suite("accountctl against a stand-in service")
struct AccountctlServiceTests {
    static let history = HistoryGenerator(accounts: 2500, events: 12_000, seed: 4)

    @Test("verify passes when every account matches (3 pages, chunked, kept alive)")
    func verifyMatch() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
        ])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.out.contains("accounts expected=2500 served=2500 missing=0 unexpected=0 different=0"))
        #expect(result.out.contains("stats accounts=2500 eventsApplied=12000"))
    }

    @Test("verify reports a wrong balance, a missing and an extra account, and exits 1")
    func verifyMismatch() async throws {
        let service = try FakeService(generator: Self.history) { account in
            var account = account
            if account.id == "acc-000042" { account.balance += 1 }
            if account.id == "acc-000043" { return nil }
            if account.id == "acc-000044" { account.id = "acc-000044x" }
            return account
        }
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
        ])
        #expect(result.status == 1)
        #expect(result.out.contains("missing=2 unexpected=1 different=1"), "\(result.out)")
        #expect(result.out.contains("acc-000042: balance expected"))
        #expect(result.out.contains("acc-000043: missing"))
        #expect(result.out.contains("acc-000044x: served but not in the history"))
    }

    @Test("verify against other flags finds differences")
    func verifyOtherSeed() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "5", "--timeout", "10",
        ])
        #expect(result.status == 1)
        #expect(result.out.contains("MISMATCH"))
    }

    @Test("verify gives up with 1 when /ready never answers 200 within --timeout")
    func verifyNotReady() async throws {
        let service = try FakeService(generator: Self.history, readyStatus: 503)
        defer { service.stop() }
        let result = try await runAccountctl(["verify", "--url", service.url, "--timeout", "1"], timeout: 20)
        #expect(result.status == 1)
        #expect(result.err.contains("not ready"))
        #expect(result.seconds < 5)
    }

    @Test("verify against a caught-up service that lacks events compares after --settle, not --timeout, and says why")
    func verifyCaughtUpShort() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        // The service holds 12000 events and says it is caught up; the history has 13000.
        let result = try await runAccountctl(
            [
                "verify", "--url", service.url, "--accounts", "2500", "--events", "13000", "--seed", "4", "--timeout",
                "60",
            ], timeout: 90)
        #expect(result.status == 1, "\(result.err)")
        #expect(result.seconds < 30, "compared after \(result.seconds) s, not after --timeout")
        #expect(result.seconds > 1.5, "waited for the counters to stay still")
        #expect(result.err.contains("verify: waiting for the service: 12000 of 13000 events handled"), "\(result.err)")
        #expect(result.err.contains("caught up and has handled 12000 of 13000 events"), "\(result.err)")
        #expect(result.out.contains("MISMATCH"))

        let quiet = try await runAccountctl(
            [
                "verify", "--url", service.url, "--accounts", "2500", "--events", "13000", "--seed", "4", "--quiet",
                "--settle", "0.5",
            ], timeout: 90)
        #expect(quiet.status == 1)
        #expect(quiet.err.isEmpty, "--quiet: \(quiet.err)")
        #expect(quiet.seconds < 30)
    }

    @Test("verify --output json: one object with the figures and the differences")
    func verifyJSON() async throws {
        let service = try FakeService(generator: Self.history) { account in
            account.id == "acc-000043" ? nil : account
        }
        defer { service.stop() }
        let result = try await runAccountctl([
            "verify", "--url", service.url, "--accounts", "2500", "--events", "12000", "--seed", "4", "--timeout", "10",
            "--output", "json",
        ])
        #expect(result.status == 1)
        let value = try JSONValue.parse(Array(result.stdout.dropLast()))
        #expect(result.out.hasSuffix("}\n") && result.out.filter { $0 == "\n" }.count == 1, "one line: \(result.out)")
        #expect(value["ok"]?.boolValue == false)
        #expect(value["expected"]?.int64Value == 2500)
        #expect(value["served"]?.int64Value == 2499)
        #expect(value["missing"]?.int64Value == 1)
        #expect(value["stats"]?["eventsApplied"]?.int64Value == 12000)
        #expect(value["stats"]?["caughtUp"]?.boolValue == true)
        let differences = try #require(value["differences"]?.arrayValue)
        #expect(differences.first?.stringValue?.hasPrefix("acc-000043: missing") == true, "\(differences)")
    }

    @Test("get prints the account, or exits 1 for an unknown one")
    func get() async throws {
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let found = try await runAccountctl(["get", "acc-000007", "--url", service.url])
        #expect(found.status == 0)
        let account = try #require(Account(json: try JSONValue.parse(Array(found.stdout.dropLast()))))
        #expect(account.id == "acc-000007")
        let missing = try await runAccountctl(["get", "acc-999999", "--url", service.url])
        #expect(missing.status == 1)
        #expect(missing.err.contains("no account acc-999999"))
    }

    @Test("health: 0 on /health 200, 1 on /ready 503")
    func health() async throws {
        let service = try FakeService(generator: HistoryGenerator(accounts: 1, events: 1, seed: 1), readyStatus: 503)
        defer { service.stop() }
        let up = try await runAccountctl(["health", "--url", service.url])
        #expect(up.status == 0)
        #expect(up.out == "{\"status\":\"UP\"}\n")
        let notReady = try await runAccountctl(["health", "--ready", "--url", service.url])
        #expect(notReady.status == 1)
        #expect(notReady.err.contains("503"))
    }
}
