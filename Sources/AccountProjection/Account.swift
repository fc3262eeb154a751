/// An account as the read API shows it (docs/read-api.md): exactly these eight fields.
public struct Account: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case open
        case closed
    }

    public var id: String
    public var owner: String
    public var currency: String
    /// In minor units (cents); may be negative: events are facts.
    public var balance: Int64
    public var status: Status
    /// The sequence of the last event that took its place in this account's history.
    public var version: Int64
    /// The opening event's `occurredAt`, echoed as received.
    public var openedAt: String
    /// The last applied event's `occurredAt`, echoed as received.
    public var updatedAt: String

    public init(
        id: String,
        owner: String,
        currency: String,
        balance: Int64,
        status: Status,
        version: Int64,
        openedAt: String,
        updatedAt: String
    ) {
        self.id = id
        self.owner = owner
        self.currency = currency
        self.balance = balance
        self.status = status
        self.version = version
        self.openedAt = openedAt
        self.updatedAt = updatedAt
    }
}

/// Why an event went to the invalid-events queue: the `x-error` header
/// (docs/events.md#rejections-and-the-invalid-queue).
public enum RejectionReason: String, Sendable, Hashable, CaseIterable {
    case malformedJSON = "malformed_json"
    case tooLarge = "too_large"
    case unknownType = "unknown_type"
    case invalidField = "invalid_field"
    case accountClosed = "account_closed"
    case sequenceGap = "sequence_gap"
    case amountOutOfRange = "amount_out_of_range"
}
