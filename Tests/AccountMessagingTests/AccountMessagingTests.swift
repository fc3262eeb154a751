import AMQP
import Testing

@testable import AccountMessaging

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Broker settings from flags and environment")
struct BrokerSettingsTests {
    @Test("defaults: the documented URL, heartbeat 30 s, TLS verification on")
    func defaults() throws {
        let configuration = try BrokerSettings.configuration(
            connectionName: "t", flags: { _ in nil }, environment: Environment([:]))
        #expect(configuration.url == (try AMQPURL(parsing: AMQPURL.defaultURL)))
        #expect(configuration.heartbeat == 30)
        #expect(configuration.tls.verifyPeer)
        #expect(configuration.connectionName == "t")
    }

    @Test("a flag wins over the environment")
    func flagWins() throws {
        let configuration = try BrokerSettings.configuration(
            connectionName: "t", flags: { $0 == "amqp-url" ? "amqp://flag:pw@flaghost:1234/v" : nil },
            environment: Environment(["AMQP_URL": "amqp://env@envhost/"]))
        #expect(configuration.url.host == "flaghost")
        #expect(configuration.url.port == 1234)
    }

    @Test("AMQP_PASSWORD_FILE: raw bytes, one trailing newline dropped, wins over the URL's password")
    func passwordFile() throws {
        let path = "/tmp/amqp-password-test-\(getpid())"
        let file = try #require(fopen(path, "w"))
        fputs("s3cret with spaces \n\n", file)
        fclose(file)
        defer { unlink(path) }
        let configuration = try BrokerSettings.configuration(
            connectionName: "t", flags: { _ in nil },
            environment: Environment(["AMQP_URL": "amqp://user:urlpass@h/", "AMQP_PASSWORD_FILE": path]))
        #expect(configuration.url.password == "s3cret with spaces \n")
        #expect(configuration.url.user == "user")
    }

    @Test("a missing password file names the setting and the path")
    func missingPasswordFile() {
        #expect {
            _ = try BrokerSettings.configuration(
                connectionName: "t", flags: { _ in nil },
                environment: Environment(["AMQP_PASSWORD_FILE": "/nonexistent/pw"]))
        } throws: { error in
            let text = "\(error)"
            return text.contains("AMQP_PASSWORD_FILE") && text.contains("/nonexistent/pw")
        }
    }

    @Test("TLS settings come from the environment; AMQP_TLS_VERIFY must be a boolean")
    func tlsSettings() throws {
        let configuration = try BrokerSettings.configuration(
            connectionName: "t", flags: { _ in nil },
            environment: Environment([
                "AMQP_URL": "amqps://h/", "AMQP_TLS_CA_FILE": "/etc/hostname", "AMQP_TLS_VERIFY": "false",
            ]))
        #expect(configuration.tls.caFile == "/etc/hostname")
        #expect(!configuration.tls.verifyPeer)
        #expect(throws: SettingError.self) {
            _ = try BrokerSettings.configuration(
                connectionName: "t", flags: { _ in nil }, environment: Environment(["AMQP_TLS_VERIFY": "maybe"]))
        }
    }

    @Test("a bad URL is reported under its setting without the password")
    func badURL() {
        #expect {
            _ = try BrokerSettings.configuration(
                connectionName: "t", flags: { _ in nil },
                environment: Environment(["AMQP_URL": "amqp://u:hunter2@h:0/"]))
        } throws: { error in
            let text = "\(error)"
            return text.contains("AMQP_URL") && text.contains("port '0'") && !text.contains("hunter2")
        }
    }

    @Test(
        "every variable has a kebab-case flag",
        arguments: [
            ("EVENTS_STREAM", "events-stream"), ("HTTP_PORT", "http-port"), ("AMQP_TLS_CA_FILE", "amqp-tls-ca-file"),
        ])
    func flagNames(variable: String, flag: String) {
        #expect(Environment.flagName(variable) == flag)
    }

    @Test("a setting that does not parse names the variable and its flag")
    func unparsableSetting() {
        #expect(throws: SettingError(setting: "PREFETCH / --prefetch", problem: "'lots' is not a number")) {
            _ = try Environment(["PREFETCH": "lots"]).setting(
                Int?.none, "PREFETCH", default: 1, parse: { Int($0) }, expected: "a number")
        }
    }
}

@Suite("Event messages on the wire")
struct EventMessageTests {
    @Test(
        "routing keys by event type, account.unknown otherwise",
        arguments: [
            ("AccountOpened", "account.opened"), ("MoneyDeposited", "account.deposited"),
            ("MoneyWithdrawn", "account.withdrawn"), ("AccountRenamed", "account.renamed"),
            ("AccountClosed", "account.closed"), ("Nonsense", "account.unknown"),
        ])
    func routingKeys(type: String, key: String) {
        #expect(EventMessage.routingKey(forType: type) == key)
    }

    @Test("properties: JSON, persistent, message id, type, timestamp in seconds, mandatory")
    func properties() {
        let message = EventMessage.message(
            body: [1], exchange: "accounts", eventID: "e-1", type: "MoneyDeposited",
            occurredAt: "2026-11-24T15:00:00.250Z")
        #expect(message.exchange == "accounts")
        #expect(message.routingKey == "account.deposited")
        #expect(message.mandatory)
        #expect(message.properties.contentType == "application/json")
        #expect(message.properties.deliveryMode == 2)
        #expect(message.properties.messageID == "e-1")
        #expect(message.properties.type == "MoneyDeposited")
        #expect(message.properties.timestamp == 1_795_532_400)
    }

    @Test(
        "RFC 3339 to Unix seconds",
        arguments: [
            ("1970-01-01T00:00:00Z", UInt64?.some(0)),
            ("2000-03-01T00:00:00Z", 951_868_800),
            ("2026-11-24T15:00:00+01:00", 1_795_528_800),
            ("2026-11-24t15:00:00.999z", 1_795_532_400),
            ("1969-12-31T23:59:59Z", nil),
            ("2026-13-01T00:00:00Z", nil),
            ("not a date", nil),
        ])
    func unixSeconds(text: String, seconds: UInt64?) {
        #expect(EventMessage.unixSeconds(rfc3339: text) == seconds)
    }
}

@Suite("Topology")
struct TopologyTests {
    @Test(
        "only a NOT_FOUND that says the queue is missing lets the service create it",
        arguments: [
            ("NOT_FOUND - no queue 'accounts.events' in vhost '/'", true),
            ("no queue", true),
            ("NOT_FOUND - home node 'rabbit@a' of durable queue 'accounts.events' in vhost '/' is down", false),
            ("NOT_FOUND - no exchange 'accounts' in vhost '/'", false),
            ("no queu", false),
            ("", false),
        ])
    func saysNoQueue(reply: String, expected: Bool) {
        #expect(Topology.saysNoQueue(reply) == expected)
    }

    @Test("STREAM_INITIAL_CLUSTER_SIZE: x-initial-cluster-size when set, nothing (RabbitMQ decides) when not")
    func initialClusterSize() {
        #expect(Topology.streamArguments(initialClusterSize: nil)["x-initial-cluster-size"] == nil)
        #expect(Topology.streamArguments(initialClusterSize: 2)["x-initial-cluster-size"] == .int64(2))
        #expect(Topology.parseInitialClusterSize("3") == 3)
        for bad in ["0", "-1", "two", "", "1.5"] {
            #expect(Topology.parseInitialClusterSize(bad) == nil, "\(bad)")
        }
    }

    @Test("STREAM_MAX_SEGMENT_SIZE: x-stream-max-segment-size-bytes, 8 MiB unless set; under 1 MiB refused")
    func maxSegmentSize() {
        let byDefault = Topology.streamArguments(initialClusterSize: nil)
        #expect(byDefault["x-stream-max-segment-size-bytes"] == .int64(8_388_608))
        #expect(byDefault.entries.count == 1)
        let set = Topology.streamArguments(initialClusterSize: 3, maxSegmentSizeBytes: 50_000_000)
        #expect(set["x-stream-max-segment-size-bytes"] == .int64(50_000_000))
        #expect(set["x-initial-cluster-size"] == .int64(3))
        #expect(Topology.parseMaxSegmentSize("1048576") == 1_048_576)
        #expect(Topology.parseMaxSegmentSize("500000000") == 500_000_000)
        for bad in ["1048575", "0", "-1", "8MB", "", "1e7"] {
            #expect(Topology.parseMaxSegmentSize(bad) == nil, "\(bad)")
        }
    }
}

@Suite("Broker settings: a list of nodes")
struct BrokerNodeListSettingsTests {
    @Test("AMQP_URL with several URLs gives every node; the password file applies to each")
    func passwordFileForEveryNode() throws {
        let path = "/tmp/amqp-password-list-test-\(getpid())"
        let file = try #require(fopen(path, "w"))
        fputs("filepass\n", file)
        fclose(file)
        defer { unlink(path) }
        let configuration = try BrokerSettings.configuration(
            connectionName: "t", flags: { _ in nil },
            environment: Environment([
                "AMQP_URL": "amqp://u:a@h1:5681/%2f,amqp://u:b@h2:5682/%2f", "AMQP_PASSWORD_FILE": path,
            ]))
        #expect(configuration.nodes.map(\.node) == ["h1:5681", "h2:5682"])
        #expect(configuration.nodes.map(\.password) == ["filepass", "filepass"])
        #expect(configuration.url.node == "h1:5681")
    }

    @Test("the host-list form is refused naming the setting, without the password")
    func hostListRefused() {
        #expect {
            _ = try BrokerSettings.configuration(
                connectionName: "t", flags: { $0 == "amqp-url" ? "amqp://u:topsecret@h1:5681,h2:5682/%2f" : nil },
                environment: Environment([:]))
        } throws: { error in
            let text = "\(error)"
            return text.contains("AMQP_URL / --amqp-url") && text.contains("one whole URL per node")
                && !text.contains("topsecret")
        }
    }
}
