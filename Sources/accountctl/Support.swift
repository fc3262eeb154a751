import AccountHistory
import AccountMessaging
import ArgumentParser
import PercentEncoding

#if canImport(Glibc)
    import Glibc
#endif

/// The exit statuses of accountctl, the same for every subcommand.
enum Exit {
    /// Everything went as asked.
    static let ok: Int32 = 0
    /// Not everything was confirmed, `verify` found a difference, `get` found no such account.
    static let failed: Int32 = 1
    /// Bad usage or settings.
    static let usage: Int32 = 2
    /// The broker is unreachable, refused the login, or TLS with it failed.
    static let broker: Int32 = 3
    /// The service is unreachable, does not answer in time, or its certificate is refused.
    static let service: Int32 = 4

    static let helpText = """
        Exit status: 0 success; 1 not everything confirmed, a verify mismatch, an unknown \
        account, or an offset not in the invalid queue; 2 bad usage or settings; 3 broker \
        unreachable, login refused or TLS failed; 4 service unreachable or its TLS certificate \
        refused.
        """
}

/// An error for the user: printed on stderr as `accountctl: <message>`, then exit `status`.
struct CLIError: Error, CustomStringConvertible {
    var status: Int32
    var message: String

    init(_ status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }
}

/// Writes to standard error at once (it is unbuffered in C; this keeps it so).
func printError(_ text: String) {
    var line = text
    line.append("\n")
    writeAll(fd: 2, Array(line.utf8))
}

func writeAll(fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// Monotonic seconds since the first call (only differences and deadlines use them).
func now() -> Double {
    let elapsed = (ContinuousClock.now - clockOrigin).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

private let clockOrigin = ContinuousClock.now

/// A buffered writer to a file descriptor (stdout, or a file it opened).
final class OutputFile {
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer: [UInt8] = []
    let name: String

    /// `-` or nil: standard output.
    init(path: String?) throws(CLIError) {
        if let path, path != "-" {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CLIError(Exit.usage, "cannot write '\(path)': \(errnoText())") }
            self.fd = fd
            ownsFD = true
            name = path
        } else {
            fd = 1
            ownsFD = false
            name = "standard output"
        }
        buffer.reserveCapacity(1 << 17)
    }

    func write(_ bytes: [UInt8]) throws(CLIError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { try flush() }
    }

    func write(byte: UInt8) throws(CLIError) {
        buffer.append(byte)
    }

    func flush() throws(CLIError) {
        var offset = 0
        let failure: Int32? = buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        buffer.removeAll(keepingCapacity: true)
        if let failure {
            throw CLIError(Exit.failed, "cannot write to \(name): \(String(cString: strerror(failure)))")
        }
    }

    func close() throws(CLIError) {
        try flush()
        if ownsFD && Glibc.close(fd) != 0 {
            throw CLIError(Exit.failed, "cannot write to \(name): \(errnoText())")
        }
    }
}

/// Reads lines from a file descriptor in large blocks; lines come without their `\n`
/// (and without a `\r` before it).
final class LineReader {
    private let fd: Int32
    private let ownsFD: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// Bytes consumed so far (lines and their terminators).
    private(set) var bytesRead = 0
    /// The size of the input when it is a regular file, for progress; nil for a pipe.
    let totalBytes: Int?

    /// `-`: standard input.
    init(path: String) throws(CLIError) {
        if path == "-" {
            fd = 0
            ownsFD = false
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIError(Exit.usage, "cannot read '\(path)': \(errnoText())") }
            ownsFD = true
        }
        var info = stat()
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            if ownsFD { close(fd) }
            throw CLIError(
                Exit.usage, "cannot read '\(path)': it is a directory; give a JSONL file, or - for standard input")
        }
        if fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG {
            totalBytes = Int(info.st_size)
        } else {
            totalBytes = nil
        }
    }

    deinit {
        if ownsFD { close(fd) }
    }

    func nextLine() throws(CLIError) -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[start..<end])
                bytesRead += newline + 1 - start
                start = newline + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                var end = buffer.count
                if buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = Array(buffer[start..<end])
                bytesRead += buffer.count - start
                start = buffer.count
                return line
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: 1 << 16))
            let count = buffer.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + old, 1 << 16)
            }
            if count < 0 {
                buffer.removeLast(1 << 16)
                if errno == EINTR { continue }
                throw CLIError(Exit.failed, "cannot read the input: \(errnoText())")
            }
            buffer.removeLast((1 << 16) - count)
            if count == 0 { atEnd = true }
        }
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), for a path
/// segment or a query value.
func percentEncoded(_ text: String) -> String { PercentEncoding.encode(text) }

/// The three broker object names, as flags or environment variables (docs/events.md#broker-topology).
struct TopologyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Topic exchange to publish to [env: EXCHANGE] (default: \(Topology.defaultExchange))", valueName: "name"))
    var exchange: String?

    // The service's name for the flag, so that both programs take the same one.
    @Option(
        name: .customLong("events-stream"),
        help: ArgumentHelp(
            "Stream (event log) declared and bound to the exchange with account.# [env: EVENTS_STREAM] (default: \(Topology.defaultStream))",
            valueName: "name"))
    var stream: String?

    /// The old spelling of --events-stream, still accepted.
    @Option(name: .customLong("stream"), help: .hidden)
    var streamAlias: String?

    @Option(
        name: .customLong("invalid-queue"),
        help: ArgumentHelp(
            "Queue for events the service cannot apply, declared with the rest [env: INVALID_QUEUE] (default: \(Topology.defaultInvalidQueue))",
            valueName: "name"))
    var invalidQueue: String?

    @Option(
        name: .customLong("stream-initial-cluster-size"),
        help: ArgumentHelp(
            "Nodes that hold the stream when it is created here (x-initial-cluster-size) [env: STREAM_INITIAL_CLUSTER_SIZE] (default: as RabbitMQ decides)",
            valueName: "count"))
    var initialClusterSize: String?

    @Option(
        name: .customLong("stream-max-segment-size"),
        help: ArgumentHelp(
            "Segment size of the stream when it is created here (x-stream-max-segment-size-bytes) [env: STREAM_MAX_SEGMENT_SIZE] (default: \(Topology.defaultMaxSegmentSizeBytes))",
            valueName: "bytes"))
    var maxSegmentSize: String?

    func validate() throws {
        _ = try clusterSize(environment: .process)
        _ = try segmentSize(environment: .process)
    }

    private func segmentSize(environment: Environment) throws(ValidationError) -> Int {
        guard let text = maxSegmentSize ?? environment["STREAM_MAX_SEGMENT_SIZE"] else {
            return Topology.defaultMaxSegmentSizeBytes
        }
        guard let size = Topology.parseMaxSegmentSize(text) else {
            throw ValidationError(
                "STREAM_MAX_SEGMENT_SIZE / --stream-max-segment-size: '\(text)' is not a whole number of bytes,"
                    + " at least 1048576 (1 MiB)")
        }
        return size
    }

    private func clusterSize(environment: Environment) throws(ValidationError) -> Int? {
        guard let text = initialClusterSize ?? environment["STREAM_INITIAL_CLUSTER_SIZE"] else { return nil }
        guard let size = Topology.parseInitialClusterSize(text) else {
            throw ValidationError(
                "STREAM_INITIAL_CLUSTER_SIZE / --stream-initial-cluster-size: '\(text)' is not a whole number of nodes,"
                    + " at least 1")
        }
        return size
    }

    func topology(environment: Environment = .process) -> Topology {
        Topology(
            exchange: exchange ?? environment["EXCHANGE"] ?? Topology.defaultExchange,
            stream: stream ?? streamAlias ?? environment["EVENTS_STREAM"] ?? Topology.defaultStream,
            invalidQueue: invalidQueue ?? environment["INVALID_QUEUE"] ?? Topology.defaultInvalidQueue,
            // validate() has refused a value that does not parse.
            streamArguments: Topology.streamArguments(
                initialClusterSize: try? clusterSize(environment: environment),
                maxSegmentSizeBytes: (try? segmentSize(environment: environment)) ?? Topology.defaultMaxSegmentSizeBytes
            ))
    }
}

/// The generator's flags, shared by `publish`, `generate` and `verify` so that the same
/// flags mean the same history.
struct GeneratorOptions: ParsableArguments {
    static let defaultAccounts = 1000
    static let defaultEvents = 10_000

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Number of accounts N, at least 1 (default: \(defaultAccounts))", valueName: "N"))
    var accounts: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Number of events M, at least N (default: \(defaultEvents))", valueName: "M"))
    var events: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Seed of the generator: the same flags give the same events (default: 1)", valueName: "S"),
        transform: { text in
            // ArgumentParser puts "The value '-5' is invalid for '--seed <S>': " before this.
            guard let value = UInt64(text) else {
                throw ValidationError(Int64(text) != nil ? "out of range, it must be 0 or more" : "not a whole number")
            }
            return value
        })
    var seed: UInt64?

    @Option(
        name: .customLong("close-rate"), parsing: .unconditional,
        help: ArgumentHelp(
            "Share of the accounts with two or more events that end with AccountClosed, 0...1 (default: 0.05)",
            valueName: "rate"))
    var closeRate: Double?

    var anyGiven: Bool { accounts != nil || events != nil || seed != nil || closeRate != nil }

    var resolved: (accounts: Int, events: Int, seed: UInt64, closeRate: Double) {
        (accounts ?? Self.defaultAccounts, events ?? Self.defaultEvents, seed ?? 1, closeRate ?? 0.05)
    }

    var generator: HistoryGenerator {
        let values = resolved
        return HistoryGenerator(
            accounts: values.accounts, events: values.events, seed: values.seed, closeRate: values.closeRate)
    }

    var summary: String {
        let values = resolved
        return "--accounts \(values.accounts) --events \(values.events) --seed \(values.seed)"
            + (closeRate == nil ? "" : " --close-rate \(values.closeRate)")
    }

    func validate() throws {
        if let accounts, accounts < 1 { throw ValidationError(outOfRange("--accounts", accounts, "at least 1")) }
        if let events, events < 1 { throw ValidationError(outOfRange("--events", events, "at least 1")) }
        let values = resolved
        if let problem = HistoryGenerator.problem(
            accounts: values.accounts, events: values.events, closeRate: values.closeRate)
        {
            throw ValidationError(problem)
        }
    }
}

/// "--events -5 is out of range: it must be at least 1", for a number the flag cannot take.
func outOfRange(_ flag: String, _ value: some CustomStringConvertible, _ range: String) -> String {
    "\(flag) \(value) is out of range: it must be \(range)"
}
