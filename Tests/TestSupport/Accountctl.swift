import Testing

/// Runs the built accountctl; a run that had to be killed is a test failure.
public func runAccountctl(
    _ arguments: [String], stdin input: [UInt8] = [], environment extra: [String: String] = [:], timeout: Double = 60,
    stderrWatch: OutputWatch? = nil
) async throws -> ProcessResult {
    let result = try await runProcess(
        try builtProduct("accountctl"), arguments, stdin: input, environment: extra, timeout: timeout,
        stderrWatch: stderrWatch)
    #expect(
        !result.killed, "accountctl \(arguments.joined(separator: " ")) ran longer than \(timeout) s and was killed")
    return result
}
