import AMQP
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The broker the integration tests use: `AMQP_TEST_URL`, set by scripts/test.
/// Without it the broker tests are skipped on a laptop, and fail under CI=true.
enum TestBroker {
    static var url: String? { environment("AMQP_TEST_URL") }
    static var isCI: Bool { environment("CI") == "true" }
    static var enabled: Bool { url != nil || isCI }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func configuration(heartbeat: Int = 30) throws -> AMQPConfiguration {
        let text = try #require(url, "AMQP_TEST_URL is not set (CI=true needs the broker scripts/test starts)")
        return AMQPConfiguration(url: try AMQPURL(parsing: text), heartbeat: heartbeat, connectionName: "amqp-tests")
    }

    static func connect(heartbeat: Int = 30) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(heartbeat: heartbeat))
    }

    /// A name no other test run uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

/// A clock reading in seconds, for bounds on how long something took.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
