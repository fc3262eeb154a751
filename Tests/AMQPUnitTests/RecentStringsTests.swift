import CRabbitMQ
import Testing

@testable import AMQP

@Suite("Strings shared between deliveries")
struct RecentStringsTests {
    private func string(_ text: String, _ cache: inout RecentStrings) -> String {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            cache.string(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress))
        }
    }

    @Test("the same bytes give the same text; other bytes of the same length never do")
    func sameAndDifferent() {
        var cache = RecentStrings()
        #expect(string("account.deposited", &cache) == "account.deposited")
        #expect(string("account.withdrawn", &cache) == "account.withdrawn")
        #expect(string("account.deposited", &cache) == "account.deposited")
        #expect(string("account.depositeD", &cache) == "account.depositeD")
        #expect(string("application/json", &cache) == "application/json")
        #expect(string("short", &cache) == "short")
        #expect(string("", &cache) == "")
        #expect(string("Grüße aus Zürich, 16+", &cache) == "Grüße aus Zürich, 16+")
    }

    @Test("past its capacity it keeps answering right, old entries replaced in turn")
    func pastCapacity() {
        var cache = RecentStrings()
        for round in 0..<3 {
            for n in 0..<40 {
                let text = "routing.key.number.\(n)"
                #expect(string(text, &cache) == text, "round \(round)")
            }
        }
    }

    private func deliveryStrings(
        _ tag: [UInt8], _ exchange: [UInt8], _ routingKey: [UInt8], _ cache: inout RecentStrings
    ) -> [String] {
        var (tag, exchange, routingKey) = (tag, exchange, routingKey)
        return tag.withUnsafeMutableBytes { tag in
            exchange.withUnsafeMutableBytes { exchange in
                routingKey.withUnsafeMutableBytes { routingKey in
                    var deliver = amqp_basic_deliver_t()
                    deliver.consumer_tag = amqp_bytes_t(len: tag.count, bytes: tag.baseAddress)
                    deliver.exchange = amqp_bytes_t(len: exchange.count, bytes: exchange.baseAddress)
                    deliver.routing_key = amqp_bytes_t(len: routingKey.count, bytes: routingKey.baseAddress)
                    let strings = cache.deliveryStrings(deliver)
                    return [strings.consumerTag, strings.exchange, strings.routingKey]
                }
            }
        }
    }

    @Test("a delivery's three strings, of any length, are its own bytes however the routing keys alternate")
    func deliveryStringsFollowTheBytes() {
        var cache = RecentStrings()
        let tag = "amq.ctag-0123456789abcdefghijkl"
        // Same lengths on purpose: a hint that points at a kept string of the right length but
        // other bytes must not answer with it.
        // Past 32 bytes the kept bytes are compared by the string's own: two keys that differ
        // only there.
        let keys = [
            "account.opened", "account.closed", "account.deposited", "account.withdrawn", "account.renamed", "a", "",
            "account.opened", "account.deposited.in.a.branch.office.1", "account.deposited.in.a.branch.office.2",
        ]
        for round in 0..<3 {
            for key in keys + keys.reversed() {
                for exchange in ["accounts", "account", ""] {
                    let strings = deliveryStrings(Array(tag.utf8), Array(exchange.utf8), Array(key.utf8), &cache)
                    #expect(strings == [tag, exchange, key], "round \(round)")
                }
            }
            // More distinct routing keys than the cache holds, so the hints point at replaced entries.
            for n in 0..<40 {
                let key = ["k\(n)", "routing.key.number.\(n)", "a.routing.key.longer.than.thirty-two.bytes.\(n)"][n % 3]
                #expect(deliveryStrings(Array(tag.utf8), [], Array(key.utf8), &cache) == [tag, "", key])
            }
        }
    }

    @Test("bytes that are not UTF-8 give their repaired text every time, short or long")
    func deliveryStringsRepairInvalidBytes() {
        var cache = RecentStrings()
        let long = Array("account.deposited.".utf8)
        for prefix in [[], long] {
            let invalid: [UInt8] = prefix + [0x61, 0xFF, 0x62]
            let repaired = String(decoding: invalid, as: UTF8.self)
            #expect(repaired == String(decoding: prefix, as: UTF8.self) + "a\u{FFFD}b")
            for _ in 0..<3 {
                #expect(deliveryStrings([0x74], [], invalid, &cache) == ["t", "", repaired])
                // The repaired text's own bytes are another string that reads the same.
                #expect(deliveryStrings([0x74], [], Array(repaired.utf8), &cache) == ["t", "", repaired])
                #expect(deliveryStrings([0x74], [], prefix + [0x61, 0xFE, 0x62], &cache) == ["t", "", repaired])
                #expect(deliveryStrings([0x74], [], prefix + [0x61, 0x62, 0x62], &cache) != ["t", "", repaired])
            }
        }
    }
}
