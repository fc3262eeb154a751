import AMQP
import AccountProjection

/// Sends rejected events to the invalid-events queue with their original body,
/// properties and headers plus `x-error`, `x-error-detail`, `x-original-routing-key`
/// and `x-stream-offset` (a long), and waits for the broker's confirm (CONTRACT §3.4).
struct InvalidEventPublisher {
    let channel: AMQPChannel
    let queue: String

    static func open(on connection: AMQPConnection, queue: String) async throws(AMQPError) -> InvalidEventPublisher {
        let channel = try await connection.openChannel()
        try await channel.enablePublisherConfirms()
        return InvalidEventPublisher(channel: channel, queue: queue)
    }

    static func message(for rejected: RejectedEvent<EventOrigin>, queue: String) -> AMQPMessage {
        let origin = rejected.origin
        var properties = origin.properties
        var headers = properties.headers ?? [:]
        headers["x-error"] = .string(rejected.reason.rawValue)
        headers["x-error-detail"] = .string(rejected.detail)
        headers["x-original-routing-key"] = .string(origin.routingKey)
        headers["x-stream-offset"] = origin.offset.map { .int64($0) } ?? .void
        properties.headers = headers
        return AMQPMessage(exchange: "", routingKey: queue, body: origin.body, properties: properties, mandatory: true)
    }

    /// Publishes and waits for every confirm; throws unless the broker took every one.
    func publish(_ rejected: [RejectedEvent<EventOrigin>]) async throws(AMQPError) {
        let messages = rejected.map { Self.message(for: $0, queue: queue) }
        let outcomes = try await channel.publish(messages)
        for outcome in outcomes where outcome != .confirmed {
            // Never drop one silently: the caller does not ack, and retries after reconnecting.
            throw .library(
                operation: "publishing to the invalid queue '\(queue)'", status: 0,
                message: "the broker answered \(outcome)")
        }
    }
}
