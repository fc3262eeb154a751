import AMQP
import AccountProjection
import Synchronization
import Testing

@testable import AccountConsumer
@testable import AccountReadModel

@Suite("ActivityHistory: rates over the last minute from per-second samples")
struct ActivityHistoryTests {
    /// Counters where every field is `applied` times a factor, so each rate is checkable.
    static func counters(_ applied: Int) -> ActivityCounters {
        ActivityCounters(handled: applied * 4, applied: applied, duplicates: applied * 2, invalid: applied * 3)
    }

    @Test func anEmptyHistoryHasNoRatesAndNoSeries() {
        let history = ActivityHistory()
        #expect(history.count == 0)
        #expect(history.latestSecond == nil)
        #expect(history.rates() == ActivityRates())
        #expect(history.perSecond().isEmpty)
        #expect(history.appliedPerSecond().isEmpty)
    }

    @Test func oneSampleIsNotYetARate() {
        var history = ActivityHistory()
        history.record(Self.counters(500), at: 7)
        #expect(history.count == 1)
        #expect(history.latestSecond == 7)
        #expect(history.rates() == ActivityRates())
        #expect(history.appliedPerSecond().isEmpty)
    }

    @Test func fewerThanAMinuteOfSamplesGiveRatesOverWhatIsKnown() {
        var history = ActivityHistory()
        // 10 s at 5 applied/s, then 10 s at 15/s.
        var applied = 1_000
        history.record(Self.counters(applied), at: 100)
        for second in 101...120 {
            applied += second <= 110 ? 5 : 15
            history.record(Self.counters(applied), at: Int64(second))
        }
        let series = history.appliedPerSecond()
        #expect(series == Array(repeating: 5, count: 10) + Array(repeating: 15, count: 10))
        let rates = history.rates()
        #expect(rates.seconds == 20)
        #expect(rates.applied == 10)
        #expect(rates.duplicates == 20)
        #expect(rates.invalid == 30)
        #expect(rates.handled == 40)
    }

    @Test func theRingKeepsOnlyTheLastMinuteAfterWrappingAroundManyTimes() {
        var history = ActivityHistory()
        var applied = 0
        var increments: [Int] = []
        history.record(Self.counters(0), at: 0)
        for second in 1...1_000 {
            let increment = second % 7 + second % 13  // varies, so a wrong slot shows
            applied += increment
            increments.append(increment)
            history.record(Self.counters(applied), at: Int64(second))
            #expect(history.count <= 61)
        }
        let lastMinute = increments.suffix(60).map(Double.init)
        #expect(history.appliedPerSecond() == lastMinute)
        let rates = history.rates()
        #expect(rates.seconds == 60)
        #expect(rates.applied == lastMinute.reduce(0, +) / 60)
        #expect(history.latestSecond == 1_000)
    }

    @Test func aGapIsSpreadEvenlyOverTheSecondsItSpans() {
        var history = ActivityHistory()
        history.record(Self.counters(0), at: 0)
        history.record(Self.counters(10), at: 1)
        history.record(Self.counters(110), at: 11)  // ten seconds missed: 100 over 10 s
        history.record(Self.counters(112), at: 12)
        #expect(history.appliedPerSecond() == [10] + Array(repeating: 10, count: 10) + [2])
        #expect(history.rates().seconds == 12)
        #expect(history.rates().applied == 112.0 / 12)
    }

    @Test func aGapAcrossTheWindowsStartCountsOnlyTheSecondsInside() {
        var history = ActivityHistory()
        history.record(Self.counters(0), at: 0)
        history.record(Self.counters(6_000), at: 100)  // 60/s for 100 s
        #expect(history.count == 2)  // the sample before the window stays as the baseline
        #expect(history.appliedPerSecond() == Array(repeating: 60, count: 60))
        #expect(history.rates() == ActivityRates(handled: 240, applied: 60, duplicates: 120, invalid: 180, seconds: 60))
        history.record(Self.counters(6_000), at: 300)  // idle for longer than the window
        #expect(history.count == 2)
        #expect(history.appliedPerSecond() == Array(repeating: 0, count: 60))
        #expect(history.rates().applied == 0)
    }

    @Test func anIdleServiceHasZeroRatesOverTheWholeWindow() {
        var history = ActivityHistory()
        for second in 0...90 { history.record(Self.counters(42), at: Int64(second)) }
        #expect(history.appliedPerSecond() == Array(repeating: 0, count: 60))
        #expect(history.rates() == ActivityRates(seconds: 60))
    }

    @Test func aCounterThatGoesDownWasResetAndCountsFromZero() {
        var history = ActivityHistory()
        history.record(Self.counters(0), at: 0)
        history.record(Self.counters(1_000), at: 1)
        for second in 2...5 { history.record(Self.counters(1_000), at: Int64(second)) }  // nothing happens
        history.record(Self.counters(7), at: 6)  // reset: 7 since
        history.record(Self.counters(10), at: 7)
        #expect(history.appliedPerSecond() == [1_000, 0, 0, 0, 0, 7, 3])
        #expect(history.perSecond().allSatisfy { $0.applied >= 0 && $0.handled >= 0 })
    }

    @Test func anEarlierSecondIsIgnoredAndTheSameSecondReplacesTheSample() {
        var history = ActivityHistory()
        let first = history.record(Self.counters(0), at: 10)
        let second = history.record(Self.counters(5), at: 11)
        let earlier = history.record(Self.counters(1_000), at: 9)
        let again = history.record(Self.counters(8), at: 11)
        #expect(first && second && again)
        #expect(!earlier)
        #expect(history.count == 2)
        #expect(history.appliedPerSecond() == [8])
    }

    @Test func aSmallerWindowLooksBackThatFar() {
        var history = ActivityHistory(window: 5)
        for second in 0...20 { history.record(Self.counters(second * second), at: Int64(second)) }
        #expect(history.count <= 6)
        #expect(history.appliedPerSecond() == [31, 33, 35, 37, 39])  // n² - (n-1)² = 2n - 1
        #expect(history.rates().seconds == 5)
        #expect(history.rates().applied == 35)
    }

    @Test func ratesOverTheLastSecondsTakeOnlyThoseSeconds() {
        var history = ActivityHistory()
        // 1 applied/s for 50 s, then 11/s for 10 s.
        var applied = 0
        for second in 0...60 {
            if second > 0 { applied += second <= 50 ? 1 : 11 }
            history.record(Self.counters(applied), at: Int64(second))
        }
        let recent = history.rates(overLast: 10)
        #expect(recent.seconds == 10)
        #expect(recent.applied == 11)
        #expect(recent.invalid == 33)
        #expect(history.rates().applied == 160.0 / 60)
        // More seconds than known: as many as there are.
        #expect(history.rates(overLast: 500) == history.rates())
        #expect(history.rates(overLast: 0) == ActivityRates())
        #expect(ActivityHistory().rates(overLast: 10) == ActivityRates())
    }

    @Test func countersComeFromTheProjectionsFigures() {
        let figures = ActivityCounters(
            ProjectionStatistics(
                accounts: 3, eventsApplied: 10, duplicates: 2, invalid: 4, invalidByReason: [:], parked: 1))
        #expect(figures == ActivityCounters(handled: 17, applied: 10, duplicates: 2, invalid: 4))
    }
}

@Suite("activity from the store")
struct StoreActivityTests {
    /// A clock the test sets.
    final class TestSeconds: Sendable {
        let now = Mutex<Int64>(0)
        func set(_ second: Int64) { now.withLock { $0 = second } }
    }

    static func opened(_ id: String, offset: Int64) -> (decoded: Result<Event, EventProblem>, origin: EventOrigin) {
        let body = Array(
            #"{"eventId":"e-\#(id)","type":"AccountOpened","accountId":"\#(id)","sequence":1,"occurredAt":"2026-11-24T15:00:00Z","data":{"owner":"O","currency":"EUR"}}"#
                .utf8)
        return (
            EventDecoder.decode(body),
            EventOrigin(body: body, properties: AMQPProperties(), routingKey: "k", offset: offset)
        )
    }

    @Test func batchesAreCountedInTheSecondTheyArriveAndQuietSecondsAreZero() {
        let seconds = TestSeconds()
        let store = AccountStore(parkingLimit: 10, currentSecond: { seconds.now.withLock { $0 } })
        _ = store.apply([Self.opened("a1", offset: 0), Self.opened("a2", offset: 1)], received: 2)
        seconds.set(1)
        _ = store.apply([Self.opened("a3", offset: 2)], received: 1)
        // Nothing for a while, then three events at second 6.
        seconds.set(6)
        _ = store.apply((3..<6).map { Self.opened("b\($0)", offset: Int64($0)) }, received: 3)
        seconds.set(8)
        let history = store.activity()
        #expect(history.appliedPerSecond() == [1, 0, 0, 0, 0, 3, 0, 0])
        #expect(history.latestSecond == 8)
    }

    static func event(_ json: String, offset: Int64) -> (decoded: Result<Event, EventProblem>, origin: EventOrigin) {
        let body = Array(json.utf8)
        return (
            EventDecoder.decode(body),
            EventOrigin(body: body, properties: AMQPProperties(), routingKey: "k", offset: offset)
        )
    }

    static func deposited(
        _ id: String, sequence: Int, offset: Int64
    ) -> (
        decoded: Result<Event, EventProblem>, origin: EventOrigin
    ) {
        event(
            #"{"eventId":"d-\#(id)-\#(sequence)","type":"MoneyDeposited","accountId":"\#(id)","sequence":\#(sequence),"occurredAt":"2026-11-24T15:00:00Z","data":{"amount":5}}"#,
            offset: offset)
    }

    @Test func theOperatorStatusListsParkedAccountsLongestWaitingFirstWithTheirAge() {
        let seconds = TestSeconds()
        let store = AccountStore(parkingLimit: 100, currentSecond: { seconds.now.withLock { $0 } })
        #expect(store.operatorStatus().parkedAccounts == 0)
        seconds.set(5)
        _ = store.apply([Self.deposited("p1", sequence: 3, offset: 0), Self.opened("a1", offset: 1)], received: 2)
        seconds.set(20)
        _ = store.apply(
            [Self.deposited("p2", sequence: 2, offset: 2), Self.deposited("p1", sequence: 4, offset: 3)], received: 2)
        seconds.set(30)
        var status = store.operatorStatus()
        #expect(status.uptimeSeconds == 30)
        #expect(status.parkedAccounts == 2)
        #expect(
            status.longestParked == [
                .init(accountId: "p1", parked: 2, waitingSeconds: 25),
                .init(accountId: "p2", parked: 1, waitingSeconds: 10),
            ])
        // p1 opens: its sequence 2 is still missing, so it stays parked; p2 fills its gap and leaves.
        _ = store.apply([Self.opened("p2", offset: 4)], received: 1)
        status = store.operatorStatus()
        #expect(status.parkedAccounts == 1)
        #expect(status.longestParked.map(\.accountId) == ["p1"])
    }

    @Test func theOperatorStatusHasTheTailLagBrokerAndLastError() {
        let seconds = TestSeconds()
        let store = AccountStore(parkingLimit: 10, currentSecond: { seconds.now.withLock { $0 } })
        var status = store.operatorStatus()
        #expect(status.tailOffset == nil && status.lag == nil && status.broker == nil)
        #expect(status.lastConnectionError == nil && status.lastConnectionErrorAgeSeconds == nil)
        #expect(status.version == BuildInfo.version)
        store.setBroker(host: "rabbit", port: 5671, vhost: "prod", tls: true)
        store.connectionOpened()
        store.tailFound(99)
        _ = store.apply([Self.opened("a1", offset: 9)], received: 1)
        seconds.set(3)
        store.connectionLost(error: "connection refused")
        seconds.set(10)
        status = store.operatorStatus()
        #expect(status.tailOffset == 99)
        #expect(status.lag == 90)
        #expect(status.broker == "rabbit:5671")
        #expect(status.brokerVhost == "prod")
        #expect(status.brokerTLS)
        #expect(status.reconnects == 1)
        #expect(status.lastConnectionError == "connection refused")
        #expect(status.lastConnectionErrorAgeSeconds == 7)
    }

    @Test("a failover moments after being caught up resumes READY at once; a later or a lagging one waits for the tail")
    func aFailoverFromCaughtUpResumesReadyAtOnce() {
        let store = AccountStore(parkingLimit: 10)
        store.connectionOpened()
        store.tailFound(1)
        _ = store.apply([Self.opened("a1", offset: 0), Self.opened("a2", offset: 1)], received: 2)
        #expect(store.statistics().caughtUp)
        store.connectionLost(error: "connection to the broker lost")
        #expect(!store.statistics().caughtUp)
        #expect(store.resumesCaughtUp(within: .seconds(10)))
        #expect(!store.resumesCaughtUp(within: .zero), "past the grace: wait for the tail")
        store.connectionOpened(resumingCaughtUp: true)
        #expect(store.statistics().caughtUp, "READY before any tail probe")
        store.tailProbed(5)
        #expect(store.statistics().caughtUp, "a later tail feeds the lag, not readiness")
        #expect(store.operatorStatus().lag == 4)

        // Lost while behind: no grace.
        store.connectionLost()
        store.connectionOpened()
        store.tailFound(5)
        #expect(!store.statistics().caughtUp)
        store.connectionLost()
        #expect(!store.resumesCaughtUp(within: .seconds(10)))
    }

    @Test func aStreamEmptyAtStartHasItsTailAtTheLastOffsetHandled() {
        let store = AccountStore(parkingLimit: 10)
        store.connectionOpened()
        store.tailFound(nil)
        #expect(store.operatorStatus().tailOffset == nil)
        _ = store.apply([Self.opened("a1", offset: 0), Self.opened("a2", offset: 1)], received: 2)
        #expect(store.operatorStatus().tailOffset == 1)
        #expect(store.operatorStatus().lag == 0)
    }
}
