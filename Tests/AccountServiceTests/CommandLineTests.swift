import TestSupport
import Testing

/// The accountservice binary's flags and settings errors, without a broker.
@Suite("accountservice command line")
struct CommandLineTests {
    private func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
        try await runProcess(try builtProduct("accountservice"), arguments, environment: environment, timeout: 20)
    }

    @Test("--help lists every setting with its variable and default, and exits 0")
    func help() async throws {
        let result = try await run(["--help"])
        #expect(result.status == 0)
        for line in [
            "--http-port <port>", "[env: HTTP_PORT] (default: 6767)", "--amqp-url <url>",
            "[env: AMQP_PASSWORD_FILE]", "--parked-limit", "Exit status:",
            "--snapshot-dir <dir>", "[env: SNAPSHOT_DIR] (default: off)", "[env: SNAPSHOT_INTERVAL] (default: 30)",
            "--http-max-connections <count>", "[env: HTTP_MAX_CONNECTIONS] (default: 1024)",
            "--http-header-timeout <seconds>", "[env: HTTP_HEADER_TIMEOUT] (default: 10)",
            "[env: HTTP_REQUEST_TIMEOUT] (default: 30)", "[env: HTTP_IDLE_TIMEOUT] (default: 60)",
            "--http-output-buffer <bytes>", "[env: HTTP_OUTPUT_BUFFER] (default: 65536)",
            "--parked-max-bytes <bytes>", "--inflight-max-bytes <bytes>",
            "--http-threads <count>", "[env: HTTP_THREADS]", "(default: cores - 1, at least 1)",
        ] {
            #expect(result.out.contains(line), "missing \(line) in:\n\(result.out)")
        }
    }

    @Test(
        "a bad flag or setting exits 2 with a line naming it",
        arguments: [
            (["--bogus"], [String: String](), "unknown option '--bogus'"),
            (["--http-port"], [:], "option '--http-port' needs a value"),
            (["--prefetch=0"], [:], "PREFETCH / --prefetch: 0 is not in 1..65535"),
            ([], ["INGEST_NICE": "20"], "INGEST_NICE / --ingest-nice: 20 is not in 0..19"),
            (
                ["--ingest-heavy-rate=1"], [:],
                "INGEST_HEAVY_RATE / --ingest-heavy-rate: 1 is not in 2..10000000"
            ),
            (
                [], ["STREAM_INITIAL_CLUSTER_SIZE": "0"],
                "STREAM_INITIAL_CLUSTER_SIZE / --stream-initial-cluster-size: '0' is not a whole number of nodes"
            ),
            (
                ["--stream-max-segment-size=8MB"], [:],
                "STREAM_MAX_SEGMENT_SIZE / --stream-max-segment-size: '8MB' is not a whole number of bytes"
            ),
            ([], ["HTTP_PORT": "eighty"], "HTTP_PORT / --http-port: 'eighty' is not a number"),
            ([], ["LOG_LEVEL": "loud"], "LOG_LEVEL / --log-level: 'loud' is not a log level"),
            ([], ["AMQP_URL": "http://x"], "AMQP_URL / --amqp-url: invalid AMQP URL: scheme 'http'"),
            ([], ["AMQP_PASSWORD_FILE": "/nonexistent/pw"], "cannot read '/nonexistent/pw'"),
            ([], ["SNAPSHOT_INTERVAL": "0"], "SNAPSHOT_INTERVAL / --snapshot-interval: must be above 0"),
            (
                ["--http-max-connections=0"], [:],
                "HTTP_MAX_CONNECTIONS / --http-max-connections: 0 is not a whole number in 1...1000000000"
            ),
            (
                ["--http-threads=0"], [:],
                "HTTP_THREADS / --http-threads: '0' is not a whole number in 1...256"
            ),
            ([], ["HTTP_THREADS": "all"], "HTTP_THREADS / --http-threads: 'all' is not a whole number in 1...256"),
            (
                [], ["HTTP_HEADER_TIMEOUT": "0"],
                "HTTP_HEADER_TIMEOUT / --http-header-timeout: 0 is not above 0 and at most 86400 (seconds)"
            ),
            ([], ["HTTP_OUTPUT_BUFFER": "big"], "HTTP_OUTPUT_BUFFER / --http-output-buffer: 'big' is not a number"),
            ([], ["SNAPSHOT_INTERVAL": "soon"], "SNAPSHOT_INTERVAL / --snapshot-interval: 'soon' is not a number"),
            (
                ["--cors-allow-origin=dash.example.org"], [:],
                "CORS_ALLOW_ORIGIN / --cors-allow-origin: 'dash.example.org' is neither * nor an origin"
            ),
        ])
    func badSettings(arguments: [String], environment: [String: String], message: String) async throws {
        let result = try await run(arguments, environment: environment)
        #expect(result.status == 2)
        #expect(result.err.contains(message), "stderr: \(result.err)")
    }

    @Test("a taken port exits 2 naming the setting and the value")
    func portTaken() async throws {
        let port = freePort()
        let holder = try ListeningSocket(port: port)
        defer { holder.stop() }
        let result = try await run([], environment: ["HTTP_HOST": "127.0.0.1", "HTTP_PORT": "\(port)"])
        #expect(result.status == 2)
        #expect(
            result.err.contains("HTTP_PORT / --http-port: \(port) on 127.0.0.1 is already in use"),
            "stderr: \(result.err)")
        #expect(!result.err.contains("errno"), "stderr: \(result.err)")
    }
}
