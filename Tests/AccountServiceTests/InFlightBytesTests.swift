import AMQP
import Testing

@testable import AccountConsumer

@Suite("Deliveries in flight are bounded in bytes")
struct InFlightBytesTests {
    private func settings(prefetch: UInt16, bytes: Int) -> ConsumerSettings {
        var settings = ConsumerSettings(amqp: AMQPConfiguration(), prefetch: prefetch)
        settings.maxInFlightBytes = bytes
        return settings
    }

    @Test("the prefetch is lowered so that that many of the largest deliveries fit the byte bound")
    func prefetchFitsTheBound() {
        // The largest delivery: a 64 KiB body excerpt and a 128 KiB frame of properties.
        let largest = 65_536 + 131_072
        #expect(settings(prefetch: 1000, bytes: 48 << 20).effectivePrefetch == UInt16((48 << 20) / largest))
        #expect(settings(prefetch: 100, bytes: 48 << 20).effectivePrefetch == 100)
        #expect(settings(prefetch: 1000, bytes: 0).effectivePrefetch == 1)
        #expect(Int(settings(prefetch: 65535, bytes: 48 << 20).effectivePrefetch) * largest <= 48 << 20)
    }

    @Test("a delivery cut on arrival is too_large by the size it was sent with")
    func cutDeliveryIsTooLarge() {
        let delivery = AMQPDelivery(deliveryTag: 1, body: Array("{}".utf8))
        var cut = delivery
        cut.bodySize = 3 << 20
        guard case .failure(let problem) = StreamConsumer.decode(body: cut.body, size: cut.bodySize) else {
            Issue.record("a cut body decoded")
            return
        }
        #expect(problem.reason == .tooLarge)
        #expect(problem.detail == "body is 3145728 bytes; the limit is 65536")
        guard case .failure(let whole) = StreamConsumer.decode(body: delivery.body, size: delivery.bodySize) else {
            return
        }
        #expect(whole.reason != .tooLarge)
    }
}
