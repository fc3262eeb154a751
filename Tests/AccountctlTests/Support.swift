import AMQP
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The broker the process tests use: `AMQP_TEST_URL`. Without it the broker tests are
/// skipped on a laptop, and fail under CI=true (as in AMQPTests).
enum TestBroker {
    static var url: String? { environment("AMQP_TEST_URL") }
    static var isCI: Bool { environment("CI") == "true" }
    static var enabled: Bool { url != nil || isCI }

    static func requireURL() throws -> String {
        try #require(url, "AMQP_TEST_URL is not set (CI=true needs the broker scripts/test starts)")
    }

    static func connect() async throws -> AMQPConnection {
        try await AMQPConnection.connect(
            AMQPConfiguration(url: try AMQPURL(parsing: requireURL()), connectionName: "accountctl-tests"))
    }

    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

struct ProcessResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    var seconds: Double

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// The accountctl binary SwiftPM built next to the test runner.
func accountctlPath() throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    try #require(count > 0, "cannot read /proc/self/exe")
    let runner = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = runner
    while let last = directory.last, last != "/" { directory.removeLast() }
    let path = directory + "accountctl"
    try #require(access(path, X_OK) == 0, "\(path) is not built (swift build --product accountctl)")
    return path
}

/// Runs accountctl with these arguments and standard input; kills it after `timeout` s.
/// The environment is the test's, less the variables accountctl reads, plus `environment`.
func runAccountctl(
    _ arguments: [String], stdin input: [UInt8] = [], environment extra: [String: String] = [:], timeout: Double = 60
) throws -> ProcessResult {
    let path = try accountctlPath()
    var stdinPipe: [Int32] = [0, 0]
    var stdoutPipe: [Int32] = [0, 0]
    var stderrPipe: [Int32] = [0, 0]
    try #require(pipe(&stdinPipe) == 0 && pipe(&stdoutPipe) == 0 && pipe(&stderrPipe) == 0)
    // Close-on-exec: the child gets them only through the dup2 actions below.
    for fd in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

    let dropped: Set<String> = [
        "AMQP_URL", "AMQP_PASSWORD_FILE", "AMQP_TLS_CA_FILE", "AMQP_TLS_CERT_FILE", "AMQP_TLS_KEY_FILE",
        "AMQP_TLS_VERIFY", "EXCHANGE", "EVENTS_STREAM", "INVALID_QUEUE", "SERVICE_URL",
    ]
    var variables: [String] = []
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        let name = String(text.prefix { $0 != "=" })
        if !dropped.contains(name) && extra[name] == nil { variables.append(text) }
        pointer += 1
    }
    for (name, value) in extra { variables.append("\(name)=\(value)") }

    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = variables.map { strdup($0) } + [nil]
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let start = monotonicSeconds()
    let status = posix_spawn(&pid, path, &actions, nil, argv, envp)
    try #require(status == 0, "posix_spawn: \(String(cString: strerror(status)))")
    close(stdinPipe[0])
    close(stdoutPipe[1])
    close(stderrPipe[1])

    // Feed stdin and drain stdout/stderr together, so that no pipe fills up.
    var writeFD: Int32 = stdinPipe[1]
    _ = fcntl(writeFD, F_SETFL, O_NONBLOCK)
    var written = 0
    if input.isEmpty {
        close(writeFD)
        writeFD = -1
    }
    var out: [UInt8] = []
    var err: [UInt8] = []
    var open = [stdoutPipe[0], stderrPipe[0]]
    var chunk = [UInt8](repeating: 0, count: 65_536)
    var killed = false
    while !open.isEmpty || writeFD >= 0 {
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if writeFD >= 0 { fds.append(pollfd(fd: writeFD, events: Int16(POLLOUT), revents: 0)) }
        let remaining = start + timeout - monotonicSeconds()
        if remaining <= 0 && !killed {
            kill(pid, SIGKILL)
            killed = true
        }
        _ = poll(&fds, nfds_t(fds.count), Int32(max(10, min(remaining, 1) * 1000)))
        for entry in fds where entry.revents != 0 {
            if entry.fd == writeFD {
                let count = input.withUnsafeBytes { raw in
                    write(writeFD, raw.baseAddress! + written, raw.count - written)
                }
                if count > 0 { written += count }
                if count < 0 && errno != EAGAIN || written == input.count {
                    close(writeFD)
                    writeFD = -1
                }
                continue
            }
            let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                if entry.fd == stdoutPipe[0] { out += chunk[0..<count] } else { err += chunk[0..<count] }
            } else if count == 0 || errno != EINTR {
                close(entry.fd)
                open.removeAll { $0 == entry.fd }
            }
        }
    }
    var waitStatus: Int32 = 0
    while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
    let seconds = monotonicSeconds() - start
    let exitStatus: Int32 = (waitStatus & 0x7F) == 0 ? (waitStatus >> 8) & 0xFF : 128 + (waitStatus & 0x7F)
    #expect(!killed, "accountctl \(arguments.joined(separator: " ")) ran longer than \(timeout) s and was killed")
    return ProcessResult(status: exitStatus, stdout: out, stderr: err, seconds: seconds)
}
