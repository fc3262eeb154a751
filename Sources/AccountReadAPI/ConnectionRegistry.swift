import AccountReadModel
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The open connections: enforces the cap, and closes them all at shutdown.
///
/// At the cap a new connection is let in and the one that has gone longest without a
/// complete request is closed: idle or trickling sockets cannot lock out a new client
/// (a health check, say), while a client that keeps completing requests keeps its connection.
final class ConnectionRegistry: Sendable {
    struct Refused: Error {}

    private struct Entry {
        let channel: any Channel
        /// When the connection was accepted or last completed a request, in `State.tick`s.
        var lastRequest: UInt64
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var tick: UInt64 = 0
        var shuttingDown = false
    }

    private let maxConnections: Int
    private let metrics: HTTPMetrics?
    private let state = Mutex(State())

    init(maxConnections: Int, metrics: HTTPMetrics? = nil) {
        self.maxConnections = maxConnections
        self.metrics = metrics
    }

    var count: Int { self.state.withLock { $0.entries.count } }

    /// Records a new connection, closing the stalest one at the cap; false when shutting down
    /// (or when the cap is 0).
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let (accepted, evicted): (Bool, (any Channel)?) = self.state.withLock { state in
            guard !state.shuttingDown, self.maxConnections > 0 else { return (false, nil) }
            var evicted: (any Channel)? = nil
            if state.entries.count >= self.maxConnections,
                let stalest = state.entries.min(by: { $0.value.lastRequest < $1.value.lastRequest })
            {
                state.entries.removeValue(forKey: stalest.key)
                evicted = stalest.value.channel
            }
            state.tick += 1
            state.entries[id] = Entry(channel: channel, lastRequest: state.tick)
            return (true, evicted)
        }
        if let evicted {
            self.metrics?.connectionEvicted()
            evicted.close(promise: nil)
        }
        if accepted {
            channel.closeFuture.whenComplete { _ in
                _ = self.state.withLock { $0.entries.removeValue(forKey: id) }
            }
        }
        return accepted
    }

    /// The connection completed a request: it is the last to be closed at the cap.
    func requestCompleted(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.state.withLock { state in
            state.tick += 1
            state.entries[id]?.lastRequest = state.tick
        }
    }

    /// Asks every connection to finish its current request and close; after the grace
    /// period closes those still open; returns when all are closed.
    func shutdown(gracePeriod: TimeAmount, on eventLoop: any EventLoop) async {
        let channels = self.state.withLock { state in
            state.shuttingDown = true
            return state.entries.values.map(\.channel)
        }
        guard !channels.isEmpty else { return }
        for channel in channels {
            // HTTPServerPipelineHandler closes an idle connection at once, a busy one after its answer.
            channel.eventLoop.execute {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
        let forceClose = eventLoop.scheduleTask(in: gracePeriod) {
            for channel in channels { channel.close(promise: nil) }
        }
        let allClosed = EventLoopFuture.andAllComplete(channels.map { $0.closeFuture }, on: eventLoop)
        try? await allClosed.get()
        forceClose.cancel()
    }
}

/// The process's open-file limit, which every connection counts against.
enum DescriptorLimit {
    /// Descriptors kept for everything but connections (the listener, the broker, snapshots, logs).
    static let reserve = 64

    /// Raises the soft limit toward `connections` plus the reserve (up to the hard limit) and
    /// returns the connections that fit: an accept failing for want of a descriptor would
    /// leave new clients waiting in the backlog instead of closing a stale connection.
    static func connectionsThatFit(_ connections: Int) -> Int {
        #if canImport(Glibc)
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return connections }
            let wanted = rlim_t(max(connections, 0) + reserve)
            if limit.rlim_cur < wanted {
                var raised = limit
                raised.rlim_cur = min(wanted, limit.rlim_max)
                if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
            }
            return min(connections, max(Int(clamping: limit.rlim_cur) - reserve, 1))
        #else
            return connections
        #endif
    }
}
