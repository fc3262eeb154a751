import AMQP
import AccountMessaging
import AccountProjection
import Synchronization
import TestSupport
import Testing

@testable import AccountConsumer

#if canImport(Glibc)
    import Glibc
#endif

/// A projection of `count` opened accounts, as a store and as snapshot bytes.
private func openedEvents(_ count: Int, from first: Int = 0) -> [(Result<Event, EventProblem>, EventOrigin)] {
    (first..<first + count).map { n in
        let body = TestEvent.opened("acc-\(n)", owner: "Owner \(n)", at: n % 60)
        return (
            EventDecoder.decode(body),
            EventOrigin(body: body, properties: AMQPProperties(), routingKey: "account.opened", offset: Int64(n))
        )
    }
}

@Suite("Snapshots and the store's lock")
struct SnapshotLockTests {
    @Test("readers are answered while a snapshot encodes: no read waits for the encoding")
    func readersGoOnWhileASnapshotEncodes() async throws {
        let store = AccountStore(parkingLimit: 10)
        await onThread {
            for start in stride(from: 0, to: 60_000, by: 10_000) {
                _ = store.apply(openedEvents(10_000, from: start), received: 10_000)
            }
        }
        let encoding = Atomic<Bool>(true)
        let clock = ContinuousClock()
        let started = clock.now
        async let snapshot = onThread {
            defer { encoding.store(false, ordering: .sequentiallyConsistent) }
            return store.snapshotBytes(identity: "i")
        }
        let (slowest, readsDuring) = await onThread { () -> (Duration, Int) in
            var slowest: Duration = .zero
            var reads = 0
            // Bounded: the encoding of 60,000 accounts ends in seconds.
            for _ in 0..<10_000_000 where encoding.load(ordering: .sequentiallyConsistent) {
                let before = clock.now
                _ = store.statistics()
                _ = store.readiness()
                slowest = max(slowest, clock.now - before)
                reads += 1
            }
            return (slowest, reads)
        }
        let bytes = try #require(await snapshot)
        let encodingTook = clock.now - started
        #expect(bytes.offset == 59_999)
        #expect(readsDuring > 10, "only \(readsDuring) reads while the snapshot encoded in \(encodingTook)")
        #expect(slowest < encodingTook / 4, "a read waited \(slowest) of the \(encodingTook) encoding")
    }

    @Test("a store restored from a snapshot taken while it is being written to is whole")
    func snapshotIsConsistentWhileApplying() async throws {
        let store = AccountStore(parkingLimit: 10)
        await onThread { _ = store.apply(openedEvents(20_000), received: 20_000) }
        async let writer: Void = onThread {
            for start in stride(from: 20_000, to: 40_000, by: 1_000) {
                _ = store.apply(openedEvents(1_000, from: start), received: 1_000)
            }
        }
        let (bytes, offset) = try #require(await onThread { store.snapshotBytes(identity: "i") })
        await writer
        let restored = AccountStore(parkingLimit: 10)
        let (restoredOffset, accounts) = try await onThread {
            Result { try restored.restore(from: bytes, identity: "i") }
        }.get()
        #expect(restoredOffset == offset)
        #expect(accounts == Int(offset) + 1, "the snapshot's accounts match its offset")
    }
}
