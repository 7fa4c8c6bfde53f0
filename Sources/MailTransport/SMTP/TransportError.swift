import SMTPCore

/// One error type for the transport layer (postgres-nio style): what kind,
/// at which step, and the server's reply if there was one. Its description
/// never contains secrets: AUTH payloads never reach it.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// TCP connect failed (refused, unreachable, timed out).
        case connectFailed
        /// The server answered with an error reply.
        case rejected
        /// No reply within the step's timeout.
        case timeout
        /// The server closed the connection.
        case connectionClosed
        /// The server spoke something that is not SMTP.
        case protocolViolation
        /// TLS could not be set up or was not offered when required.
        case tlsFailed
        /// The certificate did not verify and the policy makes that fatal.
        case certificateRejected
        /// AUTH was refused or not possible.
        case authFailed
        /// DSN was required but the server does not advertise it.
        case dsnUnavailable
        /// Name resolution failed.
        case resolutionFailed
        /// A local problem: unreadable file, bad option value.
        case configuration
        /// The request itself was invalid (e.g. an address with a CR in it).
        case invalidInput
    }

    public var kind: Kind
    public var step: SMTPStep
    public var message: String
    public var reply: SMTPReply?

    public init(_ kind: Kind, step: SMTPStep, message: String, reply: SMTPReply? = nil) {
        self.kind = kind
        self.step = step
        self.message = message
        self.reply = reply
    }

    public var description: String {
        var s = "\(step.rawValue): \(message)"
        if let reply { s += " [\(reply.wireLines.joined(separator: " / "))]" }
        return s
    }
}
