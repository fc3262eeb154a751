import TestSupport
import Testing

@testable import AMQP

@Suite("AMQP URL parsing")
struct AMQPURLTests {
    @Test("the documented default URL")
    func defaultURL() throws {
        let url = try AMQPURL(parsing: "amqp://guest:guest@127.0.0.1:5672/%2f")
        #expect(url.scheme == .amqp)
        #expect(url.host == "127.0.0.1")
        #expect(url.port == 5672)
        #expect(url.user == "guest")
        #expect(url.password == "guest")
        #expect(url.vhost == "/")
        #expect(!url.isTLS)
    }

    @Test(
        "defaults: port by scheme, guest credentials, default vhost",
        arguments: [
            ("amqp://broker", "broker", 5672, "/"),
            ("amqp://broker/", "broker", 5672, "/"),
            ("amqps://broker", "broker", 5671, "/"),
            ("AMQP://broker:1234/prod", "broker", 1234, "prod"),
            ("amqp://", "localhost", 5672, "/"),
            ("amqp://[::1]:5673/v", "::1", 5673, "v"),
            ("amqp://[fe80::1]/", "fe80::1", 5672, "/"),
        ])
    func defaults(text: String, host: String, port: Int, vhost: String) throws {
        let url = try AMQPURL(parsing: text)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.vhost == vhost)
        #expect(url.user == "guest")
        #expect(url.password == "guest")
    }

    @Test("user, password and vhost are percent-decoded")
    func percentDecoding() throws {
        let url = try AMQPURL(parsing: "amqps://us%40er:p%3Ass%2Fw%25rd@h:5671/my%2Fvhost%20x")
        #expect(url.user == "us@er")
        #expect(url.password == "p:ss/w%rd")
        #expect(url.vhost == "my/vhost x")
        #expect(url.isTLS)
    }

    @Test("a password may contain '@' when encoded, and the last '@' ends the user info")
    func atInPassword() throws {
        let url = try AMQPURL(parsing: "amqp://u:a@b@host/")
        #expect(url.password == "a@b")
        #expect(url.host == "host")
    }

    @Test("query parameters heartbeat and connection_timeout")
    func queryParameters() throws {
        let url = try AMQPURL(parsing: "amqp://h/?heartbeat=7&connection_timeout=2500&channel_max=9")
        #expect(url.heartbeat == 7)
        #expect(url.connectionTimeoutMilliseconds == 2500)
        let configuration = AMQPConfiguration(url: url)
        #expect(configuration.heartbeat == 7)
        #expect(configuration.connectTimeout == .milliseconds(2500))
    }

    @Test(
        "bad URLs give a clear error each",
        arguments: [
            ("http://host/", "scheme 'http'"),
            ("host:5672", "must start with amqp://"),
            ("amqp://host:99999/", "port '99999'"),
            ("amqp://host:abc/", "port 'abc'"),
            ("amqp://host/a/b", "percent-encode it as %2f"),
            ("amqp://u:p%zz@host/", "password has a '%'"),
            ("amqp://u%4@host/", "user name has a '%'"),
            ("amqp://host/%ff", "not valid UTF-8"),
            ("amqp://[::1/", "closing ']'"),
            ("amqp://h/?heartbeat=-1", "heartbeat '-1'"),
            ("amqp://h/?connection_timeout=0", "connection_timeout '0'"),
        ])
    func badURLs(text: String, expected: String) {
        #expect {
            _ = try AMQPURL(parsing: text)
        } throws: { error in
            guard case .invalidURL(let reason) = error as? AMQPError else { return false }
            return reason.contains(expected)
        }
    }

    @Test("the password never shows in descriptions or errors")
    func passwordRedacted() throws {
        let url = try AMQPURL(parsing: "amqp://admin:s3cr3t-pw@rabbit:5672/%2f")
        #expect(url.description == "amqp://admin:***@rabbit:5672/%2F")
        #expect(!"\(url)".contains("s3cr3t"))
        do {
            _ = try AMQPURL(parsing: "amqp://admin:s3cr3t%g@rabbit/")
            Issue.record("expected an error")
        } catch {
            #expect(!error.description.contains("s3cr3t"))
        }
        let refused = AMQPError.accessRefused(user: url.user, vhost: url.vhost, reply: "403 ACCESS_REFUSED")
        #expect(!refused.description.contains("s3cr3t"))
    }
}

@Suite("AMQP URL: passwords with '/', '#' or '?' written raw")
struct AMQPURLRawPasswordTests {
    static let passwords = ["hun/ter2", "a#hunter2", "hunter2?x", "p/a#s?s", "/hunter2#", "?hunter2/", "h:un/ter@2"]

    @Test(
        "they are taken as the password, and the host, port, vhost and query after them as such", arguments: passwords)
    func parsedAsThePassword(password: String) throws {
        let url = try AMQPURL(parsing: "amqp://admin:\(password)@rabbit:5673/prod?heartbeat=7")
        #expect(url.user == "admin")
        #expect(url.password == password)
        #expect(url.host == "rabbit")
        #expect(url.port == 5673)
        #expect(url.vhost == "prod")
        #expect(url.heartbeat == 7)
        #expect(!url.description.contains("hunter") && !url.description.contains(password))
    }

    /// Each URL is broken after the password in some way; the error must name the problem
    /// without any part of the password (3 characters of it in a row, raw or decoded).
    static let brokenURLs: [(url: String, password: String)] = [
        ("amqp://admin:hun/ter2@rabbit:56x72/", "hun/ter2"),
        ("amqp://admin:hun/ter2@rabbit:5672/a/b", "hun/ter2"),
        ("amqp://admin:hunter2#frag@rabbit:99999/", "hunter2#frag"),
        ("amqp://admin:hunter2?heartbeat=x@rabbit:0/", "hunter2?heartbeat=x"),
        ("amqp://admin:hunter2@rabbit/?heartbeat=hunter2", "hunter2"),
        ("amqp://admin:hunter2@rabbit:hunter2/", "hunter2"),
        ("amqp://admin:hunter2@[::1/", "hunter2"),
        ("amqp://admin:hun%2Fter2@rabbit/?connection_timeout=hun/ter2", "hun/ter2"),
        ("amqp://admin:pa%zzss@rabbit/", "pa%zzss"),
    ]

    @Test("an error about the URL never echoes the password, in part or whole", arguments: 0..<brokenURLs.count)
    func errorsNeverEchoThePassword(index: Int) {
        let (text, password) = Self.brokenURLs[index]
        do {
            let url = try AMQPURL(parsing: text)
            Issue.record("\(text) parsed: \(url)")
        } catch {
            let message = error.description
            let chars = Array(password)
            for start in 0...(chars.count - 3) {
                let piece = String(chars[start..<start + 3])
                #expect(!message.contains(piece), "'\(piece)' of the password in: \(message)")
            }
        }
    }
}

@Suite("AMQP configuration")
struct AMQPConfigurationTests {
    @Test("TLS files that do not exist are named in the error")
    func missingTLSFiles() throws {
        var configuration = AMQPConfiguration(url: try AMQPURL(parsing: "amqps://broker/"))
        configuration.tls = .init(caFile: "/nonexistent/ca.pem")
        #expect(
            throws: AMQPError.invalidConfiguration(
                reason: "TLS CA file '/nonexistent/ca.pem' does not exist or is not readable")
        ) {
            try configuration.validate()
        }
    }

    @Test("a client certificate needs its key")
    func certificateNeedsKey() throws {
        var configuration = AMQPConfiguration(url: try AMQPURL(parsing: "amqps://broker/"))
        configuration.tls = .init(certFile: "/etc/hostname")
        #expect {
            try configuration.validate()
        } throws: { error in
            (error as? AMQPError)?.description.contains("both a certificate file and a key file") == true
        }
    }

    @Test("TLS settings are ignored for amqp://, verification is on by default")
    func tlsDefaults() throws {
        var configuration = AMQPConfiguration(url: try AMQPURL(parsing: "amqp://broker/"))
        #expect(configuration.tls.verifyPeer)
        configuration.tls = .init(caFile: "/nonexistent/ca.pem")
        try configuration.validate()
    }

    @Test("heartbeat out of range is refused")
    func heartbeatRange() {
        let configuration = AMQPConfiguration(heartbeat: 70000)
        #expect(throws: AMQPError.self) { try configuration.validate() }
    }
}
