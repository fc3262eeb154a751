import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// How `https://` is checked: the CAs trusted for the service's certificate.
struct TLSSettings: Sendable, Equatable {
    /// A PEM file of CAs; nil for the system's.
    var caFile: String?
}

/// A TLS client session over a connected socket (OpenSSL): the certificate chain and the
/// host name (or IP address) are checked during the handshake.
final class TLSConnection {
    static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

    private let context: OpaquePointer
    private let ssl: OpaquePointer

    /// Handshakes on `fd` (blocking, bounded by the socket's send and receive timeouts).
    init(fd: Int32, host: String, settings: TLSSettings, describe: String) throws(HTTPClientError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw .unreachable("cannot set up TLS: \(Self.lastError())")
        }
        self.context = context
        _ = cos_require_tls12(context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caFile = settings.caFile {
            if SSL_CTX_load_verify_locations(context, caFile, nil) != 1 {
                SSL_CTX_free(context)
                throw .invalidURL(
                    "cannot read the CA file '\(caFile)' (--ca-file / SERVICE_CA_FILE): \(Self.lastError())")
            }
        } else {
            // The distribution's bundle by path too: a static OpenSSL may look elsewhere by default.
            _ = SSL_CTX_set_default_verify_paths(context)
            if access(Self.systemBundle, R_OK) == 0 {
                _ = SSL_CTX_load_verify_locations(context, Self.systemBundle, nil)
            }
        }
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw .unreachable("cannot set up TLS: \(Self.lastError())")
        }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        if Self.isIPAddress(host) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
        } else {
            _ = cos_set_server_name(ssl, host)
            SSL_set1_host(ssl, host)
        }
        ERR_clear_error()
        if SSL_connect(ssl) != 1 {
            let verify = SSL_get_verify_result(ssl)
            let why = String(cString: X509_verify_cert_error_string(verify))
            let reason: String
            switch Int32(verify) {
            case X509_V_OK: reason = Self.lastError(orErrno: true)
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                reason = "the certificate is not for '\(host)' (\(why)): use the name it was issued for in the URL"
            default:
                reason = "the certificate is not trusted (\(why)): give its CA with --ca-file or SERVICE_CA_FILE"
            }
            // Every property is set: deinit frees the session and its context.
            throw .tls("TLS with the service at \(describe) failed: \(reason)")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    /// Sends every byte; throws on a timeout or a broken connection.
    func send(_ bytes: [UInt8], describe: String, timeout: Double) throws(HTTPClientError) {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let sent = bytes.withUnsafeBytes { raw in
                SSL_write(ssl, raw.baseAddress! + offset, Int32(raw.count - offset))
            }
            if sent > 0 {
                offset += Int(sent)
                continue
            }
            try fail(result: sent, describe: describe, timeout: timeout, verb: "take the request")
        }
    }

    /// Reads into `chunk`; 0 at the end of the stream.
    func receive(into chunk: inout [UInt8], describe: String, timeout: Double) throws(HTTPClientError) -> Int {
        while true {
            ERR_clear_error()
            let count = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 { return Int(count) }
            let code = SSL_get_error(ssl, count)
            if code == SSL_ERROR_ZERO_RETURN { return 0 }
            // A peer that closes without close_notify: the end of the stream, as for plain TCP.
            if code == SSL_ERROR_SYSCALL && errno == 0 { return 0 }
            if code == SSL_ERROR_SYSCALL && errno == EINTR { continue }
            try fail(result: count, describe: describe, timeout: timeout, verb: "answer")
        }
    }

    /// Sends close_notify (best effort).
    func shutdown() {
        SSL_shutdown(ssl)
    }

    private func fail(result: Int32, describe: String, timeout: Double, verb: String) throws(HTTPClientError) {
        let code = SSL_get_error(ssl, result)
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE
            || (code == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            throw .timeout("the service at \(describe) did not \(verb) within \(formatSeconds(timeout)) s")
        }
        throw .unreachable("lost the connection to the service at \(describe): \(Self.lastError(orErrno: true))")
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// OpenSSL's most recent error, else errno's text.
    private static func lastError(orErrno: Bool = false) -> String {
        let code = ERR_get_error()
        if code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if orErrno && errno != 0 { return errnoText() }
        return "the connection closed during the TLS handshake"
    }
}
