/// Which recipients in the accepted domains a report listener takes: mail to
/// any other address cannot be a report for one of our probes, so it is
/// refused at RCPT (`550 5.1.1`) instead of being stored and parsed.
///
/// Accepted: `LOCAL+TAG@domain` whose TAG `tagIsValid` accepts (the probe
/// token, checked with its HMAC by the caller), `postmaster` (RFC 5321
/// §4.5.1 requires it), and the local parts the operator lists (with or
/// without a `+tag`).
public struct RecipientGate: Sendable {
    /// Lower-cased local parts taken with any `+tag`; always holds `postmaster`.
    public let acceptedLocalParts: Set<String>
    public let tagIsValid: @Sendable (String) -> Bool

    public init(acceptedLocalParts: [String] = [], tagIsValid: @escaping @Sendable (String) -> Bool) {
        self.acceptedLocalParts = Set(acceptedLocalParts.map { $0.lowercased() } + ["postmaster"])
        self.tagIsValid = tagIsValid
    }

    public func accepts(_ mailbox: SMTPMailbox) -> Bool {
        let local = mailbox.unquotedLocalPart
        guard let plus = local.firstIndex(of: "+") else { return acceptedLocalParts.contains(local.lowercased()) }
        if acceptedLocalParts.contains(local[..<plus].lowercased()) { return true }
        let tag = local[local.index(after: plus)...]
        return !tag.isEmpty && tagIsValid(String(tag))
    }

    /// The `550 5.1.1` for a recipient the gate refuses.
    public static func refusal(_ mailbox: SMTPMailbox) -> SMTPReply {
        SMTPReply(
            code: 550, lines: ["5.1.1 <\(mailbox)>: Recipient address rejected: not a report address of this listener"])
    }
}
