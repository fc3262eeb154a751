public import AccountMessaging
import AccountProjection
public import JSON

#if canImport(Glibc)
    public import Glibc
#endif

/// A topology of its own for each test, so tests can run side by side.
public func uniqueTopology(_ name: String) -> Topology {
    let suffix = "\(name)-\(UInt32.random(in: 0...UInt32.max))"
    return Topology(exchange: "t.\(suffix)", stream: "t.\(suffix).events", invalidQueue: "t.\(suffix).invalid")
}

/// A free TCP port on 127.0.0.1 (bound to port 0 and released).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            _ = bind(fd, pointer, length)
            return getsockname(fd, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The real `accountservice` binary, run as a child process against the test broker.
public final class ServiceProcess: @unchecked Sendable {
    public private(set) var pid: pid_t = 0
    public private(set) var port: Int
    public private(set) var logPath: String
    public let replica: String

    /// Starts the service and waits until `/health` answers. With no fixed `port`, a free
    /// one is picked, and picked again if another process took it in the meantime.
    public init(
        topology: Topology, replica: String = "replica-1", port: Int? = nil, extraEnvironment: [String: String] = [:]
    )
        async throws
    {
        self.replica = replica
        self.port = port ?? freePort()
        self.logPath = ""
        for attempt in 1...3 {
            if attempt > 1 { self.port = freePort() }
            try spawn(topology: topology, extraEnvironment: extraEnvironment)
            if await waitForHealth() { return }
            if port != nil || isRunning { break }
        }
        throw ProcessError("accountservice did not answer /health on port \(self.port); log:\n\(log)")
    }

    private func waitForHealth() async -> Bool {
        for _ in 0..<500 {
            if get("/health")?.status == 200 { return true }
            if !isRunning { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    private func spawn(topology: Topology, extraEnvironment: [String: String]) throws {
        exited = false
        logPath = "/tmp/accountservice-test-\(replica)-\(port).log"
        var environment: [String: String] = [
            "AMQP_URL": try extraEnvironment["AMQP_URL"] ?? TestBroker.requireURL(),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "\(port)",
            "REPLICA_NAME": replica,
            "EXCHANGE": topology.exchange,
            "EVENTS_STREAM": topology.stream,
            "INVALID_QUEUE": topology.invalidQueue,
            "LOG_LEVEL": "info",
            "RECONNECT_MAX_DELAY": "1",
            "PATH": TestSupport.environment("PATH") ?? "/usr/bin:/bin",
        ]
        // Under scripts/sanitizers the service is sanitized too: its reports go where the runner's go.
        for name in ["TSAN_OPTIONS", "ASAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_BACKTRACE"] {
            if let value = TestSupport.environment(name) { environment[name] = value }
        }
        for (key, value) in extraEnvironment { environment[key] = value }
        let binary = try builtProduct("accountservice")

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(binary), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, binary, &actions, nil, argv, envp)
        guard rc == 0 else { throw ProcessError("posix_spawn \(binary) failed: \(rc)") }
        self.pid = pid
    }

    deinit {
        // Never kill(0, …): that is the whole process group, the test runner included.
        if pid > 0 && !exited {
            kill(pid, SIGKILL)
            _ = waitForExit()
        }
    }

    private var exited = false
    private var status: Int32 = 0

    /// Sends SIGTERM and returns the exit status (nil if it did not exit normally, or
    /// not within 15 s). Polls, so that it never blocks a thread of the test's pool.
    public func terminate() async -> Int32? {
        guard pid > 0 else { return nil }
        kill(pid, SIGTERM)
        for _ in 0..<750 where isRunning {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return isRunning ? nil : waitForExit()
    }

    public func kill9() async {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    public func waitForExit() -> Int32? {
        if !exited {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            self.status = status
            exited = true
        }
        // WIFEXITED / WEXITSTATUS are macros: decode by hand.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    }

    public var isRunning: Bool {
        guard !exited else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exited = true
            self.status = status
            return false
        }
        return true
    }

    public var log: String { readText(logPath) ?? "" }

    /// One GET (a fresh connection each time); nil while nothing listens.
    public func get(_ path: String) -> RawHTTPConnection.Response? {
        guard let connection = try? RawHTTPConnection(port: port, timeoutSeconds: 5) else { return nil }
        return try? connection.request("GET", path)
    }

    /// Polls until `condition` holds or `timeout` passes; returns whether it held.
    public func wait(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Waits for `/ready` 200 and for `/stats` to account for `events` deliveries.
    public func waitUntilHandled(_ events: Int, timeout: Duration = .seconds(30)) async -> Bool {
        await wait(timeout: timeout) {
            guard let stats = get("/stats"), stats.status == 200, let ready = get("/ready"), ready.status == 200 else {
                return false
            }
            return StatsView(stats.bodyText).handled >= events
        }
    }
}

/// The counters of `/stats`.
public struct StatsView {
    public let json: JSONValue?

    public init(_ text: String) {
        json = try? JSONValue.parse(text)
    }

    public subscript(name: String) -> Int64 { json?[name]?.int64Value ?? -1 }
    public var caughtUp: Bool { json?["caughtUp"]?.boolValue ?? false }
    public var handled: Int { Int(self["eventsApplied"] + self["duplicates"] + self["invalid"] + self["parked"]) }
}

extension ServiceProcess {
    /// Starts the service with a broker URL nothing listens on (it serves /health without one),
    /// sends `requests` requests for `path`, each on a connection of its own, hands its pid to
    /// `inspect` and stops it: for tests that read a running service from `/proc`.
    public static func inspectWithoutBroker<T>(
        _ name: String, environment: [String: String] = [:], requests: Int, path: String,
        _ inspect: (pid_t) throws -> T
    ) async throws -> T {
        let nowhere = "amqp://guest:guest@127.0.0.1:\(freePort())/%2f"
        let service = try await ServiceProcess(
            topology: uniqueTopology(name), extraEnvironment: environment.merging(["AMQP_URL": nowhere]) { $1 })
        let found: T
        do {
            for _ in 0..<requests {
                guard service.get(path)?.status == 200 else {
                    throw ProcessError("GET \(path) did not answer 200; log:\n\(service.log)")
                }
            }
            found = try inspect(service.pid)
        } catch {
            _ = await service.terminate()
            throw error
        }
        _ = await service.terminate()
        return found
    }
}
