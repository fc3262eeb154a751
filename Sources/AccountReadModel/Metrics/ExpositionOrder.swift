/// Puts a Prometheus text exposition's families in name order: the registry emits them in
/// its dictionary's order, which changes from one process to the next.
enum ExpositionOrder {
    /// The families of `text` (a block from its `# HELP`/`# TYPE` lines to the next family's),
    /// sorted by name; the lines within a family keep their order.
    static func sortedByFamily(_ text: [UInt8]) -> [UInt8] {
        var families: [(name: ArraySlice<UInt8>, start: Int, end: Int)] = []
        var lineStart = 0
        while lineStart < text.count {
            let lineEnd = text[lineStart...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? text.count
            if let name = familyName(text[lineStart..<lineEnd]) {
                if families.last?.name != name {
                    if let last = families.indices.last { families[last].end = lineStart }
                    families.append((name, lineStart, text.count))
                }
            } else if families.isEmpty {
                families.append(([], lineStart, text.count))  // series before any comment
            }
            lineStart = lineEnd
        }
        guard families.count > 1 else { return text }
        var sorted: [UInt8] = []
        sorted.reserveCapacity(text.count)
        for family in families.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
            sorted += text[family.start..<family.end]
        }
        return sorted
    }

    /// The metric name of a `# HELP name …` or `# TYPE name …` line, else nil.
    private static func familyName(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let help = Array("# HELP ".utf8)
        let type = Array("# TYPE ".utf8)
        guard line.starts(with: help) || line.starts(with: type) else { return nil }
        let nameStart = line.startIndex + 7
        let nameEnd =
            line[nameStart...].firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") } ?? line.endIndex
        return line[nameStart..<nameEnd]
    }
}
