import AccountProjection
import TestSupport
import Testing

@testable import AccountReadAPI
@testable import AccountReadModel

@Suite("ReadAPI routes (docs/read-api.md)")
struct ReadAPITests {
    let model = ReadAPIFakeModel()
    var api: ReadAPI { ReadAPI(model: self.model, replicaName: "replica-1") }

    // MARK: GET /accounts/{id}

    @Test(
        "known accounts answer 200 with exactly their eight fields",
        arguments: [
            ("acc-000001", ReadAPIExpectedJSON.ada),
            ("acc-000002", ReadAPIExpectedJSON.closed),
            ("acc-000003", ReadAPIExpectedJSON.zoe),
            ("acc-000004", ReadAPIExpectedJSON.grace),
            ("acc-000005", ReadAPIExpectedJSON.alan),
            ("B-upper", ReadAPIExpectedJSON.bea),
        ])
    func accountFound(id: String, json: String) {
        let answer = self.api.respond(method: "GET", uri: "/accounts/" + id)
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/json")
        #expect(answer.bodyText == json)
        #expect(answer.header("Cache-Control") == "no-cache")
    }

    @Test func accountJSONEscapesQuotesBackslashesAndControlsButKeepsUTF8() {
        let body = self.api.respond(method: "GET", uri: "/accounts/acc-000003").body
        // ë, Ø and 李 go out as raw UTF-8; the quote, the backslash and U+0001 are escaped.
        let owner: [UInt8] =
            Array(#""owner":"Zo"#.utf8) + [0xC3, 0xAB] + Array(#" \"Zee\" "#.utf8) + [0xC3, 0x98]
            + Array(#"rsted \\ "#.utf8) + [0xE6, 0x9D, 0x8E] + Array(#"\u0001""#.utf8)
        #expect(body.indices.contains { body[$0...].starts(with: owner) })
    }

    @Test func unknownAccountIs404Problem() {
        let answer = self.api.respond(method: "GET", uri: "/accounts/acc-999999")
        #expect(answer.status == 404)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.bodyText == ReadAPIExpectedJSON.problem(404, "Not Found", "no account acc-999999"))
    }

    @Test func percentEncodedIDIsDecodedFirst() {
        let answer = self.api.respond(method: "GET", uri: "/accounts/acc%2D000001")
        #expect(answer.status == 200)
        #expect(answer.bodyText == ReadAPIExpectedJSON.ada)
        let punctuation = self.api.respond(method: "GET", uri: "/accounts/x.y%3Az_1-2")
        #expect(punctuation.status == 200)
    }

    @Test func idOf64CharactersIsValidAnd65IsNot() {
        let id64 = String(repeating: "a", count: 64)
        let id65 = String(repeating: "a", count: 65)
        let unknown64 = self.api.respond(method: "GET", uri: "/accounts/" + id64)
        #expect(unknown64.status == 404)
        #expect(unknown64.bodyText == ReadAPIExpectedJSON.problem(404, "Not Found", "no account " + id64))

        let tooLong = self.api.respond(method: "GET", uri: "/accounts/" + id65)
        #expect(tooLong.status == 400)
        #expect(tooLong.bodyText == ReadAPIExpectedJSON.badID)

        let stored = Account(
            id: id64, owner: "Long", currency: "EUR", balance: 1, status: .open, version: 1,
            openedAt: "2026-11-24T15:00:00Z", updatedAt: "2026-11-24T15:00:00Z"
        )
        let api = ReadAPI(model: ReadAPIFakeModel(accounts: [stored]), replicaName: "r")
        let found = api.respond(method: "GET", uri: "/accounts/" + id64)
        #expect(found.status == 200)
        #expect(found.bodyText.hasPrefix(#"{"id":""# + id64 + #"","owner":"Long""#))
    }

    @Test(
        "ids that break the accountId rule are 400",
        arguments: [
            "/accounts/",  // empty id
            "/accounts/%ff",  // a byte that is not UTF-8
            "/accounts/%00",
            "/accounts/acc%20000001",  // space
            "/accounts/acc 1",
            "/accounts/a%2Fb",  // an encoded slash decodes into the id
            "/accounts/a/b",
            "/accounts//acc-000001",
            "/accounts/../health",
            "/accounts/acc-000001/",
            "/accounts/%C3%A9",  // é: valid UTF-8, not in the alphabet
            "/accounts/é",
            "/accounts/acc+1",
            "/accounts/" + String(repeating: "x", count: 10_000),
        ])
    func badID(uri: String) {
        let answer = self.api.respond(method: "GET", uri: uri)
        #expect(answer.status == 400)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.bodyText == ReadAPIExpectedJSON.badID)
    }

    @Test(
        "malformed percent-encoding in the path is 400",
        arguments: [
            "/accounts/%zz", "/accounts/acc%", "/accounts/acc%4", "/health%zz", "/%",
        ])
    func malformedPercentEncoding(uri: String) {
        let answer = self.api.respond(method: "GET", uri: uri)
        #expect(answer.status == 400)
        #expect(answer.contentType == "application/problem+json")
        #expect(
            answer.bodyText == ReadAPIExpectedJSON.problem(400, "Bad Request", "malformed percent-encoding in the path")
        )
    }

    @Test func queryOnOtherRoutesIsIgnored() {
        #expect(
            self.api.respond(method: "GET", uri: "/accounts/acc-000001?limit=abc&x=%zz").bodyText
                == ReadAPIExpectedJSON.ada)
        #expect(self.api.respond(method: "GET", uri: "/health?%ff=%zz").status == 200)
        #expect(
            self.api.respond(method: "GET", uri: "/stats?" + String(repeating: "q=1&", count: 20_000)).status == 200)
    }

    // MARK: GET /accounts

    @Test func listWithoutLimitReturnsEverythingInByteOrder() {
        let answer = self.api.respond(method: "GET", uri: "/accounts")
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/json")
        #expect(self.model.lastListCall?.limit == 100)
        #expect(self.model.lastListCall?.after == nil)
        #expect(ReadAPIListBody(answer.bodyText).ids == ReadAPIFakeModel.sampleIDsInByteOrder)
        #expect(answer.bodyText.hasSuffix(#"],"next":null}"#))
    }

    @Test func firstPageOfTwoHasExactBody() {
        let answer = self.api.respond(method: "GET", uri: "/accounts?limit=2")
        #expect(answer.status == 200)
        #expect(
            answer.bodyText == #"{"items":["# + ReadAPIExpectedJSON.bea + "," + ReadAPIExpectedJSON.ada
                + #"],"next":"acc-000001"}"#)
    }

    @Test("walking the pages sees every id once, in byte order", arguments: [1, 2, 3, 6, 7, 8, 1000])
    func pagination(limit: Int) {
        var seen: [String] = []
        var after: String? = nil
        var pages = 0
        while true {
            var uri = "/accounts?limit=\(limit)"
            if let after { uri += "&after=" + after }
            let answer = self.api.respond(method: "GET", uri: uri)
            #expect(answer.status == 200)
            let body = ReadAPIListBody(answer.bodyText)
            pages += 1
            seen += body.ids
            #expect(body.ids.count <= limit)
            guard let next = body.next else { break }
            // next is the last returned id, and only appears when more follow.
            #expect(next == body.ids.last)
            after = next
            if pages > 20 { break }
        }
        #expect(seen == ReadAPIFakeModel.sampleIDsInByteOrder)
        let total = ReadAPIFakeModel.sampleIDsInByteOrder.count
        #expect(pages == (total + limit - 1) / limit)
    }

    @Test func exactlyFullLastPageHasNullNext() {
        // 7 accounts, limit 7: one page; the model says no more, so next is null.
        let answer = self.api.respond(method: "GET", uri: "/accounts?limit=7")
        #expect(ReadAPIListBody(answer.bodyText).ids.count == 7)
        #expect(ReadAPIListBody(answer.bodyText).next == nil)
    }

    @Test(
        "limit must be an integer in 1..1000",
        arguments: [
            ("0", false), ("1", true), ("1000", true), ("1001", false), ("abc", false), ("", false),
            ("-1", false), ("1.5", false), ("+5", false), ("%2B5", false), (" 5", false), ("5 ", false),
            ("007", true), ("%31", true), ("99999999999999999999999", false), ("1e3", false), ("0x10", false),
        ])
    func limitValues(value: String, valid: Bool) {
        let answer = self.api.respond(method: "GET", uri: "/accounts?limit=" + value)
        if valid {
            #expect(answer.status == 200)
            #expect(answer.contentType == "application/json")
        } else {
            #expect(answer.status == 400)
            #expect(answer.contentType == "application/problem+json")
            #expect(answer.bodyText == ReadAPIExpectedJSON.badLimit)
        }
    }

    @Test func limitWithoutEqualsSignIs400AndFirstLimitWins() {
        #expect(self.api.respond(method: "GET", uri: "/accounts?limit").status == 400)
        let first = self.api.respond(method: "GET", uri: "/accounts?limit=1&limit=abc")
        #expect(first.status == 200)
        #expect(ReadAPIListBody(first.bodyText).ids == ["B-upper"])
        #expect(self.api.respond(method: "GET", uri: "/accounts?limit=abc&limit=1").status == 400)
        #expect(self.api.respond(method: "GET", uri: "/accounts?foo=bar&&limit=3&").status == 200)
        #expect(self.model.lastListCall?.limit == 3)
    }

    @Test func limitOfOneReturnsOneItem() {
        let body = ReadAPIListBody(self.api.respond(method: "GET", uri: "/accounts?limit=1").bodyText)
        #expect(body.ids == ["B-upper"])
        #expect(body.next == "B-upper")
    }

    @Test func afterIsPercentDecodedWithPlusAsSpace() {
        _ = self.api.respond(method: "GET", uri: "/accounts?after=%C3%A9t%C3%A9")
        #expect(self.model.lastListCall?.after == "été")
        _ = self.api.respond(method: "GET", uri: "/accounts?after=a+b%2Bc%26d")
        #expect(self.model.lastListCall?.after == "a b+c&d")
        _ = self.api.respond(method: "GET", uri: "/accounts?after=acc-000003&limit=2")
        #expect(self.model.lastListCall?.after == "acc-000003")
        #expect(self.model.lastListCall?.limit == 2)
        _ = self.api.respond(method: "GET", uri: "/accounts?after=")
        #expect(self.model.lastListCall?.after == nil)
    }

    @Test func afterWithNonASCIISortsPastEveryASCIIId() {
        let answer = self.api.respond(method: "GET", uri: "/accounts?after=%C3%A9")
        #expect(answer.status == 200)
        #expect(answer.bodyText == #"{"items":[],"next":null}"#)
    }

    @Test func afterAnIdReturnsTheFollowingOnes() {
        let body = ReadAPIListBody(self.api.respond(method: "GET", uri: "/accounts?after=acc-000003").bodyText)
        #expect(body.ids == ["acc-000004", "acc-000005", "x.y:z_1-2"])
        #expect(body.next == nil)
        // `after` need not be an existing id, nor a valid one.
        let between = ReadAPIListBody(
            self.api.respond(method: "GET", uri: "/accounts?after=acc-0000025&limit=1").bodyText)
        #expect(between.ids == ["acc-000003"])
        #expect(between.next == "acc-000003")
    }

    @Test(
        "malformed after is 400",
        arguments: [
            ("%zz", "malformed percent-encoding in after"),
            ("%ff", "after must be UTF-8 text"),
            ("%C3", "after must be UTF-8 text"),
            ("abc%", "malformed percent-encoding in after"),
        ])
    func badAfter(value: String, detail: String) {
        let answer = self.api.respond(method: "GET", uri: "/accounts?after=" + value)
        #expect(answer.status == 400)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.bodyText == ReadAPIExpectedJSON.problem(400, "Bad Request", detail))
    }

    @Test func hugeQueryStringIsHandled() {
        let junk = String(repeating: "%zz&x=%ff&", count: 10_000)
        let answer = self.api.respond(method: "GET", uri: "/accounts?" + junk + "limit=2")
        #expect(answer.status == 200)
        #expect(ReadAPIListBody(answer.bodyText).ids.count == 2)
        let longAfter = self.api.respond(
            method: "GET", uri: "/accounts?after=" + String(repeating: "z", count: 100_000))
        #expect(longAfter.status == 200)
        #expect(longAfter.bodyText == #"{"items":[],"next":null}"#)
    }

    // MARK: /stats, /health, /ready, /metrics

    @Test func statsBeforeTheFirstDelivery() {
        let answer = self.api.respond(method: "GET", uri: "/stats")
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/json")
        #expect(
            answer.bodyText
                == #"{"accounts":0,"eventsApplied":0,"duplicates":0,"invalid":0,"parked":0,"lastOffset":null,"caughtUp":false,"replica":"replica-1"}"#
        )
    }

    @Test func statsWithFigures() {
        let stats = ServiceStatistics(
            projection: ProjectionStatistics(
                accounts: 20_000, eventsApplied: 199_990, duplicates: 3, invalid: 4, parked: 5),
            lastOffset: 199_999, caughtUp: true
        )
        let api = ReadAPI(model: ReadAPIFakeModel(stats: stats), replicaName: "node \"7\" ü")
        let answer = api.respond(method: "GET", uri: "/stats")
        #expect(
            answer.bodyText
                == #"{"accounts":20000,"eventsApplied":199990,"duplicates":3,"invalid":4,"parked":5,"lastOffset":199999,"caughtUp":true,"replica":"node \"7\" ü"}"#
        )
        let zero = ReadAPI(model: ReadAPIFakeModel(stats: ServiceStatistics(lastOffset: 0)), replicaName: "r")
        #expect(zero.respond(method: "GET", uri: "/stats").bodyText.contains(#""lastOffset":0,"#))
    }

    @Test func replicaNameLosesControlCharacters() {
        let api = ReadAPI(model: self.model, replicaName: "evil\r\nX-Injected: 1")
        #expect(api.replicaName == "evilX-Injected: 1")
        #expect(api.respond(method: "GET", uri: "/stats").bodyText.hasSuffix(#""replica":"evilX-Injected: 1"}"#))
    }

    @Test func health() {
        let answer = self.api.respond(method: "GET", uri: "/health")
        #expect(answer.status == 200)
        #expect(answer.contentType == "application/json")
        #expect(answer.bodyText == #"{"status":"UP"}"#)
    }

    @Test(
        "ready follows the model's readiness",
        arguments: [
            (Readiness.ready, 200, #"{"status":"READY"}"#),
            (Readiness.catchingUp, 503, #"{"status":"CATCHING_UP","lag":null,"lastOffset":null,"tail":null}"#),
            (Readiness.disconnected, 503, #"{"status":"DISCONNECTED","reason":"not connected to the broker yet"}"#),
        ])
    func ready(readiness: Readiness, status: Int, body: String) {
        let api = ReadAPI(model: ReadAPIFakeModel(readiness: readiness), replicaName: "r")
        let answer = api.respond(method: "GET", uri: "/ready")
        #expect(answer.status == status)
        #expect(answer.contentType == "application/json")
        #expect(answer.bodyText == body)
    }

    @Test func metricsCountAnswersByRouteAndStatus() throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r")
        _ = api.respond(method: "GET", uri: "/health")
        _ = api.respond(method: "GET", uri: "/accounts/acc-000001")
        _ = api.respond(method: "GET", uri: "/accounts/nobody")
        _ = api.respond(method: "GET", uri: "/nope")
        _ = api.respond(method: "POST", uri: "/health")
        api.recordServerAnswer(status: 431)
        let answer = api.respond(method: "GET", uri: "/metrics")
        #expect(answer.status == 200)
        #expect(answer.contentType == "text/plain; version=0.0.4; charset=utf-8")
        let page = try PrometheusText(parsing: answer.bodyText)
        let requests = "accountservice_http_requests_total"
        #expect(page.types[requests] == "counter")
        #expect(page.value(requests, ["route": "/health", "status": "200"]) == 1)
        #expect(page.value(requests, ["route": "/health", "status": "405"]) == 1)
        #expect(page.value(requests, ["route": "/accounts/{id}", "status": "200"]) == 1)
        #expect(page.value(requests, ["route": "/accounts/{id}", "status": "404"]) == 1)
        #expect(page.value(requests, ["route": "unknown", "status": "404"]) == 1)
        #expect(page.value(requests, ["route": "unrouted", "status": "431"]) == 1)
        // The raw id never becomes a label value.
        #expect(!answer.bodyText.contains("nobody"))
        let durations = "accountservice_http_request_duration_seconds"
        #expect(page.types[durations] == "histogram")
        #expect(page.value(durations + "_count", ["route": "/accounts/{id}"]) == 2)
        #expect(page.value(durations + "_count", ["route": "/health"]) == 2)
        #expect(page.value(durations + "_bucket", ["route": "/health", "le": "+Inf"]) == 2)
        #expect(page.value("accountservice_build_info", ["version": BuildInfo.version, "swift": BuildInfo.swift]) == 1)
    }

    // MARK: Unknown paths, methods

    @Test(
        "unknown paths are 404 problems",
        arguments: [
            "/index.html", "/nope", "/health/", "/Health", "//health", "/accounts2", "/stats/x", "/metrics/", "*", "",
            "/accountsx/acc-000001", "/ready?x", "/health#frag",
        ])
    func unknownPath(uri: String) {
        let answer = self.api.respond(method: "GET", uri: uri)
        if uri == "/ready?x" {
            #expect(answer.status == 200)  // the query is ignored
            return
        }
        #expect(answer.status == 404)
        #expect(answer.contentType == "application/problem+json")
        #expect(
            answer.bodyText.hasPrefix(
                #"{"type":"about:blank","title":"Not Found","status":404,"detail":"no such resource: "#))
    }

    @Test func notFoundDetailNamesThePath() {
        let answer = self.api.respond(method: "GET", uri: "/nope?x=1")
        #expect(answer.bodyText == ReadAPIExpectedJSON.problem(404, "Not Found", "no such resource: /nope"))
        let long = self.api.respond(method: "GET", uri: "/" + String(repeating: "n", count: 5000))
        #expect(long.status == 404)
        #expect(long.body.count < 400)
    }

    @Test(
        "other methods on known paths are 405 with Allow: GET, HEAD",
        arguments: [
            "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "get",
        ],
        [
            "/accounts/acc-000001", "/accounts/not a valid id", "/accounts", "/stats", "/health", "/ready", "/metrics",
        ])
    func methodNotAllowed(method: String, uri: String) {
        let answer = self.api.respond(method: method, uri: uri)
        #expect(answer.status == 405)
        #expect(answer.contentType == "application/problem+json")
        #expect(answer.header("Allow") == "GET, HEAD")
        #expect(
            answer.bodyText == ReadAPIExpectedJSON.problem(405, "Method Not Allowed", method + " is not allowed here"))
    }

    @Test func otherMethodOnUnknownPathIs404() {
        let answer = self.api.respond(method: "POST", uri: "/nope")
        #expect(answer.status == 404)
        #expect(answer.header("Allow") == nil)
    }

    @Test(
        "HEAD answers what GET answers",
        arguments: [
            "/accounts/acc-000001", "/accounts/acc-999999", "/accounts/%zz", "/accounts?limit=2", "/stats", "/health",
            "/ready", "/nope",
        ])
    func headIsGet(uri: String) {
        let get = self.api.respond(method: "GET", uri: uri)
        let head = self.api.respond(method: "HEAD", uri: uri)
        #expect(head.status == get.status)
        #expect(head.contentType == get.contentType)
        #expect(head.body == get.body)
    }

    // MARK: Request-target forms and junk

    @Test func absoluteFormTargetsAreRouted() {
        #expect(self.api.respond(method: "GET", uri: "http://example.com/health").bodyText == #"{"status":"UP"}"#)
        #expect(
            self.api.respond(method: "GET", uri: "HTTP://example.com:6767/accounts/acc-000001").bodyText
                == ReadAPIExpectedJSON.ada)
        #expect(self.api.respond(method: "GET", uri: "https://example.com").status == 404)
    }

    @Test func percentEncodedPathIsDecodedBeforeRouting() {
        #expect(self.api.respond(method: "GET", uri: "/%68ealth").status == 200)
        #expect(self.api.respond(method: "GET", uri: "/accounts%2Facc-000001").bodyText == ReadAPIExpectedJSON.ada)
    }

    @Test(
        "junk never answers 5xx",
        arguments: [
            "%", "%%", "/%%%", "/accounts/%", "/accounts?%", "/accounts?limit=%", "/accounts?after=%e2%82", "?", "??",
            "/accounts?&&&", "/accounts?=", "/accounts?limit==5", "/accounts?after==", "http://", "https://x?limit=1",
            "/\u{0}", "/accounts/\u{7F}", "/accounts/\u{FFFD}", String(repeating: "/", count: 10_000),
            "/accounts/" + String(repeating: "%41", count: 64), "/accounts/" + String(repeating: "%41", count: 65),
        ])
    func junk(uri: String) {
        for method in ["GET", "HEAD", "POST"] {
            let answer = self.api.respond(method: method, uri: uri)
            #expect((200..<500).contains(answer.status))
            #expect(answer.contentType == "application/json" || answer.contentType == "application/problem+json")
            #expect(answer.body.first == UInt8(ascii: "{") && answer.body.last == UInt8(ascii: "}"))
        }
    }

    @Test func percentEncodedIDOf64And65Characters() {
        #expect(self.api.respond(method: "GET", uri: "/accounts/" + String(repeating: "%41", count: 64)).status == 404)
        #expect(self.api.respond(method: "GET", uri: "/accounts/" + String(repeating: "%41", count: 65)).status == 400)
    }
}

/// Pulls `items[].id` and `next` out of a list body (the tests' own tiny reader).
struct ReadAPIListBody {
    var ids: [String] = []
    var next: String?

    init(_ text: String) {
        // Each item starts with {"id":"…"; ids never hold quotes.
        var rest = Substring(text)
        while let range = rest.firstRange(of: #"{"id":""#) {
            rest = rest[range.upperBound...]
            let end = rest.firstIndex(of: "\"")!
            self.ids.append(String(rest[..<end]))
        }
        if let range = text.firstRange(of: #""next":""#) {
            let after = text[range.upperBound...]
            self.next = String(after[..<after.firstIndex(of: "\"")!])
        } else {
            self.next = nil
        }
    }
}

@Suite("ReadAPI HTTP conventions: validators, Link, CORS, /ready's reasons, /metrics' series")
struct ReadAPIConventionTests {
    let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r")

    @Test func accountCarriesAnETagAndIfNoneMatchIs304() throws {
        let first = self.api.respond(method: "GET", uri: "/accounts/acc-000001")
        let tag = try #require(first.header("ETag"))
        #expect(tag.hasPrefix("\"") && tag.hasSuffix("\"") && tag.count == 18)
        #expect(first.header("Cache-Control") == "no-cache")
        let other = self.api.respond(method: "GET", uri: "/accounts/acc-000002")
        #expect(other.header("ETag") != tag)

        for field in [tag, "W/" + tag, "\"x\", " + tag, "*"] {
            let again = self.api.respond(
                method: "GET", uri: "/accounts/acc-000001", fields: HTTPRequestFields(ifNoneMatch: field))
            #expect(again.status == 304, "If-None-Match: \(field)")
            #expect(again.body.isEmpty)
            #expect(again.header("ETag") == tag)
            #expect(again.header("Cache-Control") == "no-cache")
        }
        let stale = self.api.respond(
            method: "GET", uri: "/accounts/acc-000001", fields: HTTPRequestFields(ifNoneMatch: "\"0000\""))
        #expect(stale.status == 200)
        #expect(stale.bodyText == ReadAPIExpectedJSON.ada)
        // A 404 has no validator to match, even with `*`.
        let missing = self.api.respond(
            method: "GET", uri: "/accounts/acc-999999", fields: HTTPRequestFields(ifNoneMatch: "*"))
        #expect(missing.status == 404)
    }

    @Test func accountETagFollowsTheVersion() {
        func tag(version: Int64) -> String? {
            let account = Account(
                id: "v", owner: "V", currency: "EUR", balance: 1, status: .open, version: version,
                openedAt: "2026-11-24T15:00:00Z", updatedAt: "2026-11-24T15:00:00Z")
            let api = ReadAPI(model: ReadAPIFakeModel(accounts: [account]), replicaName: "r")
            return api.respond(method: "GET", uri: "/accounts/v").header("ETag")
        }
        #expect(tag(version: 1) != nil)
        #expect(tag(version: 1) == tag(version: 1))
        #expect(tag(version: 1) != tag(version: 2))
    }

    @Test func listCarriesAnETagFromItsPageAnd304s() throws {
        let page = self.api.respond(method: "GET", uri: "/accounts?limit=2")
        let tag = try #require(page.header("ETag"))
        #expect(page.header("Cache-Control") == "no-cache")
        #expect(self.api.respond(method: "GET", uri: "/accounts?limit=3").header("ETag") != tag)
        let again = self.api.respond(
            method: "GET", uri: "/accounts?limit=2", fields: HTTPRequestFields(ifNoneMatch: tag))
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        #expect(again.header("ETag") == tag)
        #expect(again.header("Link") == page.header("Link"))

        let changed = ReadAPI(
            model: ReadAPIFakeModel(
                accounts: ReadAPIFakeModel.sampleAccounts.map { account in
                    var account = account
                    account.version += 1
                    return account
                }), replicaName: "r")
        #expect(changed.respond(method: "GET", uri: "/accounts?limit=2").header("ETag") != tag)
    }

    @Test func listHasALinkToTheNextPageBesideNext() throws {
        let page = self.api.respond(method: "GET", uri: "/accounts?limit=2")
        let next = try #require(ReadAPIListBody(page.bodyText).next)
        #expect(page.header("Link") == "</accounts?limit=2&after=\(next)>; rel=\"next\"")
        let last = self.api.respond(method: "GET", uri: "/accounts?limit=1000")
        #expect(last.header("Link") == nil)
        #expect(ReadAPI.nextLink(limit: 5, after: "a:b.c_d-e") == "</accounts?limit=5&after=a%3Ab.c_d-e>; rel=\"next\"")
    }

    @Test func corsIsOffByDefault() {
        let answer = self.api.respond(
            method: "GET", uri: "/health", fields: HTTPRequestFields(origin: "https://dash.example.org"))
        #expect(answer.header("Access-Control-Allow-Origin") == nil)
        let preflight = self.api.respond(
            method: "OPTIONS", uri: "/accounts", fields: HTTPRequestFields(origin: "https://dash.example.org"))
        #expect(preflight.status == 405)
    }

    @Test func corsForAnyOrigin() throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r", cors: CORSPolicy(allowOrigin: "*"))
        for uri in ["/accounts/acc-000001", "/accounts", "/nope", "/health"] {
            let answer = api.respond(method: "GET", uri: uri, fields: HTTPRequestFields(origin: "https://a.example"))
            #expect(answer.header("Access-Control-Allow-Origin") == "*", "\(uri)")
            #expect(answer.header("Vary") == nil)
            #expect(answer.header("Access-Control-Expose-Headers")?.contains("ETag") == true)
        }
        let preflight = api.respond(
            method: "OPTIONS", uri: "/accounts/acc-000001",
            fields: HTTPRequestFields(
                origin: "https://a.example", accessControlRequestMethod: "GET",
                accessControlRequestHeaders: "If-None-Match, X-Trace\r\nEvil: 1"))
        #expect(preflight.status == 204)
        #expect(preflight.body.isEmpty)
        #expect(preflight.header("Access-Control-Allow-Origin") == "*")
        #expect(preflight.header("Access-Control-Allow-Methods") == "GET, HEAD")
        #expect(preflight.header("Access-Control-Allow-Headers") == "If-None-Match, X-TraceEvil 1")
        #expect(preflight.headers.filter { $0.name == "Access-Control-Allow-Origin" }.count == 1)
        #expect(api.respond(method: "OPTIONS", uri: "/nope").status == 404)
    }

    @Test func corsForOneOriginVariesOnOrigin() throws {
        let origin = "https://dash.example.org"
        let api = ReadAPI(
            model: ReadAPIFakeModel(), replicaName: "r", cors: CORSPolicy(allowOrigin: origin))
        let answer = api.respond(method: "GET", uri: "/stats", fields: HTTPRequestFields(origin: origin))
        #expect(answer.header("Access-Control-Allow-Origin") == origin)
        #expect(answer.header("Vary") == "Origin")
        #expect(CORSPolicy(allowOrigin: "dash.example.org") == nil)
        #expect(CORSPolicy(allowOrigin: "https://x/\r\nSet-Cookie: a") == nil)
        #expect(CORSPolicy(allowOrigin: "http://localhost:3000") != nil)
    }

    @Test func readySaysWhyItIsNotReady() {
        let disconnected = ReadAPI(
            model: ReadAPIFakeModel(
                readiness: .disconnected, detail: ReadinessDetail(reason: "connection refused by 127.0.0.1:5672")),
            replicaName: "r")
        #expect(
            disconnected.respond(method: "GET", uri: "/ready").bodyText
                == #"{"status":"DISCONNECTED","reason":"connection refused by 127.0.0.1:5672"}"#)
        let catchingUp = ReadAPI(
            model: ReadAPIFakeModel(readiness: .catchingUp, detail: ReadinessDetail(lastOffset: 41, tail: 141)),
            replicaName: "r")
        let answer = catchingUp.respond(method: "GET", uri: "/ready")
        #expect(answer.status == 503)
        #expect(answer.bodyText == #"{"status":"CATCHING_UP","lag":100,"lastOffset":41,"tail":141}"#)
    }

    @Test func metricsShowOnlySeriesThatCanHappenInNameOrder() throws {
        let api = ReadAPI(model: ReadAPIFakeModel(), replicaName: "r")
        let requests = "accountservice_http_requests_total"
        let before = try PrometheusText(parsing: api.respond(method: "GET", uri: "/metrics").bodyText)
        #expect(before.value(requests, ["route": "/accounts/{id}", "status": "304"]) == nil)
        #expect(before.value(requests, ["route": "/metrics", "status": "404"]) == nil)
        #expect(before.value(requests, ["route": "/health", "status": "405"]) == nil)
        #expect(before.value(requests, ["route": "/ready", "status": "503"]) == 0)

        let tag = try #require(api.respond(method: "GET", uri: "/accounts/acc-000001").header("ETag"))
        _ = api.respond(method: "GET", uri: "/accounts/acc-000001", fields: HTTPRequestFields(ifNoneMatch: tag))
        let text = api.respond(method: "GET", uri: "/metrics").bodyText
        let after = try PrometheusText(parsing: text)
        #expect(after.value(requests, ["route": "/accounts/{id}", "status": "304"]) == 1)

        let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map {
            String($0.split(separator: " ")[2])
        }
        #expect(families == families.sorted())
        #expect(Set(families).count == families.count)
        #expect(families.contains("process_open_fds") && families.contains(requests))
    }
}
