import JSON

/// What one `apply` did with the event it was given.
public enum Disposition: Sendable, Equatable {
    /// Applied to its account.
    case applied
    /// At or below the account's version, or a second copy of a parked event: ignored.
    case duplicate
    /// Ahead of the account's version: waiting for the gap to fill.
    case parked
    /// Sent to the invalid-events queue for this reason (it is in `rejected` too).
    case rejected(RejectionReason)
}

/// An event the projection could not apply, with what the invalid-events queue needs.
public struct RejectedEvent<Origin> {
    public var reason: RejectionReason
    /// The `x-error-detail` sentence.
    public var detail: String
    /// What the caller attached to the event when it handed it over.
    public var origin: Origin

    public init(reason: RejectionReason, detail: String, origin: Origin) {
        self.reason = reason
        self.detail = detail
        self.origin = origin
    }
}

extension RejectedEvent: Sendable where Origin: Sendable {}
extension RejectedEvent: Equatable where Origin: Equatable {}

/// The projection's counters (the service adds what only it knows, like `lastOffset`).
public struct ProjectionStatistics: Sendable, Equatable {
    /// Opened accounts, closed ones included.
    public var accounts: Int
    public var eventsApplied: Int
    public var duplicates: Int
    /// Events rejected, all reasons together.
    public var invalid: Int
    /// Rejections by reason, at each reason's `counterIndex`: the projection's own counters,
    /// shared, so that the figures taken after every applied batch cost no dictionary.
    private var invalidCounts: [Int]
    /// Events parked now.
    public var parked: Int

    public init(
        accounts: Int = 0,
        eventsApplied: Int = 0,
        duplicates: Int = 0,
        invalid: Int = 0,
        invalidByReason: [RejectionReason: Int] = [:],
        parked: Int = 0
    ) {
        self.init(
            accounts: accounts, eventsApplied: eventsApplied, duplicates: duplicates, invalid: invalid,
            invalidCounts: [], parked: parked)
        self.invalidByReason = invalidByReason
    }

    init(accounts: Int, eventsApplied: Int, duplicates: Int, invalid: Int, invalidCounts: [Int], parked: Int) {
        self.accounts = accounts
        self.eventsApplied = eventsApplied
        self.duplicates = duplicates
        self.invalid = invalid
        self.invalidCounts = invalidCounts
        self.parked = parked
    }

    /// Events rejected for `reason`.
    public func invalid(_ reason: RejectionReason) -> Int { invalidCounts[reason.counterIndex] }

    /// Rejections by reason; every reason is present, zero included.
    public var invalidByReason: [RejectionReason: Int] {
        get { Dictionary(uniqueKeysWithValues: RejectionReason.allCases.map { ($0, invalid($0)) }) }
        set {
            invalidCounts = [Int](repeating: 0, count: RejectionReason.allCases.count)
            for (reason, count) in newValue { invalidCounts[reason.counterIndex] = count }
        }
    }
}

/// The accounts built from the event log by the rules of docs/events.md#how-the-projection-applies-an-event.
/// Pure and deterministic: the same bodies in the same order give the
/// same state and the same rejections. Not thread-safe: one writer, readers under a lock.
///
/// `Origin` is whatever the caller attaches to an event (the service: the original
/// message), kept while the event is parked and handed back when it is rejected.
public struct Projection<Origin> {
    /// The most events parked at once, over all accounts.
    public let parkingLimit: Int
    /// The most bytes parked events may hold, over all accounts, as `parkedBytes` counts them.
    public let parkingByteLimit: Int
    /// What one parked event holds, in bytes: the event's decoded strings plus what
    /// `originBytes` says of its origin (nil: nothing for the origin).
    let originBytes: (@Sendable (Origin) -> Int)?

    var table = AccountTable()
    var parking = ParkingLot<Origin>()
    /// The opened accounts in byte order of id, for listings.
    var order = AccountOrder()
    var opened = 0
    var applied = 0
    var duplicates = 0
    var invalidCounts = [Int](repeating: 0, count: RejectionReason.allCases.count)
    /// Stamped on events parked from now on (any monotonic unit the owner picks; the
    /// service's seconds), so that `parkedAccounts` can say how long they have waited.
    public var parkingClock: Int64 = 0

    public init(
        parkingLimit: Int = 10_000, parkingByteLimit: Int = .max, originBytes: (@Sendable (Origin) -> Int)? = nil
    ) {
        self.parkingLimit = max(0, parkingLimit)
        self.parkingByteLimit = max(0, parkingByteLimit)
        self.originBytes = originBytes
    }

    private var parkingLimitText: String {
        parkingByteLimit == .max ? "\(parkingLimit)" : "\(parkingLimit) events or \(parkingByteLimit) bytes"
    }

    /// Bytes held by parked events now, as counted against `parkingByteLimit`.
    public var parkedBytes: Int { parking.bytes }

    // MARK: Applying

    /// Decodes a body and applies it; see `apply(_:origin:rejected:)` on a decoded event.
    public mutating func apply(
        _ body: UnsafeRawBufferPointer,
        origin: Origin,
        rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        apply(EventDecoder.decode(body), origin: origin, rejected: &rejected)
    }

    /// Decodes a body and applies it; see `apply(_:origin:rejected:)` on a decoded event.
    public mutating func apply(
        _ body: [UInt8],
        origin: Origin,
        rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        apply(EventDecoder.decode(body), origin: origin, rejected: &rejected)
    }

    /// Applies, ignores, parks or rejects one decoded event (decode it outside any lock).
    ///
    /// Every event this call made invalid is appended to `rejected`, in order: this one,
    /// parked events that came due and failed, and the longest-parked one when the
    /// parking limit is passed (`sequence_gap`). The result says what became of this event.
    public mutating func apply(
        _ decoded: consuming Result<Event, EventProblem>,
        origin: Origin,
        rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        let event: Event
        switch consume decoded {
        case .success(let decodedEvent):
            event = decodedEvent
        case .failure(let problem):
            // No valid accountId/sequence: it takes no place in any history.
            reject(problem.reason, problem.detail, origin, &rejected)
            return .rejected(problem.reason)
        }
        let account = table.findOrInsert(event.accountId)
        let version = table[account].version
        if event.sequence <= version {
            duplicates += 1
            return .duplicate
        }
        if event.sequence > version + 1 {
            return park(event, origin, account, &rejected)
        }
        let disposition = applyNext(event, origin, account, &rejected)
        if table[account].parked > 0 { applyDue(account, &rejected) }
        return disposition
    }

    /// Applies, in turn, the parked events of `account` that are due now. Kept out of
    /// `apply`: its parking-lot values make the unspecialized generic code look up type
    /// metadata on every call, and most events have nothing parked.
    @inline(never)
    private mutating func applyDue(_ account: Int, _ rejected: inout [RejectedEvent<Origin>]) {
        while table[account].parked > 0,
            let entry = parking.remove(account: account, sequence: table[account].version + 1)
        {
            table[account].parked -= 1
            _ = applyNext(entry.event, entry.origin, account, &rejected)
        }
    }

    /// Applies the event whose sequence is the version + 1. Applied or not, it takes its
    /// place in the history: the version moves to its sequence (§3.4).
    private mutating func applyNext(
        _ event: Event,
        _ origin: Origin,
        _ account: Int,
        _ rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        table[account].version = event.sequence
        let phase = table[account].phase
        if phase == .closed {
            return reject(.accountClosed, "account \(event.accountId) is closed", origin, &rejected)
        }
        if let problem = event.problem {
            return reject(problem.reason, problem.detail, origin, &rejected)
        }
        guard let type = event.type else {
            // The decoder always sets a problem for an unknown type; a hand-made event may not.
            return reject(.unknownType, "unknown event type", origin, &rejected)
        }
        if phase == .unopened && type != .accountOpened {
            return reject(.invalidField, "account \(event.accountId) was never opened", origin, &rejected)
        }
        switch type {
        case .accountOpened:
            table[account].owner = event.owner
            table[account].currency = AccountRecord.packCurrency(event.currency)
            table[account].packedOpenedAt = event.packedOccurredAt
            table[account].phase = .open
            opened += 1
            order.insert(Int32(account))
        case .moneyDeposited:
            let (balance, overflow) = table[account].balance.addingReportingOverflow(event.amount)
            if overflow {
                return reject(.amountOutOfRange, "the balance would leave the signed 64-bit range", origin, &rejected)
            }
            table[account].balance = balance
        case .moneyWithdrawn:
            let (balance, overflow) = table[account].balance.subtractingReportingOverflow(event.amount)
            if overflow {
                return reject(.amountOutOfRange, "the balance would leave the signed 64-bit range", origin, &rejected)
            }
            table[account].balance = balance
        case .accountRenamed:
            table[account].owner = event.owner
        case .accountClosed:
            table[account].phase = .closed
        }
        table[account].packedUpdatedAt = event.packedOccurredAt
        applied += 1
        return .applied
    }

    /// Parks an event ahead of its account's version; past the limit the longest-parked
    /// event (maybe this one) goes out as `sequence_gap`.
    private mutating func park(
        _ event: Event,
        _ origin: Origin,
        _ account: Int,
        _ rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        if parking.contains(account: account, sequence: event.sequence) {
            duplicates += 1
            return .duplicate
        }
        let bytes = event.heldBytes + (originBytes?(origin) ?? 0)
        let node = parking.park(account: account, event: event, origin: origin, bytes: bytes, at: parkingClock)
        table[account].parked += 1
        var disposition = Disposition.parked
        while parking.count > parkingLimit || parking.bytes > parkingByteLimit,
            let (evicted, entry) = parking.removeOldest()
        {
            let owner = Int(entry.account)
            table[owner].parked -= 1
            let waitedFor = table[owner].version + 1
            if table[owner].phase == .unopened && table[owner].version == 0 && table[owner].parked == 0 {
                table.remove(at: owner)  // nothing left of it
            }
            let detail =
                "sequence \(entry.event.sequence) of \(entry.event.accountId) waited for \(waitedFor); "
                + "the parking limit (\(parkingLimitText)) was reached"
            reject(.sequenceGap, detail, entry.origin, &rejected)
            if evicted == node { disposition = .rejected(.sequenceGap) }
        }
        return disposition
    }

    @discardableResult
    private mutating func reject(
        _ reason: RejectionReason,
        _ detail: String,
        _ origin: Origin,
        _ rejected: inout [RejectedEvent<Origin>]
    ) -> Disposition {
        invalidCounts[reason.counterIndex] += 1
        rejected.append(RejectedEvent(reason: reason, detail: detail, origin: origin))
        return .rejected(reason)
    }

    // MARK: Reading

    /// The account with this id once it is opened (closed ones included), else nil, also
    /// for an account whose opening was rejected. Ids compare as bytes.
    public func account(id: String) -> Account? {
        guard let index = table.find(id), table[index].phase != .unopened else { return nil }
        return table[index].account
    }

    /// Up to `limit` opened accounts whose ids come after `after` (any string) in byte
    /// order, ascending, and whether more follow. Mutating: it sorts the accounts opened
    /// since the last listing or upkeep into place.
    public mutating func accounts(after: String?, limit: Int) -> (items: [Account], hasMore: Bool) {
        order.mergeUnsorted(table)
        let (indices, hasMore) = order.page(after: after, limit: limit, table)
        return (indices.map { table[Int($0)].account }, hasMore)
    }

    /// The counters as they stand.
    public var statistics: ProjectionStatistics {
        ProjectionStatistics(
            accounts: opened,
            eventsApplied: applied,
            duplicates: duplicates,
            invalid: invalidCounts.reduce(0, +),
            invalidCounts: invalidCounts,
            parked: parking.count
        )
    }
}

extension Projection: Sendable where Origin: Sendable {}

extension RejectionReason {
    /// The position of this reason's counter.
    var counterIndex: Int {
        switch self {
        case .malformedJSON: 0
        case .tooLarge: 1
        case .unknownType: 2
        case .invalidField: 3
        case .accountClosed: 4
        case .sequenceGap: 5
        case .amountOutOfRange: 6
        }
    }
}
