import JSON

/// What the projection keeps per account, kept small: a million of these are most of
/// the service's memory.
struct AccountRecord: Sendable {
    enum Phase: UInt8, Sendable {
        /// Seen (an event parked, or an opening rejected) but not opened.
        case unopened
        case open
        case closed
    }

    var id: String
    var owner = ""
    /// The timestamps as `CompactTimestamp` stores them (no heap string for the usual shape).
    private var storedOpenedAt = ""
    private var storedUpdatedAt = ""
    var balance: Int64 = 0
    var version: Int64 = 0
    /// How many of this account's events are parked.
    var parked: Int32 = 0
    /// The currency's three letters in the low 24 bits and the phase in the top 8: one
    /// word where two made the record 96 bytes instead of 88 (8 MB at a million accounts).
    private var currencyAndPhase: UInt32 = 0

    init(id: String) {
        self.id = id
    }

    var openedAt: String {
        get { CompactTimestamp.unpack(storedOpenedAt) }
        set { storedOpenedAt = CompactTimestamp.pack(newValue) }
    }

    var updatedAt: String {
        get { CompactTimestamp.unpack(storedUpdatedAt) }
        set { storedUpdatedAt = CompactTimestamp.pack(newValue) }
    }

    /// The stored forms, set from an event's `packedOccurredAt` as they are.
    var packedOpenedAt: String {
        get { storedOpenedAt }
        set { storedOpenedAt = newValue }
    }

    var packedUpdatedAt: String {
        get { storedUpdatedAt }
        set { storedUpdatedAt = newValue }
    }

    /// Three ASCII letters packed into 24 bits (`packCurrency`), not a 16-byte String.
    var currency: UInt32 {
        get { currencyAndPhase & 0x00FF_FFFF }
        set { currencyAndPhase = currencyAndPhase & 0xFF00_0000 | newValue & 0x00FF_FFFF }
    }

    var phase: Phase {
        get { Phase(rawValue: UInt8(truncatingIfNeeded: currencyAndPhase >> 24)) ?? .unopened }
        set { currencyAndPhase = currencyAndPhase & 0x00FF_FFFF | UInt32(newValue.rawValue) << 24 }
    }

    var account: Account {
        Account(
            id: id,
            owner: owner,
            currency: Self.currencyString(currency),
            balance: balance,
            status: phase == .closed ? .closed : .open,
            version: version,
            openedAt: openedAt,
            updatedAt: updatedAt
        )
    }

    static func packCurrency(_ currency: String) -> UInt32 {
        withUTF8Bytes(currency) { bytes in
            bytes.reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    static func currencyString(_ packed: UInt32) -> String {
        let bytes = [
            UInt8(truncatingIfNeeded: packed >> 16), UInt8(truncatingIfNeeded: packed >> 8),
            UInt8(truncatingIfNeeded: packed),
        ]
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The accounts by id: records in fixed chunks of `chunkSize`, found through an
/// open-addressing table of 8-byte slots (a Dictionary<String, Int> would spend 20+ bytes
/// per bucket).
///
/// Chunks, not one array: adding a record never copies the others (one array doubling at
/// a million accounts copied 100 MB while readers waited), and no capacity sits unused
/// beyond the last chunk. The slots grow by a copy that may be built outside the
/// readers' lock (`grownSlots`, `installSlots`).
///
/// Ids are compared as bytes, never by Unicode canonical equivalence, so that a read with
/// a look-alike id (say U+212A for K) finds nothing.
struct AccountTable: Sendable {
    static let chunkShift = 12
    static let chunkSize = 1 << chunkShift

    private var chunks: [[AccountRecord]] = []
    /// Records handed out, free ones included.
    private(set) var recordCount = 0
    /// 0 when empty, else the low 32 bits of the id's hash << 32 | (record index + 1).
    private var slots: [UInt64] = Array(repeating: 0, count: 16)
    private var mask = 15
    private var freeRecords: [Int32] = []
    private(set) var count = 0
    /// Bumped whenever the slots change, so that slots grown from an older copy are not installed.
    private(set) var slotsVersion = 0

    @inline(__always)
    private static func hash(_ id: UnsafeRawBufferPointer) -> UInt32 {
        var hasher = Hasher()  // seeded per process: ids come from the outside
        hasher.combine(bytes: id)
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }

    /// The slot holding `id`, or the empty slot where it would go.
    @inline(__always)
    private func probe(_ id: UnsafeRawBufferPointer, tag: UInt32) -> (slot: Int, record: Int?) {
        var slot = Int(tag) & mask
        while true {
            let entry = slots[slot]
            if entry == 0 { return (slot, nil) }
            if UInt32(truncatingIfNeeded: entry >> 32) == tag {
                let index = Int(UInt32(truncatingIfNeeded: entry)) - 1
                if withUTF8Bytes(self[index].id, { bytesEqual($0, id) }) {
                    return (slot, index)
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The index of the record for `id`, if there is one.
    func find(_ id: String) -> Int? {
        withUTF8Bytes(id) { bytes in probe(bytes, tag: Self.hash(bytes)).record }
    }

    /// The index of the record for `id`, created when missing.
    mutating func findOrInsert(_ id: String) -> Int {
        let (tag, found) = withUTF8Bytes(id) { bytes -> (UInt32, (slot: Int, record: Int?)) in
            let tag = Self.hash(bytes)
            return (tag, probe(bytes, tag: tag))
        }
        if let index = found.record { return index }
        let index: Int
        if let reused = freeRecords.popLast() {
            index = Int(reused)
            self[index] = AccountRecord(id: id)
        } else {
            index = recordCount
            if index & (Self.chunkSize - 1) == 0 {
                var chunk: [AccountRecord] = []
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[index >> Self.chunkShift].append(AccountRecord(id: id))
            recordCount += 1
        }
        slots[found.slot] = UInt64(tag) << 32 | UInt64(index + 1)
        count += 1
        slotsVersion &+= 1
        if count * 4 > slots.count * 3 {
            // Only when the writer did not grow the slots ahead (`installSlots`).
            slots = Self.grownSlots(slots, toHold: count)
            mask = slots.count - 1
        }
        return index
    }

    /// Forgets a record; its index may be handed out again.
    mutating func remove(at index: Int) {
        let tag = withUTF8Bytes(self[index].id) { Self.hash($0) }
        var hole = Int(tag) & mask
        while Int(UInt32(truncatingIfNeeded: slots[hole])) - 1 != index {
            hole = (hole + 1) & mask
        }
        // Backward-shift deletion: pull later members of the run into the hole.
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let home = Int(UInt32(truncatingIfNeeded: slots[next] >> 32)) & mask
            // The entry may move to the hole when its home is not in (hole, next].
            let distanceToNext = (next - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToNext {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = 0
        slotsVersion &+= 1
        self[index] = AccountRecord(id: "")
        freeRecords.append(Int32(index))
        count -= 1
    }

    /// Whether `more` insertions would make the slots grow.
    func slotsWouldGrow(adding more: Int) -> Bool {
        (count + more) * 4 > slots.count * 3
    }

    /// The slots as they stand and their version: a copy to grow outside the lock.
    var slotsForGrowth: (slots: [UInt64], version: Int) { (slots, slotsVersion) }

    /// A slot array large enough for `entries` at a load of at most 3/4, holding the
    /// entries of `old` (a power-of-two table built by this type). Pure: call it outside
    /// the lock on a copy.
    static func grownSlots(_ old: [UInt64], toHold entries: Int) -> [UInt64] {
        var size = old.count
        while entries * 4 > size * 3 { size *= 2 }
        var slots = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for entry in old where entry != 0 {
            var slot = Int(UInt32(truncatingIfNeeded: entry >> 32)) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = entry
        }
        return slots
    }

    /// Puts in slots `grownSlots` built from the slots at `version`; false (and nothing
    /// changed) when the slots have changed since.
    @discardableResult
    mutating func installSlots(_ grown: [UInt64], builtFrom version: Int) -> Bool {
        guard version == slotsVersion, grown.count >= slots.count else { return false }
        slots = grown
        mask = grown.count - 1
        slotsVersion &+= 1
        return true
    }

    /// Slots in the table, used or not (for tests and the upkeep's figures).
    var slotCapacity: Int { slots.count }

    /// Calls `body` with every record in use, in index order.
    func forEachLive<Failure: Error>(_ body: (AccountRecord) throws(Failure) -> Void) throws(Failure) {
        let free = Set(freeRecords)
        for index in 0..<recordCount where !free.contains(Int32(index)) {
            try body(self[index])
        }
    }

    /// Gives in-place access to a record.
    @inline(__always)
    subscript(index: Int) -> AccountRecord {
        get { chunks[index >> Self.chunkShift][index & (Self.chunkSize - 1)] }
        _modify { yield &chunks[index >> Self.chunkShift][index & (Self.chunkSize - 1)] }
    }
}
