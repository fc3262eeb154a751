import Dispatch
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Bounds how long a stop may take: once SIGTERM or SIGINT arrives, the process exits
/// after `seconds` even if something is stuck (a broker that does not answer the close).
enum ShutdownWatchdog {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func arm(after seconds: Double, logger: Logger) {
        for signalNumber in [SIGTERM, SIGINT] {
            // ServiceLifecycle handles the signal too; this source only starts the clock.
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                    logger.error("stopping took longer than \(seconds) s (SHUTDOWN_TIMEOUT); exiting now")
                    exit(0)
                }
            }
            source.resume()
            sources.append(source)
        }
    }
}
