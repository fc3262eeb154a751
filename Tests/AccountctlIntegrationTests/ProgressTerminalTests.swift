import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// publish's progress bar in a real terminal: a 50-column tmux pane (a tmux server of the
/// test's own, on its own socket).
@Suite(
    "publish's progress bar in a 50-column tmux pane", .tags(.broker), .timeLimit(.minutes(5)),
    .enabled(if: TestBroker.enabled && access("/usr/bin/tmux", X_OK) == 0))
struct ProgressTerminalTests {
    @Test("every redraw fits on the pane's one line, none is left wrapped, and no ETA comes early")
    func fitsNarrowPane() async throws {
        let socket = "/tmp/accountctl-progress-\(UInt32.random(in: 0...UInt32.max)).tmux"
        let recording = socket + ".out"
        let exchange = TestBroker.uniqueName("progress")
        let names = "--exchange \(exchange) --stream \(exchange).events --invalid-queue \(exchange).invalid"
        // It starts once the pane's output is recorded, says DONE at the end, and stays until told
        // to end (then the session, and with it the server, ends: no signal needed).
        let command =
            "tmux -S \(socket) wait-for go; env AMQP_URL='\(try TestBroker.requireURL())'"
            + " \(try builtProduct("accountctl")) publish --accounts 50 --events 6000 --rate 1500 \(names)"
            + " > /dev/null; printf DONE; tmux -S \(socket) wait-for -S done; tmux -S \(socket) wait-for end"
        func tmux(_ arguments: [String]) async throws -> ProcessResult {
            try await runProcess("/usr/bin/tmux", ["-S", socket] + arguments, timeout: 60)
        }
        let started = try await tmux(["new-session", "-d", "-x", "50", "-y", "6", command])
        try #require(started.status == 0, "tmux: \(started.err)")
        // Only this test's server: its own socket.
        defer {
            _ = system("/usr/bin/tmux -S \(socket) wait-for -S end; /usr/bin/tmux -S \(socket) kill-server")
            unlink(socket)
            unlink(recording)
        }
        #expect(try await tmux(["pipe-pane", "-o", "cat > \(recording)"]).status == 0)
        #expect(try await tmux(["wait-for", "-S", "go"]).status == 0)
        #expect(try await tmux(["wait-for", "done"]).status == 0, "publish ended within a minute")

        // What stays on the screen: DONE alone (a wrapped redraw leaves its first part above).
        let pane = try await tmux(["capture-pane", "-p"])
        let shown = pane.out.split(separator: "\n").filter { $0.contains { $0 != " " } }
        #expect(shown == ["DONE"], "left on the pane:\n\(pane.out)")

        // Every frame written: under 50 columns; an ETA only once 3 s of confirms are measured
        // (about 4500 at 1500/s; at least 1500 on a machine twice as slow).
        let output = try #require(readFile(recording))
        let frames = output.split(separator: "\r").map { $0.replacing("\u{1B}[K", with: "") }.filter {
            $0.contains("/6000")
        }
        #expect(frames.count >= 5, "frames: \(frames)")
        for frame in frames {
            #expect(frame.count < 50, "\(frame.count) columns: \(frame)")
            if frame.contains("ETA"),
                let done = Int(frame.split(separator: "/").first?.split(separator: " ").last ?? "")
            {
                #expect(done >= 1500, "an ETA after only \(done) confirms: \(frame)")
            }
        }
        let connection = try await TestBroker.connect()
        if let channel = try? await connection.openChannel() {
            _ = try? await channel.deleteQueue(exchange + ".events")
            _ = try? await channel.deleteQueue(exchange + ".invalid")
            try? await channel.deleteExchange(exchange)
        }
        await connection.close()
    }
}

private func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
