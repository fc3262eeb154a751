import AccountHistory
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `get`, `health` and `verify` against an https:// service: a TLS front (python3's ssl,
/// as an ingress would be) before the stand-in service, with certificates made here.
@Suite("accountctl over https://")
struct HTTPSTests {
    static let history = HistoryGenerator(accounts: 300, events: 2000, seed: 8)

    /// A CA, a certificate for localhost and 127.0.0.1 signed by it, one for another host
    /// signed by it, and another CA.
    private func makeCertificates(in directory: String) async throws {
        let script = """
            set -e
            rm -rf \(directory) && mkdir -p \(directory) && cd \(directory)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout elsewhere.key -out elsewhere.csr -subj /CN=elsewhere 2>/dev/null
            printf 'subjectAltName=DNS:elsewhere\\n' > elsewhere.cnf
            openssl x509 -req -in elsewhere.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out elsewhere.pem -days 2 -extfile elsewhere.cnf 2>/dev/null
            openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null
            """
        let result = try await runProcess("/bin/sh", ["-c", script], timeout: 60)
        try #require(result.status == 0, "openssl: \(result.err)")
    }

    @Test("get, health and verify over https with the CA given; a certificate from another CA is refused")
    func https() async throws {
        let directory = "/tmp/accountctl-https-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = system("rm -rf '\(directory)'") }
        try await makeCertificates(in: directory)
        let service = try FakeService(generator: Self.history)
        defer { service.stop() }
        let front = try TLSFront(
            backendPort: service.port, certificate: directory + "/server.pem", key: directory + "/server.key",
            portFile: directory + "/port")
        defer { front.stop() }
        let port = try await front.waitForPort()
        let url = "https://127.0.0.1:\(port)"
        let ca = ["--ca-file", directory + "/ca.pem"]

        let health = try await runAccountctl(["health", "--url", url] + ca, timeout: 20)
        #expect(health.status == 0, "\(health.err)")
        #expect(health.out == "{\"status\":\"UP\"}\n")

        let account = try await runAccountctl(["get", "acc-000007", "--url", url] + ca, timeout: 20)
        #expect(account.status == 0, "\(account.err)")
        #expect(account.out.contains("\"id\":\"acc-000007\""))

        // By host name too (SNI and the DNS name), the CA from the environment.
        let byName = try await runAccountctl(
            ["health", "--url", "https://localhost:\(port)"], environment: ["SERVICE_CA_FILE": directory + "/ca.pem"],
            timeout: 20)
        #expect(byName.status == 0, "\(byName.err)")

        let verified = try await runAccountctl(
            ["verify", "--url", url, "--accounts", "300", "--events", "2000", "--seed", "8", "--timeout", "20"] + ca,
            timeout: 60)
        #expect(verified.status == 0, "\(verified.out)\(verified.err)")
        #expect(verified.out.contains("accounts expected=300 served=300 missing=0 unexpected=0 different=0"))

        // Another CA: refused at once, with a reason a user can act on.
        for command in [["health"], ["get", "acc-000007"], ["verify", "--timeout", "30"]] {
            let refused = try await runAccountctl(
                command + ["--url", url, "--ca-file", directory + "/other-ca.pem"], timeout: 40)
            #expect(refused.status == 4, "\(command): \(refused.status) \(refused.err)")
            #expect(refused.err.contains("not trusted"), "\(command): \(refused.err)")
            #expect(refused.seconds < 10, "\(command) gave up after \(refused.seconds) s")
        }
        // A trusted certificate for another host: refused, and said so.
        let elsewhere = try TLSFront(
            backendPort: service.port, certificate: directory + "/elsewhere.pem", key: directory + "/elsewhere.key",
            portFile: directory + "/port-elsewhere")
        defer { elsewhere.stop() }
        let otherPort = try await elsewhere.waitForPort()
        let mismatch = try await runAccountctl(["health", "--url", "https://127.0.0.1:\(otherPort)"] + ca, timeout: 20)
        #expect(mismatch.status == 4, "\(mismatch.err)")
        #expect(mismatch.err.contains("not for '127.0.0.1'"), "\(mismatch.err)")
        // Without --ca-file the system's CAs do not know the test CA either.
        let system = try await runAccountctl(["health", "--url", url], timeout: 20)
        #expect(system.status == 4, "\(system.err)")
        #expect(system.err.contains("not trusted"), "\(system.err)")
    }
}

/// python3's ssl module terminating TLS on a loopback port and passing the bytes to a
/// backend port; the port it listens on is written to `portFile`.
final class TLSFront: @unchecked Sendable {
    static let script = """
        import socket, ssl, sys, threading
        backend, cert, key, port_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = socket.create_server(("127.0.0.1", 0))
        with open(port_file + ".tmp", "w") as f:
            f.write(str(server.getsockname()[1]))
        import os
        os.rename(port_file + ".tmp", port_file)
        def pipe(source, target):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    target.sendall(data)
            except OSError:
                pass
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        def handle(client):
            try:
                tls = context.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", backend))
            threading.Thread(target=pipe, args=(tls, upstream), daemon=True).start()
            pipe(upstream, tls)
        while True:
            client, _ = server.accept()
            threading.Thread(target=handle, args=(client,), daemon=True).start()
        """

    private var pid: pid_t = 0
    private let portFile: String

    init(backendPort: UInt16, certificate: String, key: String, portFile: String) throws {
        self.portFile = portFile
        let arguments = ["python3", "-c", Self.script, "\(backendPort)", certificate, key, portFile]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let rc = posix_spawnp(&pid, "python3", nil, nil, argv, environ)
        guard rc == 0 else { throw ProcessError("posix_spawnp python3: \(rc)") }
    }

    /// The port, once the front listens (within 10 s).
    func waitForPort() async throws -> Int {
        for _ in 0..<200 {
            if let file = fopen(portFile, "r") {
                var buffer = [CChar](repeating: 0, count: 16)
                let line = fgets(&buffer, 16, file)
                fclose(file)
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if line != nil, let port = Int(text.filter { $0 != "\n" }) { return port }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessError("the python3 TLS front did not start")
    }

    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }
}
