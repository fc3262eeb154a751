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

/// A closure handed to a new thread.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Runs `body` on a thread of its own and waits for it: long CPU-bound work (and a busy
/// loop) must not hold the test process's few cooperative threads, which other suites share.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let box = Unmanaged.passRetained(ThreadBody { continuation.resume(returning: body()) }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { argument in
                Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box)
        precondition(status == 0, "pthread_create: \(status)")
        pthread_detach(thread)
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

@Suite("accountservice loading a snapshot", .enabled(if: TestBroker.enabled), .serialized)
struct SnapshotLoadingTests {
    @Test("the read API answers at once, /ready 503 LOADING while a large snapshot loads, then READY")
    func readyIsLoadingWhileTheSnapshotLoads() async throws {
        let topology = uniqueTopology("loading")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let directory = "/tmp/accountservice-loading-test-\(UInt32.random(in: 0...UInt32.max))"
            defer { _ = system("rm -rf '\(directory)'") }
            // A stream of 100,000 events is slow to publish; the snapshot says it covers them, and
            // the stream holds that many only in its tail: one event at offset 0 and the snapshot at offset 0.
            try await publish([TestEvent.opened("acc-0")], to: topology)
            let store = AccountStore(parkingLimit: 10_000)
            let identity = Snapshotter.identity(
                stream: topology.stream, exchange: topology.exchange, parkingLimit: 10_000)
            let bytes = try #require(
                await onThread { () -> [UInt8]? in
                    for start in stride(from: 0, to: 100_000, by: 10_000) {
                        var events = openedEvents(10_000, from: start)
                        for i in events.indices {
                            let origin = events[i].1
                            events[i].1 = EventOrigin(
                                body: origin.body, deferredProperties: origin.deferredProperties,
                                routingKey: origin.routingKey,
                                offset: 0)
                        }
                        _ = store.apply(events, received: 10_000)
                    }
                    return store.snapshotBytes(identity: identity)?.bytes
                })
            try SnapshotFile(directory: directory).write(bytes)

            let service = try await ServiceProcess(
                topology: topology, replica: "loading", extraEnvironment: ["SNAPSHOT_DIR": directory])
            var states: [String] = []
            for _ in 0..<3000 {
                guard let ready = service.get("/ready") else { continue }
                let state = ready.bodyText
                if states.last != state { states.append(state) }
                if ready.status == 200 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(states.first == #"{"status":"LOADING"}"#, "states seen: \(states); log:\n\(service.log)")
            #expect(states.last == #"{"status":"READY"}"#, "states seen: \(states); log:\n\(service.log)")
            #expect(service.get("/accounts/acc-99999")?.status == 200)
            #expect(await service.terminate() == 0)
        }
    }
}
