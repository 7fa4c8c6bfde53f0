import MailCore

/// Builds a valid `multipart/report; report-type=delivery-status` message (RFC 3464/6522), as the
/// simulator sends back to the return path. Lines end in CRLF; field values are taken as given
/// (callers pass ASCII for classic DSNs; `global: true` writes RFC 6533 global parts).
///
///     1  text/plain human-readable explanation
///     2  message/delivery-status (or message/global-delivery-status)
///     3  text/rfc822-headers (or message/global-headers) with the original's header section
public struct RFC3464Builder: Sendable {
    public struct Recipient: Sendable, Hashable {
        public var finalRecipient: String
        public var originalRecipient: String?
        /// The whole `Original-Recipient` value, `type;value`, as the ORCPT
        /// parameter gave it; wins over `originalRecipient`.
        public var originalRecipientField: String?
        public var action: DeliveryAction
        public var status: StatusCode
        public var remoteMTA: String?
        public var diagnostic: String?
        public var lastAttemptDate: MessageDate?
        public var willRetryUntil: MessageDate?

        public init(
            finalRecipient: String, originalRecipient: String? = nil, action: DeliveryAction, status: StatusCode,
            remoteMTA: String? = nil, diagnostic: String? = nil, lastAttemptDate: MessageDate? = nil,
            willRetryUntil: MessageDate? = nil
        ) {
            self.finalRecipient = finalRecipient
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.remoteMTA = remoteMTA
            self.diagnostic = diagnostic
            self.lastAttemptDate = lastAttemptDate
            self.willRetryUntil = willRetryUntil
        }
    }

    public var reportingMTA: String
    public var from: String
    /// The return path of the original message (the report's `To:`).
    public var to: String
    public var subject: String
    public var messageID: String
    public var date: MessageDate
    public var boundary: String
    public var originalEnvelopeID: String?
    public var arrivalDate: MessageDate?
    public var recipients: [Recipient]
    /// The original's header section (raw bytes, any line ends), returned as part 3.
    public var returnedHeader: [UInt8]?
    /// The whole original message (RET=FULL), returned as part 3 in
    /// `message/rfc822`; wins over `returnedHeader`.
    public var returnedMessage: [UInt8]?
    public var humanText: String?
    /// Use the RFC 6533 global types (UTF-8 addresses).
    public var global: Bool

    public init(
        reportingMTA: String, from: String, to: String, subject: String = "Delivery Status Notification",
        messageID: String, date: MessageDate, boundary: String, originalEnvelopeID: String? = nil,
        arrivalDate: MessageDate? = nil, recipients: [Recipient], returnedHeader: [UInt8]? = nil,
        humanText: String? = nil, global: Bool = false
    ) {
        self.reportingMTA = reportingMTA
        self.from = from
        self.to = to
        self.subject = subject
        self.messageID = messageID
        self.date = date
        self.boundary = boundary
        self.originalEnvelopeID = originalEnvelopeID
        self.arrivalDate = arrivalDate
        self.recipients = recipients
        self.returnedHeader = returnedHeader
        self.humanText = humanText
        self.global = global
    }

    /// The message bytes, CRLF line ends.
    public func build() -> [UInt8] {
        var out: [UInt8] = []
        func line(_ s: String) {
            out.append(contentsOf: RFC3464Builder.sanitised(s).utf8)
            out.append(0x0D)
            out.append(0x0A)
        }
        line("From: \(from)")
        line("To: \(to)")
        line("Subject: \(subject)")
        line("Date: \(date.rfc5322)")
        line("Message-ID: <\(messageID)>")
        line("Auto-Submitted: auto-replied")
        line("MIME-Version: 1.0")
        line("Content-Type: multipart/report; report-type=delivery-status;")
        line("\tboundary=\"\(boundary)\"")
        line("")
        line("This is a MIME-encapsulated message.")
        line("")
        line("--\(boundary)")
        line("Content-Type: text/plain; charset=utf-8")
        line("")
        if let h = humanText {
            for l in h.split(separator: "\n", omittingEmptySubsequences: false) { line(String(l)) }
        } else {
            line("This is the mail system at host \(reportingMTA).")
            line("")
            for r in recipients { line("<\(r.finalRecipient)>: \(r.action.rawValue) \(r.status)") }
        }
        line("")
        line("--\(boundary)")
        line("Content-Type: \(global ? "message/global-delivery-status" : "message/delivery-status")")
        line("")
        line("Reporting-MTA: dns; \(reportingMTA)")
        if let id = originalEnvelopeID { line("Original-Envelope-Id: \(id)") }
        if let a = arrivalDate { line("Arrival-Date: \(a.rfc5322)") }
        let addressType = global ? "utf-8" : "rfc822"
        for r in recipients {
            line("")
            if let f = r.originalRecipientField {
                line("Original-Recipient: \(f)")
            } else if let o = r.originalRecipient {
                line("Original-Recipient: \(addressType);\(o)")
            }
            line("Final-Recipient: \(addressType); \(r.finalRecipient)")
            line("Action: \(r.action.rawValue)")
            line("Status: \(r.status)")
            if let m = r.remoteMTA { line("Remote-MTA: dns; \(m)") }
            if let d = r.diagnostic { line("Diagnostic-Code: smtp; \(d)") }
            if let l = r.lastAttemptDate { line("Last-Attempt-Date: \(l.rfc5322)") }
            if let w = r.willRetryUntil { line("Will-Retry-Until: \(w.rfc5322)") }
        }
        line("")
        if let m = returnedMessage {
            line("--\(boundary)")
            line("Content-Type: \(global ? "message/global" : "message/rfc822")")
            line("")
            out.append(contentsOf: RFC3464Builder.crlf(m))
            if let last = out.last, last != 0x0A { line("") }
            line("")
        } else if let h = returnedHeader {
            line("--\(boundary)")
            line("Content-Type: \(global ? "message/global-headers" : "text/rfc822-headers")")
            line("")
            let (section, _) = HeaderSection.parse(h[...])
            for f in section.fields {
                out.append(contentsOf: f.name.utf8)
                out.append(0x3A)
                // Keep folds but normalise them to CRLF.
                var previousCR = false
                for b in f.rawValue {
                    if b == 0x0A && !previousCR { out.append(0x0D) }
                    if previousCR && b != 0x0A { out.append(0x0A) }
                    out.append(b)
                    previousCR = b == 0x0D
                }
                if previousCR {
                    out.append(0x0A)
                } else {
                    out.append(0x0D)
                    out.append(0x0A)
                }
            }
            line("")
        }
        line("--\(boundary)--")
        return out
    }

    /// Bare CR or LF become CRLF.
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 40)
        var previousCR = false
        for b in bytes {
            if b == 0x0A && !previousCR { out.append(0x0D) }
            if previousCR && b != 0x0A { out.append(0x0A) }
            out.append(b)
            previousCR = b == 0x0D
        }
        if previousCR { out.append(0x0A) }
        return out
    }

    /// Header and field values never carry line breaks (no header injection).
    static func sanitised(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else { return s }
        return String(decoding: s.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 }, as: UTF8.self)
    }
}
