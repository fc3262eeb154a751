import AMQP
import AccountHistory
import AccountMessaging
import AccountProjection
import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a generated event history, or the lines of a file, to the broker.",
        usage: """
            accountctl publish [--accounts <N>] [--events <M>] [--seed <S>] [--rate <events/s>] [--quiet] [--window <W>]
            accountctl publish --file <path|-> [--rate <events/s>] [--quiet] [--window <W>]
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

            Progress goes to standard error (a bar on a terminal, a line every 5 s otherwise, none with \
            --quiet). At the end one line on standard output:
              published=N confirmed=N nacked=N returned=N seconds=S msg_per_s=R

            \(Exit.helpText) A wrong password fails within the connect timeout (5 s).
            """)

    @OptionGroup(title: "Generated history") var generator: GeneratorOptions

    @Option(
        help: ArgumentHelp(
            "Publish the lines of this JSONL file instead of a generated history; - for standard input",
            valueName: "path"))
    var file: String?

    @Option(
        help: ArgumentHelp(
            "At most this many events per second (default: as fast as the broker confirms)", valueName: "events/s"))
    var rate: Double?

    @Option(help: ArgumentHelp("Most messages published but not yet confirmed", valueName: "W"))
    var window: Int = 4000

    @Option(help: ArgumentHelp("Messages per batch; window / batch batches are in flight", valueName: "B"))
    var batch: Int = 250

    @Flag(help: "No progress on standard error (the summary line is still printed)")
    var quiet = false

    @OptionGroup(title: "Broker objects") var names: TopologyOptions

    @OptionGroup(title: "Broker connection") var broker: BrokerOptions

    func validate() throws {
        if file != nil && generator.anyGiven {
            throw ValidationError(
                "--file publishes a file as it is: --accounts, --events, --seed and --close-rate do not apply")
        }
        if let rate, !(rate > 0 && rate.isFinite) {
            throw ValidationError("--rate must be a number of events per second above 0")
        }
        if window < 1 { throw ValidationError("--window must be at least 1") }
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() async throws {
        let configuration: AMQPConfiguration
        do {
            configuration = try broker.configuration(connectionName: "accountctl publish")
        } catch {
            throw CLIError(Exit.usage, error.description)
        }
        let topology = names.topology()

        // Open the input before connecting: a missing file is a usage error, not a broker one.
        var source: MessageSource
        if let file {
            source = .lines(try LineReader(path: file), exchange: topology.exchange)
        } else {
            source = .generated(
                generator.generator.makeIterator(), total: generator.resolved.events, exchange: topology.exchange)
        }

        let connection: AMQPConnection
        let channel: AMQPChannel
        do {
            connection = try await AMQPConnection.connect(configuration) { blocked, reason in
                printError(
                    blocked
                        ? "accountctl: the broker blocks publishing for now (\(reason)); waiting"
                        : "accountctl: the broker accepts publishing again")
            }
            try await declare(topology, on: connection)
            channel = try await connection.openChannel()
            try await channel.enablePublisherConfirms()
        } catch {
            throw CLIError(Exit.broker, error.description)
        }

        // Batches of at most `window` messages, `window / batch` of them in flight.
        let batchSize = min(batch, window, rate.map { max(1, Int($0 / 20)) } ?? Int.max)
        let inFlight = max(1, window / batchSize)
        let progress = ProgressReporter(quiet: quiet, verb: "publish")
        let executor = SerialThreadExecutor()
        let start = now()
        let outcome = await withTaskExecutorPreference(executor) {
            await publishAll(
                from: &source, on: channel, executor: executor, batchSize: batchSize, inFlight: inFlight,
                rate: rate, progress: progress)
        }
        let seconds = now() - start
        progress.finish()
        await connection.close()

        let tally = outcome.tally
        print(
            "published=\(tally.published) confirmed=\(tally.confirmed) nacked=\(tally.nacked) returned=\(tally.returned)"
                + " seconds=\(fixed(seconds, decimals: 3)) msg_per_s=\(Int((Double(tally.published) / max(seconds, 1e-9)).rounded()))"
        )
        if tally.returned > 0, let reply = tally.firstReturn {
            printError(
                "accountctl: \(tally.returned) messages were returned as unroutable (\(reply)): is the stream bound to exchange '\(topology.exchange)'?"
            )
        }
        if tally.nacked > 0 { printError("accountctl: the broker refused (nacked) \(tally.nacked) messages") }
        if let failure = outcome.failure {
            throw CLIError(Exit.failed, "publishing stopped: \(failure)")
        }
        if tally.confirmed != tally.published { throw ExitCode(Exit.failed) }
    }

    /// Declares the topology, retrying a few times on the transient 404 "home node … down"
    /// a broker gives right after a restart (CONTRACT §6).
    private func declare(_ topology: Topology, on connection: AMQPConnection) async throws(AMQPError) {
        var attempt = 0
        while true {
            do {
                try await topology.declare(on: connection)
                return
            } catch .channelClosed(404, let reply) where attempt < 5 {
                attempt += 1
                printError("accountctl: declaring the topology: \(reply); retrying")
                try? await Task.sleep(for: .seconds(1))
            }
        }
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

/// Publishes everything from `source`, `inFlight` batches at a time, in order (see
/// ``SerialThreadExecutor``); returns the tally and, if the connection failed, why.
private func publishAll(
    from source: inout MessageSource,
    on channel: AMQPChannel,
    executor: SerialThreadExecutor,
    batchSize: Int,
    inFlight: Int,
    rate: Double?,
    progress: ProgressReporter
) async -> (tally: Tally, failure: String?) {
    var tally = Tally()
    var failure: String?
    let start = now()
    await withTaskGroup(of: Result<[PublishOutcome], AMQPError>.self) { group in
        var running = 0
        var settled = 0

        func collect() async {
            guard let result = await group.next() else { return }
            running -= 1
            switch result {
            case .success(let outcomes):
                tally.add(outcomes)
                settled += outcomes.count
            case .failure(let error):
                if failure == nil { failure = error.description }
            }
            progress.update(done: settled, total: source.total, fraction: source.fraction)
        }

        var messages: [AMQPMessage] = []
        messages.reserveCapacity(batchSize)
        while failure == nil {
            let message: AMQPMessage?
            do throws(CLIError) {
                message = try source.next()
            } catch {
                failure = error.message
                break
            }
            if let message { messages.append(message) }
            guard messages.count == batchSize || (message == nil && !messages.isEmpty) else {
                if message == nil { break }
                continue
            }
            if let rate {
                // Pace: this batch may start once the ones before it are due.
                let due = start + Double(tally.published) / rate
                let wait = due - now()
                if wait > 0 { try? await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
            }
            let batch = messages
            messages.removeAll(keepingCapacity: true)
            // Children start in this order on the serial executor, each handing its batch to
            // the connection before the next one runs: the log keeps the source's order.
            group.addTask(executorPreference: executor) {
                do throws(AMQPError) {
                    return .success(try await channel.publish(batch))
                } catch {
                    return .failure(error)
                }
            }
            tally.published += batch.count
            running += 1
            while running >= inFlight { await collect() }
            if message == nil { break }
        }
        while running > 0 { await collect() }
    }
    return (tally, failure)
}
