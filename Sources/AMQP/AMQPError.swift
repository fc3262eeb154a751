/// Everything that can go wrong talking to the broker, with the broker's own reply
/// text where it gave one. No case ever carries a password.
public enum AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The AMQP URL could not be used; `reason` says which part and how to fix it.
    case invalidURL(reason: String)
    /// A setting (other than the URL) is unusable, e.g. a TLS file that does not exist.
    case invalidConfiguration(reason: String)
    /// No TCP connection to host:port within the connect timeout, or it was refused.
    case connectFailed(host: String, port: Int, reason: String)
    /// The TLS handshake or the broker's certificate check failed.
    case tlsFailed(host: String, port: Int, reason: String)
    /// The broker refused the login (wrong user or password, or no access to the vhost).
    case accessRefused(user: String, vhost: String, reply: String)
    /// The broker closed the channel: e.g. 404 NOT_FOUND for a missing exchange,
    /// 406 PRECONDITION_FAILED for a redeclaration with other arguments.
    case channelClosed(code: UInt16, reply: String)
    /// The broker closed the connection (e.g. 320 CONNECTION_FORCED on shutdown).
    case connectionClosed(code: UInt16, reply: String)
    /// The connection broke: socket error, EOF, or missed heartbeats.
    case connectionLost(reason: String)
    /// The connection or channel was closed by this client; nothing more can be done on it.
    case closedByClient
    /// The broker cancelled the consumer (e.g. its queue or stream was deleted).
    case consumerCancelled(consumerTag: String)
    /// The broker did not answer an operation in time.
    case timeout(operation: String)
    /// The broker has blocked publishing on this connection (a memory or disk alarm) for
    /// longer than the configured `blockedTimeout`; the messages were not sent.
    case blocked(reason: String, waited: Duration)
    /// A publish made no progress for `blockedTimeout` without the broker blocking the
    /// connection: `detail` names the message, how much of it was written, what the socket holds.
    case publishStalled(detail: String)
    /// Messages were written and the broker confirmed none of them (nor any other) for
    /// `confirmTimeout`, without blocking the connection.
    case confirmsStalled(unconfirmed: Int, waited: Duration)
    /// librabbitmq reported an error that none of the above describes.
    case library(operation: String, status: Int32, message: String)

    public var description: String {
        switch self {
        case .invalidURL(let reason):
            return "invalid AMQP URL: \(reason)"
        case .invalidConfiguration(let reason):
            return "invalid AMQP configuration: \(reason)"
        case .connectFailed(let host, let port, let reason):
            return "cannot connect to the broker at \(host):\(port): \(reason)"
        case .tlsFailed(let host, let port, let reason):
            return "TLS with the broker at \(host):\(port) failed: \(reason)"
        case .accessRefused(let user, let vhost, let reply):
            return "the broker refused the login of user '\(user)' to vhost '\(vhost)': \(reply)"
                + " (check the user name and password, AMQP_PASSWORD_FILE, and the user's permissions on the vhost)"
        case .channelClosed(let code, let reply):
            return "the broker closed the channel: \(code) \(reply)"
        case .connectionClosed(let code, let reply):
            return "the broker closed the connection: \(code) \(reply)"
        case .connectionLost(let reason):
            return "connection to the broker lost: \(reason)"
        case .closedByClient:
            return "the connection or channel is closed"
        case .consumerCancelled(let tag):
            return "the broker cancelled consumer '\(tag)' (was its queue deleted?)"
        case .timeout(let operation):
            return "the broker did not answer \(operation) in time"
        case .blocked(let reason, let waited):
            return "the broker has blocked publishing for \(waited) (\(reason)): it is short of memory or disk;"
                + " free some on the broker or raise its limits"
        case .publishStalled(let detail):
            return "publishing stalled: \(detail); the network or the broker is not reading this connection"
        case .confirmsStalled(let unconfirmed, let waited):
            return "the broker confirmed none of the \(unconfirmed) message(s) awaiting a confirm for \(waited),"
                + " without blocking the connection (no connection.blocked): the queue's node may have died"
                + " or stopped answering; they were not confirmed, so publish them again on a new connection"
        case .library(let operation, let status, let message):
            return "\(operation) failed: \(message) (librabbitmq status \(status))"
        }
    }
}
