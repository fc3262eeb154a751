import AMQP
import AccountProjection
import Logging
import TestSupport
import Testing

@testable import AccountConsumer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Snapshot files and origins")
struct SnapshotFileTests {
    static func temporaryDirectory() -> String {
        "/tmp/snapshot-file-test-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func cleanUp(_ file: SnapshotFile) {
        unlink(file.path)
        unlink(file.temporaryPath)
        rmdir(file.directory)
    }

    @Test func aWrittenSnapshotReadsBackAndIsReplacedWhole() throws {
        let file = SnapshotFile(directory: Self.temporaryDirectory())
        defer { Self.cleanUp(file) }
        #expect(try file.read() == nil)  // none yet, and no directory either
        let first = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try file.write(first)
        #expect(try file.read() == first)
        try file.write([1, 2, 3])
        #expect(try file.read() == [1, 2, 3])
        #expect(access(file.temporaryPath, F_OK) != 0)  // no temporary file left behind
    }

    @Test func aDirectoryThatCannotBeMadeGivesAClearError() {
        let file = SnapshotFile(directory: "/proc/no-such-place/snapshots")
        do {
            try file.write([1])
            Issue.record("wrote into /proc")
        } catch {
            #expect(error.description.hasPrefix("creating directory /proc/no-such-place/snapshots: "))
        }
    }

    @Test func anOriginKeepsEveryProperty() throws {
        let headers: AMQPTable = [
            "x-stream-offset": .int64(42), "s": .string("zoë"), "b": .bool(true), "i8": .int8(-3),
            "u8": .uint8(200), "i16": .int16(-300), "u16": .uint16(60000), "i32": .int32(-70000),
            "u32": .uint32(4_000_000_000), "u64": .uint64(.max), "f": .float(1.5), "d": .double(-2.25),
            "dec": .decimal(scale: 2, value: 12345), "x": .bytes([0, 255]), "t": .timestamp(1_700_000_000),
            "a": .array([.int32(1), .string("two"), .array([.void])]), "tbl": .table(["k": .int64(1)]), "v": .void,
        ]
        let full = EventOrigin(
            body: Array("{\"a\":1}".utf8),
            properties: AMQPProperties(
                contentType: "application/json", contentEncoding: "utf-8", headers: headers, deliveryMode: 2,
                priority: 5, correlationID: "c", replyTo: "r", expiration: "60000", messageID: "m",
                timestamp: 1_700_000_001, type: "MoneyDeposited", userID: "guest", appID: "app", clusterID: "cl"),
            routingKey: "account.acc-1.MoneyDeposited", offset: 42)
        let bare = EventOrigin(body: [], properties: AMQPProperties(), routingKey: "", offset: nil)
        for origin in [full, bare] {
            var writer = SnapshotWriter()
            EventOrigin.encode(origin, &writer)
            var reader = SnapshotReader(writer.bytes)
            let decoded = try EventOrigin.decode(&reader)
            #expect(reader.isAtEnd)
            #expect(decoded.body == origin.body)
            #expect(decoded.properties == origin.properties)
            #expect(decoded.routingKey == origin.routingKey)
            #expect(decoded.offset == origin.offset)
        }
    }

    @Test func aStoreRestoresFromItsOwnSnapshot() throws {
        let store = AccountStore(parkingLimit: 10)
        #expect(store.snapshotBytes(identity: "i") == nil)  // nothing consumed yet
        func origin(_ offset: Int64, _ body: String) -> (Result<Event, EventProblem>, EventOrigin) {
            let bytes = Array(body.utf8)
            return (
                EventDecoder.decode(bytes),
                EventOrigin(body: bytes, properties: AMQPProperties(), routingKey: "k", offset: offset)
            )
        }
        let opened =
            #"{"eventId":"e1","type":"AccountOpened","accountId":"acc-1","sequence":1,"occurredAt":"2026-11-24T15:00:00Z","data":{"owner":"Ada","currency":"EUR"}}"#
        let parked =
            #"{"eventId":"e3","type":"MoneyDeposited","accountId":"acc-1","sequence":3,"occurredAt":"2026-11-24T15:00:00Z","data":{"amount":5}}"#
        let rejected = store.apply([origin(0, opened), origin(1, parked), origin(2, "nope")], received: 3)
        #expect(rejected.count == 1)
        #expect(store.snapshotBytes(identity: "i") == nil)  // a rejection awaits its confirm
        store.rejectionsConfirmed(1)
        let (bytes, offset) = try #require(store.snapshotBytes(identity: "i"))
        #expect(offset == 2)

        let restored = AccountStore(parkingLimit: 10)
        #expect(throws: SnapshotError.foreign(expected: "j", found: "i")) {
            try restored.restore(from: bytes, identity: "j")
        }
        #expect(restored.lastOffset == nil)
        let result = try restored.restore(from: bytes, identity: "i")
        #expect(result.offset == 2 && result.accounts == 1)
        #expect(restored.lastOffset == 2)
        #expect(restored.account(id: "acc-1") == store.account(id: "acc-1"))
        #expect(restored.statistics() == store.statistics())
        // The restored totals show in the counters too.
        let metrics = try PrometheusText(parsing: String(decoding: restored.metrics.exposition(), as: UTF8.self))
        #expect(metrics.value("accountservice_events_applied_total") == 1)
        #expect(metrics.value("accountservice_events_parked") == 1)
        #expect(metrics.value("accountservice_events_invalid_total", ["error": "malformed_json"]) == 1)
        #expect(metrics.value("accountservice_stream_last_offset") == 2)
        #expect(restored.snapshotBytes(identity: "i")?.bytes == bytes)
    }

    /// A store holding an account, a parked event with a full origin, and a rejection.
    static func filledStore() -> AccountStore {
        let store = AccountStore(parkingLimit: 10)
        func delivery(_ offset: Int64, _ body: String) -> (Result<Event, EventProblem>, EventOrigin) {
            let bytes = Array(body.utf8)
            let properties = AMQPProperties(
                contentType: "application/json", headers: ["x-stream-offset": .int64(offset), "s": .string("zoë")])
            return (
                EventDecoder.decode(bytes),
                EventOrigin(body: bytes, properties: properties, routingKey: "k", offset: offset)
            )
        }
        var batch = [delivery(0, "nope")]
        for n in 1...2_000 {
            batch.append(
                delivery(
                    Int64(n),
                    #"{"eventId":"e\#(n)","type":"AccountOpened","accountId":"acc-\#(n)","sequence":1,"occurredAt":"2026-11-24T15:00:00Z","data":{"owner":"Ada","currency":"EUR"}}"#
                ))
        }
        batch.append(
            delivery(
                2_001,
                #"{"eventId":"p","type":"MoneyDeposited","accountId":"acc-1","sequence":3,"occurredAt":"2026-11-24T15:00:00Z","data":{"amount":5}}"#
            ))
        let rejected = store.apply(batch, received: batch.count)
        store.rejectionsConfirmed(rejected.count)
        return store
    }

    @Test func aStreamedSnapshotFileHoldsTheWholeEncoding() throws {
        let store = Self.filledStore()
        let directory = Self.temporaryDirectory()
        let snapshotter = Snapshotter(
            directory: directory, interval: .seconds(60), identity: "i", store: store, logger: Logger(label: "test"))
        defer { Self.cleanUp(snapshotter.file) }
        snapshotter.writeNow(reason: "in a test")
        let (bytes, offset) = try #require(store.snapshotBytes(identity: "i"))
        #expect(offset == 2_001)
        #expect(bytes.count > 100_000)
        #expect(try snapshotter.file.read() == bytes)
        #expect(access(snapshotter.file.temporaryPath, F_OK) != 0)
        let restored = AccountStore(parkingLimit: 10)
        #expect(
            Snapshotter(
                directory: directory, interval: .seconds(60), identity: "i", store: restored,
                logger: Logger(label: "test")
            ).load())
        #expect(restored.statistics() == store.statistics())
    }

    @Test func aWriteThatFailsLeavesTheSnapshotInPlace() throws {
        let store = Self.filledStore()
        let file = SnapshotFile(directory: Self.temporaryDirectory())
        defer { Self.cleanUp(file) }
        try file.write([1, 2, 3])
        // The temporary file is a device that refuses every write (ENOSPC).
        #expect(symlink("/dev/full", file.temporaryPath) == 0)
        let snapshotter = Snapshotter(
            directory: file.directory, interval: .seconds(60), identity: "i", store: store,
            logger: Logger(label: "test"))
        snapshotter.writeNow(reason: "in a test")
        #expect(try file.read() == [1, 2, 3])
        #expect(access(file.temporaryPath, F_OK) != 0)  // and the temporary file is gone

        // A draft dropped half-written is gone too, and changes nothing.
        do {
            let draft = try file.draft()
            try draft.append([9, 9, 9, 9])
        }
        #expect(access(file.temporaryPath, F_OK) != 0)
        #expect(try file.read() == [1, 2, 3])
    }
}
