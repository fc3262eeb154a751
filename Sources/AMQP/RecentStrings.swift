import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// The few strings that repeat from message to message (routing keys, content type, the
/// consumer tag, type names), kept so that each delivery shares them instead of allocating
/// its own. Strings of up to 15 UTF-8 bytes are stored inline by Swift and skip the cache,
/// except a delivery's own three (`deliveryStrings`), where a kept one also skips the UTF-8 check.
struct RecentStrings {
    /// A kept string and the bytes it was made from: their count and their first 32 bytes
    /// (zero after the count), so that most are compared as four words, without reading the
    /// string. Bytes that are not UTF-8 made a string with replacement characters, the same
    /// one for the same bytes.
    private struct Entry {
        var count: Int
        var head: Head
        var string: String
    }

    private typealias Head = (UInt64, UInt64, UInt64, UInt64)
    private static let headBytes = 32
    private static let capacity = 16
    // Grown on first use: most caches made for one table or one property set see no
    // string long enough to keep, and should cost no allocation.
    private var entries: [Entry] = []
    private var next = 0
    /// Where a delivery's consumer tag, exchange and routing key were found last: on a stream
    /// the first two never change and the third takes a few values.
    private var deliveryHints = (tag: 0, exchange: 0, routingKey: 0)

    init() {}

    mutating func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 15 else { return String(amqpBytes: bytes) }
        var hint = 0
        return string(bytes, hint: &hint)
    }

    /// The consumer tag, exchange and routing key of basic.deliver.
    mutating func deliveryStrings(
        _ deliver: amqp_basic_deliver_t
    ) -> (consumerTag: String, exchange: String, routingKey: String) {
        var hints = deliveryHints
        defer { deliveryHints = hints }
        return (
            string(deliver.consumer_tag, hint: &hints.tag), string(deliver.exchange, hint: &hints.exchange),
            string(deliver.routing_key, hint: &hints.routingKey)
        )
    }

    /// The kept string made from these bytes (looked for at `hint` first, and `hint` set to
    /// where it is), else a new one, kept.
    private mutating func string(_ bytes: amqp_bytes_t, hint: inout Int) -> String {
        let count = bytes.len
        guard count > 0, let base = bytes.bytes else { return "" }
        var head: Head = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &head) { _ = memcpy($0.baseAddress!, base, min(count, Self.headBytes)) }
        if hint < entries.count, matches(hint, count, head, base) { return entries[hint].string }
        for index in entries.indices where matches(index, count, head, base) {
            hint = index
            return entries[index].string
        }
        let entry = Entry(count: count, head: head, string: String(amqpBytes: bytes))
        if entries.count < Self.capacity {
            hint = entries.count
            entries.append(entry)
        } else {
            hint = next
            entries[next] = entry
            next = (next + 1) % Self.capacity
        }
        return entry.string
    }

    @inline(__always)
    private func matches(_ index: Int, _ count: Int, _ head: Head, _ base: UnsafeRawPointer) -> Bool {
        guard entries[index].count == count, entries[index].head == head else { return false }
        if count <= Self.headBytes { return true }
        // A longer string made from bytes that are not UTF-8 has other bytes: compared as unequal.
        return entries[index].string.utf8.withContiguousStorageIfAvailable { kept in
            kept.count == count
                && memcmp(kept.baseAddress! + Self.headBytes, base + Self.headBytes, count - Self.headBytes) == 0
        } ?? false
    }
}
