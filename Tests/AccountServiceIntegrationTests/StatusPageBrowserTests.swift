import AMQP
import AccountProjection
import TestSupport
import Testing

@testable import AccountReadModel

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's headless Chromium, as a person's browser would load the status page.
enum Chromium {
    static let missing =
        "chromium is not installed: scripts/test installs it (scripts/install-deps chromium), "
        + "or run apt-get install -y --no-install-recommends chromium"

    /// The `chromium` binary on PATH (or in /usr/bin), nil when there is none.
    static var path: String? {
        let directories = (TestSupport.environment("PATH") ?? "").split(separator: ":").map(String.init) + ["/usr/bin"]
        return directories.map { $0 + "/chromium" }.first { access($0, X_OK) == 0 }
    }

    /// Loads `url` headless and returns the DOM after the page loaded. Killed after
    /// `timeout` seconds, so that a hanging browser cannot hang the suite.
    static func dumpDOM(_ chromium: String, url: String, timeout: Double = 60) async throws -> String {
        let profile = "/tmp/accountservice-chromium-\(UInt32.random(in: 0...UInt32.max))"
        let result = try await runProcess(
            chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--dump-dom", url,
            ],
            timeout: timeout)
        _ = try? await runProcess("/bin/rm", ["-rf", profile], timeout: 30)
        guard !result.killed else {
            throw ProcessError("chromium did not finish loading \(url) within \(Int(timeout)) s:\n\(result.err)")
        }
        guard result.status == 0, !result.stdout.isEmpty else {
            throw ProcessError("chromium --dump-dom \(url) exited with \(result.status); stderr:\n\(result.err)")
        }
        return result.out
    }
}

@Suite("the status page in a real browser", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct StatusPageBrowserTests {
    /// Replica, READY, version, uptime, broker, counts, invalid by reason, offsets and lag,
    /// rates over 10 s and a minute, both sparklines, parked accounts.
    @Test("headless Chromium shows the service's figures")
    func chromiumRendersTheFigures() async throws {
        let chromium = try #require(Chromium.path, "\(Chromium.missing)")
        let topology = uniqueTopology("status-page")
        try await cleaningUp({ await deleteTopology(topology) }) {
            // Markup in the name must come out as text, not as an element. (No slash: the name
            // is part of the service's log file name.)
            let replica = #"status <b>page & "co" 'q'"#
            let service = try await ServiceProcess(topology: topology, replica: replica)
            #expect(await service.wait { service.get("/ready")?.status == 200 }, "log:\n\(service.log)")
            // Publish only once the sampler has a sample, so that the events show as a rate.
            #expect(await service.wait { (Self.figures(service)?.number("rate-window") ?? 0) >= 1 })

            try await publish(
                [
                    TestEvent.opened("acc-1"), TestEvent.opened("acc-2"), TestEvent.opened("acc-3"),
                    TestEvent.deposited("acc-1", 2, 100),
                    TestEvent.opened("acc-1"),  // duplicate
                    Array("{\"eventId\": nope".utf8),  // malformed_json
                    Array("[1]".utf8),  // malformed_json
                    TestEvent.body("MoneyTeleported", "acc-2", 2, data: "{}"),  // unknown_type
                    TestEvent.deposited("acc-2", 3, 0),  // amount_out_of_range
                    TestEvent.closed("acc-3", 2),
                    TestEvent.deposited("acc-3", 3, 5),  // account_closed
                    TestEvent.deposited("acc-9", 2, 5),  // parked: acc-9 is not opened
                ], to: topology)
            #expect(await service.waitUntilHandled(12), "log:\n\(service.log)")
            // The next sample takes the events in.
            #expect(await service.wait { (Self.figures(service)?.rate("rate-applied") ?? 0) > 0 })

            let dom = try await Chromium.dumpDOM(chromium, url: "http://127.0.0.1:\(service.port)/")
            let page = StatusPageFigures(html: dom)
            #expect(page.text("replica") == replica, "DOM:\n\(dom)")
            #expect(!dom.contains("<b>page"), "the replica name became markup")
            #expect(page.text("readiness") == "READY")
            #expect(page.number("accounts") == 3)
            #expect(page.number("events-applied") == 5)
            #expect(page.number("events-duplicate") == 1)
            #expect(page.number("events-invalid") == 5)
            let expectedInvalid: [RejectionReason: Int] = [
                .malformedJSON: 2, .unknownType: 1, .amountOutOfRange: 1, .accountClosed: 1,
            ]
            for reason in RejectionReason.allCases {
                #expect(page.number("invalid-\(reason.rawValue)") == expectedInvalid[reason] ?? 0, "\(reason)")
            }
            // At least the 5 applied events in at most the 60 s the rate covers.
            let rate = try #require(page.rate("rate-applied"))
            let window = try #require(page.number("rate-window"))
            #expect(rate > 0)
            // The rate has one decimal: 5 events over `window` seconds, within that rounding.
            #expect(abs(rate * Double(window) - 5) <= 0.05 * Double(window) + 1e-9, "\(rate)/s over \(window) s")
            let points = try #require(page.sparklinePoints, "no sparkline in DOM:\n\(dom)")
            #expect(points.count == window)
            #expect(points.map(\.y).min() == 2, "the busiest second is not at the top: \(points)")
            #expect(!dom.contains("://"), "the page refers to another origin")

            // The operator's figures.
            #expect(page.text("version") == BuildInfo.version)
            let uptime = try #require(page.title("uptime"))
            #expect(uptime.hasSuffix(" s") && (Int(uptime.dropLast(2)) ?? -1) >= 0, "uptime title: \(uptime)")
            let broker = try AMQPURL(parsing: try TestBroker.requireURL())
            #expect(page.text("broker") == "\(broker.host):\(broker.port)", "DOM:\n\(dom)")
            #expect(page.text("broker-vhost") == "/")
            #expect(page.text("last-error") == "none")
            #expect(page.number("reconnects") == 0)
            // 12 deliveries at offsets 0...11 into a stream that was empty at start.
            #expect(page.number("last-offset") == 11)
            #expect(page.number("tail-offset") == 11)
            #expect(page.number("stream-lag") == 0)
            #expect(page.number("events-parked") == 1)
            #expect(page.number("parked-accounts") == 1)
            #expect(page.text("parked-1-account") == "acc-9")
            #expect(page.number("parked-1-count") == 1)
            let age = try #require(page.title("parked-1-age"))
            #expect((Int(age.dropLast(2)) ?? -1) >= 0, "age title: \(age)")
            #expect(page.text("parked-2-account") == nil)
            // The 10-s rate covers at most the 5 applied events (fewer once the browser took
            // longer than 10 s to come up); the test of the HTML pins its arithmetic.
            let recent = try #require(page.rate("rate-applied-10s"))
            let recentWindow = try #require(page.number("rate-window-10s"))
            #expect((1...10).contains(recentWindow))
            #expect(recent * Double(recentWindow) <= 5 + 0.05 * Double(recentWindow) + 1e-9)
            let invalidPoints = try #require(page.points("invalid-line"), "no invalid line in DOM:\n\(dom)")
            #expect(invalidPoints.count == window)
            #expect(invalidPoints.map(\.y).min() == 2, "the second with the 5 invalid events is not at the top")
            #expect(page.points("duplicate-line")?.count == window)

            // The page's figures are the ones /stats gives.
            let stats = StatsView(try #require(service.get("/stats")).bodyText)
            #expect(Int64(page.number("events-applied") ?? -1) == stats["eventsApplied"])
            #expect(Int64(page.number("events-invalid") ?? -1) == stats["invalid"])
            #expect(await service.terminate() == 0, "log:\n\(service.log)")
            #expect(!service.log.contains("exiting now"), "the watchdog had to end it:\n\(service.log)")
        }
    }

    @Test("headless Chromium shows a broker that cannot be reached: DISCONNECTED, the error, no password")
    func chromiumShowsTheLastConnectionError() async throws {
        let chromium = try #require(Chromium.path, "\(Chromium.missing)")
        // Nothing listens there: every connection attempt is refused.
        let deadPort = freePort()
        let secret = "pa55-\(UInt32.random(in: 0...UInt32.max))"
        let service = try await ServiceProcess(
            topology: uniqueTopology("status-down"), replica: "status-down",
            extraEnvironment: ["AMQP_URL": "amqp://operator:\(secret)@127.0.0.1:\(deadPort)/ops"])
        #expect(
            await service.wait { (Self.figures(service)?.text("last-error")).map { $0 != "none" } ?? false },
            "log:\n\(service.log)")
        let dom = try await Chromium.dumpDOM(chromium, url: "http://127.0.0.1:\(service.port)/")
        let page = StatusPageFigures(html: dom)
        #expect(page.text("readiness") == "DISCONNECTED", "DOM:\n\(dom)")
        #expect(page.text("broker") == "127.0.0.1:\(deadPort)")
        #expect(page.text("broker-vhost") == "ops")
        let error = try #require(page.text("last-error"))
        #expect(!error.isEmpty && error != "none")
        #expect(service.log.contains(error), "the page's error is not the one logged: \(error)")
        #expect(page.title("last-error-age")?.hasSuffix(" s") == true)
        #expect(!dom.contains(secret), "the page shows the broker's password")
        #expect(await service.terminate() == 0, "log:\n\(service.log)")
    }

    /// The page as the service serves it, read without a browser.
    static func figures(_ service: ServiceProcess) -> StatusPageFigures? {
        guard let response = service.get("/"), response.status == 200 else { return nil }
        return StatusPageFigures(html: response.bodyText)
    }
}
