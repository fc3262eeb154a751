import AMQP
import AccountMessaging
import ArgumentParser
import Synchronization

/// `accountctl invalid …`: the queue of events the service could not apply.
struct Invalid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at the invalid-events queue, and publish chosen events again after a fix.",
        discussion: """
            The service sends each event it cannot apply to the invalid queue (default \
            accounts.events.invalid) with headers x-error (the reason), x-error-detail, \
            x-original-routing-key and x-stream-offset (where it was in the stream), and \
            x-decided-at-offset and x-decided-index (where the service decided it).

            \(Exit.helpText)
            """,
        subcommands: [InvalidList.self, InvalidRequeue.self])
}

/// One message of the invalid queue, as `invalid list` shows it.
struct InvalidEvent {
    var delivery: AMQPDelivery
    var headers: AMQPTable { delivery.properties.headers ?? AMQPTable() }
    var reason: String { headers["x-error"]?.stringValue ?? "?" }
    var detail: String? { headers["x-error-detail"]?.stringValue }
    var offset: Int64? { headers["x-stream-offset"]?.int64Value }
    var originalRoutingKey: String? { headers["x-original-routing-key"]?.stringValue }

    /// The body's first `limit` characters on one line.
    func excerpt(_ limit: Int) -> String {
        var text = String(decoding: delivery.body.prefix(limit * 4), as: UTF8.self)
        text = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
        return text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
    }

    var json: JSONObjectWriter {
        var object = JSONObjectWriter()
        if let offset { object.add("offset", offset) } else { object.add("offset", nil as String?) }
        object.add("reason", reason)
        object.add("detail", detail)
        object.add("routingKey", originalRoutingKey)
        object.add("messageId", delivery.properties.messageID)
        object.add("redelivered", delivery.redelivered)
        object.add("body", String(decoding: delivery.body, as: UTF8.self))
        return object
    }
}

/// A look at the invalid queue that gives every message back: it consumes without acks and
/// closes the channel, so the broker puts what it delivered back in the queue, in order.
struct InvalidQueueReader {
    let connection: AMQPConnection
    let queue: String

    /// How many messages the queue holds (its declare-ok), or a readable error when it is missing.
    func count() async throws(CLIError) -> Int {
        do {
            let channel = try await connection.openChannel()
            let result = try await channel.declareQueue(queue, passive: true)
            try? await channel.close()
            return Int(result.messageCount)
        } catch .channelClosed(404, _) {
            throw CLIError(Exit.failed, "there is no queue '\(queue)' (set --invalid-queue or INVALID_QUEUE)")
        } catch {
            throw CLIError(Exit.broker, error.description)
        }
    }

    /// Waits, up to `timeout` seconds, until the queue holds `expected` messages again: a quorum
    /// queue takes back what a closed channel left unacknowledged (and drops what it acked) after
    /// close-ok, so without this a `list` right after could miss messages that are on their way back.
    /// Another producer or consumer on the queue can keep it from that count: then it gives up.
    func settle(expected: Int, timeout: Double = 5) async {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        while ContinuousClock.now < deadline {
            if let now = try? await count(), now == expected { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The first `limit` messages, unacknowledged on `channel` (close it to give them back).
    /// Gives up waiting after `idle` seconds (plus a millisecond a message) with what came:
    /// another consumer may have taken the rest.
    func read(limit: Int, on channel: AMQPChannel, idle: Double = 3) async throws(CLIError) -> [InvalidEvent] {
        guard limit > 0 else { return [] }
        do {
            try await channel.qos(prefetchCount: UInt16(min(limit, 65_535)))
            let consumer = try await channel.consume(queue: queue)
            let received = Collected()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await batch in consumer.batches where received.add(batch) >= limit { break }
                    } catch {}
                }
                group.addTask { try? await Task.sleep(for: .milliseconds(Int64(idle * 1000) + Int64(limit))) }
                await group.next()
                group.cancelAll()
            }
            let deliveries = Array(received.all.prefix(limit))
            return deliveries.map { InvalidEvent(delivery: $0) }
        } catch {
            throw CLIError(Exit.broker, "reading '\(queue)': \(error)")
        }
    }
}

/// Deliveries gathered by the reading task, read once it ends or the wait is over.
private final class Collected: Sendable {
    private let deliveries = Mutex<[AMQPDelivery]>([])

    /// Adds a batch; returns how many there are now.
    func add(_ batch: [AMQPDelivery]) -> Int {
        deliveries.withLock {
            $0 += batch
            return $0.count
        }
    }

    var all: [AMQPDelivery] { deliveries.withLock { $0 } }
}

/// Connects with the broker flags and environment, or fails with the CLI's statuses.
func connectBroker(_ broker: BrokerOptions, name: String) async throws(CLIError) -> AMQPConnection {
    let configuration: AMQPConfiguration
    do {
        configuration = try broker.configuration(connectionName: name)
    } catch {
        throw CLIError(Exit.usage, error.description)
    }
    // Every node once, from a random one: the first that answers serves.
    var rotation = AMQPNodeRotation(count: configuration.nodes.count)
    var failures: [String] = []
    while let node = rotation.next() {
        do {
            return try await AMQPConnection.connect(configuration.node(node))
        } catch {
            failures.append(error.description)
        }
    }
    throw CLIError(Exit.broker, failures.joined(separator: "; "))
}

struct InvalidList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Show the events in the invalid queue, without taking them out of it.",
        discussion: """
            Reads the first --limit messages without acknowledging them and gives them all back \
            (they stay in the queue, in order, marked redelivered). One line each: the stream \
            offset, the reason (x-error), the original routing key, the message id and the body's \
            start. With --output json, one object: queue, count and events, each with offset, \
            reason, detail, routingKey, messageId, redelivered and body.

            \(Exit.helpText)
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Show at most this many messages", valueName: "N"))
    var limit: Int = 100

    @OptionGroup var output: OutputOptions

    @OptionGroup(title: "Broker objects") var names: TopologyOptions

    @OptionGroup(title: "Broker connection") var broker: BrokerOptions

    func validate() throws {
        if !(1...65_535).contains(limit) { throw ValidationError(outOfRange("--limit", limit, "in 1...65535")) }
    }

    func run() async throws {
        let queue = names.topology().invalidQueue
        let connection = try await connectBroker(broker, name: "accountctl invalid list")
        defer { Task { await connection.close() } }
        let reader = InvalidQueueReader(connection: connection, queue: queue)
        let count = try await reader.count()
        let channel: AMQPChannel
        do { channel = try await connection.openChannel() } catch { throw CLIError(Exit.broker, error.description) }
        let events = try await reader.read(limit: min(count, limit), on: channel)
        // Closing the channel gives every unacknowledged message back to the queue.
        try? await channel.close()
        await reader.settle(expected: count)
        await connection.close()

        switch output.format {
        case .json:
            var object = JSONObjectWriter()
            object.add("queue", queue)
            object.add("count", count)
            object.add(raw: "events", jsonArray(events.map(\.json)))
            print(object.text)
        case .text:
            print(
                "\(count) message\(count == 1 ? "" : "s") in \(queue)\(events.count < count ? ", the first \(events.count) shown" : "")"
            )
            if events.isEmpty { return }
            let rows = events.map { event in
                [
                    event.offset.map { "\($0)" } ?? "-", event.reason, event.originalRoutingKey ?? "-",
                    event.delivery.properties.messageID ?? "-",
                ]
            }
            let headings = ["OFFSET", "REASON", "ROUTING KEY", "MESSAGE ID"]
            var widths = headings.map(\.count)
            for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
            func line(_ cells: [String], _ last: String) -> String {
                zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
                    + "  " + last
            }
            print(line(headings, "BODY"))
            for (row, event) in zip(rows, events) { print(line(row, event.excerpt(60))) }
        }
    }
}

struct InvalidRequeue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Publish chosen invalid events to the exchange again (after a fix), and take them out of the queue.",
        discussion: """
            Chooses the messages whose x-stream-offset is one of the --offset values (or, with \
            --all, every message), publishes each to the exchange with its original routing key \
            (x-original-routing-key) and its original properties (the x-error… headers dropped), \
            and removes it from the invalid queue only once the broker confirmed the publish. \
            Copies of one event (the same offset) go out once; the copies are removed with it. \
            Every other message stays in the queue.

            Prints requeued=N kept=N missing=N (offsets asked for that are not in the queue); \
            exits 1 when an offset is missing or a publish was not confirmed.

            \(Exit.helpText)
            """)

    @Option(
        name: .customLong("offset"),
        help: ArgumentHelp("Stream offset of an event to requeue (repeat the flag for more)", valueName: "offset"))
    var offsets: [Int64] = []

    @Flag(help: "Requeue every message in the invalid queue")
    var all = false

    @OptionGroup(title: "Broker objects") var names: TopologyOptions

    @OptionGroup(title: "Broker connection") var broker: BrokerOptions

    func validate() throws {
        if offsets.isEmpty == !all { throw ValidationError("give --offset (one or more) or --all") }
    }

    func run() async throws {
        let topology = names.topology()
        let connection = try await connectBroker(broker, name: "accountctl invalid requeue")
        let reader = InvalidQueueReader(connection: connection, queue: topology.invalidQueue)
        let count = try await reader.count()
        let tally: (requeued: Int, kept: Int, missing: [Int64], failed: Int)
        do {
            let publisher = try await connection.openChannel()
            try await publisher.enablePublisherConfirms()
            let channel = try await connection.openChannel()
            let events = try await reader.read(limit: min(max(count, 1), 65_535), on: channel)
            let wanted = Set(offsets)
            var chosen: [Int64?: [InvalidEvent]] = [:]
            var order: [Int64?] = []
            var kept = 0
            for event in events {
                guard all || event.offset.map(wanted.contains) == true else {
                    kept += 1
                    continue
                }
                // Events without an offset are each their own; copies of one offset go together.
                let key: Int64? = event.offset ?? -Int64(event.delivery.deliveryTag)
                if chosen[key] == nil { order.append(key) }
                chosen[key, default: []].append(event)
            }
            let messages = order.map { key in republished(chosen[key]![0], exchange: topology.exchange) }
            let outcomes = try await publisher.publish(messages)
            var requeued = 0
            var failed = 0
            var removed = 0
            for (key, outcome) in zip(order, outcomes) {
                if case .confirmed = outcome {
                    requeued += 1
                    removed += chosen[key]!.count
                    for copy in chosen[key]! { channel.ack(deliveryTag: copy.delivery.deliveryTag) }
                } else {
                    failed += 1
                    kept += chosen[key]!.count
                }
            }
            // What was not acknowledged goes back to the queue with the channel.
            try? await channel.close()
            try? await publisher.close()
            await reader.settle(expected: count - removed)
            let found = Set(events.compactMap(\.offset))
            tally = (requeued, kept, offsets.filter { !found.contains($0) }, failed)
        } catch let error as CLIError {
            await connection.close()
            throw error
        } catch {
            await connection.close()
            throw CLIError(Exit.broker, "requeueing from '\(topology.invalidQueue)': \(error)")
        }
        await connection.close()
        print("requeued=\(tally.requeued) kept=\(tally.kept) missing=\(tally.missing.count)")
        if !tally.missing.isEmpty {
            printError(
                "accountctl: no message with x-stream-offset \(tally.missing.map(String.init).joined(separator: ", ")) in \(topology.invalidQueue)"
            )
        }
        if tally.failed > 0 {
            printError(
                "accountctl: the broker did not confirm \(tally.failed) publishes; those stay in the invalid queue")
        }
        if !tally.missing.isEmpty || tally.failed > 0 { throw ExitCode(Exit.failed) }
    }

    /// The event as it was first published: its body and properties, the invalid queue's
    /// headers taken off, to the exchange with the original routing key.
    private func republished(_ event: InvalidEvent, exchange: String) -> AMQPMessage {
        var properties = event.delivery.properties
        var headers = event.headers
        headers.entries.removeAll {
            $0.key.hasPrefix("x-error") || $0.key.hasPrefix("x-original") || $0.key.hasPrefix("x-decided")
                || $0.key == "x-stream-offset" || $0.key == "x-body-truncated"
        }
        properties.headers = headers.isEmpty ? nil : headers
        return AMQPMessage(
            exchange: exchange, routingKey: event.originalRoutingKey ?? "account.unknown", body: event.delivery.body,
            properties: properties, mandatory: true)
    }
}
