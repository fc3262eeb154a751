import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var seconds: Double
    /// True when it ran past its timeout and was killed.
    public var killed: Bool

    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// A product SwiftPM built next to the test runner (`swift build --build-tests` builds them all).
public func builtProduct(_ name: String) throws -> String {
    // TEST_PRODUCTS_DIR runs the programs from elsewhere, say the shipped release build.
    if let directory = getenv("TEST_PRODUCTS_DIR").map({ String(cString: $0) }), !directory.isEmpty {
        let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
        guard access(path, X_OK) == 0 else { throw ProcessError("TEST_PRODUCTS_DIR: \(path) is not an executable") }
        return path
    }
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { throw ProcessError("cannot read /proc/self/exe") }
    var directory = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while let last = directory.last, last != "/" { directory.removeLast() }
    let path = directory + name
    guard access(path, X_OK) == 0 else { throw ProcessError("\(path) is not built: run swift build --build-tests") }
    return path
}

/// What a running program has written to standard error so far, for a test that must act once
/// it has said something (connected, say) rather than after a guessed delay.
public final class OutputWatch: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    public init() {}

    public var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    func append(_ chunk: ArraySlice<UInt8>) { bytes.withLock { $0 += chunk } }

    /// True once `needle` has appeared, false after `timeout`.
    public func wait(for needle: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if text.contains(needle) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return text.contains(needle)
    }
}

public struct ProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a program to its end on a thread of its own (never blocking the test's cooperative
/// pool), feeding `input` and collecting its output; kills it after `timeout` seconds. The
/// environment is the test's, less the variables the programs read, plus `environment`.
public func runProcess(
    _ path: String, _ arguments: [String], stdin input: [UInt8] = [], environment extra: [String: String] = [:],
    timeout: Double = 60, stderrWatch: OutputWatch? = nil
) async throws -> ProcessResult {
    try await offPool {
        try runProcessBlocking(
            path, arguments, stdin: input, environment: extra, timeout: timeout, stderrWatch: stderrWatch)
    }
}

private func runProcessBlocking(
    _ path: String, _ arguments: [String], stdin input: [UInt8], environment extra: [String: String], timeout: Double,
    stderrWatch: OutputWatch?
) throws -> ProcessResult {
    var stdinPipe: [Int32] = [0, 0]
    var stdoutPipe: [Int32] = [0, 0]
    var stderrPipe: [Int32] = [0, 0]
    guard pipe(&stdinPipe) == 0 && pipe(&stdoutPipe) == 0 && pipe(&stderrPipe) == 0 else {
        throw ProcessError("pipe: \(String(cString: strerror(errno)))")
    }
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
        "AMQP_TLS_VERIFY", "EXCHANGE", "EVENTS_STREAM", "INVALID_QUEUE", "SERVICE_URL", "HTTP_PORT", "HTTP_HOST",
        "REPLICA_NAME", "PREFETCH", "PARKED_LIMIT", "LOG_LEVEL",
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
    guard status == 0 else { throw ProcessError("posix_spawn \(path): \(String(cString: strerror(status)))") }
    close(stdinPipe[0])
    close(stdoutPipe[1])
    close(stderrPipe[1])

    // A child that exits with stdin unread must give EPIPE below, not a SIGPIPE that kills the test process.
    signal(SIGPIPE, SIG_IGN)
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
                if entry.fd == stdoutPipe[0] {
                    out += chunk[0..<count]
                } else {
                    err += chunk[0..<count]
                    stderrWatch?.append(chunk[0..<count])
                }
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
    return ProcessResult(status: exitStatus, stdout: out, stderr: err, seconds: seconds, killed: killed)
}

/// A TCP socket listening on 127.0.0.1:`port` until `stop()`: a port someone else has taken.
public final class ListeningSocket: @unchecked Sendable {
    private let fd: Int32

    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            close(fd)
            throw ProcessError("cannot listen on 127.0.0.1:\(port)")
        }
    }

    public func stop() {
        close(fd)
    }
}

/// The package's root directory (where Package.swift is), from this source file's path.
public func packageRoot() -> String {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    // …/Tests/TestSupport/ChildProcess.swift
    parts.removeLast(3)
    return parts.joined(separator: "/")
}
