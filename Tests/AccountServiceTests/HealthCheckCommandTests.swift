import TestSupport
import Testing

/// `accountservice healthcheck`: the image's HEALTHCHECK, the service binary asking a running
/// service on the loopback. No broker: /health is 200 without one, /ready 503.
@Suite("accountservice healthcheck")
struct HealthCheckCommandTests {
    private func healthcheck(_ arguments: [String], port: String) async throws -> ProcessResult {
        try await runProcess(
            try builtProduct("accountservice"), ["healthcheck"] + arguments, environment: ["HTTP_PORT": port],
            timeout: 20)
    }

    @Test("exits 0 on /health's 200, 1 on /ready's 503 with no broker, 1 once the service is gone")
    func againstTheService() async throws {
        let nowhere = "amqp://guest:guest@127.0.0.1:\(freePort())/%2f"
        let service = try await ServiceProcess(
            topology: uniqueTopology("healthcheck"), extraEnvironment: ["AMQP_URL": nowhere])
        let port = "\(service.port)"
        let live = try await healthcheck([], port: port)
        #expect(live.status == 0, "stderr: \(live.err)")
        let byFlag = try await healthcheck(["--http-port", port], port: "1")
        #expect(byFlag.status == 0, "stderr: \(byFlag.err)")
        let ready = try await healthcheck(["--ready"], port: port)
        #expect(ready.status == 1)
        #expect(ready.err.contains("/ready answered 503"), "stderr: \(ready.err)")
        _ = await service.terminate()
        let gone = try await healthcheck([], port: port)
        #expect(gone.status == 1)
        #expect(gone.err.contains("no answer from 127.0.0.1:\(port)/health"), "stderr: \(gone.err)")
    }

    @Test(
        "a bad argument or port exits 2 naming it",
        arguments: [
            (["--bogus"], "6767", "unexpected argument '--bogus'"),
            ([], "eighty", "HTTP_PORT 'eighty' is not a port number"),
            (["--http-port", "0"], "6767", "HTTP_PORT '0' is not a port number"),
        ])
    func badArguments(arguments: [String], port: String, message: String) async throws {
        let result = try await healthcheck(arguments, port: port)
        #expect(result.status == 2)
        #expect(result.err.contains(message), "stderr: \(result.err)")
    }
}
