import AccountProjection
public import Logging
public import ServiceLifecycle
import Synchronization

/// Loads the snapshot at start and writes one every `interval` when the offset moved
/// (a `Service` in the group), and once more after the consumer stopped (`writeNow`).
public final class Snapshotter: Service, Sendable, CustomStringConvertible, TextOutputStreamable {
    public let file: SnapshotFile
    public let identity: String
    private let interval: Duration
    private let store: AccountStore
    private let logger: Logger
    private let lastWritten = Mutex<Int64?>(nil)

    public init(directory: String, interval: Duration, identity: String, store: AccountStore, logger: Logger) {
        self.file = SnapshotFile(directory: directory)
        self.interval = interval
        self.identity = identity
        self.store = store
        self.logger = logger
    }

    /// What a snapshot must have been written for: a snapshot of another stream or
    /// configuration is ignored.
    public static func identity(stream: String, exchange: String, parkingLimit: Int) -> String {
        "stream=\(stream);exchange=\(exchange);parkedLimit=\(parkingLimit);format=\(ProjectionSnapshot.formatVersion)"
    }

    /// Restores the store from the snapshot file if there is a usable one; otherwise
    /// says why not, and the consumer replays the stream from the first offset.
    @discardableResult
    public func load() -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        let reason: String
        do {
            if let bytes = try file.read() {
                do {
                    let (offset, accounts) = try store.restore(from: bytes, identity: identity)
                    lastWritten.withLock { $0 = offset }
                    logger.info(
                        "loaded snapshot covering offset \(offset) (\(accounts) accounts) in \(Self.milliseconds(clock.now - started)) ms",
                        metadata: ["path": "\(file.path)", "bytes": "\(bytes.count)"])
                    return true
                } catch {
                    reason = "\(error)"
                }
            } else {
                reason = "there is none at \(file.path)"
            }
        } catch {
            reason = "\(error)"
        }
        logger.notice("ignoring snapshot: \(reason); replaying from the first offset")
        return false
    }

    /// Writes a snapshot if the offset moved since the last one, streamed to the temporary
    /// file in pieces (never whole in memory), then committed after the consumer is let go.
    /// Never throws: a failure is logged, the snapshot in place stays, and the next attempt
    /// tries again.
    public func writeNow(reason: String) {
        let written = lastWritten.withLock { $0 }
        if let written, store.lastOffset == written { return }
        let clock = ContinuousClock()
        let started = clock.now
        do {
            var draft: SnapshotDraft?
            var size = 0
            let streamed = try store.streamSnapshot(identity: identity) { (piece) throws(SnapshotFileError) in
                if draft == nil { draft = try file.draft() }
                try draft?.append(piece)
                size += piece.count
            }
            guard let (header, trailer, offset) = streamed, let draft else {
                logger.debug("no snapshot \(reason): nothing consumed yet, or rejections await a confirm")
                return
            }
            try draft.overwrite(header, at: 0)
            try draft.append(trailer)
            size += trailer.count
            let encoded = clock.now
            try draft.commit()
            lastWritten.withLock { $0 = offset }
            logger.info(
                "wrote snapshot \(reason) covering offset \(offset) (\(size) bytes; encoded and written in \(Self.milliseconds(encoded - started)) ms, synced in \(Self.milliseconds(clock.now - encoded)) ms)",
                metadata: ["path": "\(file.path)"])
        } catch {
            logger.warning("could not write snapshot: \(error)")
        }
    }

    /// Every `interval` until graceful shutdown; the final snapshot is the caller's.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            } catch {
                return
            }
            writeNow(reason: "periodically")
        }
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let micro = duration / .microseconds(1)
        return "\(Int(micro / 1000)).\(Int(micro / 100) % 10)"
    }
}

extension Snapshotter {
    /// The name ServiceLifecycle logs (`"\(service)"`). Without these the group describes the
    /// service by reflection, after a walk over every protocol conformance in the binary for
    /// each protocol it tries; `TextOutputStreamable` is the first one it tries.
    public var description: String { "Snapshotter" }

    public func write<Target: TextOutputStream>(to target: inout Target) {
        target.write(description)
    }
}
