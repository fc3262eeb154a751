#if canImport(Glibc)
    import Glibc
#endif

/// A task executor with one thread of its own that runs jobs one at a time, first in,
/// first out.
///
/// `publish` runs on it so that its batches reach the connection in order: each batch is
/// published by a child task (the call returns only once the broker confirmed it, so
/// several are in flight at once), and the children start in the order they were added,
/// each running up to the point where it hands its batch to the connection thread before
/// the next one starts. On the shared cooperative pool two children could start in either
/// order and swap their batches in the log. Blocking reads (standard input) also happen
/// here rather than on the pool. The thread lives as long as the process.
final class SerialThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`.
    private var jobs: [UnownedJob] = []
    private var thread = pthread_t()

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        let box = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { argument in
                let executor = Unmanaged<SerialThreadExecutor>.fromOpaque(argument!).takeRetainedValue()
                executor.run()
            }, box)
        precondition(status == 0, "cannot start a thread: \(status)")
        pthread_detach(thread)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    private func run() -> Never {
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty {
                pthread_cond_wait(condition, mutex)
            }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
