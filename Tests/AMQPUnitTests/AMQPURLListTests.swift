import Testing

@testable import AMQP

@Suite("AMQP URL lists: one URL per cluster node")
struct AMQPURLListTests {
    @Test("one URL is a list of one")
    func single() throws {
        let nodes = try AMQPURLList.parse("amqp://u:p@h1:5681/%2f")
        #expect(nodes == [try AMQPURL(parsing: "amqp://u:p@h1:5681/%2f")])
    }

    @Test("comma-separated full URLs, spaces around them allowed, each with its own host and port")
    func list() throws {
        let nodes = try AMQPURLList.parse("amqp://u:p@h1:5681/%2f, amqp://u:p@h2:5682/%2f ,amqps://u:p@h3/v")
        #expect(nodes.map(\.node) == ["h1:5681", "h2:5682", "h3:5671"])
        #expect(nodes.map(\.isTLS) == [false, false, true])
        #expect(nodes[2].vhost == "v")
    }

    @Test(
        "the host-list form is refused, pointing at the list of URLs",
        arguments: [
            "amqp://u:p@h1:5681,h2:5682/%2f", "amqp://u:p@h1,h2/%2f", "h1:5681,h2", "amqp://u:p@h1/%2f,h2:5682",
        ])
    func hostListRefused(text: String) {
        #expect {
            _ = try AMQPURLList.parse(text)
        } throws: { error in
            let text = "\(error)"
            return text.contains("one whole URL per node") && text.contains("amqp://user:pass@h1:5672/%2f,")
        }
    }

    @Test("an empty entry is refused by its position")
    func emptyEntry() {
        #expect(throws: AMQPError.invalidURL(reason: "entry 2 of 2 of the list is empty")) {
            _ = try AMQPURLList.parse("amqp://u:p@h1/%2f,")
        }
    }

    @Test(
        "no error shows the password, whichever entry is wrong",
        arguments: [
            "amqp://u:hunter2secret@h1:99999/%2f,amqp://u:hunter2secret@h2/%2f",
            "amqp://u:hunter2secret@h1/%2f,amqp://u:hunter2secret@h2:port/%2f",
            "amqp://u:hunter2secret@h1,h2/%2f", "amqp://u:hunter2,secret@h1/%2f,amqp://u:hunter2,secret@h2/%2f",
            "amqp://u:hunter2secret@h1/%2f,ftp://u:hunter2secret@h2/",
        ])
    func noPasswordInErrors(text: String) {
        #expect {
            _ = try AMQPURLList.parse(text)
        } throws: { error in
            let text = "\(error)"
            return !text.contains("hunter") && !text.contains("secret")
        }
    }

    @Test("an entry's error says which entry")
    func entryNamed() {
        #expect(throws: AMQPError.self) {
            _ = try AMQPURLList.parse("amqp://u:p@h1/%2f,amqp://u:p@h2:0/%2f")
        }
        do {
            _ = try AMQPURLList.parse("amqp://u:p@h1/%2f,amqp://u:p@h2:0/%2f")
        } catch {
            #expect("\(error)".contains("entry 2 of 2"))
        }
    }
}

@Suite("Node rotation")
struct AMQPNodeRotationTests {
    /// Always the same numbers, so that a round's start is known.
    struct FixedRandom: RandomNumberGenerator {
        var value: UInt64
        mutating func next() -> UInt64 { value }
    }

    @Test("a round's order: from the start, in list order, the last node that worked moved to the end")
    func order() {
        #expect(AMQPNodeRotation.order(count: 3, start: 1, last: nil) == [1, 2, 0])
        #expect(AMQPNodeRotation.order(count: 3, start: 1, last: 1) == [2, 0, 1])
        #expect(AMQPNodeRotation.order(count: 3, start: 0, last: 2) == [0, 1, 2])
        #expect(AMQPNodeRotation.order(count: 1, start: 0, last: 0) == [0])
    }

    @Test("every node once per round, then nil (time to back off), then a new round")
    func rounds() {
        var rotation = AMQPNodeRotation(count: 3)
        var random = FixedRandom(value: 1 << 62)
        var seen: [Int] = []
        while let node = rotation.next(using: &random) {
            #expect(!rotation.isRoundOver || seen.count == 2)
            seen.append(node)
        }
        #expect(seen.sorted() == [0, 1, 2])
        #expect(rotation.next(using: &random) != nil)
    }

    @Test("the round is over only after its last node was handed out")
    func roundOver() {
        var rotation = AMQPNodeRotation(count: 2)
        #expect(!rotation.isRoundOver)
        _ = rotation.next()
        #expect(!rotation.isRoundOver)
        _ = rotation.next()
        #expect(rotation.isRoundOver)
    }

    @Test("after a connection that worked, its node is tried last and no backoff is due")
    func connectedNodeLast() {
        var rotation = AMQPNodeRotation(count: 3)
        let first = rotation.next()!
        rotation.connected(first)
        #expect(!rotation.isRoundOver)
        var order: [Int] = []
        while let node = rotation.next() { order.append(node) }
        #expect(order.count == 3)
        #expect(order.last == first)
    }

    @Test("the start is random: over many rounds every node starts one")
    func randomStart() {
        var starts = Set<Int>()
        for _ in 0..<200 {
            var rotation = AMQPNodeRotation(count: 3)
            starts.insert(rotation.next()!)
        }
        #expect(starts == [0, 1, 2])
    }

    @Test("one node: back off after each failure, as with a single broker")
    func singleNode() {
        var rotation = AMQPNodeRotation(count: 1)
        #expect(rotation.next() == 0)
        #expect(rotation.isRoundOver)
        #expect(rotation.next() == nil)
        #expect(rotation.next() == 0)
    }

    @Test("a node's configuration keeps the settings and takes that node's URL")
    func nodeConfiguration() throws {
        var configuration = AMQPConfiguration(connectTimeout: .seconds(2), connectionName: "x")
        configuration.nodes = try AMQPURLList.parse("amqp://u:p@h1:1/%2f,amqp://u:p@h2:2/%2f?heartbeat=7")
        let second = configuration.node(1)
        #expect(second.url.node == "h2:2")
        #expect(second.heartbeat == 7)
        #expect(second.connectTimeout == .seconds(2))
        #expect(second.connectionName == "x")
        #expect(second.nodes.count == 2)
    }
}
