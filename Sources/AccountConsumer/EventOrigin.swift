public import AMQP

/// What the service keeps of a delivery so that, if the event is rejected (now, or later
/// from the parking lot), it can go to the invalid queue with its original body,
/// properties, headers and routing key (docs/events.md#rejections-and-the-invalid-queue).
///
/// A class: it travels with every event through the batch, the projection and the parking
/// lot, and a copy is then one reference count instead of one per string it holds.
public final class EventOrigin: Sendable {
    public let body: [UInt8]
    /// As received; decoded only when the event goes to the invalid queue or a snapshot.
    public let deferredProperties: DeferredProperties
    public let routingKey: String
    public let offset: Int64?
    /// The body's size as sent: above `body.count` when only an excerpt of it was kept.
    public let originalBodySize: Int

    public init(
        body: [UInt8], deferredProperties: DeferredProperties, routingKey: String, offset: Int64?,
        originalBodySize: Int? = nil
    ) {
        self.body = body
        self.originalBodySize = originalBodySize ?? body.count
        self.deferredProperties = deferredProperties
        self.routingKey = routingKey
        self.offset = offset
    }

    public convenience init(body: [UInt8], properties: AMQPProperties, routingKey: String, offset: Int64?) {
        self.init(
            body: body, deferredProperties: DeferredProperties(properties), routingKey: routingKey, offset: offset)
    }

    public var properties: AMQPProperties { deferredProperties.value }

    /// True when `body` is only the start of what was sent.
    public var isExcerpt: Bool { originalBodySize > body.count }

    /// Bytes this origin holds, for the byte bounds on what is kept.
    public var heldBytes: Int { body.count + deferredProperties.encodedCount + routingKey.utf8.count + 64 }
}
