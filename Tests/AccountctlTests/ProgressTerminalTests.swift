import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// publish's progress bar in a real terminal: a 50-column tmux pane (a tmux server of the
/// test's own, on its own socket).
@Suite(
    "publish's progress bar in a 50-column tmux pane",
    .enabled(if: TestBroker.enabled && access("/usr/bin/tmux", X_OK) == 0))
struct ProgressTerminalTests {
    @Test("the bar is redrawn on one line that fits, never a wrapped second line, and shows no early ETA")
    func fitsNarrowPane() async throws {
        let socket = "/tmp/accountctl-progress-\(UInt32.random(in: 0...UInt32.max)).tmux"
        let exchange = TestBroker.uniqueName("progress")
        let names = "--exchange \(exchange) --stream \(exchange).events --invalid-queue \(exchange).invalid"
        let command =
            "env AMQP_URL='\(try TestBroker.requireURL())' \(try builtProduct("accountctl")) publish --accounts 50"
            + " --events 6000 --rate 1500 \(names) > /dev/null; printf DONE; sleep 60"
        func tmux(_ arguments: [String]) async throws -> ProcessResult {
            try await runProcess("/usr/bin/tmux", ["-S", socket] + arguments, timeout: 20)
        }
        let started = try await tmux(["new-session", "-d", "-x", "50", "-y", "6", command])
        try #require(started.status == 0, "tmux: \(started.err)")
        // Only this test's server: its own socket.
        defer {
            _ = system("/usr/bin/tmux -S \(socket) kill-server")
            unlink(socket)
        }

        // Look at the pane while it publishes (about 4 s once connected, at most 30 s in all):
        // one line, under 50 columns.
        var frames = 0
        var sawBar = false
        var firstFrame: ContinuousClock.Instant?
        var finished = false
        var lastPane = ""
        for _ in 0..<200 where !finished {
            try await Task.sleep(for: .milliseconds(150))
            let pane = try await tmux(["capture-pane", "-p"])
            lastPane = pane.out
            if pane.out.contains("DONE") {
                finished = true
                continue
            }
            let lines = pane.out.split(separator: "\n").filter { $0.contains { $0 != " " } }
            guard !lines.isEmpty else { continue }
            frames += 1
            #expect(lines.count == 1, "a wrapped redraw:\n\(pane.out)")
            #expect(lines.allSatisfy { $0.count < 50 }, "\(pane.out)")
            if lines[0].contains("/6000") { sawBar = true }
            // No ETA from the first second's pace: it only comes once 3 s of confirms are measured.
            let start = firstFrame ?? .now
            firstFrame = start
            if ContinuousClock.now - start < .milliseconds(2500) {
                #expect(!lines[0].contains("ETA"), "an early ETA: \(lines[0])")
            }
        }
        #expect(sawBar && frames > 5, "the bar was drawn (\(frames) frames); last:\n\(lastPane)")
        #expect(finished, "publish ended")
        let connection = try await TestBroker.connect()
        if let channel = try? await connection.openChannel() {
            _ = try? await channel.deleteQueue(exchange + ".events")
            _ = try? await channel.deleteQueue(exchange + ".invalid")
            try? await channel.deleteExchange(exchange)
        }
        await connection.close()
    }
}
