import AccountMessaging
import TestSupport
import Testing

/// `STREAM_INITIAL_CLUSTER_SIZE` and `STREAM_MAX_SEGMENT_SIZE` (docs/operations.md#configuration)
/// reach the broker: the stream the service creates carries them, and RabbitMQ takes their types.
@Suite("the stream's arguments", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct StreamArgumentsTests {
    @Test("a stream created with both settings carries both; without, no cluster size and 8 MiB segments")
    func initialClusterSizeReachesTheBroker() async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let port = try #require(environment("TEST_BROKER_PORT"), "TEST_BROKER_PORT is not set (run scripts/test)")
        let settings = { (size: String) in ["STREAM_INITIAL_CLUSTER_SIZE": size, "STREAM_MAX_SEGMENT_SIZE": "2097152"] }
        for size in ["1", nil] {
            let topology = uniqueTopology("cluster-size")
            try await cleaningUp({ await deleteTopology(topology) }) {
                let service = try await ServiceProcess(
                    topology: topology, replica: "cluster-size",
                    extraEnvironment: size.map(settings) ?? [:])
                #expect(await service.wait { service.get("/ready")?.status == 200 }, "log:\n\(service.log)")
                let listed = try await runProcess(
                    script, ["ctl", port, "list_queues", "-q", "--no-table-headers", "name", "arguments"], timeout: 60)
                let line = listed.out.split(separator: "\n").first { $0.hasPrefix(topology.stream + "\t") } ?? ""
                #expect(line.contains("x-queue-type"), "the stream is not listed: \(listed.out)")
                if let size {
                    #expect(line.contains("{\"x-initial-cluster-size\",\(size)}"), "\(line)")
                    #expect(line.contains("{\"x-stream-max-segment-size-bytes\",2097152}"), "\(line)")
                } else {
                    #expect(!line.contains("x-initial-cluster-size"), "\(line)")
                    #expect(line.contains("{\"x-stream-max-segment-size-bytes\",8388608}"), "\(line)")
                }
                #expect(await service.terminate() == 0)
            }
        }
    }
}
