import AccountProjection
import TestSupport
import Testing

@testable import AccountReadAPI
@testable import AccountReadModel

@Suite("The status page at GET /")
struct StatusPageTests {
    static let statistics = ServiceStatistics(
        projection: ProjectionStatistics(
            accounts: 1_234, eventsApplied: 56_789, duplicates: 12, invalid: 10,
            invalidByReason: [.malformedJSON: 3, .unknownType: 2, .accountClosed: 4, .sequenceGap: 1], parked: 5),
        lastOffset: 60_815, caughtUp: true)

    /// 90 s of samples: 10 applied/s for the first 60 s, then 40/s.
    static var busyHistory: ActivityHistory {
        var history = ActivityHistory()
        var applied = 0
        for second in 0...90 {
            if second > 0 { applied += second <= 60 ? 10 : 40 }
            history.record(ActivityCounters(handled: applied + second, applied: applied), at: Int64(second))
        }
        return history
    }

    func render(
        replica: String = "replica-1", readiness: Readiness = .ready,
        statistics: ServiceStatistics = StatusPageTests.statistics, activity: ActivityHistory = ActivityHistory(),
        status: OperatorStatus = OperatorStatus()
    ) -> StatusPageFigures {
        StatusPageFigures(
            html: String(
                decoding: StatusPage.render(
                    replica: replica, readiness: readiness, statistics: statistics, activity: activity,
                    status: status),
                as: UTF8.self))
    }

    @Test func everyFigureIsThereUnderItsID() {
        let page = render(activity: Self.busyHistory)
        #expect(page.text("replica") == "replica-1")
        #expect(page.text("readiness") == "READY")
        #expect(page.text("accounts") == "1,234")
        #expect(page.text("events-applied") == "56,789")
        #expect(page.number("events-duplicate") == 12)
        #expect(page.number("events-invalid") == 10)
        #expect(page.number("events-parked") == 5)
        #expect(page.text("last-offset") == "60,815")
        // Rates over the last 60 s: 30 s at 10/s and 30 s at 40/s.
        #expect(page.text("rate-applied") == "25.0")
        #expect(page.text("rate-handled") == "26.0")
        #expect(page.text("rate-duplicate") == "0.0")
        #expect(page.text("rate-invalid") == "0.0")
        #expect(page.number("rate-window") == 60)
        #expect(page.text("rate-applied-peak") == "40.0")
    }

    @Test func everyInvalidReasonHasARowZeroIncluded() {
        let page = render()
        for reason in RejectionReason.allCases {
            #expect(page.number("invalid-\(reason.rawValue)") == Self.statistics.invalidByReason[reason] ?? 0)
        }
        #expect(page.number("invalid-sequence_gap") == 1)
        #expect(page.number("invalid-too_large") == 0)
    }

    @Test(arguments: [
        (Readiness.ready, "READY", "ready"), (.catchingUp, "CATCHING_UP", "catching-up"),
        (.disconnected, "DISCONNECTED", "disconnected"),
    ])
    func readinessIsShownAsTheReadyEndpointSaysIt(readiness: Readiness, text: String, cssClass: String) {
        let page = render(readiness: readiness)
        #expect(page.text("readiness") == text)
        #expect(page.html.contains("id=\"readiness\" class=\"badge \(cssClass)\""))
    }

    @Test func aHostileReplicaNameIsEscapedEverywhere() {
        let hostile = #"</title><script>alert("x")</script><img src=x onerror='y'>&amp;"#
        let page = render(replica: hostile)
        #expect(!page.html.contains("<script"))
        #expect(!page.html.contains("<img"))
        #expect(!page.html.contains("onerror='"))
        #expect(page.html.contains("&lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        #expect(page.html.contains("&amp;amp;"))
        #expect(page.text("replica") == hostile)
        #expect(page.html.ranges(of: "<title>").count == 1)
    }

    static let operatorStatus = OperatorStatus(
        version: "1.2.3", uptimeSeconds: 3_725, broker: "rabbit.internal:5672", brokerVhost: "/", brokerTLS: false,
        reconnects: 2, lastConnectionError: "connection refused by 127.0.0.1:5672",
        lastConnectionErrorAgeSeconds: 75, tailOffset: 1_060_815, lag: 1_000_000, parkedAccounts: 12,
        longestParked: (1...10).map {
            OperatorStatus.WaitingAccount(accountId: "acc-\($0)", parked: 1_000 + $0, waitingSeconds: Int64(100 - $0))
        })

    @Test func theOperatorsFiguresAreThereUnderTheirIDs() {
        let page = render(activity: Self.busyHistory, status: Self.operatorStatus)
        #expect(page.text("version") == "1.2.3")
        #expect(page.text("uptime") == "1 h 02 min")
        #expect(page.title("uptime") == "3725 s")
        #expect(page.text("tail-offset") == "1,060,815")
        #expect(page.text("stream-lag") == "1,000,000")
        #expect(page.text("broker") == "rabbit.internal:5672")
        #expect(page.text("broker-vhost") == "/")
        #expect(page.number("reconnects") == 2)
        #expect(page.text("last-error") == "connection refused by 127.0.0.1:5672")
        #expect(page.text("last-error-age") == "1 min 15 s")
        #expect(page.number("parked-accounts") == 12)
        for n in 1...10 {
            #expect(page.text("parked-\(n)-account") == "acc-\(n)")
            #expect(page.number("parked-\(n)-count") == 1_000 + n)
            #expect(page.title("parked-\(n)-age") == "\(100 - n) s")
        }
        #expect(page.text("parked-1-age") == "1 min 39 s")
        #expect(page.text("parked-11-account") == nil)
        #expect(page.html.contains("and 2 more"))
        #expect(page.text("parked-none") == nil)
    }

    @Test func withoutErrorsOrParkedEventsThePageSaysSo() {
        let page = render()
        #expect(page.text("last-error") == "none")
        #expect(page.text("tail-offset") == "\u{2013}")
        #expect(page.text("stream-lag") == "\u{2013}")
        #expect(page.text("broker") == "\u{2013}")
        #expect(page.text("parked-none") == "No account holds parked events.")
        #expect(page.text("parked-1-account") == nil)
        #expect(page.text("version") == BuildInfo.version)
    }

    @Test func tlsBrokersAreMarked() {
        var status = Self.operatorStatus
        status.brokerTLS = true
        #expect(render(status: status).html.contains("<td>Broker (TLS)</td>"))
        #expect(!render(status: Self.operatorStatus).html.contains("(TLS)"))
    }

    @Test func hostileErrorsAccountIDsAndBrokerNamesAreEscaped() {
        let hostile = #"<script>alert("x")</script><img src=x onerror='y'>&amp;"#
        var status = Self.operatorStatus
        status.lastConnectionError = hostile
        status.broker = hostile
        status.brokerVhost = hostile
        status.version = hostile
        status.longestParked = [OperatorStatus.WaitingAccount(accountId: hostile, parked: 1, waitingSeconds: 5)]
        let page = render(status: status)
        #expect(!page.html.contains("<script"))
        #expect(!page.html.contains("<img"))
        for id in ["last-error", "broker", "broker-vhost", "version", "parked-1-account"] {
            #expect(page.text(id) == hostile, "\(id)")
        }
    }

    @Test func ratesOverTenSecondsBesideTheMinute() {
        let page = render(activity: Self.busyHistory)
        // The last 10 s all at 40/s; the minute averages 10/s and 40/s.
        #expect(page.text("rate-applied-10s") == "40.0")
        #expect(page.text("rate-handled-10s") == "41.0")
        #expect(page.text("rate-duplicate-10s") == "0.0")
        #expect(page.text("rate-invalid-10s") == "0.0")
        #expect(page.number("rate-window-10s") == 10)
        #expect(page.text("rate-applied") == "25.0")
        #expect(page.number("rate-window") == 60)
    }

    @Test func duplicatesAndInvalidHaveTheirOwnSparkline() throws {
        var history = ActivityHistory()
        for second in 0...20 {
            let s = second
            history.record(
                ActivityCounters(handled: 100 * s, applied: 100 * s, duplicates: s * s, invalid: 2 * s),
                at: Int64(second))
        }
        let page = render(activity: history)
        let duplicates = try #require(page.points("duplicate-line"))
        let invalid = try #require(page.points("invalid-line"))
        #expect(duplicates.count == 20)
        #expect(invalid.count == 20)
        // Scaled to their own peak (39 duplicates/s in the last second), not to the 100 applied/s.
        #expect(duplicates.last?.y == 2)
        #expect(invalid.allSatisfy { $0.y < Double(StatusPage.sparklineHeight) - 2 })
        #expect(page.text("rate-problem-peak") == "39.0")
        #expect(page.text("rate-invalid-10s") == "2.0")
        #expect(page.text("rate-duplicate-10s") == "30.0")  // (21+23+…+39)/10
        #expect(page.html.contains("<svg id=\"problem-sparkline\""))
    }

    @Test func countsAndRatesCarryThousandsSeparators() {
        #expect(StatusPage.grouped(0) == "0")
        #expect(StatusPage.grouped(999) == "999")
        #expect(StatusPage.grouped(1_000) == "1,000")
        #expect(StatusPage.grouped(56_789) == "56,789")
        #expect(StatusPage.grouped(1_234_567) == "1,234,567")
        #expect(StatusPage.grouped(-1_000) == "-1,000")
        #expect(StatusPage.grouped(Int64.min) == "-9,223,372,036,854,775,808")
        #expect(StatusPage.decimal(1_234.56) == "1,234.6")
        #expect(StatusPage.decimal(1_234.56, grouping: false) == "1234.6")
    }

    @Test(arguments: [
        (Int64(0), "0 s"), (59, "59 s"), (60, "1 min 00 s"), (192, "3 min 12 s"), (3_599, "59 min 59 s"),
        (3_600, "1 h 00 min"), (7_500, "2 h 05 min"), (86_400, "1 d 0 h"), (277_200, "3 d 5 h"), (-5, "0 s"),
    ])
    func durationsReadAsAPersonWouldSayThem(seconds: Int64, text: String) {
        #expect(StatusPage.duration(seconds) == text)
    }

    @Test func theSparklineHasOnePointPerKnownSecondRightAligned() throws {
        let empty = try #require(render().sparklinePoints)
        #expect(empty.isEmpty)

        var short = ActivityHistory()
        for second in 0...10 { short.record(ActivityCounters(applied: second * second), at: Int64(second)) }
        let shortPoints = try #require(render(activity: short).sparklinePoints)
        #expect(shortPoints.count == 10)
        #expect(shortPoints.last?.x == Double(StatusPage.sparklineWidth))
        // Rising rate: each point higher (a smaller y) than the one before, the peak at the top.
        #expect(zip(shortPoints, shortPoints.dropFirst()).allSatisfy { $0.y > $1.y })
        #expect(shortPoints.last?.y == 2)

        let full = try #require(render(activity: Self.busyHistory).sparklinePoints)
        #expect(full.count == 60)
        #expect(full.first?.x == 0)
        #expect(full.allSatisfy { (0...Double(StatusPage.sparklineHeight)).contains($0.y) })
    }

    @Test func theDocumentIsSelfContainedAndRefreshesItself() {
        let html = render(activity: Self.busyHistory).html
        #expect(html.hasPrefix("<!DOCTYPE html>\n"))
        #expect(html.contains(#"<meta http-equiv="refresh" content="2">"#))
        #expect(html.contains(#"<meta charset="utf-8">"#))
        #expect(html.contains("<style>"))
        #expect(html.contains("<svg id=\"apply-sparkline\""))
        // Nothing to fetch: no other origin, no linked style sheet, script, image or font.
        #expect(!html.contains("://"))
        #expect(!html.contains("<link"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("url("))
        #expect(!html.contains("@import"))
    }

    @Test func numbersHaveOneDecimalAndNoExponent() {
        #expect(StatusPage.decimal(0) == "0.0")
        #expect(StatusPage.decimal(0.04) == "0.0")
        #expect(StatusPage.decimal(0.05) == "0.1")
        #expect(StatusPage.decimal(12.345) == "12.3")
        #expect(StatusPage.decimal(1e-9) == "0.0")
        #expect(StatusPage.decimal(123_456_789.96) == "123,456,790.0")
        #expect(StatusPage.decimal(-2.5) == "-2.5")
        #expect(StatusPage.decimal(.nan) == "0.0")
    }

    @Test func aServiceBeforeItsFirstEventShowsADashForTheOffset() {
        let page = render(readiness: .catchingUp, statistics: ServiceStatistics())
        #expect(page.text("last-offset") == "\u{2013}")
        #expect(page.number("accounts") == 0)
        #expect(page.number("rate-window") == 0)
    }
}

@Suite("GET / through the ReadAPI")
struct StatusPageRouteTests {
    /// A model whose figures and history the page must show.
    final class Model: ReadModel {
        let history: ActivityHistory
        init(history: ActivityHistory) { self.history = history }
        func account(id: String) -> Account? { nil }
        func accounts(after: String?, limit: Int) -> AccountPage { AccountPage(items: [], hasMore: false) }
        func statistics() -> ServiceStatistics { StatusPageTests.statistics }
        func readiness() -> Readiness { .catchingUp }
        func activity() -> ActivityHistory { history }
        func operatorStatus() -> OperatorStatus { StatusPageTests.operatorStatus }
    }

    @Test func getAnswersTheHTMLPage() {
        let api = ReadAPI(model: ReadAPIFakeModel(stats: StatusPageTests.statistics), replicaName: "r<1>")
        let answer = api.respond(method: "GET", uri: "/")
        #expect(answer.status == 200)
        #expect(answer.contentType == "text/html; charset=utf-8")
        #expect(answer.header("Cache-Control") == "no-store")
        #expect(answer.header("Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
        let page = StatusPageFigures(html: answer.bodyText)
        #expect(page.text("replica") == "r<1>")
        #expect(page.number("accounts") == 1_234)
        #expect(page.text("readiness") == "READY")
        // The fake model keeps no history: the default one is empty.
        #expect(page.number("rate-window") == 0)
        #expect(page.sparklinePoints?.isEmpty == true)
    }

    @Test func thePageShowsTheModelsHistoryAndReadiness() {
        let api = ReadAPI(model: Model(history: StatusPageTests.busyHistory), replicaName: "r")
        let page = StatusPageFigures(html: api.respond(method: "GET", uri: "/").bodyText)
        #expect(page.text("readiness") == "CATCHING_UP")
        #expect(page.text("rate-applied") == "25.0")
        #expect(page.sparklinePoints?.count == 60)
        #expect(page.text("stream-lag") == "1,000,000")
        #expect(page.text("parked-1-account") == "acc-1")
    }

    @Test func headIsTheSameAnswerAsGetAndAQueryIsIgnored() {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r")
        let get = api.respond(method: "GET", uri: "/")
        let head = api.respond(method: "HEAD", uri: "/")
        #expect(head.status == 200)
        #expect(head.contentType == get.contentType)
        #expect(head.body == get.body)
        #expect(api.respond(method: "GET", uri: "/?refresh=1").body == get.body)
        #expect(api.respond(method: "GET", uri: "http://example.test/").status == 200)
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    func otherMethodsAre405WithAllow(method: String) {
        let answer = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r").respond(method: method, uri: "/")
        #expect(answer.status == 405)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.header("Allow") == "GET, HEAD")
    }

    @Test(arguments: ["//", "/index.html", "/%2F", "/ "])
    func onlyTheRootItselfIsThePage(uri: String) {
        let answer = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r").respond(method: "GET", uri: uri)
        #expect(answer.status == 404)
    }

    @Test func statsJSONStaysAsItWasWithInvalidByReasonKnown() {
        let api = ReadAPI(model: ReadAPIFakeModel(stats: StatusPageTests.statistics), replicaName: "replica-1")
        #expect(
            api.respond(method: "GET", uri: "/stats").bodyText
                == #"{"accounts":1234,"eventsApplied":56789,"duplicates":12,"invalid":10,"parked":5,"lastOffset":60815,"caughtUp":true,"replica":"replica-1"}"#
        )
    }
}
