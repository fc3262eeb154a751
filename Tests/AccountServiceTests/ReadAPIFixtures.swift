import AccountProjection
import Synchronization

@testable import AccountReadAPI
@testable import AccountReadModel

/// An in-memory `ReadModel` for the HTTP tests: a few fixed accounts, settable figures,
/// and a record of the `after`/`limit` the API asked for.
final class ReadAPIFakeModel: ReadModel {
    let accountsByID: [String: Account]
    /// Ids in ascending byte order, as docs/read-api.md's listing wants them.
    let sortedIDs: [String]
    let stats: ServiceStatistics
    let readinessValue: Readiness
    let detail: ReadinessDetail
    private let listCalls = Mutex<[(after: String?, limit: Int)]>([])

    init(
        accounts: [Account] = ReadAPIFakeModel.sampleAccounts,
        stats: ServiceStatistics = ServiceStatistics(),
        readiness: Readiness = .ready,
        detail: ReadinessDetail = ReadinessDetail()
    ) {
        self.detail = detail
        var byID: [String: Account] = [:]
        for account in accounts { byID[account.id] = account }
        self.accountsByID = byID
        self.sortedIDs = byID.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        self.stats = stats
        self.readinessValue = readiness
    }

    func account(id: String) -> Account? { self.accountsByID[id] }

    func accounts(after: String?, limit: Int) -> AccountPage {
        self.listCalls.withLock { $0.append((after, limit)) }
        let afterBytes = after.map { Array($0.utf8) }
        let following = self.sortedIDs.filter { id in
            guard let afterBytes else { return true }
            return afterBytes.lexicographicallyPrecedes(Array(id.utf8))
        }
        let page = following.prefix(limit).map { self.accountsByID[$0]! }
        return AccountPage(items: page, hasMore: following.count > limit)
    }

    func statistics() -> ServiceStatistics { self.stats }
    func readiness() -> Readiness { self.readinessValue }
    func readinessDetail() -> ReadinessDetail { self.detail }

    var lastListCall: (after: String?, limit: Int)? { self.listCalls.withLock { $0.last } }
    /// Listings answered so far.
    var listCallCount: Int { self.listCalls.withLock { $0.count } }

    static let ada = Account(
        id: "acc-000001", owner: "Ada Lovelace", currency: "EUR", balance: 750,
        status: .open, version: 3, openedAt: "2026-11-24T15:00:00.000Z", updatedAt: "2026-11-24T15:07:10.250Z"
    )
    static let closed = Account(
        id: "acc-000002", owner: "Charles Babbage", currency: "GBP", balance: -1250,
        status: .closed, version: 6, openedAt: "2026-11-24T15:00:00.250Z", updatedAt: "2026-11-24T15:00:02Z"
    )
    /// Non-ASCII letters, a quoted nickname, a backslash and a control character.
    static let zoe = Account(
        id: "acc-000003", owner: "Zo\u{00EB} \"Zee\" \u{00D8}rsted \\ \u{674E}\u{1}", currency: "DKK", balance: 0,
        status: .open, version: 1, openedAt: "2026-11-24T15:00:00.500Z", updatedAt: "2026-11-24T15:00:00.500Z"
    )
    static let sampleAccounts: [Account] = [
        ada, closed, zoe,
        Account(
            id: "acc-000004", owner: "Grace Hopper", currency: "USD", balance: Int64.max,
            status: .open, version: 2, openedAt: "2026-11-24T15:00:01.000Z", updatedAt: "2026-11-24T15:00:01.250Z"
        ),
        Account(
            id: "acc-000005", owner: "Alan Turing", currency: "GBP", balance: Int64.min,
            status: .open, version: 2, openedAt: "2026-11-24T15:00:01.500Z", updatedAt: "2026-11-24T15:00:01.750Z"
        ),
        // Upper case sorts before lower case in byte order.
        Account(
            id: "B-upper", owner: "Bea", currency: "EUR", balance: 1,
            status: .open, version: 1, openedAt: "2026-11-24T15:00:02.000Z", updatedAt: "2026-11-24T15:00:02.000Z"
        ),
        Account(
            id: "x.y:z_1-2", owner: "Punctuation", currency: "CHF", balance: 10,
            status: .open, version: 1, openedAt: "2026-11-24T15:00:02.250Z", updatedAt: "2026-11-24T15:00:02.250Z"
        ),
    ]

    /// The ids of `sampleAccounts` in byte order.
    static let sampleIDsInByteOrder = [
        "B-upper", "acc-000001", "acc-000002", "acc-000003", "acc-000004", "acc-000005", "x.y:z_1-2",
    ]
}

extension HTTPAnswer {
    var bodyText: String { String(decoding: self.body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// The JSON docs/read-api.md shows for each sample account, written out by hand.
enum ReadAPIExpectedJSON {
    static let ada =
        #"{"id":"acc-000001","owner":"Ada Lovelace","currency":"EUR","balance":750,"status":"open","version":3,"openedAt":"2026-11-24T15:00:00.000Z","updatedAt":"2026-11-24T15:07:10.250Z"}"#
    static let closed =
        #"{"id":"acc-000002","owner":"Charles Babbage","currency":"GBP","balance":-1250,"status":"closed","version":6,"openedAt":"2026-11-24T15:00:00.250Z","updatedAt":"2026-11-24T15:00:02Z"}"#
    static let zoe =
        #"{"id":"acc-000003","owner":"Zo\#u{00EB} \"Zee\" \#u{00D8}rsted \\ \#u{674E}\u0001","currency":"DKK","balance":0,"status":"open","version":1,"openedAt":"2026-11-24T15:00:00.500Z","updatedAt":"2026-11-24T15:00:00.500Z"}"#
    static let grace =
        #"{"id":"acc-000004","owner":"Grace Hopper","currency":"USD","balance":9223372036854775807,"status":"open","version":2,"openedAt":"2026-11-24T15:00:01.000Z","updatedAt":"2026-11-24T15:00:01.250Z"}"#
    static let alan =
        #"{"id":"acc-000005","owner":"Alan Turing","currency":"GBP","balance":-9223372036854775808,"status":"open","version":2,"openedAt":"2026-11-24T15:00:01.500Z","updatedAt":"2026-11-24T15:00:01.750Z"}"#
    static let bea =
        #"{"id":"B-upper","owner":"Bea","currency":"EUR","balance":1,"status":"open","version":1,"openedAt":"2026-11-24T15:00:02.000Z","updatedAt":"2026-11-24T15:00:02.000Z"}"#

    static func problem(_ status: Int, _ title: String, _ detail: String) -> String {
        #"{"type":"about:blank","title":""# + title + #"","status":"# + String(status) + #","detail":""# + detail
            + #""}"#
    }

    static let badID = problem(400, "Bad Request", "account id must be 1..64 characters of A-Z a-z 0-9 . _ : -")
    static let badLimit = problem(400, "Bad Request", "limit must be an integer in 1..1000")
}
