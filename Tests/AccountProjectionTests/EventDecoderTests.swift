import AccountProjection
import Testing

@Suite("Event decoding")
struct EventDecoderTests {
    // MARK: Valid events

    @Test func decodesTheContractExample() throws {
        let body = Array(
            """
            {"eventId":"9b2e4c1a-0d7f-4f7e-9a53-3f0e6f2f1c11","type":"MoneyDeposited",
             "accountId":"acc-000042","sequence":2,"occurredAt":"2026-11-24T15:00:00.000Z",
             "data":{"amount":1250}}
            """.utf8)
        let event = try #require(EventDecoder.decode(body).event)
        #expect(
            event
                == Event(
                    eventId: "9b2e4c1a-0d7f-4f7e-9a53-3f0e6f2f1c11",
                    type: .moneyDeposited,
                    accountId: "acc-000042",
                    sequence: 2,
                    occurredAt: "2026-11-24T15:00:00.000Z",
                    amount: 1250
                ))
    }

    @Test func decodesAnOpeningWithOwnerAndCurrency() throws {
        let event = try #require(
            EventDecoder.decode(Body.opened("acc-7", owner: "Björn Dvořák", currency: "NOK")).event)
        #expect(event.type == .accountOpened)
        #expect(event.owner == "Björn Dvořák")
        #expect(event.currency == "NOK")
        #expect(event.sequence == 1)
        #expect(event.problem == nil)
    }

    @Test func decodesARenameWithdrawalAndClose() throws {
        let renamed = try #require(EventDecoder.decode(Body.renamed(sequence: 3, owner: "Grace")).event)
        #expect(renamed.type == .accountRenamed && renamed.owner == "Grace" && renamed.problem == nil)
        let withdrawn = try #require(EventDecoder.decode(Body.withdrawn(sequence: 4, amount: 7)).event)
        #expect(withdrawn.type == .moneyWithdrawn && withdrawn.amount == 7 && withdrawn.problem == nil)
        let closed = try #require(EventDecoder.decode(Body.closed(sequence: 5)).event)
        #expect(closed.type == .accountClosed && closed.problem == nil)
    }

    @Test func theRawBufferAndArrayFormsAgree() {
        let body = Body.deposited(sequence: 2, amount: 5)
        let fromBuffer = body.withUnsafeBytes { EventDecoder.decode($0) }
        #expect(fromBuffer == EventDecoder.decode(body))
        #expect(Event.decode(body) == EventDecoder.decode(body))
    }

    @Test func whitespaceAroundEveryTokenIsAllowed() throws {
        let body = Array(
            " \t\r\n{ \"type\" : \"AccountClosed\" ,\n\"accountId\"\t:\"a\" , \"sequence\" : 3 , \"eventId\" : \"e\" , \"occurredAt\" : \"2026-01-01T00:00:00Z\" } \n "
                .utf8)
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.type == .accountClosed && event.problem == nil && event.sequence == 3)
    }

    /// The decoder compares its own keys in place before scanning them; every other way of
    /// writing a key must still reach the same member, and near misses none.
    @Test func everySpellingOfAKeyReachesTheSameMember() throws {
        let plain =
            #"{"eventId":"e-1","type":"AccountOpened","accountId":"a","sequence":1,"occurredAt":"2026-11-24T15:00:00.250Z","data":{"owner":"Ann","currency":"EUR"}}"#
        let expected = try #require(EventDecoder.decode(Array(plain.utf8)).event)
        #expect(expected.problem == nil && expected.owner == "Ann" && expected.currency == "EUR")
        let respelled = [
            // Escaped letters, at the start and inside.
            #"{"\u0065ventId":"e-1","typ\u0065":"AccountOpened","\u0061ccountId":"a","s\u0065quence":1,"\u006fccurredAt":"2026-11-24T15:00:00.250Z","d\u0061ta":{"\u006fwner":"Ann","\u0063urrency":"EUR","\u0061mount":null}}"#,
            // Whitespace before the colons.
            #"{"eventId" :"e-1","type"\#t:"AccountOpened","accountId"\#n:"a","sequence" : 1,"occurredAt" :"2026-11-24T15:00:00.250Z","data" :{"owner" :"Ann","currency"  :"EUR"}}"#,
            // Near misses first, each a member of its own that is skipped.
            #"{"eventIdx":1,"eventI":2,"typ":3,"types":4,"accountI":5,"accountIds":6,"sequences":7,"occurredA":8,"dat":9,"datas":10,"eventId":"e-1","type":"AccountOpened","accountId":"a","sequence":1,"occurredAt":"2026-11-24T15:00:00.250Z","data":{"owners":1,"owne":2,"currenc":3,"currencys":4,"amounts":5,"owner":"Ann","currency":"EUR"}}"#,
        ]
        for body in respelled {
            #expect(EventDecoder.decode(Array(body.utf8)).event == expected, "\(body)")
        }
        // A key cut off at the end of the body, and one with no colon: the same errors as before.
        for broken in [#"{"eventId"#, #"{"eventId""#, #"{"eventId" "e-1"}"#, #"{"data":{"owner""#] {
            guard case .failure(let problem) = EventDecoder.decode(Array(broken.utf8)) else {
                Issue.record("\(broken) decoded")
                continue
            }
            #expect(problem.reason == .malformedJSON, "\(broken)")
        }
        let noColon = EventDecoder.decode(Array(#"{"eventId" "e-1"}"#.utf8))
        #expect(
            noColon
                == .failure(
                    EventProblem(
                        reason: .malformedJSON, detail: "body is not valid JSON: unexpected byte 0x22 at byte 11")))
    }

    // MARK: Size

    /// Pads a valid body with an unknown string member to exactly `size` bytes.
    static func padded(to size: Int) -> [UInt8] {
        func body(padding: Int) -> [UInt8] {
            Body.event(data: "{\"amount\":5}", extra: "\"pad\":\"" + String(repeating: "x", count: padding) + "\"")
        }
        return body(padding: size - body(padding: 0).count)
    }

    @Test func aBodyOf65536BytesIsAccepted() throws {
        let body = Self.padded(to: 65_536)
        #expect(body.count == 65_536)
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.problem == nil)
    }

    @Test func aBodyOf65537BytesIsTooLarge() {
        let body = Self.padded(to: 65_537)
        #expect(body.count == 65_537)
        #expect(
            EventDecoder.decode(body)
                == .failure(EventProblem(reason: .tooLarge, detail: "body is 65537 bytes; the limit is 65536")))
    }

    @Test func theSizeBoundIsCheckedBeforeAnythingElse() {
        #expect(EventDecoder.decode([UInt8](repeating: 0xFF, count: 70_000)).failureReason == .tooLarge)
    }

    // MARK: Malformed bodies

    @Test(arguments: [
        [0xFF] as [UInt8],  // never valid in UTF-8
        [0xC0, 0xAF],  // overlong "/"
        [0xE0, 0x80, 0xAF],  // overlong
        [0xED, 0xA0, 0x80],  // an encoded UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0xC3],  // truncated sequence before the closing quote
        [0xE2, 0x82],
        [0x80],  // a lone continuation byte
    ])
    func invalidUTF8InAStringIsMalformed(bytes: [UInt8]) {
        let body = Array("{\"accountId\":\"acc-1\",\"sequence\":2,\"note\":\"a".utf8) + bytes + Array("\"}".utf8)
        #expect(EventDecoder.decode(body).failureReason == .malformedJSON)
    }

    @Test func invalidUTF8OutsideStringsIsMalformed() {
        let body = Body.deposited(sequence: 2, amount: 5) + [0xFF]
        #expect(EventDecoder.decode(body).failureReason == .malformedJSON)
    }

    @Test func everyTruncationOfAValidBodyIsMalformed() {
        let body = Body.event(data: "{\"amount\":1250,\"n\":[true,false,null,-1.5e+3,{\"k\":\"\\u00e9\"}]}")
        #expect(EventDecoder.decode(body).event?.problem == nil)
        for length in 0..<body.count {
            #expect(
                EventDecoder.decode(Array(body[0..<length])).failureReason == .malformedJSON,
                "prefix of \(length) bytes")
        }
    }

    @Test(arguments: ["[]", "[1,2]", "null", "42", "-1.5", "\"a string\"", "true", "false", " [ {} ] "])
    func aValidNonObjectTopLevelIsMalformed(text: String) throws {
        let problem = try #require(
            {
                if case .failure(let problem) = EventDecoder.decode(Array(text.utf8)) { return problem }
                return nil
            }())
        #expect(problem.reason == .malformedJSON)
        #expect(problem.detail.hasSuffix("not an object"))
    }

    @Test(arguments: [
        "",
        "   ",
        "{",
        "}",
        "{\"a\":1,}",  // trailing comma
        "{\"a\" 1}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1}}",
        "{\"a\":1} x",  // trailing garbage
        "{\"a\":1}{}",
        "{\"a\":01}",  // leading zero
        "{\"a\":-01}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":1.}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":-}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":True}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":{\"b\"}}",
        "{\"a\":\"\\x\"}",  // unknown escape
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\uZZZZ\"}",
        "{\"a\":\"\\ud800\"}",  // lone high surrogate
        "{\"a\":\"\\udc00\"}",  // lone low surrogate
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"tab\there\"}",  // a raw control character
        "{\"a\":\"new\nline\"}",
        "{\"a\":\"\u{01}\"}",
        "{\"a\":\"unterminated}",
        "{\"sequence\":2,\"accountId\":\"a\",\"data\":{\"amount\":1,}}",
    ])
    func syntaxErrorsAreMalformed(text: String) {
        #expect(EventDecoder.decode(Array(text.utf8)).failureReason == .malformedJSON)
    }

    @Test func aMalformedDetailSaysWhereParsingStopped() throws {
        let result = EventDecoder.decode(Array("{\"a\":01}".utf8))
        guard case .failure(let problem) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(problem.detail == "body is not valid JSON: unexpected byte 0x31 at byte 6")
    }

    // MARK: accountId and sequence: no place in any history without them

    @Test(arguments: [
        "\"acc-000042\"", "\"A\"", "\"a.b_c:d-e\"", "\"0123456789\"", "\"" + String(repeating: "z", count: 64) + "\"",
        "\"acc\\u002d1\"",  // escapes are decoded before the check
    ])
    func validAccountIds(id: String) throws {
        let event = try #require(EventDecoder.decode(Body.event(accountId: id)).event)
        #expect(EventDecoder.isValidAccountID(event.accountId))
    }

    @Test func anEscapedAccountIdIsDecoded() throws {
        #expect(EventDecoder.decode(Body.event(accountId: "\"acc\\u002d1\"")).event?.accountId == "acc-1")
    }

    @Test(arguments: [
        nil, "null", "\"\"", "\"" + String(repeating: "z", count: 65) + "\"", "\"acc 1\"", "\"acc/1\"", "\"accé\"",
        "\"acc\\u0000\"", "42", "[\"acc-1\"]", "{}", "true",
    ])
    func invalidAccountIdsTakeNoPlace(id: String?) {
        let result = EventDecoder.decode(Body.event(accountId: id))
        #expect(
            result
                == .failure(
                    EventProblem(
                        reason: .invalidField, detail: "accountId must be 1..64 characters of A-Z a-z 0-9 . _ : -")
                ))
    }

    @Test(arguments: [("1", 1), ("9007199254740991", 9_007_199_254_740_991), ("42", 42)] as [(String, Int64)])
    func validSequences(literal: String, value: Int64) {
        let type = value == 1 ? "\"AccountOpened\"" : "\"AccountClosed\""
        #expect(EventDecoder.decode(Body.event(type: type, sequence: literal)).event?.sequence == value)
    }

    @Test(arguments: [
        nil, "null", "0", "-0", "-1", "9007199254740992", "99999999999999999999", "12.5", "1.0", "1e3", "1E3", "1e400",
        "\"12\"", "true", "[1]", "{}",
    ])
    func invalidSequencesTakeNoPlace(sequence: String?) {
        let result = EventDecoder.decode(Body.event(sequence: sequence))
        #expect(
            result == .failure(EventProblem(reason: .invalidField, detail: "sequence must be an integer in 1..2^53-1")))
    }

    @Test func theAccountIdIsCheckedBeforeTheSequence() {
        let result = EventDecoder.decode(Body.event(accountId: "\"\"", sequence: "0"))
        guard case .failure(let problem) = result else {
            Issue.record("expected a failure")
            return
        }
        #expect(problem.detail.hasPrefix("accountId"))
    }

    // MARK: Content faults: kept as the event's problem

    static func problem(_ body: [UInt8]) -> EventProblem? {
        EventDecoder.decode(body).event?.problem
    }

    @Test(arguments: ["12.5", "1e3", "1E+2", "\"12\"", "1e400", "1.0", "true", "null", "[]", "{}", nil])
    func anAmountThatIsNotAnIntegerLiteralIsInvalidField(amount: String?) {
        let data = amount.map { "{\"amount\":\($0)}" } ?? "{}"
        #expect(
            Self.problem(Body.event(data: data))
                == EventProblem(reason: .invalidField, detail: "data.amount must be an integer"))
    }

    @Test(arguments: [
        "0", "-0", "-5", "1000000000000001", "9223372036854775807", "9223372036854775808", "99999999999999999999",
        "-9223372036854775809",
    ])
    func anIntegerAmountOutsideTheRangeIsOutOfRange(amount: String) {
        #expect(
            Self.problem(Body.event(data: "{\"amount\":\(amount)}"))
                == EventProblem(reason: .amountOutOfRange, detail: "data.amount must be in 1..10^15"))
    }

    @Test(arguments: [("1", 1), ("1000000000000000", 1_000_000_000_000_000), ("1250", 1250)] as [(String, Int64)])
    func amountsInRange(literal: String, value: Int64) throws {
        let event = try #require(EventDecoder.decode(Body.event(data: "{\"amount\":\(literal)}")).event)
        #expect(event.problem == nil && event.amount == value)
    }

    @Test(arguments: [
        "2026-11-24T15:00:00Z", "2026-11-24T15:00:00.000Z", "2026-11-24T15:00:00.1Z", "2026-11-24T15:00:00.123456789Z",
        "2026-11-24t15:00:00z", "2026-11-24T15:00:00+01:00", "2026-11-24T15:00:00.5-08:30", "2026-11-24T23:59:60Z",
        "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2026-01-31T00:00:00Z", "2026-04-30T00:00:00Z",
        "0000-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59", "2026-11-24T00:00:00-00:00",
    ])
    func validTimestamps(timestamp: String) throws {
        let event = try #require(EventDecoder.decode(Body.event(occurredAt: Body.quoted(timestamp))).event)
        #expect(event.problem == nil)
        #expect(event.occurredAt == timestamp)  // kept as received
        #expect(EventDecoder.isValidTimestamp(timestamp))
    }

    @Test(arguments: [
        "", "2026-11-24", "2026-11-24T15:00:00", "2026-11-24 15:00:00Z", "2026-11-24T15:00Z", "2026-11-24T15:00:00.Z",
        "2026-11-24T15:00:00,5Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-02-30T00:00:00Z",
        "2026-11-24T24:00:00Z", "2026-11-24T15:60:00Z", "2026-11-24T15:00:61Z", "2026-11-24T15:00:00+24:00",
        "2026-11-24T15:00:00+01:60", "2026-11-24T15:00:00+0100", "2026-11-24T15:00:00+01", "2026-11-24T15:00:00ZZ",
        "2026-11-24T15:00:00Z ", " 2026-11-24T15:00:00Z", "26-11-24T15:00:00Z", "2026-1-24T15:00:00Z",
        "2026-11-24T5:00:00Z", "+2026-11-24T15:00:00Z", "2026-11-24T15:00:00.000", "2026-11-24T15:00:00UTC",
        "2026/11/24T15:00:00Z", "2026-11-24T15:00:0aZ",
    ])
    func invalidTimestampsAreInvalidField(timestamp: String) {
        #expect(
            Self.problem(Body.event(occurredAt: Body.quoted(timestamp)))
                == EventProblem(reason: .invalidField, detail: "occurredAt must be an RFC 3339 timestamp"))
        #expect(!EventDecoder.isValidTimestamp(timestamp))
    }

    @Test func aMissingTimestampIsInvalidField() {
        #expect(Self.problem(Body.event(occurredAt: nil))?.detail == "occurredAt must be an RFC 3339 timestamp")
        #expect(Self.problem(Body.event(occurredAt: "null"))?.detail == "occurredAt must be an RFC 3339 timestamp")
    }

    @Test func anEscapedTimestampIsDecodedThenChecked() throws {
        let event = try #require(EventDecoder.decode(Body.event(occurredAt: "\"2026-11-24T15:00:00\\u002e5Z\"")).event)
        #expect(event.problem == nil && event.occurredAt == "2026-11-24T15:00:00.5Z")
    }

    @Test(arguments: [1, 128])
    func eventIdsOf1To128CharactersAreValid(length: Int) throws {
        let id = String(repeating: "é", count: length)  // two bytes each: characters count, not bytes
        let event = try #require(EventDecoder.decode(Body.event(eventId: Body.quoted(id))).event)
        #expect(event.problem == nil && event.eventId == id)
    }

    @Test(arguments: ["\"\"", "\"" + String(repeating: "x", count: 129) + "\"", nil, "null"])
    func otherEventIdsAreInvalidField(eventId: String?) {
        #expect(
            Self.problem(Body.event(eventId: eventId))
                == EventProblem(reason: .invalidField, detail: "eventId must be a string of 1..128 characters"))
    }

    @Test func anOwnerOf200ScalarsIsValidAnd201IsNot() {
        let astral = "😀"  // one scalar, written as an escaped surrogate pair below
        let escapedPair = "\\ud83d\\ude00"
        let owner200 = "\"" + String(repeating: escapedPair, count: 100) + String(repeating: "ü", count: 100) + "\""
        let event = EventDecoder.decode(
            Body.event(type: "\"AccountRenamed\"", sequence: "2", data: "{\"owner\":\(owner200)}")
        ).event
        #expect(event?.problem == nil)
        #expect(event?.owner == String(repeating: astral, count: 100) + String(repeating: "ü", count: 100))
        #expect(event?.owner.unicodeScalars.count == 200)
        let owner201 = "\"" + String(repeating: escapedPair, count: 100) + String(repeating: "ü", count: 101) + "\""
        #expect(
            Self.problem(Body.event(type: "\"AccountRenamed\"", sequence: "2", data: "{\"owner\":\(owner201)}"))
                == EventProblem(reason: .invalidField, detail: "data.owner must be a string of 1..200 characters"))
    }

    @Test func escapedOwnersAreDecoded() throws {
        let data = #"{"owner":"\"Ziggy\" Stardust \\ \/ \u00e9\u4e2d \ud83d\ude00 \b\f\n\r\t","currency":"EUR"}"#
        let event = try #require(
            EventDecoder.decode(Body.event(type: "\"AccountOpened\"", sequence: "1", data: data)).event)
        #expect(event.problem == nil)
        #expect(event.owner == "\"Ziggy\" Stardust \\ / é中 😀 \u{08}\u{0C}\n\r\t")
    }

    @Test(arguments: [nil, "\"\"", "null"])
    func aMissingOrEmptyOwnerIsInvalidField(owner: String?) {
        let data = owner.map { "{\"owner\":\($0),\"currency\":\"EUR\"}" } ?? "{\"currency\":\"EUR\"}"
        #expect(
            Self.problem(Body.event(type: "\"AccountOpened\"", sequence: "1", data: data))?.detail
                == "data.owner must be a string of 1..200 characters")
    }

    @Test(arguments: ["\"EUR\"", "\"JPY\"", "\"E\\u0055R\""])
    func validCurrencies(currency: String) {
        let data = "{\"owner\":\"Ada\",\"currency\":\(currency)}"
        #expect(
            EventDecoder.decode(Body.event(type: "\"AccountOpened\"", sequence: "1", data: data)).event?.currency.count
                == 3)
        #expect(Self.problem(Body.event(type: "\"AccountOpened\"", sequence: "1", data: data)) == nil)
    }

    @Test(arguments: ["\"eur\"", "\"EU\"", "\"EURO\"", "\"\"", "\"E1R\"", "\"ÉUR\"", "null", nil])
    func invalidCurrenciesAreInvalidField(currency: String?) {
        let data = currency.map { "{\"owner\":\"Ada\",\"currency\":\($0)}" } ?? "{\"owner\":\"Ada\"}"
        #expect(
            Self.problem(Body.event(type: "\"AccountOpened\"", sequence: "1", data: data))
                == EventProblem(reason: .invalidField, detail: "data.currency must be three letters A-Z"))
    }

    @Test(arguments: ["\"Bogus\"", "\"accountOpened\"", "\"\"", nil, "null", "\"AccountOpened \""])
    func anUnknownTypeIsUnknownType(type: String?) throws {
        let event = try #require(EventDecoder.decode(Body.event(type: type)).event)
        #expect(event.type == nil)
        #expect(event.problem?.reason == .unknownType)
        #expect(event.problem?.detail.hasPrefix("unknown event type \"") == true)
    }

    @Test func aLongUnknownTypeIsCutInTheDetail() throws {
        let type = String(repeating: "\\u0001", count: 5_000)
        let problem = try #require(Self.problem(Body.event(type: "\"\(type)\"")))
        #expect(problem.reason == .unknownType)
        #expect(problem.detail.utf8.count < 500)
    }

    // MARK: Order of the checks (docs/events.md#decoding-details)

    @Test func unknownTypeComesBeforeOtherFieldFaults() {
        #expect(
            Self.problem(Body.event(eventId: "\"\"", type: "\"Bogus\"", occurredAt: "\"x\"", data: nil))?.reason
                == .unknownType)
    }

    @Test func eventIdComesBeforeTheTimestamp() {
        #expect(Self.problem(Body.event(eventId: "\"\"", occurredAt: "\"x\""))?.detail.hasPrefix("eventId") == true)
    }

    @Test func theTimestampComesBeforeTheOpeningRule() {
        #expect(
            Self.problem(Body.event(type: "\"AccountOpened\"", sequence: "2", occurredAt: "\"x\""))?.detail.hasPrefix(
                "occurredAt") == true)
    }

    @Test func theOpeningRuleComesBeforeData() {
        let detail = "sequence 1 is AccountOpened, and AccountOpened is sequence 1"
        #expect(
            Self.problem(Body.event(type: "\"AccountOpened\"", sequence: "2", data: "{}"))
                == EventProblem(reason: .invalidField, detail: detail))
        #expect(
            Self.problem(Body.event(type: "\"MoneyDeposited\"", sequence: "1", data: "{\"amount\":0}"))
                == EventProblem(reason: .invalidField, detail: detail))
        #expect(
            Self.problem(Body.event(type: "\"AccountClosed\"", sequence: "1"))
                == EventProblem(reason: .invalidField, detail: detail))
    }

    @Test func aKnownMemberOfTheWrongJSONTypeComesFirstAsInTheGoPeer() {
        #expect(
            Self.problem(Body.event(eventId: "5", type: "\"Bogus\""))
                == EventProblem(reason: .invalidField, detail: "eventId must not be a JSON number"))
        #expect(
            Self.problem(Body.event(type: "42"))
                == EventProblem(reason: .invalidField, detail: "type must not be a JSON number"))
        // The first one in the text is reported, as Go's decoder keeps its first error.
        #expect(
            Self.problem(Body.event(eventId: "[1]", type: "42"))
                == EventProblem(reason: .invalidField, detail: "eventId must not be a JSON array"))
        #expect(
            Self.problem(Body.event(occurredAt: "[]"))
                == EventProblem(reason: .invalidField, detail: "occurredAt must not be a JSON array"))
        #expect(
            Self.problem(Body.event(data: "{\"amount\":5,\"owner\":true}"))
                == EventProblem(reason: .invalidField, detail: "data.owner must not be a JSON bool"))
        #expect(
            Self.problem(Body.event(data: "{\"amount\":5,\"currency\":{}}"))
                == EventProblem(reason: .invalidField, detail: "data.currency must not be a JSON object"))
    }

    // MARK: data

    @Test(arguments: [nil, "null", "{}", "{\"note\":[1,2]}"])
    func aCloseAcceptsDataAbsentNullOrAnObject(data: String?) throws {
        let event = try #require(
            EventDecoder.decode(Body.event(type: "\"AccountClosed\"", sequence: "6", data: data)).event)
        #expect(event.problem == nil)
    }

    @Test(arguments: ["[]", "\"\"", "5", "true"])
    func aCloseRefusesDataThatIsNotAnObject(data: String) {
        #expect(Self.problem(Body.event(type: "\"AccountClosed\"", sequence: "6", data: data))?.reason == .invalidField)
    }

    @Test(arguments: ["\"AccountOpened\"", "\"MoneyDeposited\"", "\"MoneyWithdrawn\"", "\"AccountRenamed\""])
    func otherTypesNeedDataToBeAnObject(type: String) {
        let sequence = type == "\"AccountOpened\"" ? "1" : "2"
        for data in [nil, "null"] as [String?] {
            #expect(
                Self.problem(Body.event(type: type, sequence: sequence, data: data))
                    == EventProblem(reason: .invalidField, detail: "data must be an object"))
        }
        #expect(
            Self.problem(Body.event(type: type, sequence: sequence, data: "[]"))
                == EventProblem(reason: .invalidField, detail: "data must not be a JSON array"))
    }

    // MARK: Unknown and repeated members

    @Test func unknownMembersAnywhereAreIgnored() throws {
        let body = Body.event(
            data: #"{"note":{"deep":[1,-2.5e-3,{"x":null}],"s":"\u00e9\n"},"amount":77,"tags":[]}"#,
            extra: #""meta":{"a":[true,false,null,{},[]],"b":"\ud83d\ude00"},"traceparent":"00-abc","n":-0.0"#
        )
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.problem == nil && event.amount == 77)
    }

    @Test func deeplyNestedUnknownValuesAreSkippedWithoutRecursion() throws {
        let depth = 20_000
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let event = try #require(EventDecoder.decode(Body.event(extra: "\"deep\":\(nested)")).event)
        #expect(event.problem == nil)
        let unbalanced = String(repeating: "[", count: depth) + String(repeating: "]", count: depth - 1)
        #expect(EventDecoder.decode(Body.event(extra: "\"deep\":\(unbalanced)")).failureReason == .malformedJSON)
    }

    @Test func aSyntaxErrorInsideAnUnknownMemberIsMalformed() {
        #expect(EventDecoder.decode(Body.event(extra: "\"meta\":{\"a\":[1,]}")).failureReason == .malformedJSON)
    }

    @Test func theLastDuplicateKeyWins() throws {
        let body = Body.event(
            sequence: "7", data: "{\"amount\":1,\"amount\":2}", extra: "\"sequence\":3,\"accountId\":\"acc-9\"")
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.sequence == 3 && event.accountId == "acc-9" && event.amount == 2)
    }

    @Test func aRepeatedDataObjectReplacesTheFirstAsAWhole() throws {
        let body = Body.event(
            type: "\"AccountOpened\"", sequence: "1", data: "{\"owner\":\"Ada\",\"currency\":\"EUR\"}",
            extra: "\"data\":{\"owner\":\"Grace\"}")
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.problem?.detail == "data.currency must be three letters A-Z")
    }

    @Test func aLaterValidValueDoesNotHideAnEarlierBadOne() throws {
        // `sequence` last wins: an invalid last copy fails the body even after a valid one.
        #expect(
            EventDecoder.decode(Body.event(sequence: "2", extra: "\"sequence\":\"2\"")).failureReason == .invalidField)
    }

    @Test func escapedMemberNamesAreRecognized() throws {
        let body = Array(
            #"{"event\u0049d":"e","\u0074ype":"AccountClosed","accountId":"a","sequence":4,"occurredAt":"2026-01-01T00:00:00Z"}"#
                .utf8)
        let event = try #require(EventDecoder.decode(body).event)
        #expect(event.eventId == "e" && event.type == .accountClosed && event.problem == nil)
    }

    @Test func memberNamesAreCaseSensitive() {
        let body = Array(#"{"AccountId":"a","accountId":"b","Sequence":9,"sequence":4}"#.utf8)
        #expect(EventDecoder.decode(body).event?.accountId == "b")
        #expect(EventDecoder.decode(body).event?.sequence == 4)
    }

    @Test func anEmptyObjectHasNoPlace() {
        #expect(EventDecoder.decode(Array("{}".utf8)).failureReason == .invalidField)
    }
}
