/// A list of broker URLs, one per node of a cluster: `AMQP_URL`'s comma-separated form
/// `amqp://u:p@h1:5672/%2f,amqp://u:p@h2:5672/%2f`.
///
/// Each entry is a whole ``AMQPURL``. The host-list form some clients take
/// (`amqp://u:p@h1,h2/%2f`, or `h1:5672,h2`) is refused with a message that shows the list
/// form: the host and port of one entry cannot be told from the next one's. No error ever
/// echoes an entry (it holds the password), only its position.
public enum AMQPURLList {
    public static func parse(_ text: String) throws(AMQPError) -> [AMQPURL] {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map(Self.trimmed)
        if entries.count == 1 { return [try AMQPURL(parsing: String(entries[0]))] }
        // Any piece without its own scheme: the text is one URL with several hosts.
        if entries.contains(where: { !$0.isEmpty && !Self.hasScheme($0) }) || !Self.hasScheme(entries[0]) {
            throw .invalidURL(
                reason: "it lists several hosts in one URL; write one whole URL per node, separated by commas,"
                    + " e.g. amqp://user:pass@h1:5672/%2f,amqp://user:pass@h2:5672/%2f"
                    + " (a ',' in a password must be written %2C)")
        }
        var urls: [AMQPURL] = []
        for (index, entry) in entries.enumerated() {
            guard !entry.isEmpty else {
                throw .invalidURL(reason: "entry \(index + 1) of \(entries.count) of the list is empty")
            }
            do {
                urls.append(try AMQPURL(parsing: String(entry)))
            } catch .invalidURL(let reason) {
                throw .invalidURL(reason: "entry \(index + 1) of \(entries.count): \(reason)")
            }
        }
        return urls
    }

    private static func hasScheme(_ entry: Substring) -> Bool {
        let bytes = Array(entry.utf8)
        return bytes.indices.contains { bytes[$0...].starts(with: "://".utf8) }
    }

    private static func trimmed(_ entry: Substring) -> Substring {
        var entry = entry
        while let first = entry.first, first == " " || first == "\t" || first == "\n" { entry = entry.dropFirst() }
        while let last = entry.last, last == " " || last == "\t" || last == "\n" { entry = entry.dropLast() }
        return entry
    }
}
