import AMQP
import AccountHistory
import AccountMessaging
import AccountProjection
import ArgumentParser
import JSON

#if canImport(Glibc)
    import Glibc
#endif

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a generated event history, or the lines of a file, to the broker.",
        usage: """
            accountctl publish [--accounts <N>] [--events <M>] [--seed <S>] [--rate <events/s>] [--quiet] [--verbose] [--output <format>]
            accountctl publish --file <path|-> [--rate <events/s>] [--quiet] [--verbose] [--output <format>]
            """,
        discussion: """
            Declares the topology first (the exchange, the stream bound with account.#, the invalid-events \
            queue; an existing stream is used as it is), then publishes with publisher confirms, several \
            batches in flight at once, in order.

            Without --file it publishes the generator's history: exactly M events over N accounts, the \
            same bytes for the same flags (what `accountctl generate` prints and `accountctl verify` \
            expects). With --file it publishes each non-empty line as it is, malformed ones too; the \
            routing key is account.<kind> from the line's "type" when the line is a JSON object with a \
            string "type", account.unknown otherwise.

            While the broker blocks publishing (a memory or disk alarm) it says so and waits; it goes \
            on when the alarm clears, or fails after --blocked-timeout seconds. When the broker stops \
            confirming without blocking (no confirm for --confirm-timeout seconds, as when a stream's \
            leader dies under the publish), the connection counts as lost; after 3 such connections in a \
            row with nothing confirmed, it stops.

            A lost connection (a broker restart, a transient error) is not the end: it reconnects with \
            backoff for up to --retry-for seconds and publishes again every message the broker had not \
            confirmed, in order. So every message is in the stream at least once; one that was stored but \
            not yet confirmed when the connection broke may be there twice (the service counts the second \
            copy as a duplicate); a confirmed one is never sent again.

            Progress goes to standard error (a bar on a terminal, fitted to its width, a line every 5 s \
            otherwise, none with --quiet); the rate and the ETA show once 3 s of confirms are measured. \
            At the end one line on standard output:
              published=N confirmed=N nacked=N returned=N seconds=S msg_per_s=R
            or, with --output json, one object: published, confirmed, nacked, returned, republished, \
            seconds, msgPerSecond, trace (the W3C trace id every message's traceparent belongs to) and \
            failure (null, or why publishing stopped).

            \(Exit.helpText) A wrong password fails within the connect timeout (5 s).
            """)

    @OptionGroup(title: "Generated history") var generator: GeneratorOptions

    @Option(
        help: ArgumentHelp(
            "Publish the lines of this JSONL file instead of a generated history; - for standard input",
            valueName: "path"))
    var file: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "At most this many events per second (default: as fast as the broker confirms)", valueName: "events/s"))
    var rate: Double?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("Most messages published but not yet confirmed", valueName: "W"))
    var window: Int = 4000

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Messages per batch; window / batch batches are in flight", valueName: "B"))
    var batch: Int = 250

    @Option(
        name: .customLong("retry-for"), parsing: .unconditional,
        help: ArgumentHelp(
            "After a lost connection, keep reconnecting for this many seconds (0: give up at once)",
            valueName: "seconds"))
    var retryFor: Double = 60

    @Option(
        name: .customLong("blocked-timeout"), parsing: .unconditional,
        help: ArgumentHelp(
            "While the broker blocks publishing (a memory or disk alarm), wait this many seconds before failing",
            valueName: "seconds"))
    var blockedTimeout: Double = 60

    @Option(
        name: .customLong("confirm-timeout"), parsing: .unconditional,
        help: ArgumentHelp(
            "With messages unconfirmed, reconnect when the broker confirms nothing for this many seconds",
            valueName: "seconds"))
    var confirmTimeout: Double = 30

    @Option(
        help: ArgumentHelp(
            "Continue this W3C trace (00-<trace id>-<span id>-<flags>); default: TRACEPARENT, else a new trace",
            valueName: "traceparent"))
    var traceparent: String?

    @Flag(help: "No progress on standard error (the summary line is still printed)")
    var quiet = false

    @Flag(help: "Also say on standard error which trace the messages belong to and which broker node takes them")
    var verbose = false

    @OptionGroup var output: OutputOptions

    @OptionGroup(title: "Broker objects") var names: TopologyOptions

    @OptionGroup(title: "Broker connection") var broker: BrokerOptions

    func validate() throws {
        if file != nil && generator.anyGiven {
            throw ValidationError(
                "--file publishes a file as it is: --accounts, --events, --seed and --close-rate do not apply")
        }
        if let rate, !(rate > 0 && rate.isFinite) {
            throw ValidationError(outOfRange("--rate", rate, "a number of events per second above 0"))
        }
        if window < 1 { throw ValidationError(outOfRange("--window", window, "at least 1")) }
        if batch < 1 { throw ValidationError(outOfRange("--batch", batch, "at least 1")) }
        if retryFor < 0 { throw ValidationError(outOfRange("--retry-for", retryFor, "0 or more")) }
        if !(blockedTimeout > 0) { throw ValidationError(outOfRange("--blocked-timeout", blockedTimeout, "above 0")) }
        if !(confirmTimeout > 0) { throw ValidationError(outOfRange("--confirm-timeout", confirmTimeout, "above 0")) }
    }

    func run() async throws {
        let configuration: AMQPConfiguration
        do {
            configuration = try broker.configuration(connectionName: "accountctl publish")
        } catch {
            throw CLIError(Exit.usage, error.description)
        }
        var settings = configuration
        settings.blockedTimeout = .milliseconds(Int64(blockedTimeout * 1000))
        settings.confirmTimeout = .milliseconds(Int64(confirmTimeout * 1000))
        let topology = names.topology()
        // Each message is a span of its own under the run's trace: a `traceparent` header.
        let trace: TraceParent
        if let given = traceparent ?? Environment.process["TRACEPARENT"] {
            guard let parent = TraceParent(given) else {
                throw CLIError(
                    Exit.usage,
                    "--traceparent / TRACEPARENT: '\(given)' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")
            }
            trace = parent
        } else {
            trace = TraceParent.newTrace()
        }

        // Open the input before connecting: a missing file is a usage error, not a broker one.
        var source: MessageSource
        if let file {
            source = .lines(try LineReader(path: file), exchange: topology.exchange)
        } else {
            source = .generated(
                generator.generator.makeIterator(), total: generator.resolved.events, exchange: topology.exchange)
        }

        let link = BrokerLink(configuration: settings, topology: topology, verbose: verbose)
        let channel: AMQPChannel
        do {
            channel = try await link.open()
        } catch {
            throw CLIError(Exit.broker, error.description)
        }
        if verbose {
            printError("accountctl: each message carries a traceparent header in trace \(trace.traceID)")
        }

        // Batches of at most `window` messages, `window / batch` of them in flight.
        let batchSize = min(batch, window, rate.map { max(1, Int($0 / 20)) } ?? Int.max)
        let inFlight = max(1, window / batchSize)
        let progress = ProgressReporter(quiet: quiet, verb: "publish")
        let start = now()
        let outcome = await publishAll(
            from: &source, trace: trace, on: channel, link: link, retryFor: retryFor, batchSize: batchSize,
            inFlight: inFlight,
            rate: rate, progress: progress)
        let seconds = now() - start
        progress.finish()
        await link.close()

        let tally = outcome.tally
        let perSecond = Int((Double(tally.published) / max(seconds, 1e-9)).rounded())
        switch output.format {
        case .text:
            print(
                "published=\(tally.published) confirmed=\(tally.confirmed) nacked=\(tally.nacked) returned=\(tally.returned)"
                    + " seconds=\(fixed(seconds, decimals: 3)) msg_per_s=\(perSecond)")
        case .json:
            var object = JSONObjectWriter()
            object.add("published", tally.published)
            object.add("confirmed", tally.confirmed)
            object.add("nacked", tally.nacked)
            object.add("returned", tally.returned)
            object.add("republished", tally.republished)
            object.add(raw: "seconds", fixed(seconds, decimals: 3))
            object.add("msgPerSecond", perSecond)
            object.add("trace", trace.traceID)
            object.add("failure", outcome.failure)
            print(object.text)
        }
        if tally.returned > 0, let reply = tally.firstReturn {
            printError(
                "accountctl: \(tally.returned) messages were returned as unroutable (\(reply)): is the stream bound to exchange '\(topology.exchange)'?"
            )
        }
        if tally.nacked > 0 { printError("accountctl: the broker refused (nacked) \(tally.nacked) messages") }
        if tally.republished > 0 {
            printError(
                "accountctl: \(tally.republished) messages were published again after \(tally.reconnects) lost connection(s);"
                    + " those stored before the break may be in the stream twice")
        }
        if let failure = outcome.failure {
            throw CLIError(Exit.failed, "publishing stopped: \(failure)")
        }
        if tally.confirmed != tally.published { throw ExitCode(Exit.failed) }
    }
}

/// What to publish: generated events, or the lines of a file.
enum MessageSource {
    case generated(HistoryGenerator.Iterator, total: Int, exchange: String)
    case lines(LineReader, exchange: String)

    mutating func next() throws(CLIError) -> AMQPMessage? {
        switch self {
        case .generated(var iterator, let total, let exchange):
            let event = iterator.next()
            self = .generated(iterator, total: total, exchange: exchange)
            guard let event else { return nil }
            return EventMessage.message(
                body: event.body, exchange: exchange, eventID: event.eventId, type: event.type.rawValue,
                occurredAt: event.occurredAt)
        case .lines(let reader, let exchange):
            while let line = try reader.nextLine() {
                if line.isEmpty { continue }
                var type: String?
                var eventID: String?
                var occurredAt: String?
                if let value = try? JSONValue.parse(line), case .object = value {
                    type = value["type"]?.stringValue
                    eventID = value["eventId"]?.stringValue
                    occurredAt = value["occurredAt"]?.stringValue
                }
                return EventMessage.message(
                    body: line, exchange: exchange, eventID: eventID, type: type, occurredAt: occurredAt)
            }
            return nil
        }
    }

    var total: Int? {
        if case .generated(_, let total, _) = self { return total }
        return nil
    }

    /// The share of a regular file read so far.
    var fraction: Double? {
        if case .lines(let reader, _) = self, let size = reader.totalBytes, size > 0 {
            return Double(reader.bytesRead) / Double(size)
        }
        return nil
    }
}

struct Tally {
    var published = 0
    var confirmed = 0
    var nacked = 0
    var returned = 0
    var firstReturn: String?
    /// Messages sent again after a lost connection, and how many connections were lost.
    var republished = 0
    var reconnects = 0

    mutating func add(_ outcomes: [PublishOutcome]) {
        for outcome in outcomes {
            switch outcome {
            case .confirmed, .sent: confirmed += 1
            case .nacked: nacked += 1
            case .returned(let code, let reply):
                returned += 1
                if firstReturn == nil { firstReturn = "\(code) \(reply)" }
            }
        }
    }
}

/// Publishes everything from `source`, keeping `inFlight` batches unconfirmed at a time. Batches
/// are handed to the connection one after another, so the stream keeps the source's order.
/// When the connection breaks, it reconnects through `link` (for up to `retryFor` seconds),
/// publishes the batches without a confirm again, in order, and goes on. Returns the tally and,
/// if it gave up, why.
private func publishAll(
    from source: inout MessageSource,
    trace: TraceParent,
    on firstChannel: AMQPChannel,
    link: BrokerLink,
    retryFor: Double,
    batchSize: Int,
    inFlight: Int,
    rate: Double?,
    progress: ProgressReporter
) async -> (tally: Tally, failure: String?) {
    var tally = Tally()
    var failure: String?
    var channel = firstChannel
    let start = now()
    var settled = 0
    var sourceDone = false
    // Oldest first: what was handed to the connection and not settled yet.
    var waiting: [(messages: [AMQPMessage], ticket: PublishTicket)] = []
    // Batches a lost connection left without a confirm, to publish again first.
    var again: [[AMQPMessage]] = []
    var broken: AMQPError?
    var silence = SilentConnections()

    func settleOldest() async {
        let (messages, ticket) = waiting.removeFirst()
        do throws(AMQPError) {
            let outcomes = try await ticket.outcomes()
            tally.add(outcomes)
            settled += outcomes.count
        } catch {
            if broken == nil { broken = error }
            again.append(messages)
        }
        progress.update(done: settled, total: source.total, fraction: source.fraction)
    }

    func send(_ messages: [AMQPMessage]) async {
        waiting.append((messages, channel.startPublishing(messages)))
        while waiting.count >= inFlight { await settleOldest() }
    }

    var pending: [AMQPMessage] = []
    pending.reserveCapacity(batchSize)
    while failure == nil {
        let retry = again
        again.removeAll()
        for messages in retry {
            if broken != nil {
                // Broke again: what is still waiting goes first, then the rest, in order.
                while !waiting.isEmpty { await settleOldest() }
                again.append(messages)
                continue
            }
            tally.republished += messages.count
            await send(messages)
        }
        while broken == nil && !sourceDone {
            let message: AMQPMessage?
            do throws(CLIError) {
                message = try source.next()
            } catch {
                failure = error.message
                break
            }
            if var message {
                var headers = message.properties.headers ?? AMQPTable()
                headers[TraceParent.headerName] = .string(trace.child().description)
                message.properties.headers = headers
                pending.append(message)
            }
            if message == nil { sourceDone = true }
            guard pending.count == batchSize || (sourceDone && !pending.isEmpty) else { continue }
            if let rate {
                // Pace: this batch may start once the ones before it are due.
                let wait = start + Double(tally.published) / rate - now()
                if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            tally.published += batch.count
            await send(batch)
        }
        while !waiting.isEmpty { await settleOldest() }
        guard let error = broken else { break }  // all sent and settled
        if failure != nil { break }
        if case .blocked = error {
            // A new connection would be blocked just the same: say so and stop.
            failure = error.description
            break
        }
        if silence.givesUp(after: error, confirmed: tally.confirmed) {
            failure = "\(error) (\(silence.inARow) connections in a row, nothing confirmed on the last ones)"
            break
        }
        // The connection broke: reconnect, then publish again what has no confirm, in order.
        tally.reconnects += 1
        printError("accountctl: the connection broke (\(error)); reconnecting")
        do {
            channel = try await link.reopen(for: retryFor)
            broken = nil
        } catch {
            failure = "\(error) (gave up after \(Int(retryFor)) s of reconnecting)"
        }
    }
    return (tally, failure)
}

/// Counts the connections in a row the broker stopped confirming on (``AMQPError/confirmsStalled``),
/// so that publish gives up instead of reconnecting forever to a broker that takes messages and
/// never answers. A connection that confirmed something before it fell silent starts the count again.
struct SilentConnections {
    var limit = 3
    private(set) var inARow = 0
    private var confirmedBefore = 0

    /// A connection ended with `error`, `confirmed` messages confirmed in all so far: true to give up.
    mutating func givesUp(after error: AMQPError, confirmed: Int) -> Bool {
        defer { confirmedBefore = confirmed }
        guard case .confirmsStalled = error else {
            inARow = 0
            return false
        }
        inARow = confirmed > confirmedBefore ? 1 : inARow + 1
        return inARow >= limit
    }
}

/// The connection publish uses, which it can open again after a loss: connect, declare the
/// topology (retrying the transient 404 a restarted broker gives, docs/events.md#broker-topology), confirm
/// mode.
final class BrokerLink: @unchecked Sendable {
    let configuration: AMQPConfiguration
    let topology: Topology
    let verbose: Bool
    private var connection: AMQPConnection?

    init(configuration: AMQPConfiguration, topology: Topology, verbose: Bool = false) {
        self.configuration = configuration
        self.topology = topology
        self.verbose = verbose
    }

    /// Connects to the nodes in turn from a random one (``AMQPNodeRotation``), moving on at
    /// once when one fails; throws the last failure once every node failed.
    func open() async throws(AMQPError) -> AMQPChannel {
        var rotation = AMQPNodeRotation(count: configuration.nodes.count)
        var failure = AMQPError.closedByClient
        while let node = rotation.next() {
            do {
                let channel = try await open(configuration.node(node))
                if verbose {
                    printError("accountctl: publishing through broker node \(configuration.nodes[node].node)")
                }
                return channel
            } catch {
                if configuration.nodes.count > 1 {
                    printError("accountctl: broker node \(configuration.nodes[node].node): \(error)")
                }
                failure = error
            }
        }
        throw failure
    }

    private func open(_ configuration: AMQPConfiguration) async throws(AMQPError) -> AMQPChannel {
        let connection = try await AMQPConnection.connect(configuration) { blocked, reason in
            printError(
                blocked
                    ? "accountctl: the broker blocks publishing for now (\(reason)); waiting"
                    : "accountctl: the broker accepts publishing again")
        }
        self.connection = connection
        do {
            try await declare(on: connection)
            let channel = try await connection.openChannel()
            try await channel.enablePublisherConfirms()
            return channel
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Opens the link again, retrying with backoff for up to `seconds`.
    func reopen(for seconds: Double) async throws(AMQPError) -> AMQPChannel {
        if let connection { await connection.close() }
        let deadline = now() + seconds
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        while true {
            do {
                return try await open()
            } catch {
                let wait = backoff.next()
                let delay = wait / .seconds(1)
                guard now() + delay < deadline else { throw error }
                printError("accountctl: \(error); retrying in \(fixed(delay, decimals: 2)) s")
                try? await Task.sleep(for: wait)
            }
        }
    }

    func close() async {
        if let connection { await connection.close() }
    }

    private func declare(on connection: AMQPConnection) async throws(AMQPError) {
        var attempt = 0
        while true {
            do {
                try await topology.declareStream(on: connection)
                break
            } catch .channelClosed(404, let reply) where attempt < 5 {
                attempt += 1
                printError("accountctl: declaring the topology: \(reply); retrying")
                try? await Task.sleep(for: .seconds(1))
            }
        }
        // Publishing needs the stream only: an invalid queue that cannot be declared now (its
        // node down) is the service's to report.
        do {
            try await topology.declareInvalidQueue(on: connection)
        } catch .channelClosed(let code, let reply) {
            printError("accountctl: the invalid queue '\(topology.invalidQueue)' is not usable now: \(code) \(reply)")
        }
    }
}
