/// Work the projection's one writer does outside the readers' lock, so that readers never
/// wait behind it: growing the id table's slots ahead of a batch that would fill them,
/// and sorting the accounts opened since into the listing order.
///
/// Three steps: `Projection.upkeep` takes copies under the lock (O(1): the buffers are
/// shared), `prepare` does the slow part without it, `Projection.install` swaps the
/// results in under the lock. The writer must not change the projection between the
/// first and the last step: the copies would then be copied on write, and what changed
/// meanwhile is not installed (the versions differ).
public struct ProjectionUpkeep: Sendable {
    /// New ids below this many stay unsorted: a listing merges them in a millisecond or two.
    public static let orderMinimum = 4096

    /// How many new ids the writer lets pile up before sorting them into the run: a fixed
    /// few once caught up, an eighth of the run during a replay (so the merges of a replay
    /// copy the run about 40 times, not once per 4096 accounts).
    public static func orderThreshold(sorted: Int, caughtUp: Bool) -> Int {
        caughtUp ? orderMinimum : max(orderMinimum, sorted / 8)
    }

    private var table: AccountTable?
    private var slots: (old: [UInt64], version: Int, entries: Int)?
    private var order: AccountOrder?
    private(set) var grownSlots: (slots: [UInt64], version: Int)?
    private(set) var mergedOrder: (sorted: [Int32], version: Int, taken: Int)?
    /// Roughly the bytes that installing frees (the arrays replaced): the caller may give
    /// memory back to the system after a large upkeep.
    public private(set) var replacedBytes = 0

    init(table: AccountTable, growSlotsFor entries: Int?, order: AccountOrder?) {
        self.table = table
        if let entries {
            let (old, version) = table.slotsForGrowth
            slots = (old, version, entries)
        }
        self.order = order
    }

    /// Builds the grown slots and the merged order from the copies, and lets the copies
    /// go. Call it without the lock.
    public mutating func prepare() {
        if let (old, version, entries) = slots {
            grownSlots = (AccountTable.grownSlots(old, toHold: entries), version)
            replacedBytes += old.count * MemoryLayout<UInt64>.stride
        }
        if let order, let table {
            let merged = AccountOrder.merged(order.sorted, order.unsorted[...], table)
            mergedOrder = (merged, order.version, order.unsorted.count)
            replacedBytes += (order.sorted.count + order.unsorted.count) * MemoryLayout<Int32>.stride
        }
        // The copies share the projection's buffers: held on, they would make the writer's
        // next change copy them.
        table = nil
        slots = nil
        order = nil
    }
}

extension Projection {
    /// The upkeep due before a batch of up to `incoming` new accounts (0 after a batch),
    /// or nil when none is: copies of what it needs, taken in O(1). `caughtUp`: whether the
    /// writer has reached the stream's tail (new ids are then sorted in small numbers).
    public func upkeep(incoming: Int, caughtUp: Bool) -> ProjectionUpkeep? {
        let growSlots = table.slotsWouldGrow(adding: incoming)
        let sortOrder =
            order.unsorted.count
            >= ProjectionUpkeep.orderThreshold(sorted: order.sorted.count, caughtUp: caughtUp)
        guard growSlots || sortOrder else { return nil }
        return ProjectionUpkeep(
            table: table, growSlotsFor: growSlots ? table.count + incoming : nil, order: sortOrder ? order : nil)
    }

    /// Swaps in what a prepared upkeep built; what changed since its copies were taken is
    /// left as it is (a listing may have merged the new ids meanwhile). O(1) but for the
    /// new ids that arrived since, if any.
    public mutating func install(_ upkeep: consuming ProjectionUpkeep) {
        if let (slots, version) = upkeep.grownSlots {
            table.installSlots(slots, builtFrom: version)
        }
        if let (sorted, version, taken) = upkeep.mergedOrder {
            order.install(sorted, builtFrom: version, taken: taken)
        }
    }
}
