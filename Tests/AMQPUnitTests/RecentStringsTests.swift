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
}
