import AMQP
import AccountMessaging
import AccountProjection
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Events far past the decoder's limit, through the real service: rejected with an excerpt,
/// never held whole, and the events after them still applied.
@Suite(
    "accountservice and oversized events", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled),
    .serialized)
struct LargeEventTests {
    /// Kilobytes in a /proc/PID/status line such as `VmHWM:  123 kB`.
    private func statusKilobytes(_ pid: pid_t, _ field: String) -> Int? {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(field + ":") {
                return Int(text.dropFirst(field.count + 1).filter(\.isNumber))
            }
        }
        return nil
    }

    private func junk(_ size: Int) -> [UInt8] {
        var body = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        body[0] = UInt8(ascii: "[")
        return body
    }

    @Test(
        "a 3 MB and a 100 MB event are rejected as too_large with a 64 KiB excerpt; later events are applied; peak RSS stays low",
        .timeLimit(.minutes(3)))
    func oversizedEventsAreRejectedWithAnExcerpt() async throws {
        let topology = uniqueTopology("large")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let connection = try await TestBroker.connect()
            try await topology.declare(on: connection)
            let channel = try await connection.openChannel()
            try await channel.enablePublisherConfirms()
            let sizes = [3 << 20, 100 << 20]
            var messages = [TestEvent.opened("acc-l1")].map {
                EventMessage.message(
                    body: $0, exchange: topology.exchange, eventID: nil, type: "AccountOpened", occurredAt: nil)
            }
            for size in sizes {
                messages.append(
                    EventMessage.message(
                        body: junk(size), exchange: topology.exchange, eventID: nil, type: nil, occurredAt: nil))
            }
            for body in [TestEvent.deposited("acc-l1", 2, 500), TestEvent.opened("acc-l2")] {
                messages.append(
                    EventMessage.message(
                        body: body, exchange: topology.exchange, eventID: nil, type: nil, occurredAt: nil))
            }
            let outcomes = try await channel.publish(messages)
            #expect(outcomes.allSatisfy { $0 == .confirmed })
            await connection.close()

            let service = try await ServiceProcess(topology: topology, replica: "large")
            #expect(await service.waitUntilHandled(5, timeout: .seconds(90)), "log:\n\(service.log)")
            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(stats["invalid"] == 2)
            let account = try #require(service.get("/accounts/acc-l1"))
            #expect(account.status == 200)
            #expect(account.bodyText.contains("\"balance\":500"))
            #expect(service.get("/accounts/acc-l2")?.status == 200)
            let peak = try #require(statusKilobytes(service.pid, "VmHWM"))
            print("LargeEventTests: peak RSS \(peak) kB after a 3 MB and a 100 MB event")
            #expect(peak < 64 * 1024, "peak RSS \(peak) kB: a 100 MB body was held whole")

            let rejected = try await readQueue(topology.invalidQueue, count: 2, timeout: .seconds(30))
            #expect(rejected.count == 2)
            for (message, size) in zip(rejected, sizes) {
                let headers = try #require(message.properties.headers)
                #expect(headers["x-error"] == .string("too_large"))
                #expect(headers["x-original-body-size"] == .int64(Int64(size)))
                #expect(headers["x-body-truncated"]?.stringValue?.contains("\(size) bytes") == true)
                #expect(message.body == Array(junk(EventDecoder.maximumBodySize)))
            }
            #expect(await service.terminate() == 0)
        }
    }
}
