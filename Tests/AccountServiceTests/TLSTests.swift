import AMQP
import AccountMessaging
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// amqps:// against a RabbitMQ of the suite's own with a TLS listener, using a CA and
/// certificates the test makes with openssl (scripts/test passes the broker script in
/// TEST_BROKER_SCRIPT).
@Suite(
    "TLS to the broker", .serialized,
    .enabled(if: TestBroker.isCI || environment("TEST_BROKER_SCRIPT") != nil))
struct TLSTests {
    static let port = 5689
    static let tlsPort = 5699
    static let directory = "/tmp/accountservice-tls-test"

    /// A CA, a server certificate for localhost and 127.0.0.1 signed by it, and another CA.
    private func makeCertificates() async throws {
        let script = """
            set -e
            rm -rf \(Self.directory) && mkdir -p \(Self.directory) && cd \(Self.directory)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca
            chmod 644 *.key
            """
        let result = try await runProcess("/bin/sh", ["-c", script], timeout: 60)
        #expect(result.status == 0, "openssl: \(result.err)")
    }

    private func broker(_ command: String) async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let conf = """
            listeners.ssl.default = \(Self.tlsPort)
            ssl_options.cacertfile = \(Self.directory)/ca.pem
            ssl_options.certfile = \(Self.directory)/server.pem
            ssl_options.keyfile = \(Self.directory)/server.key
            ssl_options.verify = verify_none
            ssl_options.fail_if_no_peer_cert = false
            """
        let result = try await runProcess(
            script, [command, "\(Self.port)"], environment: ["BROKER_EXTRA_CONF": conf], timeout: 180)
        #expect(result.status == 0, "scripts/broker \(command): \(result.out) \(result.err)")
    }

    private func configuration(ca: String, verify: Bool = true) throws -> AMQPConfiguration {
        var configuration = AMQPConfiguration(
            url: try AMQPURL(parsing: "amqps://guest:guest@localhost:\(Self.tlsPort)/%2f"),
            connectTimeout: .seconds(5))
        configuration.tls = .init(caFile: "\(Self.directory)/\(ca)", verifyPeer: verify)
        return configuration
    }

    /// Fresh certificates, and a broker (re)started with them.
    private func startBroker() async throws {
        try await broker("down")
        try await makeCertificates()
        try await broker("up")
    }

    @Test("the right CA connects and carries messages; a wrong CA is refused; verification off connects")
    func tlsClient() async throws {
        try await startBroker()

        let connection = try await AMQPConnection.connect(try configuration(ca: "ca.pem"))
        let channel = try await connection.openChannel()
        let queue = TestBroker.uniqueName("tls")
        try await channel.declareQueue(queue, durable: false, autoDelete: true)
        try await channel.enablePublisherConfirms()
        #expect(try await channel.publish(AMQPMessage(exchange: "", routingKey: queue, body: [1, 2, 3])) == .confirmed)
        try await channel.qos(prefetchCount: 1)
        var iterator = try await channel.consume(queue: queue).makeAsyncIterator()
        #expect(try await iterator.next()?.body == [1, 2, 3])
        await connection.close()

        await #expect {
            _ = try await AMQPConnection.connect(try configuration(ca: "other-ca.pem"))
        } throws: { error in
            guard case .tlsFailed(_, _, let reason) = error as? AMQPError else { return false }
            return reason.contains("verification failed")
        }

        let unchecked = try await AMQPConnection.connect(try configuration(ca: "other-ca.pem", verify: false))
        #expect(unchecked.isOpen)
        await unchecked.close()
        try await broker("down")
    }

    @Test("the service with a wrong CA keeps serving, says DISCONNECTED and why; with the right CA it is READY")
    func tlsService() async throws {
        try await startBroker()
        let topology = uniqueTopology("tls")
        let url = "amqps://guest:guest@localhost:\(Self.tlsPort)/%2f"
        let wrong = try await ServiceProcess(
            topology: topology, replica: "tls-wrong",
            extraEnvironment: ["AMQP_URL": url, "AMQP_TLS_CA_FILE": "\(Self.directory)/other-ca.pem"])
        #expect(await wrong.wait(timeout: .seconds(10)) { wrong.log.contains("verification failed") }, "\(wrong.log)")
        #expect(wrong.get("/ready")?.bodyText == #"{"status":"DISCONNECTED"}"#)
        #expect(wrong.get("/health")?.status == 200)
        #expect(await wrong.terminate() == 0)

        let right = try await ServiceProcess(
            topology: topology, replica: "tls-right",
            extraEnvironment: ["AMQP_URL": url, "AMQP_TLS_CA_FILE": "\(Self.directory)/ca.pem"])
        #expect(await right.wait(timeout: .seconds(20)) { right.get("/ready")?.status == 200 }, "\(right.log)")
        #expect(await right.terminate() == 0)
        try await broker("down")
    }
}
