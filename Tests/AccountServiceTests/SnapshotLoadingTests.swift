import AMQP
import AccountMessaging
import AccountProjection
import Synchronization
import TestSupport
import Testing

@testable import AccountService

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
        for start in stride(from: 0, to: 60_000, by: 10_000) {
            _ = store.apply(openedEvents(10_000, from: start), received: 10_000)
        }
        let encoding = Atomic<Bool>(true)
        let clock = ContinuousClock()
        let started = clock.now
        let snapshot = Task.detached {
            defer { encoding.store(false, ordering: .sequentiallyConsistent) }
            return store.snapshotBytes(identity: "i")
        }
        var slowest: Duration = .zero
        var readsDuring = 0
        // Bounded: the encoding of 60,000 accounts ends in seconds.
        for _ in 0..<10_000_000 where encoding.load(ordering: .sequentiallyConsistent) {
            let before = clock.now
            _ = store.statistics()
            _ = store.readiness()
            slowest = max(slowest, clock.now - before)
            readsDuring += 1
        }
        let bytes = try #require(await snapshot.value)
        let encodingTook = clock.now - started
        #expect(bytes.offset == 59_999)
        #expect(readsDuring > 10, "only \(readsDuring) reads while the snapshot encoded in \(encodingTook)")
        #expect(slowest < encodingTook / 4, "a read waited \(slowest) of the \(encodingTook) encoding")
    }

    @Test("a store restored from a snapshot taken while it is being written to is whole")
    func snapshotIsConsistentWhileApplying() async throws {
        let store = AccountStore(parkingLimit: 10)
        _ = store.apply(openedEvents(20_000), received: 20_000)
        let writer = Task.detached {
            for start in stride(from: 20_000, to: 40_000, by: 1_000) {
                _ = store.apply(openedEvents(1_000, from: start), received: 1_000)
            }
        }
        let (bytes, offset) = try #require(store.snapshotBytes(identity: "i"))
        await writer.value
        let restored = AccountStore(parkingLimit: 10)
        let (restoredOffset, accounts) = try restored.restore(from: bytes, identity: "i")
        #expect(restoredOffset == offset)
        #expect(accounts == Int(offset) + 1, "the snapshot's accounts match its offset")
    }
}

@Suite("accountservice loading a snapshot", .enabled(if: TestBroker.enabled), .serialized)
struct SnapshotLoadingTests {
    @Test("the read API answers at once, /ready 503 LOADING while a large snapshot loads, then READY")
    func readyIsLoadingWhileTheSnapshotLoads() async throws {
        let topology = uniqueTopology("loading")
        defer { Task { await deleteTopology(topology) } }
        let directory = "/tmp/accountservice-loading-test-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = system("rm -rf '\(directory)'") }
        // A stream of 100,000 events is slow to publish; the snapshot says it covers them, and
        // the stream holds that many only in its tail: one event at offset 0 and the snapshot at offset 0.
        try await publish([TestEvent.opened("acc-0")], to: topology)
        let store = AccountStore(parkingLimit: 10_000)
        for start in stride(from: 0, to: 100_000, by: 10_000) {
            var events = openedEvents(10_000, from: start)
            for i in events.indices {
                let origin = events[i].1
                events[i].1 = EventOrigin(
                    body: origin.body, deferredProperties: origin.deferredProperties, routingKey: origin.routingKey,
                    offset: 0)
            }
            _ = store.apply(events, received: 10_000)
        }
        let identity = Snapshotter.identity(
            stream: topology.stream, exchange: topology.exchange, parkingLimit: 10_000)
        let (bytes, _) = try #require(store.snapshotBytes(identity: identity))
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
