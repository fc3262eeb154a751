import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// The few strings that repeat from message to message (routing keys, content type, the
/// consumer tag, type names), kept so that each delivery shares them instead of allocating
/// its own. Strings of up to 15 UTF-8 bytes are stored inline by Swift and skip the cache.
struct RecentStrings {
    private static let capacity = 16
    // Grown on first use: most caches made for one table or one property set see no
    // string long enough to keep, and should cost no allocation.
    private var entries: [String] = []
    private var next = 0

    init() {}

    mutating func string(_ bytes: amqp_bytes_t) -> String {
        let count = bytes.len
        guard count > 15, let base = bytes.bytes else { return String(amqpBytes: bytes) }
        for entry in entries where entry.utf8.count == count {
            let same = entry.utf8.withContiguousStorageIfAvailable { stored in
                memcmp(stored.baseAddress!, base, count) == 0
            }
            if same == true { return entry }
        }
        let string = String(amqpBytes: bytes)
        if entries.count < Self.capacity {
            entries.append(string)
        } else {
            entries[next] = string
            next = (next + 1) % Self.capacity
        }
        return string
    }
}
