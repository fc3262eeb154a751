#if canImport(Glibc)
    import Glibc
#endif

/// A broker's VM stopped with SIGSTOP (a node that takes bytes into its socket and answers
/// nothing), and stopped again at once if anything continues it: CI once saw a publish
/// confirmed, the broker continued from outside the test (probably the kernel, which continues
/// a stopped process whose process group becomes orphaned).
public final class StoppedBroker: Sendable {
    public let pid: Int32
    private let stopper: Task<Int, Never>

    /// Stops the scripts/broker node on `port`; nil when there is none.
    public init?(port: String?) {
        guard let port, let broker = brokerProcess(port: port) else { return nil }
        pid = broker
        kill(broker, SIGSTOP)
        stopper = Task.detached {
            var continued = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(10))
                let state = processState(broker)
                if state == "R" || state == "S" { continued += 1 }
                kill(broker, SIGSTOP)
                // Cancelled meanwhile: the SIGCONT may have gone out before this SIGSTOP.
                if Task.isCancelled { kill(broker, SIGCONT) }
            }
            return continued
        }
    }

    /// Lets the broker run again; returns (and says) how often something continued it meanwhile.
    @discardableResult
    public func resume() async -> Int {
        stopper.cancel()
        let continued = await stopper.value
        kill(pid, SIGCONT)
        if continued > 0 { print("StoppedBroker: the broker was continued from outside \(continued) time(s)") }
        return continued
    }

    /// For a `defer`: however the test ends (its time limit too), the broker runs again.
    public func continueAtOnce() {
        stopper.cancel()
        kill(pid, SIGCONT)
    }
}

/// A process's state letter from /proc/PID/stat ("T" when stopped), nil if it is gone.
private func processState(_ pid: pid_t) -> Character? {
    guard let file = fopen("/proc/\(pid)/stat", "r") else { return nil }
    defer { fclose(file) }
    var bytes = [UInt8](repeating: 0, count: 512)
    let count = fread(&bytes, 1, bytes.count, file)
    // "pid (comm) S ...": the state follows the last ')'.
    guard let close = bytes[..<count].lastIndex(of: UInt8(ascii: ")")), close + 2 < count else { return nil }
    return Character(UnicodeScalar(bytes[close + 2]))
}

/// A scripts/broker node's Erlang VM: the beam process whose environment has RABBITMQ_NODE_PORT=`port`.
private func brokerProcess(port: String) -> pid_t? {
    guard let directory = opendir("/proc") else { return nil }
    defer { closedir(directory) }
    func contents(_ path: String) -> [String] {
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 1 << 17)
        let count = fread(&bytes, 1, bytes.count, file)
        return bytes[..<count].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = pid_t(name) else { continue }
        let arguments = contents("/proc/\(pid)/cmdline")
        // The server (`-s rabbit boot`), not a rabbitmqctl that another suite runs meanwhile: its
        // beam.smp has the same RABBITMQ_NODE_PORT, and stopping it instead left the broker running.
        guard arguments.first?.hasSuffix("beam.smp") == true, arguments.contains("rabbit"), arguments.contains("boot")
        else { continue }
        if contents("/proc/\(pid)/environ").contains("RABBITMQ_NODE_PORT=\(port)") { return pid }
    }
    return nil
}
