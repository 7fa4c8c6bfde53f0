/// Errors raised by the pure SMTP grammar. They never carry secrets: AUTH
/// payloads are reported by length only.
public struct SMTPSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// A CR, LF, NUL or other control character would have reached the wire.
        case controlCharacter
        case emptyValue
        case tooLong(limit: Int)
        case invalidAddress
        case invalidParameter
        case notifyNeverCombined
        case duplicateParameter
        case invalidReplyCode
        case mismatchedReplyCodes
        case replyLineTooLong
        case replyTooLong
        case bareLineEnding
        case invalidEnhancedStatusCode
        case nonASCII
    }

    public var code: Code
    /// What was being built or parsed ("MAIL FROM address", "ENVID", "reply line").
    public var context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String {
        switch code {
        case .controlCharacter:
            return "\(context): control character (CR, LF, NUL, ...) refused; it could inject SMTP commands"
        case .emptyValue: return "\(context): empty value"
        case .tooLong(let limit): return "\(context): longer than \(limit) octets"
        case .invalidAddress: return "\(context): not a valid mailbox (local-part@domain)"
        case .invalidParameter: return "\(context): invalid parameter"
        case .notifyNeverCombined: return "\(context): NOTIFY=NEVER cannot be combined with SUCCESS, FAILURE or DELAY"
        case .duplicateParameter: return "\(context): parameter given twice"
        case .invalidReplyCode: return "\(context): not a three-digit reply code from 200 to 559"
        case .mismatchedReplyCodes: return "\(context): lines of one multiline reply carry different codes"
        case .replyLineTooLong: return "\(context): reply line longer than the limit"
        case .replyTooLong: return "\(context): reply has too many lines or octets"
        case .bareLineEnding: return "\(context): lone CR or LF (only CRLF ends a line)"
        case .invalidEnhancedStatusCode: return "\(context): not an enhanced status code x.y.z"
        case .nonASCII: return "\(context): non-ASCII octets need SMTPUTF8"
        }
    }
}
