#if canImport(Glibc)
    import Glibc
#endif

/// The process's own figures under the names Prometheus clients use for them
/// (`process_*`), read from `/proc/self` at each scrape.
struct ProcessMetrics: Sendable {
    /// Seconds since the epoch when this process started (close enough: when the metrics were made).
    let startTime: Double
    let ticksPerSecond: Double
    let pageSize: Int

    init() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.startTime = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        self.ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        self.pageSize = max(1, sysconf(Int32(_SC_PAGESIZE)))
    }

    struct Reading {
        var cpuSeconds: Double
        var residentBytes: Int
        var virtualBytes: Int
        var openFDs: Int
        var maxFDs: Int
    }

    func reading() -> Reading {
        var reading = Reading(cpuSeconds: 0, residentBytes: 0, virtualBytes: 0, openFDs: 0, maxFDs: 0)
        if let stat = Self.readFile("/proc/self/stat"), let times = Self.cpuTicks(stat: stat) {
            reading.cpuSeconds = Double(times) / ticksPerSecond
        }
        if let statm = Self.readFile("/proc/self/statm") {
            let fields = statm.split(separator: UInt8(ascii: " "))
            if fields.count >= 2, let size = Int(ascii: fields[0]), let resident = Int(ascii: fields[1]) {
                reading.virtualBytes = size * pageSize
                reading.residentBytes = resident * pageSize
            }
        }
        reading.openFDs = Self.countOpenFDs()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            reading.maxFDs = limit.rlim_cur == rlim_t.max ? -1 : Int(clamping: limit.rlim_cur)
        }
        return reading
    }

    /// utime + stime (fields 14 and 15), counted after the `)` that closes the command name.
    static func cpuTicks(stat: [UInt8]) -> Int? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = Int(ascii: fields[11]), let system = Int(ascii: fields[12]) else {
            return nil
        }
        return user + system
    }

    func append(to body: inout [UInt8]) {
        let reading = reading()
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            body.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
        }
        metric(
            "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
            "\(reading.cpuSeconds)")
        metric("process_resident_memory_bytes", "gauge", "Resident memory size, in bytes.", "\(reading.residentBytes)")
        metric("process_virtual_memory_bytes", "gauge", "Virtual memory size, in bytes.", "\(reading.virtualBytes)")
        metric("process_open_fds", "gauge", "Open file descriptors.", "\(reading.openFDs)")
        metric("process_max_fds", "gauge", "The limit of open file descriptors (-1: none).", "\(reading.maxFDs)")
        metric(
            "process_start_time_seconds", "gauge", "Start time of the process since the epoch, in seconds.",
            "\(startTime)")
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    static func countOpenFDs() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)  // the directory stream's own descriptor
    }
}

extension Int {
    init?(ascii: some Collection<UInt8>) {
        guard !ascii.isEmpty else { return nil }
        var value = 0
        for byte in ascii {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                if byte == UInt8(ascii: "\n") { break }
                return nil
            }
            value = value &* 10 &+ Int(byte - UInt8(ascii: "0"))
        }
        self = value
    }
}
