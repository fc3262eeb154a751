import AccountMessaging
import AccountProjection
import JSON
import TestSupport
import Testing

/// `/metrics` of a real `accountservice` against a real broker: the page parses as
/// Prometheus text, and its counters follow what was published.
@Suite("metrics against a real broker", .tags(.broker), .timeLimit(.minutes(5)), .enabled(if: TestBroker.enabled))
struct MetricsIntegrationTests {
    @Test("counters move with published events: valid, duplicate and invalid by reason")
    func countersFollowTheStream() async throws {
        let topology = uniqueTopology("metrics")
        try await cleaningUp({ await deleteTopology(topology) }) {
            try await publish(
                [
                    TestEvent.opened("acc-m1"), TestEvent.opened("acc-m2"), TestEvent.deposited("acc-m1", 2, 100),
                    TestEvent.opened("acc-m1"),  // duplicate
                    Array("{\"eventId\": nope".utf8),  // malformed_json
                    Array("[1,2".utf8),  // malformed_json
                    TestEvent.body("MoneyTeleported", "acc-m2", 2, data: "{}"),  // unknown_type
                ], to: topology)
            let service = try await ServiceProcess(topology: topology, replica: "metrics-1")
            #expect(await service.waitUntilHandled(7), "log:\n\(service.log)")
            _ = service.get("/accounts/acc-m1")
            _ = service.get("/accounts/acc-nobody")

            var page = try metrics(service)
            #expect(page.value("accountservice_events_received_total") == 7)
            #expect(page.value("accountservice_events_applied_total") == 3)
            #expect(page.value("accountservice_events_duplicate_total") == 1)
            #expect(page.value("accountservice_events_invalid_total", ["error": "malformed_json"]) == 2)
            #expect(page.value("accountservice_events_invalid_total", ["error": "unknown_type"]) == 1)
            #expect(page.value("accountservice_events_invalid_total", ["error": "sequence_gap"]) == 0)
            #expect(page.value("accountservice_events_parked") == 0)
            #expect(page.value("accountservice_accounts") == 2)
            #expect(page.value("accountservice_stream_last_offset") == 6)
            #expect(page.value("accountservice_stream_lag_events") == 0)
            #expect(page.value("accountservice_broker_connected") == 1)
            #expect(page.value("accountservice_caught_up") == 1)
            #expect(page.value("accountservice_broker_reconnects_total") == 0)
            #expect((page.value("accountservice_apply_batch_duration_seconds_count") ?? 0) >= 1)
            #expect(
                page.value("accountservice_http_requests_total", ["route": "/accounts/{id}", "status": "200"]) == 1)
            #expect(
                page.value("accountservice_http_requests_total", ["route": "/accounts/{id}", "status": "404"]) == 1)
            #expect((page.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((page.value("process_open_fds") ?? 0) >= 3)
            #expect((page.value("process_cpu_seconds_total") ?? 0) > 0)
            #expect(page.types["accountservice_events_applied_total"] == "counter")
            #expect(page.types["accountservice_apply_batch_duration_seconds"] == "histogram")
            #expect(page.types["process_cpu_seconds_total"] == "counter")
            #expect(page.help["accountservice_events_applied_total"]?.isEmpty == false)
            try expectDashboardFamilies(in: page)

            // More events: the counters move by exactly as many. (The rejected sequence 2 of acc-m2
            // took its place in the account's history: 3 comes next.)
            try await publish(
                [TestEvent.deposited("acc-m2", 3, 5), TestEvent.deposited("acc-m2", 3, 5), Array("x".utf8)],
                to: topology)
            #expect(await service.waitUntilHandled(10), "log:\n\(service.log)")
            page = try metrics(service)
            #expect(page.value("accountservice_events_received_total") == 10)
            #expect(page.value("accountservice_events_applied_total") == 4)
            #expect(page.value("accountservice_events_duplicate_total") == 2)
            #expect(page.value("accountservice_events_invalid_total", ["error": "malformed_json"]) == 3)
            #expect(page.value("accountservice_stream_last_offset") == 9)
            #expect(page.sum("accountservice_events_invalid_total") == 4)
            #expect(await service.terminate() == 0)
        }
    }

    @Test("log lines are JSON off a terminal, the start-up line shows the configuration without secrets")
    func jsonLogLines() async throws {
        let topology = uniqueTopology("logs")
        try await cleaningUp({ await deleteTopology(topology) }) {
            let events = (1...200).map { TestEvent.opened("acc-log-\($0)") }
            try await publish(events, to: topology)
            let service = try await ServiceProcess(
                topology: topology, replica: "logs-1", extraEnvironment: ["LOG_LEVEL": "info"])
            #expect(await service.waitUntilHandled(200), "log:\n\(service.log)")
            #expect(await service.terminate() == 0)
            let lines = service.log.split(separator: "\n").map(String.init)
            #expect(lines.count >= 3)
            #expect(lines.count < 30, "no line per event at the default level: \(lines.count) lines")
            var sawStart = false
            for line in lines {
                let json = try JSONValue.parse(Array(line.utf8))
                #expect(json["timestamp"]?.stringValue != nil, "\(line)")
                #expect(json["level"]?.stringValue != nil, "\(line)")
                #expect(json["message"]?.stringValue != nil, "\(line)")
                #expect(json["logger"]?.stringValue == "accountservice", "\(line)")
                guard case .object = json["metadata"] else {
                    Issue.record("no metadata object in \(line)")
                    continue
                }
                if let configuration = json["metadata"]?["configuration"] {
                    sawStart = true
                    let url = try #require(configuration["AMQP_URL"]?.stringValue)
                    #expect(url.hasPrefix("amqp://guest:***@127.0.0.1:"), "\(url)")
                    #expect(configuration["EVENTS_STREAM"]?.stringValue == "\(topology.stream) (env)")
                    #expect(configuration["PREFETCH"]?.stringValue == "1000 (default)")
                    #expect(configuration["LOG_LEVEL"]?.stringValue == "info (env)")
                }
            }
            #expect(sawStart, "no start-up line with the configuration:\n\(service.log)")
            // Once, when the replay of what was there at start is done: how long and how much.
            let readyLines = lines.filter { $0.contains("replica READY: replayed") }
            #expect(readyLines.count == 1, "log:\n\(service.log)")
            let ready = try JSONValue.parse(Array((readyLines.first ?? "{}").utf8))
            #expect(ready["metadata"]?["replayEvents"]?.stringValue == "200", "\(readyLines)")
            #expect(ready["metadata"]?["replaySeconds"]?.stringValue.flatMap(Double.init) != nil, "\(readyLines)")
            #expect(lines.contains { $0.contains("read API listening on 127.0.0.1:") && !$0.contains("[IPv4]") })
            #expect(!service.log.contains("guest:guest"), "the password must never be logged")
        }
    }

    /// Every family the Grafana dashboard reads (deploy/monitoring/metric-names.txt) is on the
    /// page, with its type and labels.
    private func expectDashboardFamilies(in page: PrometheusText) throws {
        let path = packageRoot() + "/deploy/monitoring/metric-names.txt"
        let text = try #require(SnapshotIntegrationTests.readFile(path), "cannot read \(path)")
        var checked = 0
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count == 3 else { continue }
            let (name, type, labels) = (fields[0], fields[1], fields[2])
            #expect(page.types[name] == type, "\(name) should be a \(type)")
            let sampleName = type == "histogram" ? name + "_count" : name
            let samples = page.samples.filter { $0.name == sampleName }
            #expect(!samples.isEmpty, "no samples of \(sampleName)")
            for label in labels.split(separator: ",").map(String.init) where label != "-" {
                #expect(samples.allSatisfy { $0.labels[label] != nil }, "\(name) without label \(label)")
            }
            checked += 1
        }
        #expect(checked >= 18)
    }

    private func metrics(_ service: ServiceProcess) throws -> PrometheusText {
        let response = try #require(service.get("/metrics"))
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return try PrometheusText(parsing: response.bodyText)
    }
}
