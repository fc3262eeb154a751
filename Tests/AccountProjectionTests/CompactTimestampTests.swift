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

    @Test func aRecordGivesBackTheTimestampsItWasGiven() {
        var record = AccountRecord(id: "a")
        record.openedAt = "2026-11-24T15:00:00.250Z"
        record.updatedAt = "2026-11-24T15:00:00+02:00"
        #expect(record.account.openedAt == "2026-11-24T15:00:00.250Z")
        #expect(record.account.updatedAt == "2026-11-24T15:00:00+02:00")
    }
}
