import AccountServiceLauncher

// `accountservice` with an OTLP/HTTP trace exporter: the same program as the default build, handed a
// swift-otel tracer. OTEL_SDK_DISABLED=true runs it without tracing, like the default build.
if OTelTracing.isDisabled {
    AccountServiceCommand.runAndExit()
} else {
    AccountServiceCommand.runAndExit { logger in try OTelTracing.makeBackend(logger: logger) }
}
