/// A value in an AMQP field table (arguments, message headers).
/// Not `indirect`: the nested cases hold arrays, already on the heap, and an indirect enum would
/// box every value (two allocations per delivery for its headers).
public enum AMQPFieldValue: Sendable, Equatable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(scale: UInt8, value: UInt32)
    /// A long string ('S'). Bytes that are not UTF-8 are repaired on the way in.
    case string(String)
    /// A byte array ('x').
    case bytes([UInt8])
    case timestamp(UInt64)
    case array([AMQPFieldValue])
    case table(AMQPTable)
    case void

    /// The value as a 64-bit signed integer, for any integer kind that holds it.
    public var int64Value: Int64? {
        switch self {
        case .int8(let v): return Int64(v)
        case .uint8(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int64(let v): return v
        case .uint64(let v): return Int64(exactly: v)
        case .timestamp(let v): return Int64(exactly: v)
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// An AMQP field table: ordered entries, as they go on the wire.
public struct AMQPTable: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: AMQPFieldValue

        public init(key: String, value: AMQPFieldValue) {
            self.key = key
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        self.entries = elements.map { Entry(key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// The value of the last entry with this key; setting replaces it or appends one.
    public subscript(key: String) -> AMQPFieldValue? {
        get { entries.last(where: { $0.key == key })?.value }
        set {
            entries.removeAll { $0.key == key }
            if let newValue { entries.append(Entry(key: key, value: newValue)) }
        }
    }
}

/// The basic-class properties of a message. Nil means absent on the wire.
public struct AMQPProperties: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable?
    /// 2 for persistent, 1 for transient.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?
    public var clusterID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil,
        clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }
}

/// A message's basic properties, kept as they came off the wire until someone asks for them.
///
/// A consumer that reads only the body and the stream offset (the account service, for every
/// event it applies) then pays for one copy of the encoded bytes, not for a String per property
/// and an array for the headers.
public struct DeferredProperties: Sendable {
    enum Storage: Sendable {
        // Boxed: inline, the dozen optional properties made every delivery 281 bytes (97 boxed),
        // and each copy and release of one (several per message) walked them all.
        indirect case decoded(AMQPProperties)
        case encoded([UInt8])
    }

    let storage: Storage

    public init(_ properties: AMQPProperties) {
        storage = .decoded(properties)
    }

    /// AMQP-encoded basic properties (the property flags, then each property present).
    init(encoded: [UInt8]) {
        storage = .encoded(encoded)
    }

    /// The properties, decoded (again) on each call for the encoded form.
    public var value: AMQPProperties {
        switch storage {
        case .decoded(let properties): properties
        case .encoded(let bytes): AMQPProperties(encoded: bytes)
        }
    }

    /// Bytes held for the encoded form (0 for decoded ones, which hold no buffer of their own).
    public var encodedCount: Int {
        if case .encoded(let bytes) = storage { return bytes.count }
        return 0
    }
}

/// A message received from a queue or stream.
public struct AMQPDelivery: Sendable {
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var consumerTag: String
    /// The properties as received; `properties` decodes them.
    public private(set) var deferredProperties: DeferredProperties
    public var body: [UInt8]
    /// The size of the body as sent; above `body.count` when the connection's
    /// `maxBodyBytes` cut it (the rest was read and dropped).
    public var bodySize: Int
    /// The stream offset RabbitMQ puts in the `x-stream-offset` header of each
    /// delivery from a stream; nil for classic and quorum queues.
    public private(set) var streamOffset: Int64?

    public init(
        deliveryTag: UInt64,
        redelivered: Bool = false,
        exchange: String = "",
        routingKey: String = "",
        consumerTag: String = "",
        properties: AMQPProperties = AMQPProperties(),
        body: [UInt8]
    ) {
        self.init(
            deliveryTag: deliveryTag, redelivered: redelivered, exchange: exchange, routingKey: routingKey,
            consumerTag: consumerTag, deferredProperties: DeferredProperties(properties),
            streamOffset: Self.streamOffset(in: properties), body: body)
    }

    init(
        deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, consumerTag: String,
        deferredProperties: DeferredProperties, streamOffset: Int64?, body: [UInt8], bodySize: Int? = nil
    ) {
        self.bodySize = bodySize ?? body.count
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.consumerTag = consumerTag
        self.deferredProperties = deferredProperties
        self.streamOffset = streamOffset
        self.body = body
    }

    public var properties: AMQPProperties {
        get { deferredProperties.value }
        set {
            deferredProperties = DeferredProperties(newValue)
            streamOffset = Self.streamOffset(in: newValue)
        }
    }

    static func streamOffset(in properties: AMQPProperties) -> Int64? {
        properties.headers?["x-stream-offset"]?.int64Value
    }
}

/// A message to publish.
public struct AMQPMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    /// Ask the broker to return the message when no queue takes it.
    public var mandatory: Bool

    public init(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// What became of a published message.
public enum PublishOutcome: Sendable, Equatable {
    /// The broker confirmed it (publisher confirms on).
    case confirmed
    /// The broker nacked it: it was not stored.
    case nacked
    /// The broker returned it as unroutable (a `mandatory` publish that no queue took).
    case returned(code: UInt16, reply: String)
    /// Written to the socket; the channel is not in confirm mode, so nothing more is known.
    case sent
}

/// What `queue.declare` answers.
public struct QueueDeclareResult: Sendable, Equatable {
    public var queue: String
    /// For a stream this lags by seconds: never take it as the end of the log.
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
