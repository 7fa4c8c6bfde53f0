import NIOSSL

/// The client side's TLS settings, for SMTP, IMAP and POP3 alike.
enum ClientTLS {
    /// A client context. Certificates are judged by our own callback
    /// (`TLSFacts`: chain, then host name per RFC 6125), so BoringSSL's host
    /// name check is off. TLS 1.0 is allowed only for checks that send no
    /// credentials (a port-25 relay check should report an old server, not
    /// fail to see it); whenever a password will cross, TLS 1.2 is the floor.
    static func makeContext(sendsCredentials: Bool) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.certificateVerification = .noHostnameVerification
        config.minimumTLSVersion = sendsCredentials ? .tlsv12 : .tlsv1
        return try NIOSSLContext(configuration: config)
    }

    /// The SNI name: none for IP literals (RFC 6066 §3).
    static func sniName(_ host: String) -> String? {
        let isIP = host.contains(":") || host.split(separator: ".").allSatisfy { UInt8($0) != nil }
        return isIP || host.isEmpty ? nil : host
    }
}
