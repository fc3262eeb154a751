/// Events waiting for a gap in their account's history to fill
/// (docs/events.md#how-the-projection-applies-an-event): found by
/// (account, sequence), and kept in a FIFO so the longest-parked goes first, all in O(1).
struct ParkingLot<Origin> {
    struct Key: Hashable, Sendable {
        var account: Int32
        var sequence: Int64
    }

    struct Entry {
        var account: Int32
        var event: Event
        var origin: Origin
        /// What the caller counted for it against the byte bound.
        var bytes: Int
        /// The owner's clock when it was parked (`Projection.parkingClock`).
        var parkedAt: Int64 = 0
    }

    /// A node of the FIFO, a doubly linked list threaded through an array.
    fileprivate struct Node {
        var entry: Entry?
        var older: Int32
        var newer: Int32
    }

    private var nodes: [Node] = []
    private var freeNodes: [Int32] = []
    private var oldest: Int32 = -1
    private var newest: Int32 = -1
    private var index: [Key: Int32] = [:]

    var count: Int { index.count }
    /// The sum of the parked entries' `bytes`.
    private(set) var bytes = 0

    func contains(account: Int, sequence: Int64) -> Bool {
        index[Key(account: Int32(account), sequence: sequence)] != nil
    }

    /// Parks an event as the newest; returns its node, which `removeOldest` reports back.
    mutating func park(account: Int, event: Event, origin: Origin, bytes: Int = 0, at time: Int64 = 0) -> Int32 {
        let entry = Entry(account: Int32(account), event: event, origin: origin, bytes: bytes, parkedAt: time)
        self.bytes += bytes
        let node: Int32
        if let reused = freeNodes.popLast() {
            node = reused
            nodes[Int(node)] = Node(entry: entry, older: newest, newer: -1)
        } else {
            node = Int32(nodes.count)
            nodes.append(Node(entry: entry, older: newest, newer: -1))
        }
        if newest >= 0 { nodes[Int(newest)].newer = node } else { oldest = node }
        newest = node
        index[Key(account: Int32(account), sequence: event.sequence)] = node
        return node
    }

    /// Calls `body` with every parked entry, the longest-parked first.
    func forEachOldestFirst<Failure: Error>(_ body: (Entry) throws(Failure) -> Void) throws(Failure) {
        var node = oldest
        while node >= 0 {
            if let entry = nodes[Int(node)].entry { try body(entry) }
            node = nodes[Int(node)].newer
        }
    }

    /// Takes the event parked for this account at this sequence, if any.
    mutating func remove(account: Int, sequence: Int64) -> Entry? {
        guard let node = index.removeValue(forKey: Key(account: Int32(account), sequence: sequence)) else {
            return nil
        }
        return unlink(node)
    }

    /// Takes the longest-parked event and its node.
    mutating func removeOldest() -> (node: Int32, entry: Entry)? {
        guard oldest >= 0 else { return nil }
        let node = oldest
        let entry = unlink(node)
        index.removeValue(forKey: Key(account: entry.account, sequence: entry.event.sequence))
        return (node, entry)
    }

    private mutating func unlink(_ node: Int32) -> Entry {
        let i = Int(node)
        let entry = nodes[i].entry.take()!
        bytes -= entry.bytes
        let older = nodes[i].older
        let newer = nodes[i].newer
        if older >= 0 { nodes[Int(older)].newer = newer } else { oldest = newer }
        if newer >= 0 { nodes[Int(newer)].older = older } else { newest = older }
        if oldest < 0 {
            // Empty: start over, and give the memory of a large burst back.
            let keep = nodes.count <= 1024
            nodes.removeAll(keepingCapacity: keep)
            freeNodes.removeAll(keepingCapacity: keep)
        } else {
            freeNodes.append(node)
        }
        return entry
    }
}

extension ParkingLot: Sendable where Origin: Sendable {}
extension ParkingLot.Entry: Sendable where Origin: Sendable {}
extension ParkingLot.Node: Sendable where Origin: Sendable {}
