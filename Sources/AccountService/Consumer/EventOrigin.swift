public import AMQP

/// What the service keeps of a delivery so that, if the event is rejected (now, or later
/// from the parking lot), it can go to the invalid queue with its original body,
/// properties, headers and routing key (CONTRACT §3.4, §6).
public struct EventOrigin: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var routingKey: String
    public var offset: Int64?

    public init(body: [UInt8], properties: AMQPProperties, routingKey: String, offset: Int64?) {
        self.body = body
        self.properties = properties
        self.routingKey = routingKey
        self.offset = offset
    }

    public init(_ delivery: AMQPDelivery) {
        self.init(
            body: delivery.body, properties: delivery.properties, routingKey: delivery.routingKey,
            offset: delivery.streamOffset)
    }
}
