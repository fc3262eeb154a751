import CRabbitMQ
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Work handed to the connection thread; it runs there with the thread's `ConnectionLoop`.
typealias LoopCommand = @Sendable (ConnectionLoop) -> Void

/// The thread a connection lives on, and the way in from other threads: a mailbox of
/// commands and an eventfd that wakes the thread from `poll`.
///
/// librabbitmq is not thread-safe, so every call into it happens on this one thread. The
/// `ConnectionLoop` is created on the thread and never leaves it; other threads hold only
/// this handle, whose state is behind a mutex.
final class ConnectionThread: Sendable {
    private struct Mailbox {
        var commands: [LoopCommand] = []
        /// Set once the loop has ended; later commands are refused with it.
        var finalError: AMQPError?
        var closeWaiters: [CheckedContinuation<AMQPError?, Never>] = []
        var finished = false
    }

    private let mailbox = Mutex(Mailbox())
    private let wakeFD: Int32

    private init() {
        self.wakeFD = cra_wakefd_create()
    }

    deinit {
        close(wakeFD)
    }

    /// Starts the thread, which connects and logs in; returns once that is done.
    static func start(
        configuration: AMQPConfiguration, logger: Logger, onBlocked: (@Sendable (Bool, String) -> Void)?
    ) async throws(AMQPError) -> ConnectionThread {
        let thread = ConnectionThread()
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            DetachedThread.start(name: "amqp-connection") {
                ThreadPriority.lowerCurrentThread(to: configuration.threadNice)
                let loop: ConnectionLoop
                do throws(AMQPError) {
                    let connection = try RabbitConnection.connect(configuration, logger: logger)
                    loop = ConnectionLoop(connection: connection, thread: thread, logger: logger, onBlocked: onBlocked)
                } catch {
                    _ = thread.finish(with: error)
                    continuation.resume(returning: .failure(error))
                    return
                }
                continuation.resume(returning: .success(()))
                loop.run()
            }
        }
        try result.get()
        return thread
    }

    // MARK: - The mailbox

    /// Hands a command to the thread; false when the connection is already finished.
    @discardableResult
    func submit(_ command: @escaping LoopCommand) -> Bool {
        let accepted = mailbox.withLock { box -> Bool in
            guard box.finalError == nil else { return false }
            box.commands.append(command)
            return true
        }
        if accepted { cra_wakefd_signal(wakeFD) }
        return accepted
    }

    /// Runs `operation` on the connection thread and returns its result.
    func perform<T: Sendable>(
        _ operation: @escaping @Sendable (ConnectionLoop) throws(AMQPError) -> T
    ) async throws(AMQPError) -> T {
        let result: Result<T, AMQPError> = await withCheckedContinuation { continuation in
            let accepted = submit { loop in
                do throws(AMQPError) {
                    continuation.resume(returning: .success(try operation(loop)))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !accepted { continuation.resume(returning: .failure(finalError ?? .closedByClient)) }
        }
        return try result.get()
    }

    var finalError: AMQPError? {
        mailbox.withLock { $0.finalError }
    }

    var isOpen: Bool {
        mailbox.withLock { $0.finalError == nil }
    }

    /// Waits until the connection has ended; returns why (`.closedByClient` after `close()`).
    func waitUntilClosed() async -> AMQPError? {
        await withCheckedContinuation { continuation in
            let done: AMQPError?? = mailbox.withLock { box in
                if box.finished { return .some(box.finalError) }
                box.closeWaiters.append(continuation)
                return .none
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Asks the thread to close the connection (channel and connection close handshakes) and end.
    func requestClose() {
        submit { loop in loop.requestStop() }
    }

    // MARK: - On the connection thread

    /// The commands that arrived since the last call.
    func takeCommands() -> [LoopCommand] {
        mailbox.withLock { box in
            let commands = box.commands
            box.commands.removeAll(keepingCapacity: true)
            return commands
        }
    }

    var hasCommands: Bool { mailbox.withLock { !$0.commands.isEmpty } }

    /// Marks the connection ended: later commands are refused. Returns the commands that
    /// arrived meanwhile (to run against the closed state, so they fail) and whoever waits for
    /// the end (to resume after that).
    func finish(with error: AMQPError) -> (leftover: [LoopCommand], waiters: [CheckedContinuation<AMQPError?, Never>]) {
        mailbox.withLock { box in
            box.finalError = error
            box.finished = true
            defer {
                box.closeWaiters.removeAll()
                box.commands.removeAll()
            }
            return (box.commands, box.closeWaiters)
        }
    }

    /// Sleeps until the socket or the mailbox has something, or `timeout` passes. Returns
    /// false when it timed out.
    @discardableResult
    func waitForActivity(socket: Int32, writable: Bool, timeout: Duration) -> Bool {
        let socketEvents = writable ? Int16(POLLIN) | Int16(POLLOUT) : Int16(POLLIN)
        var fds = [
            pollfd(fd: socket, events: socketEvents, revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = Int32(
            timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&fds, 2, max(0, milliseconds))
        if fds[1].revents & Int16(POLLIN) != 0 {
            cra_wakefd_drain(wakeFD)
        }
        return ready != 0
    }
}
