// accountservice-benchmarks: the hot paths of the service, timed in one process.
//
//   decode          EventDecoder.decode of one event body
//   apply           Projection.apply of one already-decoded event
//   decode + apply  both, as the consumer does per delivery (the projection starts empty)
//   GET ...         ReadAPI.respond over an AccountStore holding the accounts
//   memory          the projection's heap per account after a replay of N accounts
//
// Each case runs several repetitions; the table shows the median, the fastest and the slowest
// repetition, and the allocations per operation (counted by MallocCounter). Run it in release
// mode: scripts/bench [options] (see --help).

import AMQP
import AccountHistory
import AccountConsumer
import AccountProjection
import AccountReadAPI
import Logging
import MallocCounter

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: Options

struct Options {
    var events = 200_000
    var accounts = 20_000
    var repetitions = 7
    /// Seconds one repetition of an HTTP case should take (how many requests it makes).
    var requestSeconds = 0.25
    var memoryAccounts = 0
    var memoryEvents = 0
    var snapshotAccounts = 0
    var snapshotWhole = false
    var skipHTTP = false

    static let usage = """
        usage: accountservice-benchmarks [--events M] [--accounts N] [--repetitions R]
                                         [--request-seconds S] [--skip-http]
                                         [--memory-accounts N [--memory-events M]]
                                         [--snapshot-accounts N [--snapshot-whole]]

          --events, --accounts   the history decoded and applied (default 200000 over 20000),
                                 from AccountHistory's generator, seed 1; the HTTP cases read
                                 the accounts it makes
          --repetitions          repetitions of every case (default 7)
          --request-seconds      about how long one repetition of an HTTP case lasts (default 0.25)
          --skip-http            only the decode and apply cases
          --memory-accounts      also replay a history of N accounts (default events: 2 per account)
                                 and report the projection's heap bytes per account
          --snapshot-accounts    also fill a store with N accounts (2 events each) and report the
                                 peak memory (VmHWM, reset through /proc/self/clear_refs) while
                                 Snapshotter.writeNow streams it to a file in /tmp
          --snapshot-whole       encode that snapshot whole in memory first, then write it
                                 (the way snapshots were written before they were streamed)
        """

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var index = 0
        func value(_ name: String) -> Int {
            index += 1
            guard index < arguments.count, let number = Int(arguments[index].filter { $0 != "_" }), number >= 0 else {
                fail("\(name) needs a whole number (got \(index < arguments.count ? arguments[index] : "nothing"))")
            }
            return number
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--events": options.events = value("--events")
            case "--accounts": options.accounts = value("--accounts")
            case "--repetitions": options.repetitions = max(1, value("--repetitions"))
            case "--request-seconds":
                index += 1
                guard index < arguments.count, let seconds = Double(arguments[index]), seconds > 0 else {
                    fail("--request-seconds needs a positive number of seconds")
                }
                options.requestSeconds = seconds
            case "--skip-http": options.skipHTTP = true
            case "--memory-accounts": options.memoryAccounts = value("--memory-accounts")
            case "--memory-events": options.memoryEvents = value("--memory-events")
            case "--snapshot-accounts": options.snapshotAccounts = value("--snapshot-accounts")
            case "--snapshot-whole": options.snapshotWhole = true
            case "--help", "-h":
                print(usage)
                exit(0)
            default:
                fail("unknown argument '\(arguments[index])'\n\(usage)")
            }
            index += 1
        }
        if let problem = HistoryGenerator.problem(accounts: options.accounts, events: options.events) {
            fail("--events/--accounts: \(problem)")
        }
        if options.memoryAccounts > 0 {
            if options.memoryEvents == 0 { options.memoryEvents = 2 * options.memoryAccounts }
            if let problem = HistoryGenerator.problem(accounts: options.memoryAccounts, events: options.memoryEvents) {
                fail("--memory-events/--memory-accounts: \(problem)")
            }
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    var text = "accountservice-benchmarks: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

// MARK: Measuring

/// One repetition: how long it took and how many allocations it made.
struct Sample {
    var nanoseconds: Double
    var allocations: UInt64
}

/// What the table shows of one case.
struct Row {
    var name: String
    var operations: Int
    var samples: [Sample]

    var perOperation: [Double] { samples.map { $0.nanoseconds / Double(operations) }.sorted() }
    var median: Double { Self.median(perOperation) }
    var allocationsPerOperation: Double {
        Self.median(samples.map { Double($0.allocations) / Double(operations) }.sorted())
    }

    static func median(_ sorted: [Double]) -> Double {
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

func nanoseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
}

/// Runs `body` once to warm up, then `repetitions` times, timing each run; `prepare` runs before
/// each (untimed). `body` returns a checksum, to keep the optimizer from discarding work.
func measure(
    _ name: String, operations: Int, repetitions: Int, prepare: () -> Void = {}, _ body: () -> Int
) -> Row {
    let clock = ContinuousClock()
    var checksum = 0
    prepare()
    checksum &+= body()
    var samples: [Sample] = []
    for _ in 0..<repetitions {
        prepare()
        let allocationsBefore = malloc_counter_allocations()
        let start = clock.now
        checksum &+= body()
        let elapsed = clock.now - start
        samples.append(
            Sample(nanoseconds: nanoseconds(elapsed), allocations: malloc_counter_allocations() - allocationsBefore))
    }
    if checksum == 42 { print("", terminator: "") }  // uses the checksum
    let row = Row(name: name, operations: operations, samples: samples)
    print("  \(name): \(format(row.median, 1)) ns/op (\(operations) ops x \(repetitions))")
    return row
}

/// How many operations make one repetition of about `seconds`, from a short trial.
func calibrate(seconds: Double, _ operation: (Int) -> Void) -> Int {
    let clock = ContinuousClock()
    var trial = 100
    while true {
        let start = clock.now
        for i in 0..<trial { operation(i) }
        let elapsed = nanoseconds(clock.now - start)
        if elapsed > 20e6 || trial >= 10_000_000 {
            return max(100, Int(seconds * 1e9 / (elapsed / Double(trial))))
        }
        trial *= 4
    }
}

// MARK: Formatting (no Foundation)

func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((abs(value) * scale).rounded())
    let whole = grouped(scaled / Int(scale))
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else { return sign + whole }
    let fraction = String(scaled % Int(scale))
    return sign + whole + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return out
}

func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

func printTable(_ rows: [Row]) {
    let header = ["case", "ops/rep", "median ns/op", "min–max ns/op", "spread", "ops/s (median)", "allocs/op"]
    var lines: [[String]] = []
    for row in rows {
        let sorted = row.perOperation
        let spread = (sorted.last! - sorted.first!) / row.median * 100
        lines.append([
            row.name, grouped(row.operations), format(row.median, 1),
            "\(format(sorted.first!, 1))–\(format(sorted.last!, 1))", "\(format(spread, 1)) %",
            grouped(Int((1e9 / row.median).rounded())),
            malloc_counter_enabled() != 0 ? format(row.allocationsPerOperation, 2) : "-",
        ])
    }
    print("| " + header.joined(separator: " | ") + " |")
    print("|" + header.enumerated().map { $0.offset == 0 ? "---|" : "---:|" }.joined())
    for line in lines { print("| " + line.joined(separator: " | ") + " |") }
}

// MARK: The cases

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
#if DEBUG
    print("warning: a debug build; the figures mean nothing (use scripts/bench, or swift run -c release)")
#endif
let load = readFile("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
print(
    "machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs, load average \(load); "
        + "\(options.repetitions) repetitions per case")

print("generating \(grouped(options.events)) events over \(grouped(options.accounts)) accounts (seed 1)")
let bodies = HistoryGenerator(accounts: options.accounts, events: options.events, seed: 1).map(\.body)
let bodyBytes = bodies.reduce(0) { $0 + $1.count }
print("  \(grouped(bodyBytes)) bytes, \(bodyBytes / bodies.count) bytes per body on average")
var rows: [Row] = []

rows.append(
    measure("decode", operations: bodies.count, repetitions: options.repetitions) {
        var checksum = 0
        for body in bodies {
            switch EventDecoder.decode(body) {
            case .success(let event): checksum &+= Int(event.sequence) &+ event.accountId.utf8.count
            case .failure: fail("the generated history does not decode")
            }
        }
        return checksum
    })

let decoded = bodies.map { EventDecoder.decode($0) }
var projection = Projection<Int64>()
var rejected: [RejectedEvent<Int64>] = []

func checkReplay(_ projection: Projection<Int64>) -> Int {
    let statistics = projection.statistics
    guard statistics.eventsApplied == bodies.count, statistics.invalid == 0, statistics.parked == 0 else {
        fail("the replay did not apply every event: \(statistics)")
    }
    return statistics.accounts
}

rows.append(
    measure(
        "apply (decoded before)", operations: bodies.count, repetitions: options.repetitions,
        prepare: { projection = Projection() }
    ) {
        for (offset, event) in decoded.enumerated() {
            _ = projection.apply(event, origin: Int64(offset), rejected: &rejected)
        }
        return checkReplay(projection)
    })

rows.append(
    measure(
        "decode + apply", operations: bodies.count, repetitions: options.repetitions,
        prepare: { projection = Projection() }
    ) {
        for (offset, body) in bodies.enumerated() {
            _ = projection.apply(EventDecoder.decode(body), origin: Int64(offset), rejected: &rejected)
        }
        return checkReplay(projection)
    })
projection = Projection()

if !options.skipHTTP {
    // The store as the service holds it after a replay: built through a snapshot, the one public
    // way to fill an AccountStore without a broker.
    var full = Projection<EventOrigin>()
    var fullRejected: [RejectedEvent<EventOrigin>] = []
    let origin = EventOrigin(body: [], properties: AMQPProperties(), routingKey: "", offset: nil)
    for event in decoded { _ = full.apply(event, origin: origin, rejected: &fullRejected) }
    let store = AccountStore(parkingLimit: 10_000)
    do {
        let snapshot = full.snapshot(
            identity: "bench", offset: Int64(bodies.count - 1), encodeOrigin: EventOrigin.encode)
        try store.restore(from: snapshot, identity: "bench")
    } catch {
        fail("could not fill the store: \(error)")
    }
    full = Projection()
    let api = ReadAPI(model: store, replicaName: "bench", metrics: store.metrics)

    // The ids in a scrambled order (a multiplicative step coprime with the count), so that
    // successive requests touch different parts of the table, as wrk's random ids do.
    func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
    let ids = (0..<options.accounts).map { HistoryGenerator.accountID(index: $0, accounts: options.accounts) }
    var step = 7919
    while gcd(step, ids.count) != 1 { step += 2 }
    let accountURIs = (0..<ids.count).map { "/accounts/" + ids[($0 * step) % ids.count] }
    let pageURIs = (0..<ids.count).map { "/accounts?limit=100&after=" + ids[($0 * step) % ids.count] }

    func request(_ name: String, _ uris: [String], status: Int = 200) -> Row {
        func one(_ index: Int) -> Int {
            let answer = api.respond(method: "GET", uri: uris[index % uris.count])
            guard answer.status == status else {
                fail("GET \(uris[index % uris.count]) answered \(answer.status), expected \(status)")
            }
            return answer.body.count
        }
        let count = calibrate(seconds: options.requestSeconds) { _ = one($0) }
        return measure(name, operations: count, repetitions: options.repetitions) {
            var bytes = 0
            for index in 0..<count { bytes &+= one(index) }
            return bytes
        }
    }

    rows.append(request("GET /accounts/{id}", accountURIs))
    rows.append(request("GET /accounts/{unknown id} (404)", accountURIs.map { $0 + "x" }, status: 404))
    rows.append(request("GET /accounts?limit=100&after={id}", pageURIs))
    rows.append(request("GET /stats", ["/stats"]))
    rows.append(request("GET /metrics", ["/metrics"]))

    // The same answers through the service's NIO pipeline (HTTPServer, NIOHTTP1) on a loopback
    // TCP connection, requests pipelined in batches: parsing, the handler, encoding, syscalls.
    let server = HTTPServer(host: "127.0.0.1", port: 0, api: api)
    guard let port = try? await server.start().port else { fail("could not start the HTTP server on 127.0.0.1") }
    let client = LoopbackClient(port: port)
    func overTCP(_ name: String, _ uris: [String], depth: Int = 32) -> Row {
        let batches = (0..<uris.count).map { batch in
            Array(
                (0..<depth).map { "GET \(uris[(batch * depth + $0) % uris.count]) HTTP/1.1\r\nHost: bench\r\n\r\n" }
                    .joined().utf8)
        }
        let count = max(
            1,
            calibrate(seconds: options.requestSeconds) {
                _ = client.exchange(batches[$0 % batches.count], count: depth, status: 200)
            })
        return measure(name, operations: count * depth, repetitions: options.repetitions) {
            var bytes = 0
            for batch in 0..<count {
                bytes &+= client.exchange(batches[batch % batches.count], count: depth, status: 200)
            }
            return bytes
        }
    }
    rows.append(overTCP("GET /accounts/{id} via NIO, loopback, 32 pipelined", accountURIs))
    rows.append(overTCP("GET /stats via NIO, loopback, 32 pipelined", ["/stats"]))
    await server.shutdown()
}

print()
print(
    "\(grouped(options.events)) events over \(grouped(options.accounts)) accounts; HTTP cases: "
        + "ReadAPI.respond, one thread, no sockets")
printTable(rows)

// MARK: Memory per account

if options.memoryAccounts > 0 {
    let accounts = options.memoryAccounts
    let events = options.memoryEvents
    print()
    print("memory: replaying \(grouped(events)) events over \(grouped(accounts)) accounts into an empty projection")
    guard malloc_counter_enabled() != 0 else { fail("--memory-accounts needs glibc's mallinfo2 (Linux)") }
    /// The heap in use and the live allocations (made and not freed) now.
    func heapState() -> (bytes: Double, live: Double) {
        malloc_counter_trim()
        return (Double(malloc_counter_heap_in_use()), Double(malloc_counter_allocations() &- malloc_counter_frees()))
    }
    func report(_ label: String, _ from: (bytes: Double, live: Double), _ to: (bytes: Double, live: Double)) {
        let bytes = to.bytes - from.bytes
        let live = to.live - from.live
        print(
            "  \(label): \(format(bytes / 1_048_576, 1)) MiB of heap, \(format(bytes / Double(accounts), 1)) bytes "
                + "and \(format(live / Double(accounts), 2)) live allocations per account")
    }
    /// In a function of its own, so that the generator's state (about 25 bytes per account)
    /// is gone when it returns.
    func replay() -> Projection<Int64> {
        var projection = Projection<Int64>()
        var rejected: [RejectedEvent<Int64>] = []
        var offset: Int64 = 0
        for event in HistoryGenerator(accounts: accounts, events: events, seed: 1) {
            _ = projection.apply(event.body, origin: offset, rejected: &rejected)
            offset += 1
        }
        return projection
    }
    let before = heapState()
    var big = replay()
    guard big.statistics.eventsApplied == events, big.statistics.accounts == accounts else {
        fail("the replay did not apply every event: \(big.statistics)")
    }
    let replayed = heapState()
    report("heap growth over the replay", before, replayed)
    _ = big.accounts(after: nil, limit: 1)
    let listed = heapState()
    report("after the first listing (ids sorted)", before, listed)
    big = Projection()
    let dropped = heapState()
    // What dropping the projection gives back is the projection itself, whatever else the
    // replay may have left on the heap (printed last: it should be near zero).
    report("the projection itself (freed when dropped)", dropped, listed)
    report("left on the heap by the rest", before, dropped)
    print(
        "  (Account is \(MemoryLayout<Account>.size) bytes as the API returns it; "
            + "String \(MemoryLayout<String>.size) bytes inline, up to 15 UTF-8 bytes without a heap object)")
}

// MARK: Peak memory of a snapshot write

if options.snapshotAccounts > 0 {
    let accounts = options.snapshotAccounts
    let method = options.snapshotWhole ? "encoded whole, then written" : "streamed (Snapshotter.writeNow)"
    print()
    print("snapshot: \(grouped(accounts)) accounts, \(method)")
    guard malloc_counter_enabled() != 0 else { fail("--snapshot-accounts needs glibc's mallinfo2 (Linux)") }
    /// A /proc/self/status figure, in bytes.
    func status(_ key: String) -> Double {
        guard let file = fopen("/proc/self/status", "r") else { fail("cannot read /proc/self/status") }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(key + ":") {
                return Double(text.dropFirst(key.count + 1).filter(\.isNumber)).map { $0 * 1024 } ?? 0
            }
        }
        fail("no \(key) in /proc/self/status")
    }
    func mib(_ bytes: Double) -> String { format(bytes / 1_048_576, 1) + " MiB" }
    malloc_counter_trim()
    let heapBefore = Double(malloc_counter_heap_in_use())
    let store = AccountStore(parkingLimit: 10_000)
    /// In a function of its own, so that the replayed projection and its snapshot are gone
    /// when it returns: what stays is the store's projection, restored from them.
    func fill() {
        var projection = Projection<EventOrigin>()
        var rejected: [RejectedEvent<EventOrigin>] = []
        let origin = EventOrigin(body: [], properties: AMQPProperties(), routingKey: "", offset: nil)
        for event in HistoryGenerator(accounts: accounts, events: 2 * accounts, seed: 1) {
            _ = projection.apply(event.body, origin: origin, rejected: &rejected)
        }
        do {
            try store.restore(
                from: projection.snapshot(
                    identity: "bench", offset: Int64(2 * accounts - 1), encodeOrigin: EventOrigin.encode),
                identity: "bench")
        } catch {
            fail("could not fill the store: \(error)")
        }
    }
    fill()
    malloc_counter_trim()
    let projectionBytes = Double(malloc_counter_heap_in_use()) - heapBefore
    let directory = "/tmp/accountservice-bench-snapshot-\(getpid())"
    let snapshotter = Snapshotter(
        directory: directory, interval: .seconds(3600), identity: "bench", store: store,
        logger: Logger(label: "bench"))
    let rssBefore = status("VmRSS")
    guard let clearRefs = fopen("/proc/self/clear_refs", "w"), fputs("5", clearRefs) >= 0, fclose(clearRefs) == 0
    else { fail("cannot reset the peak through /proc/self/clear_refs") }
    let clock = ContinuousClock()
    let started = clock.now
    if options.snapshotWhole {
        guard let (bytes, _) = store.snapshotBytes(identity: "bench") else { fail("no snapshot to take") }
        do { try snapshotter.file.write(bytes) } catch { fail("\(error)") }
    } else {
        snapshotter.writeNow(reason: "in the benchmark")
    }
    let took = clock.now - started
    let peak = status("VmHWM")
    var info = stat()
    guard stat(snapshotter.file.path, &info) == 0 else { fail("no snapshot written at \(snapshotter.file.path)") }
    // And back: the peak while a second store loads the file (the first still holds its projection).
    let loadRSSBefore = status("VmRSS")
    guard let clearAgain = fopen("/proc/self/clear_refs", "w"), fputs("5", clearAgain) >= 0, fclose(clearAgain) == 0
    else { fail("cannot reset the peak through /proc/self/clear_refs") }
    let loaded = AccountStore(parkingLimit: 10_000)
    let loadStarted = clock.now
    guard
        Snapshotter(
            directory: directory, interval: .seconds(3600), identity: "bench", store: loaded,
            logger: Logger(label: "bench")
        ).load()
    else { fail("could not load the snapshot back") }
    let loadTook = clock.now - loadStarted
    let loadPeak = status("VmHWM")
    unlink(snapshotter.file.path)
    rmdir(directory)
    print("  the projection (heap):     \(mib(projectionBytes))")
    print("  the snapshot file:         \(mib(Double(info.st_size)))")
    print("  RSS before the write:      \(mib(rssBefore))")
    print("  peak RSS during the write: \(mib(peak)) (VmHWM)")
    print(
        "  peak growth:               \(mib(peak - rssBefore)), \(format((peak - rssBefore) / projectionBytes * 100, 1))% "
            + "of the projection; the peak is \(format(peak / projectionBytes, 2))x the projection")
    print("  took:                      \(took)")
    print(
        "  loading it back: peak growth \(mib(loadPeak - loadRSSBefore)), "
            + "\(format((loadPeak - loadRSSBefore) / projectionBytes * 100, 1))% of the projection, in \(loadTook)")
}
