import Crypto
import SMTPCore

extension ProbeToken {
    /// The report listener's recipient gate: `LOCAL+TOKEN` where TOKEN's HMAC
    /// verifies with `key`, postmaster, and the `accepting` local parts.
    public static func recipientGate(key: SymmetricKey, accepting: [String] = []) -> RecipientGate {
        RecipientGate(acceptedLocalParts: accepting) { tag in
            if case .valid = ProbeToken.validate(tag, key: key) { return true }
            return false
        }
    }
}
