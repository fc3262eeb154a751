/// How to reach and talk to the broker.
///
/// - `url`: where, and as whom (see ``AMQPURL``). Default `amqp://guest:guest@127.0.0.1:5672/%2f`.
/// - `nodes`: every node of a cluster (``AMQPURLList``), `[url]` for one broker; callers that
///   fail over connect with ``node(_:)`` of the one ``AMQPNodeRotation`` picks.
/// - `heartbeat`: seconds between heartbeats we ask the broker for; 0 turns them off.
///   Default 30; the URL's `heartbeat` parameter wins over it.
/// - `connectTimeout`: TCP connect plus TLS and AMQP handshake (login). Default 5 s;
///   the URL's `connection_timeout` wins over it.
/// - `rpcTimeout`: the longest wait for the broker's answer to a method (declare,
///   bind, qos, consume…). Default 30 s.
/// - `tls`: certificate checks and files for `amqps://`.
/// - `connectionName`: shown in the broker's management UI.
/// - `blockedTimeout`: how long publishes may wait while the broker blocks publishing
///   (`connection.blocked`: a memory or disk alarm) before they fail with
///   ``AMQPError/blocked(reason:waited:)``. Default 60 s; nil waits as long as it takes.
/// - `confirmTimeout`: how long written publishes may go without a confirm (none for any of
///   them, and nothing written since) before the connection ends with
///   ``AMQPError/confirmsStalled(unconfirmed:waited:)``. Default 60 s; nil waits as long as it takes.
/// - `maxBodyBytes`: the most bytes of a delivered body kept in memory; the rest is read
///   and dropped as it arrives, and ``AMQPDelivery/bodySize`` says how large it was. Default nil (all).
/// - `threadNice`: nice value of the connection's thread (``ThreadPriority``). Default 0 (as it is).
public struct AMQPConfiguration: Sendable {
    public var url: AMQPURL
    public var nodes: [AMQPURL]
    public var heartbeat: Int
    public var connectTimeout: Duration
    public var rpcTimeout: Duration
    public var tls: TLS
    public var connectionName: String
    /// Largest frame we accept; bodies above it arrive in several frames.
    public var frameMax: Int
    public var blockedTimeout: Duration?
    public var confirmTimeout: Duration? = .seconds(60)
    public var maxBodyBytes: Int?
    public var threadNice: Int32 = 0

    /// TLS settings, used with `amqps://` only.
    ///
    /// - `caFile`: PEM file of the CAs trusted for the broker's certificate. It replaces
    ///   the system's CAs; when nil, the system bundle (`/etc/ssl/certs/ca-certificates.crt`) is used.
    /// - `certFile`, `keyFile`: a client certificate and its key (PEM), for brokers that ask for one.
    /// - `verifyPeer`: check the broker's certificate chain and host name (default true).
    public struct TLS: Sendable, Equatable {
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public var verifyPeer: Bool

        public static let systemCABundle = "/etc/ssl/certs/ca-certificates.crt"

        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, verifyPeer: Bool = true) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.verifyPeer = verifyPeer
        }
    }

    public init(
        url: AMQPURL = AMQPURL(),
        heartbeat: Int = 30,
        connectTimeout: Duration = .seconds(5),
        rpcTimeout: Duration = .seconds(30),
        tls: TLS = TLS(),
        connectionName: String = "swift-amqp",
        frameMax: Int = 131_072,
        blockedTimeout: Duration? = .seconds(60),
        maxBodyBytes: Int? = nil
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.url = url
        self.nodes = [url]
        self.heartbeat = url.heartbeat ?? heartbeat
        if let ms = url.connectionTimeoutMilliseconds {
            self.connectTimeout = .milliseconds(ms)
        } else {
            self.connectTimeout = connectTimeout
        }
        self.rpcTimeout = rpcTimeout
        self.tls = tls
        self.connectionName = connectionName
        self.frameMax = frameMax
        self.blockedTimeout = blockedTimeout
    }

    /// Checks what can be checked before connecting: heartbeat range, TLS files readable.
    public func validate() throws(AMQPError) {
        guard (0...65535).contains(heartbeat) else {
            throw .invalidConfiguration(reason: "heartbeat \(heartbeat) is not in 0..65535 seconds")
        }
        guard connectTimeout > .zero else {
            throw .invalidConfiguration(reason: "connect timeout must be positive")
        }
        guard url.isTLS || nodes.contains(where: \.isTLS) else { return }
        for (name, path) in [("CA file", tls.caFile), ("certificate file", tls.certFile), ("key file", tls.keyFile)] {
            if let path, !fileIsReadable(path) {
                throw .invalidConfiguration(reason: "TLS \(name) '\(path)' does not exist or is not readable")
            }
        }
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            throw .invalidConfiguration(
                reason: "a TLS client certificate needs both a certificate file and a key file"
            )
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

func fileIsReadable(_ path: String) -> Bool {
    access(path, R_OK) == 0
}
