/// What the status page shows beside the counters: the process, the broker connection,
/// the stream's position and the parked events, as read at one moment.
public struct OperatorStatus: Sendable, Equatable {
    /// This build's version (`accountservice --version`).
    public var version: String
    /// Seconds since the service started.
    public var uptimeSeconds: Int64
    /// The broker as `host:port`, never with credentials; nil when unknown.
    public var broker: String?
    public var brokerVhost: String?
    public var brokerTLS: Bool
    /// Times the connection to the broker was lost since the start.
    public var reconnects: Int
    /// The last error that failed or ended a connection to the broker, nil while none did.
    public var lastConnectionError: String?
    /// Seconds since that error.
    public var lastConnectionErrorAgeSeconds: Int64?
    /// The stream's last offset as last probed; nil while unknown (or the stream is empty).
    public var tailOffset: Int64?
    /// Offsets between the tail and the last offset handled; nil while the tail is unknown.
    public var lag: Int64?
    /// How many accounts hold parked events.
    public var parkedAccounts: Int
    /// The accounts whose oldest parked event has waited longest, longest first.
    public var longestParked: [WaitingAccount]

    /// An account holding parked events, and how long its oldest one has waited (events
    /// restored from a snapshot count from the service's start).
    public struct WaitingAccount: Sendable, Equatable {
        public var accountId: String
        public var parked: Int
        public var waitingSeconds: Int64

        public init(accountId: String, parked: Int, waitingSeconds: Int64) {
            self.accountId = accountId
            self.parked = parked
            self.waitingSeconds = waitingSeconds
        }
    }

    public init(
        version: String = BuildInfo.version, uptimeSeconds: Int64 = 0, broker: String? = nil,
        brokerVhost: String? = nil, brokerTLS: Bool = false, reconnects: Int = 0,
        lastConnectionError: String? = nil, lastConnectionErrorAgeSeconds: Int64? = nil, tailOffset: Int64? = nil,
        lag: Int64? = nil, parkedAccounts: Int = 0,
        longestParked: [WaitingAccount] = []
    ) {
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.broker = broker
        self.brokerVhost = brokerVhost
        self.brokerTLS = brokerTLS
        self.reconnects = reconnects
        self.lastConnectionError = lastConnectionError
        self.lastConnectionErrorAgeSeconds = lastConnectionErrorAgeSeconds
        self.tailOffset = tailOffset
        self.lag = lag
        self.parkedAccounts = parkedAccounts
        self.longestParked = longestParked
    }

    /// How many of the longest-waiting accounts the page lists.
    public static let parkedAccountsShown = 10
}
