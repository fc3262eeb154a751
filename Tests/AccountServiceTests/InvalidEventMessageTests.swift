import AccountProjection
import CRabbitMQ
import Testing

@testable import AMQP
@testable import AccountConsumer

/// What goes to the invalid queue is always sendable: whatever the producer put in the
/// properties and headers, the message must fit the protocol and one frame, or the
/// publish fails on every retry and the consumer stalls (docs/events.md#rejections-and-the-invalid-queue).
@Suite("Invalid-queue messages")
struct InvalidEventMessageTests {
    static func rejected(
        _ properties: AMQPProperties, routingKey: String = "account.opened"
    ) -> RejectedEvent<
        EventOrigin
    > {
        RejectedEvent(
            reason: .unknownType, detail: "unknown event type \"X\"",
            origin: EventOrigin(body: Array("{}".utf8), properties: properties, routingKey: routingKey, offset: 42))
    }

    @Test func anOrdinaryMessageKeepsEveryPropertyAndHeaderAndGetsTheFourXHeaders() {
        let properties = AMQPProperties(
            contentType: "application/json", contentEncoding: "identity",
            headers: ["traceparent": .string("00-abc-def-01"), "n": .int32(7)], deliveryMode: 2, priority: 3,
            correlationID: "c", replyTo: "r", messageID: "m", timestamp: 1_700_000_000, type: "MoneyDeposited",
            appID: "a")
        let message = InvalidEventPublisher.message(for: Self.rejected(properties), queue: "invalid")
        var expected = properties
        expected.headers = [
            "traceparent": .string("00-abc-def-01"), "n": .int32(7), "x-error": .string("unknown_type"),
            "x-error-detail": .string("unknown event type \"X\""), "x-original-routing-key": .string("account.opened"),
            "x-stream-offset": .int64(42),
        ]
        #expect(message.properties == expected)
        #expect(message.body == Array("{}".utf8))
        #expect(message.routingKey == "invalid" && message.exchange == "" && message.mandatory)
    }

    @Test func forgedXHeadersAreReplacedNotDuplicated() {
        let properties = AMQPProperties(headers: ["x-error": .string("none"), "x-stream-offset": .string("9")])
        let headers = InvalidEventPublisher.message(for: Self.rejected(properties), queue: "q").properties.headers
        #expect(headers?.entries.filter { $0.key == "x-error" }.count == 1)
        #expect(headers?["x-error"] == .string("unknown_type"))
        #expect(headers?["x-stream-offset"] == .int64(42))
    }

    @Test func shortStringsRepairedPastTheLimitAreCutAtAScalarBoundary() {
        // 255 bytes that were not UTF-8 read back as 255 U+FFFD: 765 bytes.
        let repaired = String(repeating: "\u{FFFD}", count: 255)
        let properties = AMQPProperties(
            contentType: repaired, contentEncoding: repaired, correlationID: repaired, replyTo: repaired,
            messageID: repaired, type: repaired, appID: repaired, clusterID: repaired)
        let sent = InvalidEventPublisher.message(for: Self.rejected(properties), queue: "q").properties
        for value in [
            sent.contentType, sent.contentEncoding, sent.correlationID, sent.replyTo, sent.messageID, sent.type,
            sent.appID, sent.clusterID,
        ] {
            #expect(value == String(repeating: "\u{FFFD}", count: 85))  // 255 bytes
        }
        #expect(InvalidEventPublisher.shortString("ab" + String(repeating: "é", count: 200)).utf8.count == 254)
        #expect(InvalidEventPublisher.shortString(String(repeating: "x", count: 255)).utf8.count == 255)
    }

    @Test func headerNamesAreCutToTheLimitAtEveryDepth() throws {
        let long = String(repeating: "\u{FFFD}", count: 255)
        let properties = AMQPProperties(headers: [
            long: .bool(true),
            "nested": .table([long: .array([.table([long: .void])])]),
        ])
        let headers = try #require(
            InvalidEventPublisher.message(for: Self.rejected(properties), queue: "q").properties.headers)
        var keys: [String] = []
        func collect(_ table: AMQPTable) {
            for entry in table.entries {
                keys.append(entry.key)
                collect(entry.value)
            }
        }
        func collect(_ value: AMQPFieldValue) {
            switch value {
            case .table(let table): collect(table)
            case .array(let values): values.forEach(collect)
            default: break
            }
        }
        collect(headers)
        #expect(keys.count == 8)
        #expect(keys.allSatisfy { $0.utf8.count <= 255 })
    }

    @Test func userIdAndExpirationTravelAsHeaders() {
        // The broker refuses a user_id that is not the publisher's login; an expiration
        // would let the invalid queue drop the message.
        let properties = AMQPProperties(expiration: "1", userID: "producer")
        let sent = InvalidEventPublisher.message(for: Self.rejected(properties), queue: "q").properties
        #expect(sent.userID == nil)
        #expect(sent.expiration == nil)
        #expect(sent.headers?["x-original-user-id"] == .string("producer"))
        #expect(sent.headers?["x-original-expiration"] == .string("1"))
    }

    @Test(arguments: [130_900, 131_060, 400_000])
    func originalHeadersThatNoLongerFitOneFrameAreLeftOut(size: Int) throws {
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["big": .bytes([UInt8](repeating: 1, count: size))],
            messageID: "m")
        let sent = InvalidEventPublisher.message(
            for: Self.rejected(properties, routingKey: String(repeating: "r", count: 255)), queue: "q",
            frameMax: 131_072
        ).properties
        #expect(InvalidEventPublisher.encodedSize(sent) <= 131_072 - 20)
        let headers = try #require(sent.headers)
        #expect(headers["big"] == nil)
        #expect(headers["x-original-headers-dropped"]?.stringValue?.contains("did not fit") == true)
        #expect(headers["x-error"] == .string("unknown_type"))
        #expect(headers["x-stream-offset"] == .int64(42))
        #expect(sent.contentType == "application/json" && sent.messageID == "m")
    }

    @Test func headersThatStillFitAreKept() {
        let properties = AMQPProperties(headers: ["big": .bytes([UInt8](repeating: 1, count: 120_000))])
        let sent = InvalidEventPublisher.message(for: Self.rejected(properties), queue: "q", frameMax: 131_072)
        #expect(sent.properties.headers?["big"] == .bytes([UInt8](repeating: 1, count: 120_000)))
        #expect(sent.properties.headers?["x-original-headers-dropped"] == nil)
    }

    /// The size the budget is computed with is what librabbitmq writes, for every field kind.
    @Test func encodedSizesAgreeWithLibrabbitmq() {
        let table: AMQPTable = [
            "bool": .bool(true), "i8": .int8(-1), "u8": .uint8(1), "i16": .int16(-2), "u16": .uint16(2),
            "i32": .int32(-3), "u32": .uint32(3), "i64": .int64(-4), "u64": .uint64(4), "f": .float(1.5),
            "d": .double(2.5), "dec": .decimal(scale: 2, value: 12345), "s": .string("héllo"),
            "x": .bytes([0, 1, 2]), "t": .timestamp(5), "void": .void,
            "a": .array([.int32(1), .string("a"), .array([]), .table(["k": .void])]),
            "nested": .table(["inner": .table(["deep": .string("x")])]), "": .string(""),
        ]
        let arena = CArena()
        var cTable = arena.table(table)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var offset = 0
        let status = buffer.withUnsafeMutableBytes { raw in
            amqp_encode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &cTable, &offset)
        }
        #expect(status == AMQP_STATUS_OK.rawValue)
        #expect(InvalidEventPublisher.encodedSize(table) == offset)
    }
}
