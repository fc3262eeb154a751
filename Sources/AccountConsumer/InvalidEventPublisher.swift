import AMQP
import AccountProjection

/// Sends rejected events to the invalid-events queue with their original body,
/// properties and headers plus `x-error`, `x-error-detail`, `x-original-routing-key`
/// and `x-stream-offset` (a long), `x-decided-at-offset` and `x-decided-index` (its
/// ``RejectionKey``) (and, for a body kept only in part, `x-original-body-size`
/// and `x-body-truncated`), and waits for the broker's confirm
/// (docs/events.md#rejections-and-the-invalid-queue).
///
/// What a producer may put in a message must never make it impossible to send back: a
/// rejection that cannot be published is retried forever and stalls the consumer. So
/// the properties go out as they came unless they cannot (``sendable(_:frameMax:)``).
struct InvalidEventPublisher {
    let channel: AMQPChannel
    let queue: String
    /// The connection's largest frame: the content header (properties) must fit in one.
    let frameMax: Int

    static func open(on connection: AMQPConnection, queue: String) async throws(AMQPError) -> InvalidEventPublisher {
        let channel = try await connection.openChannel()
        try await channel.enablePublisherConfirms()
        return InvalidEventPublisher(channel: channel, queue: queue, frameMax: connection.configuration.frameMax)
    }

    static func message(
        for rejected: RejectedEvent<EventOrigin>, queue: String, frameMax: Int = 131_072, key: RejectionKey? = nil
    )
        -> AMQPMessage
    {
        let origin = rejected.origin
        var properties = origin.properties
        var additions: [AMQPTable.Entry] = [
            .init(key: "x-error", value: .string(rejected.reason.rawValue)),
            .init(key: "x-error-detail", value: .string(rejected.detail)),
            .init(key: "x-original-routing-key", value: .string(origin.routingKey)),
            .init(key: "x-stream-offset", value: origin.offset.map { .int64($0) } ?? .void),
        ]
        if let key {
            additions.append(.init(key: "x-decided-at-offset", value: .int64(key.offset)))
            additions.append(.init(key: "x-decided-index", value: .int64(key.index)))
        }
        if origin.isExcerpt {
            additions.append(.init(key: "x-original-body-size", value: .int64(Int64(origin.originalBodySize))))
            additions.append(
                .init(
                    key: "x-body-truncated",
                    value: .string(
                        "the body was cut to its first \(origin.body.count) of \(origin.originalBodySize) bytes")))
        }
        // The broker refuses a user_id other than the publisher's login, and an expiration
        // would let the invalid queue drop the message: both travel as headers instead.
        if let userID = properties.userID {
            additions.append(.init(key: "x-original-user-id", value: .string(userID)))
            properties.userID = nil
        }
        if let expiration = properties.expiration {
            additions.append(.init(key: "x-original-expiration", value: .string(expiration)))
            properties.expiration = nil
        }
        properties = sendable(properties, frameMax: frameMax, additions: additions)
        return AMQPMessage(exchange: "", routingKey: queue, body: origin.body, properties: properties, mandatory: true)
    }

    /// The properties with `additions` set in the headers, made sendable. Strings that
    /// were not UTF-8 were repaired on the way in (a bad byte becomes U+FFFD, 3 bytes), so
    /// short strings and header names are cut back to the protocol's 255 bytes; original
    /// headers that no longer fit in one frame beside the additions are left out, and
    /// `x-original-headers-dropped` says so.
    static func sendable(
        _ original: AMQPProperties, frameMax: Int, additions: [AMQPTable.Entry]
    ) -> AMQPProperties {
        var properties = original
        properties.contentType = properties.contentType.map(shortString)
        properties.contentEncoding = properties.contentEncoding.map(shortString)
        properties.correlationID = properties.correlationID.map(shortString)
        properties.replyTo = properties.replyTo.map(shortString)
        properties.expiration = properties.expiration.map(shortString)
        properties.messageID = properties.messageID.map(shortString)
        properties.type = properties.type.map(shortString)
        properties.userID = properties.userID.map(shortString)
        properties.appID = properties.appID.map(shortString)
        properties.clusterID = properties.clusterID.map(shortString)

        var headers = properties.headers.map(sendableTable) ?? AMQPTable()
        for addition in additions { headers[addition.key] = addition.value }
        properties.headers = headers
        // The content header frame: 7 bytes of frame header and 1 end byte around class,
        // weight and body size (12 bytes), then the properties.
        let budget = frameMax - 8 - 12
        if encodedSize(properties) > budget {
            let dropped = properties.headers.map(encodedSize) ?? 0
            var kept = AMQPTable(additions)
            kept["x-original-headers-dropped"] = .string(
                "the original headers (\(dropped) bytes) did not fit in one frame with the x-error headers")
            properties.headers = kept
        }
        return properties
    }

    /// At most 255 bytes of UTF-8, cut at a scalar boundary.
    static func shortString(_ text: String) -> String {
        guard text.utf8.count > 255 else { return text }
        var result = ""
        var length = 0
        for scalar in text.unicodeScalars {
            length += UTF8.width(scalar)
            if length > 255 { break }
            result.unicodeScalars.append(scalar)
        }
        return result
    }

    private static func sendableTable(_ table: AMQPTable) -> AMQPTable {
        AMQPTable(table.entries.map { .init(key: shortString($0.key), value: sendableValue($0.value)) })
    }

    private static func sendableValue(_ value: AMQPFieldValue) -> AMQPFieldValue {
        switch value {
        case .table(let table): .table(sendableTable(table))
        case .array(let values): .array(values.map(sendableValue))
        default: value
        }
    }

    // MARK: Encoded sizes (AMQP 0-9-1 §4.2.5)

    static func encodedSize(_ p: AMQPProperties) -> Int {
        func short(_ s: String?) -> Int { s.map { 1 + $0.utf8.count } ?? 0 }
        var size = 2  // property flags
        size += short(p.contentType) + short(p.contentEncoding) + (p.headers.map(encodedSize) ?? 0)
        size += (p.deliveryMode == nil ? 0 : 1) + (p.priority == nil ? 0 : 1)
        size += short(p.correlationID) + short(p.replyTo) + short(p.expiration) + short(p.messageID)
        size += (p.timestamp == nil ? 0 : 8) + short(p.type) + short(p.userID) + short(p.appID)
        return size  // cluster-id is never sent
    }

    static func encodedSize(_ table: AMQPTable) -> Int {
        table.entries.reduce(4) { $0 + 1 + $1.key.utf8.count + encodedSize($1.value) }
    }

    /// The kind byte and the value.
    static func encodedSize(_ value: AMQPFieldValue) -> Int {
        switch value {
        case .bool, .int8, .uint8: 2
        case .int16, .uint16: 3
        case .int32, .uint32, .float: 5
        case .int64, .uint64, .double, .timestamp: 9
        case .decimal: 6
        case .string(let s): 5 + s.utf8.count
        case .bytes(let b): 5 + b.count
        case .array(let values): values.reduce(5) { $0 + encodedSize($1) }
        case .table(let table): 1 + encodedSize(table)
        case .void: 1
        }
    }

    /// The queue that remembers the highest ``RejectionKey`` published (one message, the
    /// newest: `x-max-length` 1), so that emptying the invalid queue does not bring its
    /// messages back on the next replay.
    static func markerQueue(for queue: String) -> String { "\(queue).published" }

    /// The exclusive, auto-delete queue whose holder is the one replica that publishes.
    static func lockQueue(for queue: String) -> String { "\(queue).publisher-lock" }

    static let markerArguments: AMQPTable = ["x-max-length": .int64(1), "x-overflow": .string("drop-head")]

    /// The message saying that every rejection decided up to `key` is in the invalid queue.
    static func marker(_ key: RejectionKey, queue: String) -> AMQPMessage {
        var properties = AMQPProperties()
        properties.deliveryMode = 2
        properties.headers = [
            "x-decided-at-offset": .int64(key.offset), "x-decided-index": .int64(key.index),
        ]
        let text = "every rejection decided up to \(key) is in the invalid queue '\(queue)'"
        return AMQPMessage(
            exchange: "", routingKey: markerQueue(for: queue), body: Array(text.utf8), properties: properties,
            mandatory: true)
    }

    /// The key in a marker or invalid-queue message's headers; a message from before keys
    /// were sent counts as everything decided at its own offset.
    static func key(in headers: AMQPTable?) -> RejectionKey? {
        guard let headers else { return nil }
        if let offset = headers["x-decided-at-offset"]?.int64Value {
            return RejectionKey(offset: offset, index: headers["x-decided-index"]?.int64Value ?? .max)
        }
        return headers["x-stream-offset"]?.int64Value.map { RejectionKey(offset: $0, index: .max) }
    }

    /// Publishes the rejections, then (if given) the marker of the highest key among them,
    /// and waits for every confirm; throws unless the broker took every one. The marker goes
    /// last: if the connection dies in between, the next publisher repeats this batch rather
    /// than lose it.
    func publish(_ rejections: [Rejection], marker: RejectionKey?) async throws(AMQPError) {
        var messages = rejections.map {
            Self.message(for: $0.event, queue: queue, frameMax: frameMax, key: $0.key)
        }
        if let marker { messages.append(Self.marker(marker, queue: queue)) }
        try await publish(messages)
    }

    /// Publishes and waits for every confirm; throws unless the broker took every one.
    func publish(_ rejected: [RejectedEvent<EventOrigin>]) async throws(AMQPError) {
        try await publish(rejected.map { Self.message(for: $0, queue: queue, frameMax: frameMax) })
    }

    private func publish(_ messages: [AMQPMessage]) async throws(AMQPError) {
        let outcomes = try await channel.publish(messages)
        for outcome in outcomes where outcome != .confirmed {
            // Never drop one silently: the caller does not ack, and retries after reconnecting.
            throw .library(
                operation: "publishing to the invalid queue '\(queue)'", status: 0,
                message: "the broker answered \(outcome)")
        }
    }
}
