import AccountServiceLauncher
import Logging
import OTel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The swift-otel tracing backend of `accountservice-otel`: spans only (the service has its own
/// Prometheus `/metrics` and logs), exported over OTLP/HTTP, W3C trace context propagation.
///
/// Every standard `OTEL_*` variable still applies on top of these defaults (swift-otel reads them):
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`), `OTEL_SERVICE_NAME`
/// (here `accountservice`), `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_PROPAGATORS`, …
enum OTelTracing {
    /// `OTEL_SDK_DISABLED=true` (any case), as the OpenTelemetry specification reads it.
    static var isDisabled: Bool { environment("OTEL_SDK_DISABLED")?.lowercased() == "true" }

    static func makeBackend(logger: Logger) throws -> AccountServiceCommand.TracingBackend {
        try checkUnsupportedSettings()
        var configuration = OTel.Configuration.default
        configuration.serviceName = "accountservice"
        configuration.propagators = [.traceContext]
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        // The flush at a stop waits this long for an unreachable collector: 3 s (not the usual 10 s)
        // keeps a stop within SHUTDOWN_TIMEOUT (8 s), after the read API's 3 s grace.
        configuration.traces.otlpExporter.timeout = .seconds(3)
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        // swift-otel's own messages go through the service's log handler, warnings and errors only
        // (failed exports, say); OTEL_LOG_LEVEL=info or debug shows more.
        configuration.diagnosticLogLevel = .warning
        configuration.diagnosticLogger = .custom(
            Logger(label: "swift-otel") { _ in OTelDiagnosticsLogHandler(wrapping: logger.handler) })
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        if environment("OTEL_TRACES_EXPORTER") == "none" {
            logger.info("OTEL_TRACES_EXPORTER=none: spans are recorded but not exported")
        } else {
            logger.info(
                "exporting spans over OTLP/HTTP",
                metadata: [
                    "endpoint": "\(endpoint)", "service": "\(environment("OTEL_SERVICE_NAME") ?? "accountservice")",
                ])
        }
        return AccountServiceCommand.TracingBackend(tracer: backend.factory, service: backend.service)
    }

    /// Where spans go, as swift-otel will resolve it, for the start-up log line (a user and password
    /// in the URL shown as `***`).
    private static var endpoint: String {
        var url: String
        if let traces = environment("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            url = traces
        } else {
            url = environment("OTEL_EXPORTER_OTLP_ENDPOINT") ?? "http://localhost:4318"
            url += url.hasSuffix("/") ? "v1/traces" : "/v1/traces"
        }
        guard let scheme = url.firstRange(of: "://") else { return url }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return url }
        url.replaceSubrange(scheme.upperBound..<at, with: "***")
        return url
    }

    /// Settings this build cannot honour, refused with the setting, the value and what to use instead:
    /// swift-otel would stop the process with a fatal error for each of them (or, for the other
    /// exporters, fail with just "Not implemented").
    private static func checkUnsupportedSettings() throws(UnsupportedSetting) {
        // The traces-specific variable wins over the general one.
        if let (name, value) = firstSet("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            value == "grpc"
        {
            throw UnsupportedSetting(
                name: name, value: value,
                fix: "this build exports over OTLP/HTTP only: use http/protobuf (the default) or http/json, "
                    + "and point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (usually 4318)")
        }
        let refused: [(name: String, values: Set<String>, fix: String)] = [
            ("OTEL_TRACES_EXPORTER", ["console", "zipkin", "jaeger"], "use otlp (the default) or none"),
            (
                "OTEL_PROPAGATORS", ["baggage", "b3", "b3multi", "jaeger", "xray", "ottrace"],
                "only tracecontext (the default) or none are supported"
            ),
            (
                "OTEL_TRACES_SAMPLER", ["parentbased_jaeger_remote", "jaeger_remote", "xray"],
                "use always_on, always_off, traceidratio or parentbased_* (parentbased_always_on is the default)"
            ),
        ]
        for setting in refused {
            guard let value = environment(setting.name) else { continue }
            let items = value.split(separator: ",").map { $0.filter { !$0.isWhitespace }.lowercased() }
            if items.contains(where: setting.values.contains) {
                throw UnsupportedSetting(name: setting.name, value: value, fix: setting.fix)
            }
        }
    }

    private static func firstSet(_ names: String...) -> (String, String)? {
        for name in names {
            if let value = environment(name) { return (name, value) }
        }
        return nil
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

struct UnsupportedSetting: Error, CustomStringConvertible {
    var name: String
    var value: String
    var fix: String

    var description: String { "\(name): '\(value)' is not supported; \(fix)" }
}
