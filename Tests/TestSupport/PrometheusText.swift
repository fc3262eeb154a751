/// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line
/// must be a `# HELP`, a `# TYPE`, a comment, blank, or a sample `name{l="v",...} value`;
/// each family's TYPE comes before its samples and at most once; histogram buckets rise
/// with `le` and end at `+Inf` equal to `_count`. Anything else throws, naming the line.
public struct PrometheusText: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    public private(set) var samples: [Sample] = []
    /// Family name → counter, gauge, histogram, summary or untyped.
    public private(set) var types: [String: String] = [:]
    public private(set) var help: [String: String] = [:]

    public init(parsing text: String) throws {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = String(rawLine)
            if line.isEmpty { continue }
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                guard let name = parts.first.map(String.init), Self.isMetricName(name) else {
                    throw FormatError(line: lineNumber, problem: "bad metric name in '\(line)'")
                }
                let rest = parts.count > 1 ? String(parts[1]) : ""
                if line.hasPrefix("# TYPE ") {
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(rest) else {
                        throw FormatError(line: lineNumber, problem: "unknown type '\(rest)'")
                    }
                    guard types[name] == nil else {
                        throw FormatError(line: lineNumber, problem: "second TYPE of \(name)")
                    }
                    guard !samples.contains(where: { Self.family(of: $0.name, types: [name: rest]) == name }) else {
                        throw FormatError(line: lineNumber, problem: "TYPE of \(name) after its samples")
                    }
                    types[name] = rest
                } else {
                    help[name] = rest
                }
                continue
            }
            if line.hasPrefix("#") { continue }
            samples.append(try Self.sample(line, lineNumber: lineNumber))
        }
        try checkHistograms()
    }

    /// The value of the one sample with this name whose labels include `labels`; nil when
    /// there is none or more than one.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { sample in
            sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }
        return matching.count == 1 ? matching[0].value : nil
    }

    /// The sum of every sample with this name (over all label sets).
    public func sum(_ name: String) -> Double {
        samples.filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "_")
                || c == UInt8(ascii: ":")
        }
    }

    static func family(of sampleName: String, types: [String: String]) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
            let base = String(sampleName.dropLast(suffix.count))
            if types[base] == "histogram" || types[base] == "summary" { return base }
        }
        return sampleName
    }

    private static func sample(_ line: String, lineNumber: Int) throws -> Sample {
        let chars = Array(line)
        var i = 0
        while i < chars.count, chars[i] != "{", chars[i] != " " { i += 1 }
        let name = String(chars[0..<i])
        guard isMetricName(name) else { throw FormatError(line: lineNumber, problem: "bad sample name '\(name)'") }
        var labels: [String: String] = [:]
        if i < chars.count, chars[i] == "{" {
            i += 1
            while i < chars.count, chars[i] != "}" {
                var key = ""
                while i < chars.count, chars[i] != "=" {
                    key.append(chars[i])
                    i += 1
                }
                guard isMetricName(key), i + 1 < chars.count, chars[i + 1] == "\"" else {
                    throw FormatError(line: lineNumber, problem: "bad label in '\(line)'")
                }
                i += 2
                var value = ""
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        switch chars[i] {
                        case "n": value.append("\n")
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        default: throw FormatError(line: lineNumber, problem: "bad escape in '\(line)'")
                        }
                    } else {
                        value.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else { throw FormatError(line: lineNumber, problem: "unclosed label value") }
                guard labels[key] == nil else { throw FormatError(line: lineNumber, problem: "label \(key) twice") }
                labels[key] = value
                i += 1
                if i < chars.count, chars[i] == "," { i += 1 }
            }
            guard i < chars.count else { throw FormatError(line: lineNumber, problem: "unclosed labels") }
            i += 1
        }
        guard i < chars.count, chars[i] == " " else {
            throw FormatError(line: lineNumber, problem: "no value in '\(line)'")
        }
        let fields = chars[(i + 1)...].split(separator: " ").map { String($0) }
        guard (1...2).contains(fields.count), let value = parseValue(fields[0]) else {
            throw FormatError(line: lineNumber, problem: "bad value in '\(line)'")
        }
        return Sample(name: name, labels: labels, value: value)
    }

    private static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return Double(text)
        }
    }

    private func checkHistograms() throws {
        for (name, type) in types where type == "histogram" {
            var series: [[String: String]: [(le: Double, count: Double)]] = [:]
            for sample in samples where sample.name == name + "_bucket" {
                guard let leText = sample.labels["le"], let le = Self.parseValue(leText) else {
                    throw FormatError(line: 0, problem: "\(name)_bucket without le")
                }
                var rest = sample.labels
                rest["le"] = nil
                series[rest, default: []].append((le, sample.value))
            }
            for (labels, buckets) in series {
                let sorted = buckets.sorted { $0.le < $1.le }
                guard sorted.last?.le == .infinity else {
                    throw FormatError(line: 0, problem: "\(name)\(labels) has no +Inf bucket")
                }
                for (a, b) in zip(sorted, sorted.dropFirst()) where b.count < a.count {
                    throw FormatError(line: 0, problem: "\(name)\(labels) buckets fall at le=\(b.le)")
                }
                let count = samples.first { $0.name == name + "_count" && $0.labels == labels }?.value
                guard count == sorted.last?.count else {
                    throw FormatError(line: 0, problem: "\(name)\(labels) _count differs from the +Inf bucket")
                }
            }
        }
    }
}
