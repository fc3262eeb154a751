import AccountProjection
import JSON

/// Event bodies for the tests. Each member is a raw JSON fragment, so a test can put
/// any value (or none: nil) in any place.
enum Body {
    static let time = "\"2026-11-24T15:00:00.000Z\""

    static func event(
        eventId: String? = "\"9b2e4c1a-0d7f-4f7e-9a53-3f0e6f2f1c11\"",
        type: String? = "\"MoneyDeposited\"",
        accountId: String? = "\"acc-1\"",
        sequence: String? = "2",
        occurredAt: String? = time,
        data: String? = "{\"amount\":1250}",
        extra: String? = nil
    ) -> [UInt8] {
        var members: [String] = []
        if let eventId { members.append("\"eventId\":\(eventId)") }
        if let type { members.append("\"type\":\(type)") }
        if let accountId { members.append("\"accountId\":\(accountId)") }
        if let sequence { members.append("\"sequence\":\(sequence)") }
        if let occurredAt { members.append("\"occurredAt\":\(occurredAt)") }
        if let data { members.append("\"data\":\(data)") }
        if let extra { members.append(extra) }
        return Array("{\(members.joined(separator: ","))}".utf8)
    }

    static func opened(
        _ id: String = "acc-1",
        sequence: Int64 = 1,
        owner: String = "Ada Lovelace",
        currency: String = "EUR",
        at time: String = "2026-11-24T15:00:00.000Z"
    ) -> [UInt8] {
        event(
            type: "\"AccountOpened\"",
            accountId: quoted(id),
            sequence: "\(sequence)",
            occurredAt: quoted(time),
            data: "{\"owner\":\(quoted(owner)),\"currency\":\(quoted(currency))}"
        )
    }

    static func deposited(
        _ id: String = "acc-1", sequence: Int64, amount: Int64, at time: String = "2026-11-24T15:00:01.000Z"
    ) -> [UInt8] {
        event(
            type: "\"MoneyDeposited\"", accountId: quoted(id), sequence: "\(sequence)", occurredAt: quoted(time),
            data: "{\"amount\":\(amount)}")
    }

    static func withdrawn(
        _ id: String = "acc-1", sequence: Int64, amount: Int64, at time: String = "2026-11-24T15:00:02.000Z"
    ) -> [UInt8] {
        event(
            type: "\"MoneyWithdrawn\"", accountId: quoted(id), sequence: "\(sequence)", occurredAt: quoted(time),
            data: "{\"amount\":\(amount)}")
    }

    static func renamed(
        _ id: String = "acc-1", sequence: Int64, owner: String, at time: String = "2026-11-24T15:00:03.000Z"
    ) -> [UInt8] {
        event(
            type: "\"AccountRenamed\"", accountId: quoted(id), sequence: "\(sequence)", occurredAt: quoted(time),
            data: "{\"owner\":\(quoted(owner))}")
    }

    static func closed(_ id: String = "acc-1", sequence: Int64, at time: String = "2026-11-24T15:00:04.000Z") -> [UInt8]
    {
        event(
            type: "\"AccountClosed\"", accountId: quoted(id), sequence: "\(sequence)", occurredAt: quoted(time),
            data: "{}")
    }

    /// A JSON string literal, escaped by the module's own writer.
    static func quoted(_ text: String) -> String {
        var buffer: [UInt8] = []
        JSONWriter.writeString(text, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

extension Result where Success == Event, Failure == EventProblem {
    /// The decoded event, or nil for a failure.
    var event: Event? {
        if case .success(let event) = self { return event }
        return nil
    }

    /// The reason of a failure, or nil for an event.
    var failureReason: RejectionReason? {
        if case .failure(let problem) = self { return problem.reason }
        return nil
    }
}
