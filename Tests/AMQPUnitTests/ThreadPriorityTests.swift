import AMQP
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Thread priority")
struct ThreadPriorityTests {
    /// Runs `body` on a thread of its own (a pool thread would keep the nice value) and returns its result.
    private static func onNewThread(_ body: @escaping @Sendable () -> [Int32]) -> [Int32] {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> [Int32]
            var result: [Int32] = []
            init(_ body: @escaping @Sendable () -> [Int32]) { self.body = body }
        }
        let box = Box(body)
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeUnretainedValue()
                box.result = box.body()
                return nil
            }, Unmanaged.passUnretained(box).toOpaque())
        #expect(rc == 0)
        pthread_join(thread, nil)
        return box.result
    }

    @Test("raises the calling thread's nice value only, never lowers it, and 0 does nothing")
    func lowersOnlyTheCallingThread() {
        let before = ThreadPriority.currentThreadNice()
        let seen = Self.onNewThread {
            var seen = [ThreadPriority.currentThreadNice()]
            ThreadPriority.lowerCurrentThread(to: 0)
            seen.append(ThreadPriority.currentThreadNice())
            ThreadPriority.lowerCurrentThread(to: 7)
            seen.append(ThreadPriority.currentThreadNice())
            ThreadPriority.lowerCurrentThread(to: 3)
            seen.append(ThreadPriority.currentThreadNice())
            return seen
        }
        #expect(seen == [before, before, max(before, 7), max(before, 7)])
        #expect(ThreadPriority.currentThreadNice() == before, "another thread's nice value changed this one's")
    }
}
