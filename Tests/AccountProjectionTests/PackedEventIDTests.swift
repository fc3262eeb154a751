import Testing

@testable import AccountProjection

@Suite("Packed event ids")
struct PackedEventIDTests {
    @Test(arguments: [
        "123004ef-8df5-40e6-a195-4dcc47b1e89d", "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff", "0123abcd-4567-89ef-fedc-ba9876543210",
    ])
    func aLowercaseUUIDIsTwoWordsAndComesBack(text: String) {
        let packed = PackedEventID(text)
        guard case .uuid = packed else {
            Issue.record("\(text) was kept as text")
            return
        }
        #expect(packed.text == text)
        #expect(Array(text.utf8).withUnsafeBytes { PackedEventID(bytes: $0) } == packed)
    }

    @Test(arguments: [
        "123004EF-8DF5-40E6-A195-4DCC47B1E89D",  // uppercase: kept, so it comes back as sent
        "123004ef-8df5-40e6-a195-4dcc47b1e89",  // 35 bytes
        "123004ef-8df5-40e6-a195-4dcc47b1e89dd",  // 37
        "123004ef08df5-40e6-a195-4dcc47b1e89d",  // a digit for a dash
        "123004ef-8df5-40e6-a195-4dcc47b1e89-",  // a dash for a digit
        "123004ef-8df5-40e6-a195-4dcc47b1e8g9", "123004ef-8df5-40e6-a195-4dcc47b1e8/9",
        "123004ef-8df5-40e6-a195-4dcc47b1e8:9", "123004ef-8df5-40e6-a195-4dcc47b1e8`9",
        "", "evt-1", "é",
    ])
    func anyOtherTextIsKeptAsItIs(text: String) {
        #expect(PackedEventID(text) == .text(text))
        #expect(Array(text.utf8).withUnsafeBytes { PackedEventID(bytes: $0) } == .text(text))
        #expect(PackedEventID(text).text == text)
    }

    @Test("every byte in every place: only 0-9 a-f at a digit and - at a dash pack")
    func everyByteInEveryPlace() {
        let usual = Array("0123abcd-4567-89ef-fedc-ba9876543210".utf8)
        let hexDigits = Set("0123456789abcdef".utf8)
        var packedCount = 0
        for position in usual.indices {
            for byte in UInt8.min...UInt8.max {
                var bytes = usual
                bytes[position] = byte
                let packed = bytes.withUnsafeBytes { PackedEventID(bytes: $0) }
                let isDash = [8, 13, 18, 23].contains(position)
                let fits = isDash ? byte == UInt8(ascii: "-") : hexDigits.contains(byte)
                if case .uuid = packed {
                    packedCount += 1
                    #expect(fits, "byte \(byte) at \(position) packed")
                    #expect(packed.text == String(decoding: bytes, as: UTF8.self))
                } else {
                    #expect(!fits, "byte \(byte) at \(position) was kept as text")
                }
            }
        }
        #expect(packedCount == 32 * 16 + 4)
    }

    @Test func aDecodedEventEqualsTheSameEventMadeByHand() throws {
        let body =
            #"{"eventId":"123004ef-8df5-40e6-a195-4dcc47b1e89d","type":"MoneyDeposited","accountId":"a","sequence":2,"occurredAt":"2026-11-24T15:00:00.250Z","data":{"amount":5}}"#
        let decoded = try EventDecoder.decode(Array(body.utf8)).get()
        let made = Event(
            eventId: "123004ef-8df5-40e6-a195-4dcc47b1e89d", type: .moneyDeposited, accountId: "a", sequence: 2,
            occurredAt: "2026-11-24T15:00:00.250Z", amount: 5)
        #expect(decoded == made)
        #expect(decoded.eventId == "123004ef-8df5-40e6-a195-4dcc47b1e89d")
        #expect(decoded.occurredAt == "2026-11-24T15:00:00.250Z")
        var renamed = decoded
        renamed.eventId = "evt-2"
        renamed.occurredAt = "2026-11-24T15:00:00Z"
        #expect(renamed.eventId == "evt-2" && renamed.occurredAt == "2026-11-24T15:00:00Z")
        #expect(renamed != decoded)
    }

    @Test("heldBytes counts the texts an event stands for, whatever forms it keeps them in")
    func heldBytesCountsTheTexts() {
        let ids = ["123004ef-8df5-40e6-a195-4dcc47b1e89d", "123004EF-8DF5-40E6-A195-4DCC47B1E89D", "e-1", "", "é"]
        let times = [
            "2026-11-24T15:00:00.250Z", "2026-11-24T15:00:00Z", "", "~", "~0123456789", "~123456789", "~~",
            "é",
        ]
        for id in ids {
            for time in times {
                let event = Event(eventId: id, type: .accountClosed, accountId: "a", sequence: 2, occurredAt: time)
                let texts = id.utf8.count + 1 + time.utf8.count
                #expect(event.heldBytes == MemoryLayout<Event>.stride + texts, "\(id) \(time)")
                #expect(CompactTimestamp.textCount(CompactTimestamp.pack(time)) == time.utf8.count, "\(time)")
            }
        }
    }

    @Test func anEscapedIdIsDecodedBeforeItIsPacked() throws {
        let body =
            #"{"eventId":"123004ef\u002d8df5-40e6-a195-4dcc47b1e89d","type":"AccountClosed","accountId":"a","sequence":2,"occurredAt":"2026-11-24T15:00:00.250\u005a"}"#
        let event = try EventDecoder.decode(Array(body.utf8)).get()
        #expect(event.problem == nil)
        #expect(event.eventId == "123004ef-8df5-40e6-a195-4dcc47b1e89d")
        #expect(event.occurredAt == "2026-11-24T15:00:00.250Z")
        guard case .uuid = event.packedEventId else {
            Issue.record("the escaped id was kept as text")
            return
        }
    }
}
