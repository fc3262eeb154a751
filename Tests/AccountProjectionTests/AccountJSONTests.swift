import AccountProjection
import JSON
import Testing

@Suite("Account JSON writing and reading")
struct AccountJSONTests {
    static let account = Account(
        id: "acc-000042", owner: "Ada \"The Countess\" Lovelace\n😀", currency: "EUR", balance: -750, status: .closed,
        version: 3, openedAt: "2026-11-24T15:00:00.000Z", updatedAt: "2026-11-24T15:07:10.250Z"
    )

    @Test func anAccountIsWrittenWithExactlyTheEightFields() {
        var buffer: [UInt8] = []
        Self.account.writeJSON(into: &buffer)
        #expect(
            String(decoding: buffer, as: UTF8.self)
                == #"{"id":"acc-000042","owner":"Ada \"The Countess\" Lovelace\n😀","currency":"EUR","balance":-750,"#
                + #""status":"closed","version":3,"openedAt":"2026-11-24T15:00:00.000Z","updatedAt":"2026-11-24T15:07:10.250Z"}"#
        )
        var open = Self.account
        open.status = .open
        buffer.removeAll()
        open.writeJSON(into: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self).contains(#""status":"open","#))
    }

    @Test func anAccountRoundTripsThroughJSONValue() throws {
        var buffer: [UInt8] = []
        Self.account.writeJSON(into: &buffer)
        let value = try JSONValue.parse(buffer)
        #expect(Account(json: value) == Self.account)
        #expect(value["owner"]?.stringValue == Self.account.owner)
        #expect(value["balance"] == .number("-750"))
    }

    @Test func writtenAccountsAreValidEventDecoderJSONToo() throws {
        // The writer's escapes are what the strict reader accepts, for every control character.
        let owner = String(decoding: (0..<0x20).map { UInt8($0) } + Array("\"\\é😀".utf8), as: UTF8.self)
        var account = Self.account
        account.owner = owner
        var buffer: [UInt8] = []
        account.writeJSON(into: &buffer)
        #expect(Account(json: try JSONValue.parse(buffer))?.owner == owner)
    }

    @Test(arguments: [
        #"{"id":"a","owner":"o","currency":"EUR","balance":1,"status":"open","version":1,"openedAt":"t"}"#,  // seven
        #"{"id":"a","owner":"o","currency":"EUR","balance":1,"status":"open","version":1,"openedAt":"t","updatedAt":"t","x":1}"#,
        #"{"id":"a","owner":"o","currency":"EUR","balance":"1","status":"open","version":1,"openedAt":"t","updatedAt":"t"}"#,
        #"{"id":"a","owner":"o","currency":"EUR","balance":1.5,"status":"open","version":1,"openedAt":"t","updatedAt":"t"}"#,
        #"{"id":"a","owner":"o","currency":"EUR","balance":1,"status":"gone","version":1,"openedAt":"t","updatedAt":"t"}"#,
        #"{"id":"a","owner":null,"currency":"EUR","balance":1,"status":"open","version":1,"openedAt":"t","updatedAt":"t"}"#,
        #"{"id":"a","id":"b","currency":"EUR","balance":1,"status":"open","version":1,"openedAt":"t","updatedAt":"t"}"#,
        #"[{"id":"a"}]"#,
    ])
    func accountsWithMissingExtraOrWrongFieldsAreRefused(text: String) throws {
        #expect(Account(json: try JSONValue.parse(text)) == nil)
    }

    @Test func aWellFormedAccountObjectIsRead() throws {
        let text =
            #"{"updatedAt":"u","id":"a","owner":"o","currency":"EUR","balance":-9223372036854775808,"status":"open","version":9007199254740991,"openedAt":"t"}"#
        let account = try #require(Account(json: try JSONValue.parse(text)))
        #expect(
            account
                == Account(
                    id: "a", owner: "o", currency: "EUR", balance: .min, status: .open, version: 9_007_199_254_740_991,
                    openedAt: "t", updatedAt: "u"))
    }
}
