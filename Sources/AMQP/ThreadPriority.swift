#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Linux keeps a nice value per thread: work that can wait (reading and applying a stream)
/// runs at a lower priority than the threads that answer readers, so that under CPU
/// contention readers go first and the work takes the rest.
public enum ThreadPriority {
    /// Raises the calling thread's nice value to `nice` (1...19) if it is lower; 0 or less
    /// does nothing. Lowering one's own priority needs no privilege.
    public static func lowerCurrentThread(to nice: Int32) {
        guard nice > 0 else { return }
        if currentThreadNice() < nice { _ = setpriority(thisThread, 0, nice) }
    }

    /// The calling thread's nice value.
    public static func currentThreadNice() -> Int32 {
        getpriority(thisThread, 0)
    }

    /// `PRIO_PROCESS` with `who` 0: on Linux, the calling thread.
    private static let thisThread = __priority_which_t(PRIO_PROCESS.rawValue)
}
