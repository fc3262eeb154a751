import JSON

/// The opened accounts in byte order of id, for listings: a sorted run of record indices,
/// and the accounts opened since, in no order.
///
/// A listing merges the new ones in (`mergeUnsorted`); so does the writer's upkeep, outside
/// the readers' lock, when they pile up (`ProjectionUpkeep`). The merge sorts only the new
/// ones and places each into the run by a galloping search: O(k log k + k log(n/k))
/// comparisons and one copy of the run, never a sort of all n.
///
/// Record indices only: an opened account's record is never removed, so its index and id
/// stay put.
struct AccountOrder: Sendable {
    private(set) var sorted: [Int32] = []
    private(set) var unsorted: [Int32] = []
    /// Bumped whenever `sorted` changes, so that a merge built from an older copy is not installed.
    private(set) var version = 0

    var count: Int { sorted.count + unsorted.count }

    mutating func insert(_ index: Int32) {
        unsorted.append(index)
    }

    /// Sorts the new ids into the run.
    mutating func mergeUnsorted(_ table: AccountTable) {
        guard !unsorted.isEmpty else { return }
        sorted = Self.merged(sorted, unsorted[...], table)
        unsorted = []
        version &+= 1
    }

    /// Puts in a run `merged` built from the run at `version` and the first `taken` new
    /// ids; false (and nothing changed) when the run has changed since.
    @discardableResult
    mutating func install(_ merged: [Int32], builtFrom version: Int, taken: Int) -> Bool {
        guard version == self.version, taken <= unsorted.count else { return false }
        sorted = merged
        if taken == unsorted.count {
            unsorted = []  // and its capacity
        } else {
            unsorted.removeFirst(taken)
        }
        self.version &+= 1
        return true
    }

    /// `run` (sorted) with `new` sorted into it. Pure: the upkeep calls it outside the lock.
    static func merged(_ run: [Int32], _ new: ArraySlice<Int32>, _ table: AccountTable) -> [Int32] {
        func precedes(_ a: Int32, _ b: Int32) -> Bool {
            withUTF8Bytes(table[Int(a)].id) { a in withUTF8Bytes(table[Int(b)].id) { b in bytesPrecede(a, b) } }
        }
        // Sorting on the first 16 bytes as integers settles almost every comparison
        // without touching the strings (a million ids sort in a fraction of the time).
        var keyed = new.map { SortKey(index: $0, id: table[Int($0)].id) }
        keyed.sort { a, b in
            if a.head != b.head { return a.head < b.head }
            if a.tail != b.tail { return a.tail < b.tail }
            return precedes(a.index, b.index)
        }
        if run.isEmpty { return keyed.map(\.index) }
        var result: [Int32] = []
        result.reserveCapacity(run.count + keyed.count)
        var start = 0
        for key in keyed {
            // Gallop from `start` to a window that holds the first run entry after the key,
            // then search it: cheap when the new ids are few, linear when they are many.
            var low = start
            var high = start
            var step = 1
            while high < run.count && !precedes(key.index, run[high]) {
                low = high + 1
                high = low + step
                step *= 2
            }
            high = min(high, run.count)
            while low < high {
                let middle = (low + high) / 2
                if precedes(key.index, run[middle]) { high = middle } else { low = middle + 1 }
            }
            result.append(contentsOf: run[start..<low])
            result.append(key.index)
            start = low
        }
        result.append(contentsOf: run[start...])
        return result
    }

    /// Up to `limit` indices of the run whose ids come after `after` (any string), and
    /// whether more follow. Merge the new ids first: they are not in the run.
    func page(after: String?, limit: Int, _ table: AccountTable) -> (indices: ArraySlice<Int32>, hasMore: Bool) {
        var start = 0
        if let after {
            // The first id greater than `after`.
            var high = sorted.count
            withUTF8Bytes(after) { afterBytes in
                while start < high {
                    let middle = (start + high) / 2
                    if withUTF8Bytes(table[Int(sorted[middle])].id, { bytesPrecede(afterBytes, $0) }) {
                        high = middle
                    } else {
                        start = middle + 1
                    }
                }
            }
        }
        let end = start + min(max(0, limit), sorted.count - start)
        return (sorted[start..<end], end < sorted.count)
    }
}

/// An id's first 16 bytes as two big-endian integers, zero-padded: ids hold no zero
/// byte, so comparing the integers agrees with byte order up to the 16th byte.
private struct SortKey {
    var head: UInt64 = 0
    var tail: UInt64 = 0
    var index: Int32

    init(index: Int32, id: String) {
        self.index = index
        withUTF8Bytes(id) { bytes in
            for i in 0..<min(bytes.count, 16) {
                let shifted = UInt64(bytes[i]) << (56 - 8 * UInt64(i % 8))
                if i < 8 { head |= shifted } else { tail |= shifted }
            }
        }
    }
}
