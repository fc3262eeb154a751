/// Reads the status page's figures out of HTML, whether the server's or a browser's DOM:
/// the text of the element with a given id, entities decoded.
public struct StatusPageFigures {
    public let html: String

    public init(html: String) { self.html = html }

    public func text(_ id: String) -> String? {
        guard let attribute = html.firstRange(of: "id=\"\(id)\"") else { return nil }
        let rest = html[attribute.upperBound...]
        guard let open = rest.firstIndex(of: ">") else { return nil }
        let content = rest[rest.index(after: open)...]
        let end = content.firstIndex(of: "<") ?? content.endIndex
        return Self.decodeEntities(String(content[..<end]))
    }

    /// A count as shown (`56,789`), separators taken out.
    public func number(_ id: String) -> Int? { text(id).flatMap { Int($0.replacing(",", with: "")) } }

    public func rate(_ id: String) -> Double? { text(id).flatMap { Double($0.replacing(",", with: "")) } }

    /// The `title` attribute of the element with this id.
    public func title(_ id: String) -> String? {
        guard let attribute = html.firstRange(of: "id=\"\(id)\"") else { return nil }
        let tag = html[attribute.upperBound...].prefix { $0 != ">" }
        guard let start = tag.firstRange(of: "title=\"") else { return nil }
        return Self.decodeEntities(String(tag[start.upperBound...].prefix { $0 != "\"" }))
    }

    /// The `points` of the applied sparkline's polyline, as (x, y) pairs.
    public var sparklinePoints: [(x: Double, y: Double)]? { points("apply-line") }

    /// The `points` of the polyline with this id, as (x, y) pairs.
    public func points(_ id: String) -> [(x: Double, y: Double)]? {
        guard let polyline = html.firstRange(of: "id=\"\(id)\""),
            let points = html[polyline.upperBound...].firstRange(of: "points=\"")
        else { return nil }
        let value = html[points.upperBound...].prefix { $0 != "\"" }
        return value.split(separator: " ").compactMap { pair in
            let parts = pair.split(separator: ",")
            guard parts.count == 2, let x = Double(parts[0]), let y = Double(parts[1]) else { return nil }
            return (x, y)
        }
    }

    public static func decodeEntities(_ text: String) -> String {
        var out = text
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")] {
            out = out.replacing(entity, with: character)
        }
        return out
    }
}
