/// Which node of a cluster to connect to next.
///
/// Each (re)connect is a round over every node, starting from a random one and going on
/// in list order, with the node of the last connection that worked put last (it has just
/// failed us). A failed attempt (refused, timed out, or a node that cannot serve: 406 "does
/// not have a replica on the local node", 404 "home node … is down") moves on to the next
/// node at once; ``next(using:)`` answers nil once every node of the round failed, and the
/// caller backs off before the next round. With one node that is: back off after each failure.
public struct AMQPNodeRotation: Sendable, Equatable {
    public let count: Int
    /// The nodes of the current round still to try; nil between rounds.
    private var pending: [Int]?
    /// The node of the last connection that worked.
    public private(set) var lastConnected: Int?

    public init(count: Int) {
        precondition(count > 0, "a rotation needs at least one node")
        self.count = count
    }

    /// The order of a round that starts at `start`, with `last` (if any) moved to the end.
    public static func order(count: Int, start: Int, last: Int?) -> [Int] {
        var order = (0..<count).map { (start + $0) % count }
        if let last, let position = order.firstIndex(of: last) {
            order.remove(at: position)
            order.append(last)
        }
        return order
    }

    /// The next node to try, or nil when every node of this round failed (back off, then
    /// call again for a new round).
    public mutating func next(using random: inout some RandomNumberGenerator) -> Int? {
        if pending == nil {
            pending = Self.order(count: count, start: Int.random(in: 0..<count, using: &random), last: lastConnected)
        }
        guard let node = pending?.first else {
            pending = nil
            return nil
        }
        pending?.removeFirst()
        return node
    }

    public mutating func next() -> Int? {
        var random = SystemRandomNumberGenerator()
        return next(using: &random)
    }

    /// True once every node of the current round was handed out: a failure now means the
    /// whole round failed, time to back off.
    public var isRoundOver: Bool { pending?.isEmpty ?? false }

    /// A connection to `node` works: the round ends, and the next one puts `node` last.
    public mutating func connected(_ node: Int) {
        lastConnected = node
        pending = nil
    }
}

extension AMQPConfiguration {
    /// This configuration aimed at `nodes[index]`: that URL, its query parameters, and every
    /// other setting (TLS, timeouts, name) as they are.
    public func node(_ index: Int) -> AMQPConfiguration {
        var copy = self
        let url = nodes[index]
        copy.url = url
        if let heartbeat = url.heartbeat { copy.heartbeat = heartbeat }
        if let ms = url.connectionTimeoutMilliseconds { copy.connectTimeout = .milliseconds(ms) }
        return copy
    }
}

extension AMQPURL {
    /// `host:port`, as logs, `/stats` and the `node` label of metrics name a node.
    public var node: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
