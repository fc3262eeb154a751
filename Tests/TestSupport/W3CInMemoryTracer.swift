import AccountMessaging
public import InMemoryTracing
public import Tracing

/// The in-memory tracer of swift-distributed-tracing, taught W3C propagation: it reads a
/// `traceparent` header into its span context, so a span started in that context is its child.
public struct W3CInMemoryTracer: Tracer {
    public let recorder = InMemoryTracer()

    public init() {}

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        recorder.startSpan(
            operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID,
            line: line)
    }

    public func forceFlush() { recorder.forceFlush() }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: TraceParent.headerName, from: carrier),
            let parent = TraceParent(header)
        else { return }
        context.inMemorySpanContext = InMemorySpanContext(
            traceID: parent.traceID, spanID: parent.spanID, parentSpanID: nil)
    }

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext,
            let parent = TraceParent(traceID: span.traceID, spanID: span.spanID)
        else { return }
        injector.inject(parent.description, forKey: TraceParent.headerName, into: &carrier)
    }
}
