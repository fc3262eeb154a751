import AMQP
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Nice thread executor")
struct NiceThreadExecutorTests {
    private final class Order: Sendable {
        let values = Mutex<[Int]>([])
    }

    private struct Seen: Sendable, Equatable {
        let nice: Int32
        let thread: UInt
    }

    /// Where a nonisolated async function runs: the task's preferred executor, if it has one.
    private static func whereAmI() async -> Seen {
        Seen(nice: ThreadPriority.currentThreadNice(), thread: UInt(bitPattern: Int(bitPattern: pthread_self())))
    }

    @Test("work that prefers it runs on one thread at its nice value; the caller's thread keeps its own")
    func runsOnItsThreadAtItsNice() async {
        let executor = NiceThreadExecutor.atNice(11)
        #expect(executor === NiceThreadExecutor.atNice(11), "one executor per nice value")
        #expect(executor !== NiceThreadExecutor.atNice(12))
        let seen = await withTaskGroup(of: Seen.self) { group in
            for _ in 0..<50 {
                group.addTask { await withTaskExecutorPreference(executor) { await Self.whereAmI() } }
            }
            return await group.reduce(into: [Seen]()) { $0.append($1) }
        }
        #expect(seen.count == 50)
        #expect(Set(seen.map(\.nice)) == [11])
        #expect(Set(seen.map(\.thread)).count == 1, "all on the executor's one thread")
        // Back on the pool: no pool thread was lowered by the hop (the consumer's live batches rely on it).
        let after = await withTaskGroup(of: Int32.self) { group in
            for _ in 0..<50 { group.addTask { ThreadPriority.currentThreadNice() } }
            return await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(!after.contains(11))
    }

    @Test("jobs run in the order they were enqueued")
    func keepsOrder() async {
        let executor = NiceThreadExecutor.atNice(13)
        let order = Order()
        await withTaskExecutorPreference(executor) {
            await withTaskGroup(of: Void.self) { group in
                // Child tasks inherit the preference: each is one job on the executor, in turn.
                for index in 0..<200 {
                    group.addTask { order.values.withLock { $0.append(index) } }
                }
            }
        }
        #expect(order.values.withLock { $0 } == Array(0..<200))
    }
}
