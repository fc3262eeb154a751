public import AMQP

#if canImport(Glibc)
    import Glibc
#endif

/// The broker the integration tests use: `AMQP_TEST_URL`, which scripts/test sets.
/// Without it the broker tests are skipped on a laptop, and fail under CI=true.
public enum TestBroker {
    public static var url: String? { environment("AMQP_TEST_URL") }
    public static var isCI: Bool { environment("CI") == "true" }
    /// Broker suites run when there is a broker, and under CI=true (where its absence fails them).
    public static var enabled: Bool { url != nil || isCI }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "AMQP_TEST_URL is not set: run the tests with scripts/test, which starts a broker (CI=true requires one)"
        }
    }

    public static func requireURL() throws -> String {
        guard let url else { throw Missing() }
        return url
    }

    public static func configuration(
        heartbeat: Int = 30, connectionName: String = "tests"
    ) throws
        -> AMQPConfiguration
    {
        AMQPConfiguration(url: try AMQPURL(parsing: requireURL()), heartbeat: heartbeat, connectionName: connectionName)
    }

    public static func connect(heartbeat: Int = 30) async throws -> AMQPConnection {
        try await AMQPConnection.connect(configuration(heartbeat: heartbeat))
    }

    /// A name no other test run uses.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
    }
}

public func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// A clock reading in seconds, for bounds on how long something took.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
