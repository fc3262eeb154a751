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

/// A projection of `count` opened accounts, as a store and as snapshot bytes. (A copy of the one in
/// AccountServiceTests/SnapshotLoadingTests.swift: TestSupport cannot see the service's types.)
private func openedEvents(_ count: Int, from first: Int = 0) -> [(Result<Event, EventProblem>, EventOrigin)] {
    (first..<first + count).map { n in
        let body = TestEvent.opened("acc-\(n)", owner: "Owner \(n)", at: n % 60)
        return (
            EventDecoder.decode(body),
            EventOrigin(body: body, properties: AMQPProperties(), routingKey: "account.opened", offset: Int64(n))
        )
    }
}

@Suite(
    "accountservice loading a snapshot", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled),
    .serialized)
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
