/// The five event types of docs/events.md#field-rules.
public enum EventType: String, Sendable, Hashable, CaseIterable {
    case accountOpened = "AccountOpened"
    case moneyDeposited = "MoneyDeposited"
    case moneyWithdrawn = "MoneyWithdrawn"
    case accountRenamed = "AccountRenamed"
    case accountClosed = "AccountClosed"
}

/// Why an event cannot be applied: the `x-error` code and the `x-error-detail` sentence.
public struct EventProblem: Sendable, Equatable, Error {
    public var reason: RejectionReason
    /// A human sentence, e.g. "data.amount must be in 1..10^15".
    public var detail: String

    public init(reason: RejectionReason, detail: String) {
        self.reason = reason
        self.detail = detail
    }
}

/// An event whose `accountId` and `sequence` are valid, so it has a place in that
/// account's history.
///
/// Any other fault is kept in `problem` rather than failing the decoding: the event
/// still takes its place (the version moves past it), and it is rejected only when its
/// turn comes (docs/events.md#rejections-and-the-invalid-queue).
public struct Event: Sendable, Equatable {
    /// As received when it was a JSON string, else empty.
    public var eventId: String {
        get { packedEventId.text }
        set { packedEventId = PackedEventID(newValue) }
    }
    /// `eventId` without a heap string for a lowercase UUID (`PackedEventID`).
    var packedEventId: PackedEventID
    /// Nil when the type is missing or not one of the five.
    public var type: EventType?
    public var accountId: String
    /// 1 ... 2^53-1.
    public var sequence: Int64
    /// As received when it was a JSON string (valid or not), else empty.
    public var occurredAt: String {
        get { CompactTimestamp.unpack(packedOccurredAt) }
        set { packedOccurredAt = CompactTimestamp.pack(newValue) }
    }
    /// `occurredAt` as an account record stores it (`CompactTimestamp`), so applying an
    /// event copies it without packing it again.
    var packedOccurredAt: String
    /// `AccountOpened` and `AccountRenamed` without a problem; empty otherwise.
    public var owner: String
    /// `AccountOpened` without a problem; empty otherwise.
    public var currency: String
    /// `MoneyDeposited` and `MoneyWithdrawn` without a problem (1 ... 10^15); 0 otherwise.
    public var amount: Int64
    /// The first content fault, in the order of docs/events.md#decoding-details; nil when the event
    /// can be applied (the projection may still refuse it: closed account, never opened,
    /// balance overflow).
    public var problem: EventProblem?

    public init(
        eventId: String,
        type: EventType?,
        accountId: String,
        sequence: Int64,
        occurredAt: String,
        owner: String = "",
        currency: String = "",
        amount: Int64 = 0,
        problem: EventProblem? = nil
    ) {
        self.init(
            packedEventId: PackedEventID(eventId), type: type, accountId: accountId, sequence: sequence,
            packedOccurredAt: CompactTimestamp.pack(occurredAt), owner: owner, currency: currency, amount: amount,
            problem: problem)
    }

    /// The decoder's: `eventId` and `occurredAt` already in the forms an event keeps.
    init(
        packedEventId: PackedEventID,
        type: EventType?,
        accountId: String,
        sequence: Int64,
        packedOccurredAt: String,
        owner: String,
        currency: String,
        amount: Int64,
        problem: EventProblem?
    ) {
        self.packedEventId = packedEventId
        self.type = type
        self.accountId = accountId
        self.sequence = sequence
        self.packedOccurredAt = packedOccurredAt
        self.owner = owner
        self.currency = currency
        self.amount = amount
        self.problem = problem
    }
}

extension Event {
    /// Decodes and validates a body; the same as `EventDecoder.decode(_:)`.
    @inlinable
    public static func decode(_ body: UnsafeRawBufferPointer) -> Result<Event, EventProblem> {
        EventDecoder.decode(body)
    }

    /// Decodes and validates a body; the same as `EventDecoder.decode(_:)`.
    @inlinable
    public static func decode(_ body: [UInt8]) -> Result<Event, EventProblem> {
        EventDecoder.decode(body)
    }
}

extension Event {
    /// Bytes the event holds beyond its own size: its strings (a parked event counts them).
    public var heldBytes: Int {
        // The texts' lengths, counted from the kept forms: a parked event's cost is not two
        // Strings made and freed.
        MemoryLayout<Event>.stride + packedEventId.utf8Count + accountId.utf8.count
            + CompactTimestamp.textCount(packedOccurredAt)
            + owner.utf8.count + currency.utf8.count + (problem?.detail.utf8.count ?? 0)
    }
}
