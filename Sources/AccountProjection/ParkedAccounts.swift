/// One account that holds parked events: how many, and since when the oldest waits.
public struct ParkedAccount: Sendable, Equatable {
    public var accountId: String
    public var parked: Int
    /// `Projection.parkingClock` when its oldest parked event was parked.
    public var oldestParkedAt: Int64

    public init(accountId: String, parked: Int, oldestParkedAt: Int64) {
        self.accountId = accountId
        self.parked = parked
        self.oldestParkedAt = oldestParkedAt
    }
}

/// Which accounts hold parked events, longest-waiting first.
public struct ParkedAccounts: Sendable, Equatable {
    /// How many accounts hold at least one parked event.
    public var accounts: Int
    /// The longest-waiting of them, oldest first, at most the number asked for.
    public var oldest: [ParkedAccount]

    public init(accounts: Int = 0, oldest: [ParkedAccount] = []) {
        self.accounts = accounts
        self.oldest = oldest
    }
}

extension Projection {
    /// The accounts holding parked events, and the `limit` whose oldest parked event has
    /// waited longest. O(parked events): the parking lot's FIFO, walked once.
    public func parkedAccounts(oldest limit: Int) -> ParkedAccounts {
        var seen = Set<Int32>()
        var oldest: [ParkedAccount] = []
        parking.forEachOldestFirst { entry in
            guard seen.insert(entry.account).inserted else { return }
            guard oldest.count < limit else { return }
            let record = table[Int(entry.account)]
            oldest.append(
                ParkedAccount(accountId: record.id, parked: Int(record.parked), oldestParkedAt: entry.parkedAt))
        }
        return ParkedAccounts(accounts: seen.count, oldest: oldest)
    }
}
