import AMQP
import Testing

@testable import AccountConsumer

@Suite("When the stream consumer acks")
struct AckWindowTests {
    private static func batch(_ tags: ClosedRange<UInt64>) -> [AMQPDelivery] {
        tags.map { AMQPDelivery(deliveryTag: $0, body: []) }
    }

    @Test("once a quarter of the prefetch window is handled, with the last tag; the rest at the end")
    func quarterOfPrefetch() {
        var window = AckWindow(prefetch: 1000)
        #expect(window.handled(Self.batch(1...100)) == nil)
        #expect(window.handled(Self.batch(101...200)) == nil)
        #expect(window.handled(Self.batch(201...260)) == 260)
        #expect(window.handled(Self.batch(261...400)) == nil)
        #expect(window.rest() == 400)
        #expect(window.rest() == nil)
    }

    @Test("never later than the broker's credit runs out, whatever the batch sizes")
    func neverStalls() {
        for prefetch in [1, 2, 3, 10, 100, 999, 1000, 65535] as [UInt16] {
            var window = AckWindow(prefetch: prefetch)
            var unacked = 0
            var tag: UInt64 = 0
            for size in [1, 7, 3, 50, 1, 200, 13] {
                // The broker sends no more than `prefetch` unacked deliveries.
                let count = min(size, Int(prefetch) - unacked)
                guard count > 0 else {
                    Issue.record("prefetch \(prefetch): \(unacked) deliveries unacked, the broker would stop")
                    break
                }
                let batch = Self.batch((tag + 1)...(tag + UInt64(count)))
                tag += UInt64(count)
                unacked += count
                if let acked = window.handled(batch) {
                    #expect(acked == tag)
                    unacked = 0
                }
                #expect(unacked < max(1, Int(prefetch) / 4) || unacked == 0)
            }
        }
    }

    @Test("an empty batch changes nothing")
    func emptyBatch() {
        var window = AckWindow(prefetch: 4)
        #expect(window.handled([]) == nil)
        #expect(window.rest() == nil)
        #expect(window.handled(Self.batch(1...1)) == 1)
    }
}
