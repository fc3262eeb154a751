import AccountProjection
public import AccountReadModel
import PercentEncoding
public import Tracing

/// One HTTP answer of the read API, independent of any server library.
///
/// The server adds `Content-Length`, `X-Served-By` and connection management;
/// for `HEAD` it sends the same head and no body.
public struct HTTPAnswer: Sendable {
    /// The status code (200, 400, 404, 405, 503, …).
    public var status: Int
    /// The `Content-Type` header value.
    public var contentType: String
    /// Headers beyond `Content-Type`, `Content-Length` and `X-Served-By` (e.g. `Allow`).
    public var headers: [(name: String, value: String)]
    /// The body, as it goes on the wire.
    public var body: [UInt8]
    /// The resource that answered, as metrics and spans name it.
    public var route: HTTPMetrics.Route = .unrouted

    public init(status: Int, contentType: String, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    /// The reason phrase that goes with `status` (also the `title` of a problem).
    public var reasonPhrase: String { ReadAPI.reasonPhrase(self.status) }
}

/// The HTTP read API of docs/read-api.md, as a pure function from (method, request target)
/// to an ``HTTPAnswer``. It knows nothing of sockets or NIO; ``HTTPServer`` serves it.
///
/// Routing (on the path, before the query):
/// - `/accounts/{id}`, `/accounts`, `/stats`, `/health`, `/ready`, `/metrics`, and `/`
///   (the HTML status page, ``StatusPage``); anything else is 404. Paths are matched
///   exactly: no trailing-slash, double-slash or `..` normalisation (`/health/` is 404,
///   `/accounts//x` is a 400 bad id).
/// - The path is percent-decoded before matching; a malformed `%` escape is 400.
/// - `GET` and `HEAD` are allowed on every known path; any other method is 405 with
///   `Allow: GET, HEAD` (but `OPTIONS`, a CORS preflight, is 204 when CORS is on).
///   Unknown paths are 404 whatever the method.
/// - Accounts and pages carry an `ETag` and `Cache-Control: no-cache`; a matching
///   `If-None-Match` is a 304. A page with more after it carries `Link: <…>; rel="next"`.
/// - The query is read by `/accounts` only (`limit`, `after`; others ignored).
public struct ReadAPI: Sendable {
    public static let defaultListLimit = 100
    public static let maxListLimit = 1000

    static let jsonType = "application/json"
    static let problemType = "application/problem+json"
    static let metricsType = "text/plain; version=0.0.4; charset=utf-8"
    static let allowValue = "GET, HEAD"

    private let model: any ReadModel
    /// The replica name as it goes into `X-Served-By` and `/stats` (control characters removed).
    public let replicaName: String
    /// Where requests are counted and timed; also the body of `GET /metrics`.
    public let metrics: ServiceMetrics
    /// Nil: no spans. Otherwise the server records a server span per request, continuing
    /// the request's `traceparent`.
    public let tracer: (any Tracer)?
    /// Nil: no CORS fields, and `OPTIONS` is 405 like any other method.
    public let cors: CORSPolicy?

    public init(
        model: any ReadModel, replicaName: String, metrics: ServiceMetrics = ServiceMetrics(),
        tracer: (any Tracer)? = nil, cors: CORSPolicy? = nil
    ) {
        self.model = model
        self.cors = cors
        // A header value cannot hold CR, LF or other control characters: drop them, so that
        // `X-Served-By` and the `replica` of /stats stay equal and the head stays well formed.
        self.replicaName = String(
            replicaName.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        self.metrics = metrics
        self.tracer = tracer
    }

    // MARK: - Entry point

    /// Answers one request. `method` is the request method as sent (`GET`, `HEAD`, …);
    /// `uri` the request target (origin form `/path?query`, or absolute form).
    /// The answer to `HEAD` is the answer to `GET`; the server leaves the body out.
    public func respond(method: String, uri: String, fields: HTTPRequestFields = HTTPRequestFields()) -> HTTPAnswer {
        let clock = ContinuousClock()
        let start = clock.now
        var answer = self.route(method: method, uri: uri, fields: fields)
        if let cors = self.cors, !(method == "OPTIONS" && answer.status == 204) {
            answer.headers += cors.answerHeaders
        }
        self.metrics.http.record(route: answer.route, status: answer.status, duration: clock.now - start)
        return answer
    }

    /// Counts an answer the server produced itself (a malformed request, say), so that
    /// `accountservice_http_requests_total` sees every answer.
    public func recordServerAnswer(status: Int) {
        self.metrics.http.record(route: .unrouted, status: status, duration: nil)
    }

    /// An `application/problem+json` answer (RFC 9457):
    /// `{"type":"about:blank","title":…,"status":…,"detail":…}`.
    public func problem(status: Int, detail: String, headers: [(name: String, value: String)] = []) -> HTTPAnswer {
        var body: [UInt8] = []
        body.reserveCapacity(96 + detail.utf8.count)
        body.appendStatic("{\"type\":\"about:blank\",\"title\":")
        body.appendJSONString(ReadAPI.reasonPhrase(status))
        body.appendStatic(",\"status\":")
        body.appendDecimal(status)
        body.appendStatic(",\"detail\":")
        body.appendJSONString(detail)
        body.append(UInt8(ascii: "}"))
        return HTTPAnswer(status: status, contentType: ReadAPI.problemType, headers: headers, body: body)
    }

    // MARK: - Routing

    private enum Resource {
        case account(Range<Int>)  // the id's range in the (decoded) path
        case list
        case stats
        case health
        case ready
        case metrics
        case status  // `/`, the HTML status page

        var route: HTTPMetrics.Route {
            switch self {
            case .account: .account
            case .list: .accounts
            case .stats: .stats
            case .health: .health
            case .ready: .ready
            case .metrics: .metrics
            case .status: .status
            }
        }
    }

    private func route(method: String, uri: String, fields: HTTPRequestFields) -> HTTPAnswer {
        var uri = uri
        return uri.withUTF8 { target in
            var pathStart = 0
            // Absolute form (`http://host/path`): skip scheme and authority.
            if let afterAuthority = ReadAPI.absoluteFormPathStart(target) {
                pathStart = afterAuthority
            }
            var pathEnd = target.count
            var query: UnsafeBufferPointer<UInt8>? = nil
            if let q = target[pathStart...].firstIndex(of: UInt8(ascii: "?")) {
                pathEnd = q
                query = UnsafeBufferPointer(rebasing: target[(q + 1)...])
            }
            let rawPath = UnsafeBufferPointer(rebasing: target[pathStart..<pathEnd])

            if PercentEncoding.needsDecoding(rawPath, plusAsSpace: false) {
                guard let decoded = PercentEncoding.decode(rawPath, plusAsSpace: false) else {
                    var answer = self.problem(status: 400, detail: "malformed percent-encoding in the path")
                    answer.route = .unknown
                    return answer
                }
                return decoded.withUnsafeBufferPointer { path in
                    self.dispatch(method: method, path: path, rawPath: rawPath, query: query, fields: fields)
                }
            }
            return self.dispatch(method: method, path: rawPath, rawPath: rawPath, query: query, fields: fields)
        }
    }

    private func dispatch(
        method: String,
        path: UnsafeBufferPointer<UInt8>,
        rawPath: UnsafeBufferPointer<UInt8>,
        query: UnsafeBufferPointer<UInt8>?,
        fields: HTTPRequestFields
    ) -> HTTPAnswer {
        guard let resource = ReadAPI.resource(path) else {
            var answer = self.problem(status: 404, detail: "no such resource: " + ReadAPI.shown(rawPath))
            answer.route = .unknown
            return answer
        }
        var answer = self.answer(resource, method: method, path: path, query: query, fields: fields)
        answer.route = resource.route
        return answer
    }

    private func answer(
        _ resource: Resource, method: String, path: UnsafeBufferPointer<UInt8>, query: UnsafeBufferPointer<UInt8>?,
        fields: HTTPRequestFields
    ) -> HTTPAnswer {
        if method == "OPTIONS", let cors = self.cors {
            return HTTPAnswer(
                status: 204, contentType: "",
                headers: cors.preflightHeaders(
                    requestHeaders: fields.accessControlRequestHeaders), body: [])
        }
        guard method == "GET" || method == "HEAD" else {
            return self.problem(
                status: 405,
                detail: ReadAPI.shown(method, limit: 32) + " is not allowed here",
                headers: [(name: "Allow", value: ReadAPI.allowValue)]
            )
        }
        switch resource {
        case .account(let idRange):
            return ReadAPI.conditional(
                self.account(id: UnsafeBufferPointer(rebasing: path[idRange])), ifNoneMatch: fields.ifNoneMatch)
        case .list:
            return ReadAPI.conditional(self.list(query: query), ifNoneMatch: fields.ifNoneMatch)
        case .stats:
            return self.stats()
        case .health:
            return HTTPAnswer(status: 200, contentType: ReadAPI.jsonType, body: ReadAPI.healthBody)
        case .ready:
            return self.ready()
        case .status:
            return StatusPage.answer(model: self.model, replicaName: self.replicaName)
        case .metrics:
            return self.metricsAnswer()
        }
    }

    private static func resource(_ path: UnsafeBufferPointer<UInt8>) -> Resource? {
        if path.starts(with: StaticBytes.accountsSlash) {
            return .account(StaticBytes.accountsSlash.count..<path.count)
        }
        if path.elementsEqual(StaticBytes.accounts) { return .list }
        if path.elementsEqual(StaticBytes.stats) { return .stats }
        if path.elementsEqual(StaticBytes.health) { return .health }
        if path.elementsEqual(StaticBytes.ready) { return .ready }
        if path.elementsEqual(StaticBytes.metrics) { return .metrics }
        if path.count == 1 && path[0] == UInt8(ascii: "/") { return .status }
        return nil
    }

    /// Where the path starts in an absolute-form target (`http://host:port/path`), or nil
    /// when the target is not in absolute form.
    private static func absoluteFormPathStart(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = target.first, first != UInt8(ascii: "/") else { return nil }
        var schemeEnd: Int
        if ReadAPI.hasPrefixIgnoringCase(target, "http://") {
            schemeEnd = 7
        } else if ReadAPI.hasPrefixIgnoringCase(target, "https://") {
            schemeEnd = 8
        } else {
            return nil
        }
        while schemeEnd < target.count, target[schemeEnd] != UInt8(ascii: "/"), target[schemeEnd] != UInt8(ascii: "?") {
            schemeEnd += 1
        }
        return schemeEnd
    }

    private static func hasPrefixIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { p in
            guard bytes.count >= p.count else { return false }
            for i in 0..<p.count where bytes[i] | 0x20 != p[i] | 0x20 {
                return false
            }
            return true
        }
    }

    // MARK: - Resources

    static let badIDDetail = "account id must be 1..64 characters of A-Z a-z 0-9 . _ : -"

    private func account(id: UnsafeBufferPointer<UInt8>) -> HTTPAnswer {
        guard ReadAPI.isValidAccountID(id) else {
            return self.problem(status: 400, detail: ReadAPI.badIDDetail)
        }
        let idString = String(decoding: id, as: UTF8.self)
        guard let account = self.model.account(id: idString) else {
            return self.problem(status: 404, detail: "no account " + idString)
        }
        var body: [UInt8] = []
        body.reserveCapacity(224 + account.owner.utf8.count)
        body.appendAccountJSON(account)
        return HTTPAnswer(
            status: 200, contentType: ReadAPI.jsonType,
            headers: ReadAPI.validatorHeaders(EntityTag.account(id: account.id, version: Int(account.version))),
            body: body)
    }

    /// `ETag` and `Cache-Control: no-cache` (a cache may keep the answer but must ask again).
    static func validatorHeaders(_ tag: String) -> [(name: String, value: String)] {
        [(name: "ETag", value: tag), (name: "Cache-Control", value: "no-cache")]
    }

    /// A 200 whose `ETag` matches `If-None-Match` becomes a 304: the same fields, no body.
    static func conditional(_ answer: HTTPAnswer, ifNoneMatch: String?) -> HTTPAnswer {
        guard answer.status == 200, let ifNoneMatch,
            let tag = answer.headers.first(where: { $0.name == "ETag" })?.value,
            EntityTag.matches(ifNoneMatch: ifNoneMatch, tag: tag)
        else { return answer }
        var notModified = HTTPAnswer(status: 304, contentType: "", headers: answer.headers, body: [])
        notModified.route = answer.route
        return notModified
    }

    /// docs/events.md#field-rules: the decoder's `accountId` rule.
    static func isValidAccountID(_ id: UnsafeBufferPointer<UInt8>) -> Bool {
        EventDecoder.isValidAccountID(bytes: UnsafeRawBufferPointer(id))
    }

    static let badLimitDetail = "limit must be an integer in 1..1000"

    private func list(query: UnsafeBufferPointer<UInt8>?) -> HTTPAnswer {
        var limit = ReadAPI.defaultListLimit
        var after: String? = nil
        if let query {
            var limitSeen = false
            var afterSeen = false
            var pairStart = 0
            // `&`-separated `key=value` pairs; the first `limit` and the first `after` count.
            while pairStart <= query.count {
                let pairEnd = query[pairStart...].firstIndex(of: UInt8(ascii: "&")) ?? query.count
                defer { pairStart = pairEnd + 1 }
                let pair = UnsafeBufferPointer(rebasing: query[pairStart..<pairEnd])
                if pair.isEmpty { continue }
                let eq = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.count
                let rawKey = UnsafeBufferPointer(rebasing: pair[0..<eq])
                let rawValue = UnsafeBufferPointer(rebasing: pair[min(eq + 1, pair.count)...])
                guard let key = ReadAPI.decodeComponent(rawKey) else { continue }  // not a key we know
                if !limitSeen && key.elementsEqual(StaticBytes.limit) {
                    limitSeen = true
                    guard let value = ReadAPI.decodeComponent(rawValue), let n = ReadAPI.parseLimit(value) else {
                        return self.problem(status: 400, detail: ReadAPI.badLimitDetail)
                    }
                    limit = n
                } else if !afterSeen && key.elementsEqual(StaticBytes.after) {
                    afterSeen = true
                    guard let value = ReadAPI.decodeComponent(rawValue) else {
                        return self.problem(status: 400, detail: "malformed percent-encoding in after")
                    }
                    guard let text = String(validating: value, as: UTF8.self) else {
                        return self.problem(status: 400, detail: "after must be UTF-8 text")
                    }
                    after = text.isEmpty ? nil : text
                }
            }
        }

        let page = self.model.accounts(after: after, limit: limit)
        var tagParts: [[UInt8]] = [Array(String(limit).utf8), Array((after ?? "").utf8)]
        tagParts.reserveCapacity(2 + 2 * page.items.count + 1)
        var body: [UInt8] = []
        body.reserveCapacity(24 + page.items.count * 240)
        body.appendStatic("{\"items\":[")
        var first = true
        for account in page.items {
            if !first { body.append(UInt8(ascii: ",")) }
            first = false
            body.appendAccountJSON(account)
            tagParts.append(Array(account.id.utf8))
            tagParts.append(Array(String(account.version).utf8))
        }
        body.appendStatic("],\"next\":")
        var headers: [(name: String, value: String)] = []
        if page.hasMore, let last = page.items.last {
            body.appendJSONString(last.id)
            tagParts.append(Array("more".utf8))
            headers.append((name: "Link", value: ReadAPI.nextLink(limit: limit, after: last.id)))
        } else {
            body.appendStatic("null")
        }
        body.append(UInt8(ascii: "}"))
        headers = ReadAPI.validatorHeaders(EntityTag.make(tagParts)) + headers
        return HTTPAnswer(status: 200, contentType: ReadAPI.jsonType, headers: headers, body: body)
    }

    /// `</accounts?limit=N&after=ID>; rel="next"` (RFC 8288), the id percent-encoded.
    static func nextLink(limit: Int, after id: String) -> String {
        var encoded = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return "</accounts?limit=\(limit)&after=\(encoded)>; rel=\"next\""
    }

    /// A query component, `+` as space and percent-decoded; nil when malformed.
    private static func decodeComponent(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        if PercentEncoding.needsDecoding(raw, plusAsSpace: true) {
            return PercentEncoding.decode(raw, plusAsSpace: true)
        }
        return Array(raw)
    }

    /// Decimal digits only, 1..1000 (leading zeros allowed: `007` is 7).
    private static func parseLimit(_ digits: [UInt8]) -> Int? {
        guard !digits.isEmpty else { return nil }
        var n = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(d - UInt8(ascii: "0"))
            if n > ReadAPI.maxListLimit { return nil }
        }
        return n >= 1 ? n : nil
    }

    private func stats() -> HTTPAnswer {
        let s = self.model.statistics()
        var body: [UInt8] = []
        body.reserveCapacity(192 + self.replicaName.utf8.count)
        body.appendStatic("{\"accounts\":")
        body.appendDecimal(s.accounts)
        body.appendStatic(",\"eventsApplied\":")
        body.appendDecimal(s.eventsApplied)
        body.appendStatic(",\"duplicates\":")
        body.appendDecimal(s.duplicates)
        body.appendStatic(",\"invalid\":")
        body.appendDecimal(s.invalid)
        body.appendStatic(",\"parked\":")
        body.appendDecimal(s.parked)
        body.appendStatic(",\"lastOffset\":")
        if let offset = s.lastOffset {
            body.appendDecimal(offset)
        } else {
            body.appendStatic("null")
        }
        body.appendStatic(",\"caughtUp\":")
        body.appendJSONBool(s.caughtUp)
        body.appendStatic(",\"replica\":")
        body.appendJSONString(self.replicaName)
        if let broker = s.broker {
            body.appendStatic(",\"broker\":")
            body.appendJSONString(broker)
        }
        body.append(UInt8(ascii: "}"))
        return HTTPAnswer(status: 200, contentType: ReadAPI.jsonType, body: body)
    }

    private func ready() -> HTTPAnswer {
        switch self.model.readiness() {
        case .ready:
            guard let problem = self.model.invalidQueueProblem() else {
                return HTTPAnswer(status: 200, contentType: ReadAPI.jsonType, body: ReadAPI.readyBody)
            }
            var body: [UInt8] = []
            body.appendStatic("{\"status\":\"READY\",\"invalidQueue\":")
            body.appendJSONString(ReadAPI.shown(problem, limit: 300))
            body.append(UInt8(ascii: "}"))
            return HTTPAnswer(status: 200, contentType: ReadAPI.jsonType, body: body)
        case .catchingUp:
            let detail = self.model.readinessDetail()
            var body: [UInt8] = []
            body.appendStatic("{\"status\":\"CATCHING_UP\",\"lag\":")
            ReadAPI.appendOptional(detail.lag, to: &body)
            body.appendStatic(",\"lastOffset\":")
            ReadAPI.appendOptional(detail.lastOffset, to: &body)
            body.appendStatic(",\"tail\":")
            ReadAPI.appendOptional(detail.tail, to: &body)
            body.append(UInt8(ascii: "}"))
            return HTTPAnswer(status: 503, contentType: ReadAPI.jsonType, body: body)
        case .disconnected:
            var body: [UInt8] = []
            body.appendStatic("{\"status\":\"DISCONNECTED\",\"reason\":")
            body.appendJSONString(
                ReadAPI.shown(self.model.readinessDetail().reason ?? "not connected to the broker yet", limit: 300))
            body.append(UInt8(ascii: "}"))
            return HTTPAnswer(status: 503, contentType: ReadAPI.jsonType, body: body)
        case .loading:
            return HTTPAnswer(status: 503, contentType: ReadAPI.jsonType, body: ReadAPI.loadingBody)
        case .rebuilding:
            var body: [UInt8] = []
            body.appendStatic("{\"status\":\"REBUILDING\",\"reason\":")
            body.appendJSONString(self.model.readinessReason() ?? "the stream was recreated")
            body.append(UInt8(ascii: "}"))
            return HTTPAnswer(status: 503, contentType: ReadAPI.jsonType, body: body)
        }
    }

    private static func appendOptional(_ value: Int64?, to body: inout [UInt8]) {
        if let value { body.appendDecimal(value) } else { body.appendStatic("null") }
    }

    private func metricsAnswer() -> HTTPAnswer {
        HTTPAnswer(status: 200, contentType: ReadAPI.metricsType, body: self.metrics.exposition())
    }

    // MARK: - Constants and helpers

    static let healthBody = Array(#"{"status":"UP"}"#.utf8)
    static let readyBody = Array(#"{"status":"READY"}"#.utf8)
    static let loadingBody = Array(#"{"status":"LOADING"}"#.utf8)

    /// Client-supplied text as it appears in an error detail: at most `limit` characters.
    static func shown(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int = 200) -> String {
        ReadAPI.shown(String(decoding: bytes, as: UTF8.self), limit: limit)
    }

    static func shown(_ text: String, limit: Int = 200) -> String {
        guard text.count > limit else { return text }
        return String(text.prefix(limit)) + "…"
    }

    /// The reason phrase of a status code (RFC 9110), also used as a problem's `title`.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

/// Path and key spellings as byte arrays, compared without building Strings.
private enum StaticBytes {
    static let accountsSlash = Array("/accounts/".utf8)
    static let accounts = Array("/accounts".utf8)
    static let stats = Array("/stats".utf8)
    static let health = Array("/health".utf8)
    static let ready = Array("/ready".utf8)
    static let metrics = Array("/metrics".utf8)
    static let limit = Array("limit".utf8)
    static let after = Array("after".utf8)
}
