/// A client command. `encode()` produces the exact wire line (with CRLF) and
/// refuses anything that could break out of the line.
///
/// - SeeAlso: RFC 5321 §4.1.1, RFC 3461 §4, RFC 4954 §4
public enum SMTPCommand: Hashable, Sendable {
    case ehlo(String)
    case helo(String)
    case mail(ReversePath, MailParameters)
    case rcpt(SMTPMailbox, RcptParameters)
    case data
    case rset
    case noop
    case quit
    case vrfy(String)
    case startTLS
    /// `AUTH mechanism [initial-response]`; the response is base64 or "=".
    case auth(mechanism: String, initialResponse: String?)
    /// A line answering a 334 challenge (base64, or "*" to abort). Secret.
    case authResponse(String)

    public enum Verb: String, Hashable, Sendable {
        case ehlo = "EHLO", helo = "HELO", mail = "MAIL", rcpt = "RCPT", data = "DATA", rset = "RSET"
        case noop = "NOOP", quit = "QUIT", vrfy = "VRFY", startTLS = "STARTTLS", auth = "AUTH"
        case authResponse = "AUTH-RESPONSE"
    }

    public var verb: Verb {
        switch self {
        case .ehlo: return .ehlo
        case .helo: return .helo
        case .mail: return .mail
        case .rcpt: return .rcpt
        case .data: return .data
        case .rset: return .rset
        case .noop: return .noop
        case .quit: return .quit
        case .vrfy: return .vrfy
        case .startTLS: return .startTLS
        case .auth: return .auth
        case .authResponse: return .authResponse
        }
    }

    /// Command line limit (RFC 5321 §4.5.3.1.4), raised for DSN parameters
    /// (RFC 3461 §5: 1036) and AUTH exchanges (RFC 4954 §4: 12288).
    var lineLimit: Int {
        switch self {
        case .mail(_, let p): return p.usesDSN ? 1036 : 512 + 26 + 10 + 14
        case .rcpt(_, let p): return p.usesDSN ? 1036 : 512
        case .auth, .authResponse: return 12288
        default: return 512
        }
    }

    /// The line without CRLF, validated.
    public func line() throws -> String {
        let text: String
        switch self {
        case .ehlo(let name), .helo(let name):
            try Self.checkToken(name, context: "\(verb.rawValue) name")
            // RFC 6531 §3.7.1: A-labels only, even with SMTPUTF8.
            if name.utf8.contains(where: { $0 >= 0x80 }) { throw SMTPSyntaxError(.nonASCII, "\(verb.rawValue) name") }
            text = "\(verb.rawValue) \(name)"
        case .mail(let path, let params):
            text = (["MAIL FROM:\(path)"] + params.encoded).joined(separator: " ")
        case .rcpt(let mailbox, let params):
            text = (["RCPT TO:<\(mailbox)>"] + params.encoded).joined(separator: " ")
        case .data: text = "DATA"
        case .rset: text = "RSET"
        case .noop: text = "NOOP"
        case .quit: text = "QUIT"
        case .vrfy(let s):
            try Self.checkText(s, context: "VRFY argument")
            text = "VRFY \(s)"
        case .startTLS: text = "STARTTLS"
        case .auth(let mechanism, let initial):
            try Self.checkToken(mechanism, context: "AUTH mechanism")
            if let initial {
                try Self.checkToken(initial, context: "AUTH initial response")
                text = "AUTH \(mechanism) \(initial)"
            } else {
                text = "AUTH \(mechanism)"
            }
        case .authResponse(let s):
            if !s.isEmpty { try Self.checkToken(s, context: "AUTH response") }
            text = s
        }
        // Every byte is checked once more: nothing below 0x20 may pass.
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw SMTPSyntaxError(.controlCharacter, verb.rawValue)
        }
        guard text.utf8.count + 2 <= lineLimit else {
            throw SMTPSyntaxError(.tooLong(limit: lineLimit), "\(verb.rawValue) command line")
        }
        return text
    }

    /// The wire bytes, CRLF included.
    public func encode() throws -> [UInt8] {
        Array(try line().utf8) + [0x0D, 0x0A]
    }

    /// The line as a transcript shows it: AUTH payloads are never shown.
    public var redactedLine: String {
        switch self {
        case .auth(let mechanism, let initial):
            // An invalid mechanism could carry a line break into the transcript.
            guard (try? Self.checkToken(mechanism, context: "AUTH mechanism")) != nil else { return "AUTH <invalid>" }
            return initial == nil ? "AUTH \(mechanism)" : "AUTH \(mechanism) <redacted>"
        case .authResponse:
            return "<redacted>"
        default:
            return (try? line()) ?? "\(verb.rawValue) <invalid>"
        }
    }

    /// Whether the command may stand anywhere but last in a pipelined batch.
    /// RFC 2920 §3.1.
    public var mayBePipelinedMidBatch: Bool {
        switch self {
        case .mail, .rcpt, .rset: return true
        default: return false
        }
    }

    static func checkToken(_ s: String, context: String) throws {
        guard !s.isEmpty else { throw SMTPSyntaxError(.emptyValue, context) }
        if s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw SMTPSyntaxError(.controlCharacter, context) }
        if s.utf8.contains(where: { $0 == 0x20 }) { throw SMTPSyntaxError(.invalidParameter, context) }
    }

    static func checkText(_ s: String, context: String) throws {
        guard !s.isEmpty else { throw SMTPSyntaxError(.emptyValue, context) }
        if s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw SMTPSyntaxError(.controlCharacter, context) }
    }
}
