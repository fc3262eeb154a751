import Testing

@testable import AMQP

@Suite("Delivery batching bounds, with an injected clock")
struct DeliveryBatcherTests {
    @Test("the batch limit is a fifth of the prefetch, at least 1, at most 512, and 512 without one")
    func batchLimit() {
        #expect(DeliveryBatcher.batchLimit(prefetch: 0) == 512)
        #expect(DeliveryBatcher.batchLimit(prefetch: 1) == 1)
        #expect(DeliveryBatcher.batchLimit(prefetch: 100) == 20)
        #expect(DeliveryBatcher.batchLimit(prefetch: 2560) == 512)
        #expect(DeliveryBatcher.batchLimit(prefetch: 65535) == 512)
    }

    @Test("a delivery stays a few words wide, whichever form its properties are kept in")
    func aDeliveryIsSmall() {
        // Moved and released several times per message; with the decoded properties (a dozen
        // optional fields) inline it was 281 bytes, and every copy walked them.
        #expect(MemoryLayout<DeferredProperties>.size <= 9)
        #expect(MemoryLayout<AMQPDelivery>.size <= 112)
        let decoded = AMQPDelivery(
            deliveryTag: 1, properties: AMQPProperties(contentType: "application/json", messageID: "m-1"), body: [1])
        #expect(decoded.properties.messageID == "m-1")
        #expect(decoded.properties.contentType == "application/json")
        #expect(decoded.deferredProperties.encodedCount == 0)
    }

    @Test("a consumer's batch is full at its limit; batches keep order and stay per consumer")
    func fullBatch() {
        let clock = ManualClock()
        var batcher = DeliveryBatcher(now: { clock.nanoseconds })
        #expect(batcher.isEmpty)
        var full: [Bool] = []
        for (tag, consumer) in [(1, "a"), (2, "b"), (3, "a"), (4, "a")] {
            full.append(batcher.append(delivery(UInt64(tag), consumer: consumer), consumerTag: consumer, batchLimit: 3))
        }
        #expect(full == [false, false, false, true], "full when consumer a has 3, whatever b has")
        let batches = batcher.takeAll()
        #expect(batches.map(\.consumerTag) == ["a", "b"])
        #expect(batches[0].deliveries.map(\.deliveryTag) == [1, 3, 4])
        #expect(batches[1].deliveries.map(\.deliveryTag) == [2])
        #expect(batcher.isEmpty)
        #expect(batcher.takeAll().isEmpty)
    }

    @Test("a drained socket hands the batch over at once, however small and young")
    func drainedSocketHandsOverAtOnce() {
        let clock = ManualClock()
        var batcher = DeliveryBatcher(now: { clock.nanoseconds })
        #expect(batcher.takeAfterRead(socketDrained: true).isEmpty, "nothing pending, nothing to hand over")
        _ = batcher.append(delivery(1, consumer: "a"), consumerTag: "a", batchLimit: 200)
        _ = batcher.append(delivery(2, consumer: "b"), consumerTag: "b", batchLimit: 200)
        let batches = batcher.takeAfterRead(socketDrained: true)
        #expect(batches.map(\.consumerTag) == ["a", "b"])
        #expect(batches.flatMap(\.deliveries).map(\.deliveryTag) == [1, 2])
        #expect(batcher.isEmpty)
    }

    @Test("a busy socket still batches up to the bound: a replay's 200 deliveries go out as one")
    func busySocketBatchesUpToTheBound() {
        let clock = ManualClock()
        var batcher = DeliveryBatcher(now: { clock.nanoseconds })
        var full = false
        for tag in 1...200 {
            // A replay: each read leaves more on the socket, 20 µs of the clock per delivery.
            clock.advance(.microseconds(20))
            full = batcher.append(delivery(UInt64(tag), consumer: "a"), consumerTag: "a", batchLimit: 200)
            if full { break }
            #expect(batcher.takeAfterRead(socketDrained: false).isEmpty, "handed over early at \(tag)")
        }
        #expect(full, "the 200th delivery fills the batch")
        #expect(batcher.takeAll().first?.deliveries.count == 200)
    }

    @Test("a socket that never drains still hands over maxLinger (5 ms) after the oldest delivery")
    func maxLinger() {
        let clock = ManualClock()
        var batcher = DeliveryBatcher(now: { clock.nanoseconds })
        #expect(!batcher.lingeredLongEnough, "nothing pending")
        _ = batcher.append(delivery(1, consumer: "a"), consumerTag: "a", batchLimit: 512)
        clock.advance(.milliseconds(4))
        _ = batcher.append(delivery(2, consumer: "a"), consumerTag: "a", batchLimit: 512)
        #expect(batcher.takeAfterRead(socketDrained: false).isEmpty)
        clock.advance(.milliseconds(1))
        #expect(batcher.lingeredLongEnough)
        #expect(batcher.takeAfterRead(socketDrained: false).first?.deliveries.map(\.deliveryTag) == [1, 2])
        #expect(!batcher.lingeredLongEnough, "the clock restarts with the next batch")
        _ = batcher.append(delivery(3, consumer: "a"), consumerTag: "a", batchLimit: 512)
        clock.advance(.milliseconds(4))
        #expect(!batcher.lingeredLongEnough)
        #expect(batcher.takeAfterRead(socketDrained: false).isEmpty)
    }

    @Test("an ending consumer takes its own pending deliveries, leaving the others")
    func takeOneConsumer() {
        let clock = ManualClock()
        var batcher = DeliveryBatcher(now: { clock.nanoseconds })
        _ = batcher.append(delivery(1, consumer: "a"), consumerTag: "a", batchLimit: 10)
        _ = batcher.append(delivery(2, consumer: "b"), consumerTag: "b", batchLimit: 10)
        let taken = batcher.take(consumerTag: "a")
        let again = batcher.take(consumerTag: "a")
        let rest = batcher.takeAll()
        #expect(taken?.map(\.deliveryTag) == [1])
        #expect(again == nil)
        #expect(rest.map(\.consumerTag) == ["b"])
    }
}
