import Testing

@testable import AccountProjection

@Suite("Compact timestamps")
struct CompactTimestampTests {
    @Test(arguments: [
        "2026-11-24T15:00:00.250Z", "0000-00-00T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
        "2026-11-24T15:00:00Z", "2026-11-24T15:00:00.250+01:00", "2026-11-24t15:00:00.250z",
        "2026-11-24T15:00:00.2500", "", "~", "~0123456789", "~~", "2026-11-24T15:0a:00.250Z", "é",
    ])
    func everyTextComesBackUnchanged(text: String) {
        #expect(CompactTimestamp.unpack(CompactTimestamp.pack(text)) == text)
    }

    @Test func theUsualShapeIsKeptInlineAndOthersAsTheyAre() {
        let packed = CompactTimestamp.pack("2026-11-24T15:00:00.250Z")
        #expect(packed.utf8.count <= 15)  // inline: no heap buffer
        #expect(packed.hasPrefix("~"))
        #expect(CompactTimestamp.pack("2026-11-24T15:00:00Z") == "2026-11-24T15:00:00Z")
    }

    @Test("one wrong byte anywhere in the usual shape keeps the text as it is")
    func oneWrongByteAnywhere() {
        let usual = Array("2026-11-24T15:00:00.250Z".utf8)
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        for position in usual.indices {
            // "/" and ":" sit just below and above the digits.
            for wrong in ["x", "-", "/", ":", "5"].map({ UInt8(ascii: $0) })
            where wrong != usual[position] && !(isDigit(wrong) && isDigit(usual[position])) {
                var bytes = usual
                bytes[position] = wrong
                let text = String(decoding: bytes, as: UTF8.self)
                // A separator in a digit's place, a digit in a separator's, a letter anywhere.
                #expect(CompactTimestamp.unpack(CompactTimestamp.pack(text)) == text)
                #expect(CompactTimestamp.pack(text) == text, "byte \(position) as \(Character(Unicode.Scalar(wrong)))")
            }
        }
    }

    @Test("every byte value in every place of the usual shape: only a digit for a digit packs")
    func everyByteInEveryPlace() {
        let usual = Array("2026-11-24T15:00:00.250Z".utf8)
        let separators: Set = [4, 7, 10, 13, 16, 19, 23]
        var packedCount = 0
        for position in usual.indices {
            for byte in UInt8.min...UInt8.max {
                var bytes = usual
                bytes[position] = byte
                let text = String(decoding: bytes, as: UTF8.self)
                let packed = bytes.withUnsafeBytes { CompactTimestamp.pack(bytes: $0) }
                let fits = separators.contains(position) ? byte == usual[position] : (0x30...0x39).contains(byte)
                #expect((packed.utf8.count == 11) == fits, "byte \(byte) at \(position)")
                #expect(CompactTimestamp.unpack(packed) == text, "byte \(byte) at \(position)")
                if fits { packedCount += 1 }
            }
        }
        #expect(packedCount == 17 * 10 + 7)
    }

    @Test(arguments: ["2026-11-24T15:00:00.250Z", "2026-11-24T15:00:00Z", "", "~0123456789", "é"])
    func packingFromBytesIsPackingTheText(text: String) {
        let fromBytes = Array(text.utf8).withUnsafeBytes { CompactTimestamp.pack(bytes: $0) }
        #expect(fromBytes == CompactTimestamp.pack(text))
    }

    @Test func aRecordGivesBackTheTimestampsItWasGiven() {
        var record = AccountRecord(id: "a")
        record.openedAt = "2026-11-24T15:00:00.250Z"
        record.updatedAt = "2026-11-24T15:00:00+02:00"
        #expect(record.account.openedAt == "2026-11-24T15:00:00.250Z")
        #expect(record.account.updatedAt == "2026-11-24T15:00:00+02:00")
    }
}
