public import AMQP

/// How an event body travels as an AMQP message (docs/events.md#field-rules): routing key
/// `account.<kind>`, `content_type: application/json`, persistent, `message_id` the
/// event id, `type` the event type, `timestamp` the event's `occurredAt` in seconds.
public enum EventMessage {
    public static let routingKeys: [String: String] = [
        "AccountOpened": "account.opened",
        "MoneyDeposited": "account.deposited",
        "MoneyWithdrawn": "account.withdrawn",
        "AccountRenamed": "account.renamed",
        "AccountClosed": "account.closed",
    ]

    /// `account.<kind>` for a known event type, `account.unknown` otherwise.
    public static func routingKey(forType type: String?) -> String {
        type.flatMap { routingKeys[$0] } ?? "account.unknown"
    }

    /// The message for an event body. The fields are what the caller could read from the
    /// body; any of them may be nil for a malformed body, which is still published as it is.
    public static func message(
        body: [UInt8],
        exchange: String,
        eventID: String?,
        type: String?,
        occurredAt: String?,
        headers: AMQPTable? = nil
    ) -> AMQPMessage {
        AMQPMessage(
            exchange: exchange,
            routingKey: routingKey(forType: type),
            body: body,
            properties: AMQPProperties(
                contentType: "application/json",
                headers: headers,
                deliveryMode: 2,
                messageID: eventID,
                timestamp: occurredAt.flatMap(unixSeconds(rfc3339:)),
                type: type),
            mandatory: true)
    }

    /// Seconds since the Unix epoch of an RFC 3339 timestamp (`2026-11-24T15:00:00.250Z`,
    /// `…+01:00`); nil when it is not one or lies before 1970.
    public static func unixSeconds(rfc3339 text: String) -> UInt64? {
        let b = Array(text.utf8)
        guard b.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for i in from..<from + count {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard let year = number(0, 4), b[4] == 45, let month = number(5, 2), b[7] == 45, let day = number(8, 2),
            b[10] == 84 || b[10] == 116, let hour = number(11, 2), b[13] == 58, let minute = number(14, 2),
            b[16] == 58, let second = number(17, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var index = 19
        if index < b.count, b[index] == 46 {
            index += 1
            while index < b.count, b[index] >= 48, b[index] <= 57 { index += 1 }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        if b[index] == 90 || b[index] == 122 {
            guard index + 1 == b.count else { return nil }
        } else if b[index] == 43 || b[index] == 45, index + 6 == b.count, let oh = number(index + 1, 2),
            b[index + 3] == 58, let om = number(index + 4, 2)
        {
            offsetSeconds = (oh * 3600 + om * 60) * (b[index] == 43 ? 1 : -1)
        } else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds < 0 ? nil : UInt64(seconds)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
