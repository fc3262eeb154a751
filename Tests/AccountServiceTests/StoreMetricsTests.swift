import AMQP
import AccountProjection
import TestSupport
import Testing

@testable import AccountConsumer

/// What the store pushes into the metrics, without a broker: offsets, tail and lag.
@Suite("store metrics")
struct StoreMetricsTests {
    private func page(_ store: AccountStore) throws -> PrometheusText {
        try PrometheusText(parsing: String(decoding: store.metrics.exposition(), as: UTF8.self))
    }

    @Test func theLagFollowsTheLastTailProbedAndTheOffsetsHandled() throws {
        let store = AccountStore(parkingLimit: 10)
        store.connectionOpened()
        #expect(try page(store).value("accountservice_broker_connected") == 1)
        store.tailFound(9)  // 10 events in the stream at connection
        let events = (0..<4).map { StoreActivityTests.opened("acc-l\($0)", offset: Int64($0)) }
        _ = store.apply(events, received: 4)
        var metrics = try page(store)
        #expect(metrics.value("accountservice_stream_last_offset") == 3)
        #expect(metrics.value("accountservice_stream_tail_offset") == 9)
        #expect(metrics.value("accountservice_stream_lag_events") == 6)
        #expect(metrics.value("accountservice_caught_up") == 0)

        // A later probe finds the stream grown; the lag grows with it.
        store.tailProbed(29)
        metrics = try page(store)
        #expect(metrics.value("accountservice_stream_tail_offset") == 29)
        #expect(metrics.value("accountservice_stream_lag_events") == 26)

        // Handled past the probed tail: the lag is 0, never negative.
        let more = (4..<35).map { StoreActivityTests.opened("acc-l\($0)", offset: Int64($0)) }
        _ = store.apply(more, received: more.count)
        metrics = try page(store)
        #expect(metrics.value("accountservice_stream_lag_events") == 0)
        #expect(metrics.value("accountservice_caught_up") == 1)
        #expect(metrics.value("accountservice_events_received_total") == 35)

        store.connectionLost()
        metrics = try page(store)
        #expect(metrics.value("accountservice_broker_connected") == 0)
        #expect(metrics.value("accountservice_broker_reconnects_total") == 1)
    }
}
