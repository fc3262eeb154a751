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
    "TLS to the broker", .tags(.broker, .fault), .timeLimit(.minutes(10)), .serialized,
    .enabled(if: TestBroker.isCI || environment("TEST_BROKER_SCRIPT") != nil))
struct TLSTests {
    /// The broker's AMQP and TLS ports: TLS_TEST_PORT and TLS_TEST_TLS_PORT, to run beside other brokers.
    static let port = environment("TLS_TEST_PORT").flatMap { Int($0) } ?? 5689
    static let tlsPort = environment("TLS_TEST_TLS_PORT").flatMap { Int($0) } ?? 5699
    static let directory = "/tmp/accountservice-tls-test-\(port)"

    /// A CA, a server certificate for localhost and 127.0.0.1 signed by it, another for
    /// other.example and 10.9.8.7 signed by it, and another CA.
    private func makeCertificates() async throws {
        let script = """
            set -e
            rm -rf \(Self.directory) && mkdir -p \(Self.directory) && cd \(Self.directory)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
            openssl req -newkey rsa:2048 -nodes -keyout elsewhere.key -out elsewhere.csr -subj /CN=other.example
            printf 'subjectAltName=DNS:other.example,IP:10.9.8.7\\n' > elsewhere.cnf
            openssl x509 -req -in elsewhere.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out elsewhere.pem -days 2 -extfile elsewhere.cnf
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca
            chmod 644 *.key
            """
        let result = try await runProcess("/bin/sh", ["-c", script], timeout: 60)
        #expect(result.status == 0, "openssl: \(result.err)")
    }

    private func broker(_ command: String, certificate: String = "server") async throws {
        let script = try #require(environment("TEST_BROKER_SCRIPT"), "TEST_BROKER_SCRIPT is not set (run scripts/test)")
        let conf = """
            listeners.ssl.default = \(Self.tlsPort)
            ssl_options.cacertfile = \(Self.directory)/ca.pem
            ssl_options.certfile = \(Self.directory)/\(certificate).pem
            ssl_options.keyfile = \(Self.directory)/\(certificate).key
            ssl_options.verify = verify_none
            ssl_options.fail_if_no_peer_cert = false
            """
        let result = try await runProcess(
            script, [command, "\(Self.port)"], environment: ["BROKER_EXTRA_CONF": conf], timeout: 180)
        #expect(result.status == 0, "scripts/broker \(command): \(result.out) \(result.err)")
    }

    private func configuration(
        ca: String, verify: Bool = true, host: String = "localhost"
    ) throws
        -> AMQPConfiguration
    {
        var configuration = AMQPConfiguration(
            url: try AMQPURL(parsing: "amqps://guest:guest@\(host):\(Self.tlsPort)/%2f"),
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

    @Test(
        "the broker's name is checked by IP and by name: each connects when the certificate names it, else is refused")
    func peerNameByIPAndByName() async throws {
        try await startBroker()
        for host in ["127.0.0.1", "localhost"] {
            let connection = try await AMQPConnection.connect(try configuration(ca: "ca.pem", host: host))
            let channel = try await connection.openChannel()
            let queue = TestBroker.uniqueName("tls-\(host)")
            try await channel.declareQueue(queue, durable: false, autoDelete: true)
            await connection.close()
            // The right name, the wrong CA: refused all the same.
            await #expect(throws: AMQPError.self, "\(host) with another CA") {
                _ = try await AMQPConnection.connect(try configuration(ca: "other-ca.pem", host: host))
            }
        }
        try await broker("down")

        // A certificate for other.example and 10.9.8.7, from the right CA: neither name is the one dialled.
        try await broker("up", certificate: "elsewhere")
        for host in ["127.0.0.1", "localhost"] {
            do {
                let connection = try await AMQPConnection.connect(try configuration(ca: "ca.pem", host: host))
                Issue.record("\(host) connected against a certificate for other names")
                await connection.close()
            } catch {
                print("TLSTests: \(host) against a certificate for other names: \(error)")
                guard case .tlsFailed(_, _, let reason) = error as? AMQPError else {
                    Issue.record("not a TLS failure: \(error)")
                    continue
                }
                #expect(reason.contains("name '\(host)'"), "\(reason)")
            }
            let unchecked = try await AMQPConnection.connect(try configuration(ca: "ca.pem", verify: false, host: host))
            #expect(unchecked.isOpen, "verification off connects to \(host)")
            await unchecked.close()
        }
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
        #expect(wrong.get("/ready")?.bodyText.contains("verification failed") == true)
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
