import AMQP
import AccountMessaging
import TestSupport
import Testing

/// Each rejected event reaches the invalid queue once, however many replicas run and however
/// often they replay (docs/events.md#rejections-and-the-invalid-queue): real `accountservice`
/// processes against a real broker.
@Suite(
    "the invalid queue gets each rejection once", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled))
struct InvalidQueueOnceTests {
    /// `count` valid events and rejections interleaved, numbered from `from`: a malformed
    /// body after every valid one, and a parked event that a later one evicts as
    /// `sequence_gap` (with `PARKED_LIMIT=1`), decided after rejections at higher offsets.
    static func round(_ name: String, count: Int) -> (bodies: [[UInt8]], rejected: [[UInt8]]) {
        var bodies: [[UInt8]] = []
        var rejected: [[UInt8]] = []
        for index in 0..<count {
            bodies.append(TestEvent.opened("\(name)-\(index)"))
            let bad = Array("{\"round\": \"\(name)\", \"index\": \(index)".utf8)
            bodies.append(bad)
            rejected.append(bad)
        }
        let parked = TestEvent.deposited("\(name)-0", 9, 1)
        bodies.append(parked)
        bodies.append(Array("{\"round\": \"\(name)\", \"between\"".utf8))
        rejected.append(bodies.last!)
        bodies.append(TestEvent.deposited("\(name)-1", 3, 1))  // parked: evicts `parked`
        bodies.append(TestEvent.deposited("\(name)-1", 2, 1))  // applied, and sequence 3 after it
        rejected.append(parked)
        return (bodies, rejected)
    }

    static let environment = ["PARKED_LIMIT": "1"]

    /// The bodies in the invalid queue once it holds `expected` messages and, a moment
    /// later, still holds that many (a copy would come from a publish already under way).
    /// (The bodies as text, for readable failures.) Takes them out of the queue, and expects
    /// none left over.
    static func invalidQueueBodies(_ topology: Topology, expected: Int) async throws -> [String] {
        #expect(await waitForMessageCount(topology.invalidQueue, atLeast: expected), "the invalid queue stayed short")
        // Nothing to wait for here: this is the window in which a stray copy would show.
        try await Task.sleep(for: .seconds(1))
        let bodies = try await readQueue(topology.invalidQueue, count: expected, timeout: .seconds(10)).map {
            String(decoding: $0.body, as: UTF8.self)
        }
        #expect(try await messageCount(topology.invalidQueue) == 0, "copies left in the invalid queue")
        return bodies
    }

    static func text(_ bodies: [[UInt8]]) -> Set<String> { Set(bodies.map { String(decoding: $0, as: UTF8.self) }) }

    static func waitForMessageCount(_ queue: String, atLeast count: Int) async -> Bool {
        for _ in 0..<300 {
            if let held = try? await messageCount(queue), held >= count { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    static func messageCount(_ queue: String) async throws -> Int {
        let connection = try await TestBroker.connect()
        return try await cleaningUp({ await connection.close() }) {
            let channel = try await connection.openChannel()
            return Int(try await channel.declareQueue(queue, passive: true).messageCount)
        }
    }

    static func waitAll(_ replicas: [ServiceProcess], handled: Int) async {
        for replica in replicas {
            #expect(await replica.waitUntilHandled(handled, timeout: .seconds(60)), "log:\n\(replica.log)")
        }
    }

    static func publisher(among replicas: [ServiceProcess]) -> [ServiceProcess] {
        replicas.filter { $0.log.contains("now publishes rejections") }
    }

    @Test("3 replicas, two restarts that replay, rejections interleaved: exactly one copy of each")
    func threeReplicasTwoRestarts() async throws {
        let topology = uniqueTopology("once")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let first = Self.round("a", count: 8)
            try await publish(first.bodies, to: topology)
            var replicas: [ServiceProcess] = []
            for name in ["once-1", "once-2", "once-3"] {
                replicas.append(
                    try await ServiceProcess(topology: topology, replica: name, extraEnvironment: Self.environment))
            }
            var total = first.bodies.count
            var rejected = first.rejected
            await Self.waitAll(replicas, handled: total)

            for (round, restart) in [("b", 0), ("c", 1)] {
                // A restart without a snapshot replays the whole stream, rejections and all.
                #expect(await replicas[restart].terminate() == 0)
                let next = Self.round(round, count: 6)
                try await publish(next.bodies, to: topology)
                total += next.bodies.count
                rejected += next.rejected
                replicas[restart] = try await ServiceProcess(
                    topology: topology, replica: "once-\(restart + 1)", extraEnvironment: Self.environment)
                await Self.waitAll(replicas, handled: total)
            }

            let bodies = try await Self.invalidQueueBodies(topology, expected: rejected.count)
            #expect(bodies.count == rejected.count)
            #expect(Set(bodies) == Self.text(rejected))
            for replica in replicas {
                // Every replica counts every rejection, whoever published it.
                let stats = StatsView(try #require(replica.get("/stats")).bodyText)
                #expect(stats["invalid"] == Int64(rejected.count), "log:\n\(replica.log)")
            }
            #expect(Self.publisher(among: replicas).count <= 1)
            for replica in replicas { #expect(await replica.terminate() == 0) }
        }
    }

    @Test("killing the replica that publishes lets another one publish later rejections, once")
    func killedPublisherHandsOver() async throws {
        let topology = uniqueTopology("handover")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let first = Self.round("a", count: 3)
            try await publish(first.bodies, to: topology)
            let holder = try await ServiceProcess(
                topology: topology, replica: "hand-1", extraEnvironment: Self.environment)
            #expect(await holder.waitUntilHandled(first.bodies.count), "log:\n\(holder.log)")
            let other = try await ServiceProcess(
                topology: topology, replica: "hand-2", extraEnvironment: Self.environment)
            #expect(await other.waitUntilHandled(first.bodies.count), "log:\n\(other.log)")
            #expect(holder.log.contains("now publishes rejections"), "log:\n\(holder.log)")
            #expect(!other.log.contains("now publishes rejections"), "log:\n\(other.log)")
            #expect(await Self.waitForMessageCount(topology.invalidQueue, atLeast: first.rejected.count))

            await holder.kill9()
            let second = Self.round("b", count: 3)
            try await publish(second.bodies, to: topology)
            #expect(await other.waitUntilHandled(first.bodies.count + second.bodies.count), "log:\n\(other.log)")
            #expect(await other.wait(timeout: .seconds(30)) { other.log.contains("now publishes rejections") })

            let bodies = try await Self.invalidQueueBodies(
                topology, expected: first.rejected.count + second.rejected.count)
            #expect(bodies.count == first.rejected.count + second.rejected.count)
            #expect(Set(bodies) == Self.text(first.rejected + second.rejected))
            #expect(await other.terminate() == 0)
        }
    }

    @Test("an invalid queue worked off stays empty when the replica replays; later rejections still arrive")
    func workedOffQueueIsNotRefilled() async throws {
        let topology = uniqueTopology("workedoff")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let first = Self.round("a", count: 4)
            try await publish(first.bodies, to: topology)
            var service = try await ServiceProcess(
                topology: topology, replica: "off-1", extraEnvironment: Self.environment)
            #expect(await service.waitUntilHandled(first.bodies.count), "log:\n\(service.log)")
            let workedOff = try await readQueue(
                topology.invalidQueue, count: first.rejected.count, timeout: .seconds(30))
            #expect(workedOff.count == first.rejected.count)
            #expect(await service.terminate() == 0)

            service = try await ServiceProcess(topology: topology, replica: "off-1", extraEnvironment: Self.environment)
            let second = Self.round("b", count: 2)
            try await publish(second.bodies, to: topology)
            #expect(await service.waitUntilHandled(first.bodies.count + second.bodies.count), "log:\n\(service.log)")
            let bodies = try await Self.invalidQueueBodies(topology, expected: second.rejected.count)
            #expect(Set(bodies) == Self.text(second.rejected))
            #expect(bodies.count == second.rejected.count)
            #expect(await service.terminate() == 0)
        }
    }
}
