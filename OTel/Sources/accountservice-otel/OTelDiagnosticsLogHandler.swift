import Logging

/// swift-otel's diagnostics, written by the service's own log handler, minus what must not reach a log:
/// - the values of `OTEL_EXPORTER_OTLP_*HEADERS`, which swift-otel logs when it reads them and which
///   usually carry the collector's API key;
/// - the headers of a message or request whose `traceparent` is malformed: they come from outside, so
///   that line is logged at debug (not warning) and without the headers.
struct OTelDiagnosticsLogHandler: LogHandler {
    private var wrapped: any LogHandler

    init(wrapping handler: any LogHandler) {
        self.wrapped = handler
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        var handler = wrapped
        let variable = handler.metadata["environment_key"] ?? event.metadata?["environment_key"]
        if let variable, "\(variable)".hasSuffix("HEADERS") {
            for key in ["environment_value", "previous_value", "new_value"] {
                if handler.metadata[key] != nil { handler.metadata[key] = "<redacted>" }
                if event.metadata?[key] != nil { event.metadata?[key] = "<redacted>" }
            }
        }
        if event.metadata?["carrier"] != nil {
            event.metadata?["carrier"] = nil
            if event.level > .debug { event.level = .debug }
            guard event.level >= handler.logLevel else { return }
        }
        handler.log(event: event)
    }
}
