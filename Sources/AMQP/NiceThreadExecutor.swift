import DequeModule
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A task executor with one thread of its own at a raised nice value (a lower priority).
///
/// Linux lets a thread lower its own priority but not raise it back without `CAP_SYS_NICE`,
/// so work that should sometimes give way to other threads and sometimes not cannot lower
/// the thread it happens to run on: it hops here for the part that should give way
/// (`withTaskExecutorPreference`) and the pool's threads keep their priority. One executor
/// per nice value in a process; its thread starts with the first job.
public final class NiceThreadExecutor: TaskExecutor, @unchecked Sendable {
    private static let shared = Mutex<[Int32: NiceThreadExecutor]>([:])

    /// The executor whose thread runs at `nice` (1...19).
    public static func atNice(_ nice: Int32) -> NiceThreadExecutor {
        shared.withLock { executors in
            if let executor = executors[nice] { return executor }
            let executor = NiceThreadExecutor(nice: nice)
            executors[nice] = executor
            return executor
        }
    }

    private struct Queue {
        var jobs: Deque<UnownedJob> = []
        var started = false
    }

    public let nice: Int32
    private let queue = Mutex(Queue())
    /// Counts queued jobs; the thread sleeps on it. Never freed: the executor lives as long as the process.
    private let available: UnsafeMutablePointer<sem_t>

    private init(nice: Int32) {
        self.nice = nice
        available = .allocate(capacity: 1)
        sem_init(available, 0, 0)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let startThread = queue.withLock { queue -> Bool in
            queue.jobs.append(unowned)
            defer { queue.started = true }
            return !queue.started
        }
        if startThread { DetachedThread.start(name: "nice-\(nice)") { self.run() } }
        sem_post(available)
    }

    private func run() {
        ThreadPriority.lowerCurrentThread(to: nice)
        while true {
            while sem_wait(available) != 0 {}  // EINTR
            guard let job = queue.withLock({ $0.jobs.popFirst() }) else { continue }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
