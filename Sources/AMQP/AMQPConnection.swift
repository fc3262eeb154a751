public import Logging

/// A connection to a RabbitMQ broker over librabbitmq.
///
/// The C connection lives on a thread of its own (librabbitmq is not thread-safe);
/// every method here hands work to that thread and suspends without blocking the
/// cooperative pool. It does not reconnect: when the connection ends, every channel,
/// consumer and pending publish fails with the reason, and ``closed()`` returns it.
public final class AMQPConnection: Sendable {
    let thread: ConnectionThread
    public let configuration: AMQPConfiguration

    private init(thread: ConnectionThread, configuration: AMQPConfiguration) {
        self.thread = thread
        self.configuration = configuration
    }

    /// Connects and logs in. Throws ``AMQPError`` for a bad configuration, an unreachable
    /// broker (within the connect timeout), a failed TLS check, or a refused login.
    public static func connect(
        _ configuration: AMQPConfiguration,
        logger: Logger = Logger(label: "amqp"),
        onBlocked: (@Sendable (_ blocked: Bool, _ reason: String) -> Void)? = nil
    ) async throws(AMQPError) -> AMQPConnection {
        let thread = try await ConnectionThread.start(
            configuration: configuration, logger: logger, onBlocked: onBlocked)
        return AMQPConnection(thread: thread, configuration: configuration)
    }

    /// Opens a new channel.
    public func openChannel() async throws(AMQPError) -> AMQPChannel {
        let id = try await thread.perform { loop throws(AMQPError) in try loop.openChannel() }
        return AMQPChannel(id: id, connection: self)
    }

    /// Closes every channel and the connection with the close handshake, then ends the thread.
    public func close() async {
        thread.requestClose()
        _ = await thread.waitUntilClosed()
    }

    /// False once the connection has ended, for whatever reason.
    public var isOpen: Bool { thread.isOpen }

    /// Waits until the connection ends; returns why (``AMQPError/closedByClient`` after ``close()``).
    public func closed() async -> AMQPError {
        await thread.waitUntilClosed() ?? .closedByClient
    }
}
