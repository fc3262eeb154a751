public import AMQP
public import AccountMessaging
import AccountProjection
import JSON

/// Event bodies for the tests, in the shape of docs/events.md#field-rules.
public enum TestEvent {
    public static func body(
        _ type: String, _ account: String, _ sequence: Int, at second: Int = 0, data: String? = nil,
        eventID: String? = nil
    ) -> [UInt8] {
        let id = eventID ?? "evt-\(account)-\(sequence)"
        func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let timestamp = "2026-11-24T15:\(twoDigits(second / 60)):\(twoDigits(second % 60)).000Z"
        var text = "{\"eventId\":\"\(id)\",\"type\":\"\(type)\",\"accountId\":\"\(account)\",\"sequence\":\(sequence),"
        text += "\"occurredAt\":\"\(timestamp)\""
        if let data { text += ",\"data\":\(data)" }
        text += "}"
        return Array(text.utf8)
    }

    public static func opened(
        _ account: String, owner: String = "Ada Lovelace", currency: String = "EUR", at second: Int = 0
    )
        -> [UInt8]
    {
        body("AccountOpened", account, 1, at: second, data: "{\"owner\":\"\(owner)\",\"currency\":\"\(currency)\"}")
    }

    public static func deposited(_ account: String, _ sequence: Int, _ amount: Int, at second: Int = 0) -> [UInt8] {
        body("MoneyDeposited", account, sequence, at: second, data: "{\"amount\":\(amount)}")
    }

    public static func withdrawn(_ account: String, _ sequence: Int, _ amount: Int, at second: Int = 0) -> [UInt8] {
        body("MoneyWithdrawn", account, sequence, at: second, data: "{\"amount\":\(amount)}")
    }

    public static func renamed(_ account: String, _ sequence: Int, _ owner: String, at second: Int = 0) -> [UInt8] {
        body("AccountRenamed", account, sequence, at: second, data: "{\"owner\":\"\(owner)\"}")
    }

    public static func closed(_ account: String, _ sequence: Int, at second: Int = 0) -> [UInt8] {
        body("AccountClosed", account, sequence, at: second)
    }
}

/// Publishes bodies as `accountctl publish --file` would: declares the topology, routing
/// key and properties from the body, publisher confirms.
public func publish(_ bodies: [[UInt8]], to topology: Topology) async throws {
    let connection = try await TestBroker.connect()
    try await topology.declare(on: connection)
    let channel = try await connection.openChannel()
    try await channel.enablePublisherConfirms()
    let messages = bodies.map { body -> AMQPMessage in
        let json = try? JSONValue.parse(body)
        return EventMessage.message(
            body: body, exchange: topology.exchange, eventID: json?["eventId"]?.stringValue,
            type: json?["type"]?.stringValue, occurredAt: json?["occurredAt"]?.stringValue)
    }
    let outcomes = try await channel.publish(messages)
    await connection.close()
    guard outcomes.allSatisfy({ $0 == .confirmed }) else {
        throw ProcessError("the broker did not confirm every event: \(outcomes.filter { $0 != .confirmed })")
    }
}

/// Reads `count` messages from a queue (waiting up to `timeout`), acking them.
public func readQueue(_ queue: String, count: Int, timeout: Duration = .seconds(10)) async throws -> [AMQPDelivery] {
    let connection = try await TestBroker.connect()
    let channel = try await connection.openChannel()
    try await channel.qos(prefetchCount: 100)
    let consumer = try await channel.consume(queue: queue)
    let result = try await withThrowingTaskGroup(of: [AMQPDelivery]?.self) { group in
        group.addTask {
            var got: [AMQPDelivery] = []
            for try await delivery in consumer {
                got.append(delivery)
                channel.ack(deliveryTag: delivery.deliveryTag)
                if got.count == count { break }
            }
            return got
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        return first ?? []
    }
    await connection.close()
    return result
}

/// Deletes a test's broker objects.
public func deleteTopology(_ topology: Topology) async {
    guard let connection = try? await TestBroker.connect() else { return }
    if let channel = try? await connection.openChannel() {
        _ = try? await channel.deleteQueue(topology.stream)
        _ = try? await channel.deleteQueue(topology.invalidQueue)
        _ = try? await channel.deleteQueue("\(topology.invalidQueue).published")
        try? await channel.deleteExchange(topology.exchange)
    }
    await connection.close()
}
