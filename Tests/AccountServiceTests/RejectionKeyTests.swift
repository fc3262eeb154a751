import AMQP
import AccountProjection
import TestSupport
import Testing

@testable import AccountConsumer

/// Where a rejection is decided, the key the invalid queue's publisher goes forward by
/// (docs/events.md#once-whatever-the-replicas-and-replays), without a broker.
@Suite("rejection keys")
struct RejectionKeyTests {
    static func event(_ offset: Int64, _ body: [UInt8]) -> (decoded: Result<Event, EventProblem>, origin: EventOrigin) {
        (
            body.withUnsafeBytes { EventDecoder.decode($0) },
            EventOrigin(body: body, properties: AMQPProperties(), routingKey: "k", offset: offset)
        )
    }

    @Test("a parked event evicted later is keyed where it was evicted, after rejections at higher offsets than its own")
    func evictedParkedEventIsKeyedAtTheEviction() {
        let store = AccountStore(parkingLimit: 1)
        let batch = [
            Self.event(0, TestEvent.opened("acc-k")),
            Self.event(1, TestEvent.deposited("acc-k", 5, 1)),  // parked
            Self.event(2, Array("not json".utf8)),
            Self.event(3, TestEvent.deposited("acc-k", 7, 1)),  // parked: evicts offset 1
        ]
        let rejected = store.applyDeciding(batch, received: batch.count)
        #expect(rejected.map(\.event.origin.offset) == [2, 1])
        #expect(rejected.map(\.key) == [RejectionKey(offset: 2, index: 0), RejectionKey(offset: 3, index: 0)])
        #expect(rejected.map(\.event.reason) == [.malformedJSON, .sequenceGap])
    }

    @Test("keys order by offset, then by their place among the rejections decided there")
    func keysOrder() {
        #expect(RejectionKey(offset: 3, index: 1) > RejectionKey(offset: 3, index: 0))
        #expect(RejectionKey(offset: 4, index: 0) > RejectionKey(offset: 3, index: 9))
    }

    @Test("a message without a key counts as everything decided at its own offset; none without an offset")
    func keyFromHeaders() {
        let keyed: AMQPTable = [
            "x-decided-at-offset": .int64(8), "x-decided-index": .int64(1), "x-stream-offset": .int64(2),
        ]
        #expect(InvalidEventPublisher.key(in: keyed) == RejectionKey(offset: 8, index: 1))
        #expect(InvalidEventPublisher.key(in: ["x-stream-offset": .int64(5)]) == RejectionKey(offset: 5, index: .max))
        #expect(InvalidEventPublisher.key(in: ["x-error": .string("too_large")]) == nil)
        let marker = InvalidEventPublisher.marker(RejectionKey(offset: 12, index: 0), queue: "q")
        #expect(marker.routingKey == "q.published")
        #expect(InvalidEventPublisher.key(in: marker.properties.headers) == RejectionKey(offset: 12, index: 0))
    }

    @Test("the key travels as x-decided-* headers, counted in the one-frame budget", arguments: [130_900, 130_990])
    func keyHeadersFitTheFrame(size: Int) throws {
        let properties = AMQPProperties(headers: ["big": .bytes([UInt8](repeating: 1, count: size))])
        let sent = InvalidEventPublisher.message(
            for: InvalidEventMessageTests.rejected(properties), queue: "q", frameMax: 131_072,
            key: RejectionKey(offset: 42, index: 2)
        ).properties
        #expect(InvalidEventPublisher.encodedSize(sent) <= 131_072 - 20)
        let headers = try #require(sent.headers)
        #expect(headers["x-decided-at-offset"] == .int64(42))
        #expect(headers["x-decided-index"] == .int64(2))
    }
}
