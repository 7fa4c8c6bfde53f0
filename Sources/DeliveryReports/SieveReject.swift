import MailCore

/// The one MDN that is a delivery failure: a refusal by the recipient's mail store.
///
/// RFC 5429 §2.1.1 (Sieve `reject`): the refusal is sent as an MDN (RFC 8098) whose disposition
/// is `automatic-action/MDN-sent-automatically; deleted` — the message was deleted by an
/// automatic action before anyone saw it, i.e. it was not delivered. Dovecot, Cyrus and other
/// Sieve implementations write it so. Every other MDN (`displayed`, `manual-action`, …) says the
/// message reached the recipient and stays `not-a-report`.
enum SieveReject {
    /// A failed record for the MDN's Final-Recipient (else Original-Recipient), family
    /// `sieve-reject`; nil for any other MDN.
    static func report(_ part: MIMEPart, text: [UInt8] = []) -> DeliveryReport? {
        let (fields, _) = HeaderSection.parse(part.decodedBody)
        guard let disposition = fields.value("disposition")?.asciiLowercased else { return nil }
        let parts = disposition.splitASCII(0x3B)
        guard parts.count >= 2,
            String(parts[0]).trimmedBlanks.hasPrefix("automatic-action"),
            String(parts[1]).trimmedBlanks.hasPrefix("deleted")
        else { return nil }
        let raw = fields.value("final-recipient") ?? fields.value("original-recipient") ?? ""
        let typed = RFC3464Parser.addressTyped(raw)
        guard DeliveryReportParser.isMailbox(typed.value) else { return nil }
        var r = RecipientReport(
            finalRecipient: typed, action: .failed,
            status: StatusCode(statusClass: 5, subject: 0, detail: 0), statusIsPseudo: true)
        r.extraFields["disposition"] = fields.value("disposition")
        // Pigeonhole's template: "Your message to <%s> was automatically rejected:%n%r".
        let lower = text.map { $0.lowercasedASCIIByte }
        let marker = Array("was automatically rejected:".utf8)
        if let i = ByteScan.firstIndex(of: marker, in: lower[...]) {
            var reason = decodeUTF8OrLatin1(text[(i + marker.count)...]).trimmedBlanks
            if let nl = reason.firstIndex(where: { $0 == "\n" || $0 == "\r" }) { reason = String(reason[..<nl]) }
            if reason.isEmpty,
                let line = decodeUTF8OrLatin1(text[(i + marker.count)...]).split(whereSeparator: \.isNewline).first
            {
                reason = String(line).trimmedBlanks
            }
            if !reason.isEmpty {
                r.diagnostic = reason
                r.diagnosticType = "unknown"
            }
        }
        if let ua = fields.value("reporting-ua") { r.extraFields["reporting-ua"] = ua }
        return DeliveryReport(kind: .legacy(family: "sieve-reject"), recipients: [r])
    }
}
