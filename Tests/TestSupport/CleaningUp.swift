/// Runs `body`, then awaits `cleanup` whether `body` returned or threw: a `defer` that can
/// await (a `Task { }` in a `defer` is not awaited, so the test may end before it runs).
public func cleaningUp<T>(
    _ cleanup: () async -> Void,
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> T
) async rethrows -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
