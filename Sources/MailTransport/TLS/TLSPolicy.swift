/// How the client uses TLS on one connection.
public enum STARTTLSMode: String, Sendable, Hashable, CaseIterable, Codable {
    /// Upgrade when the server offers STARTTLS; go on in plaintext otherwise.
    case auto
    /// Fail when the server does not offer STARTTLS (or the upgrade fails).
    case require
    /// Never upgrade.
    case never
}

/// Whether TLS starts with the first byte (RFC 8314, port 465) or by STARTTLS.
public enum TLSTransport: String, Sendable, Hashable, CaseIterable, Codable {
    case starttls
    case implicit
}

/// What a failed certificate verification means.
public enum TLSVerifyMode: String, Sendable, Hashable, CaseIterable, Codable {
    /// A warning on port-25 relay checks (opportunistic TLS, RFC 7435), a
    /// failure for submission (587, 465, or whenever AUTH is used, RFC 8314).
    case auto
    /// Always a failure.
    case strict
    /// Not verified (the certificate is still reported).
    case off
}

public struct TLSPolicy: Sendable, Hashable {
    public var transport: TLSTransport
    public var starttls: STARTTLSMode
    public var verify: TLSVerifyMode
    /// PEM file with the roots to trust instead of the system store.
    public var caFile: String?

    public init(
        transport: TLSTransport = .starttls, starttls: STARTTLSMode = .auto, verify: TLSVerifyMode = .auto,
        caFile: String? = nil
    ) {
        self.transport = transport
        self.starttls = starttls
        self.verify = verify
        self.caFile = caFile
    }

    /// Whether a failed verification fails the connection, given the port and
    /// whether AUTH will be used.
    public func verificationIsFatal(port: Int, usesAuth: Bool) -> Bool {
        switch verify {
        case .off: return false
        case .strict: return true
        case .auto: return usesAuth || port == 587 || port == 465 || transport == .implicit
        }
    }
}
