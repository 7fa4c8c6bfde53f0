import MailCore

/// A `type; value` pair as used by address, MTA-name and diagnostic fields.
///
///     Reporting-MTA: dns; mx1.dest.example
///
/// The type keyword is lower-cased (types are case-insensitive); the value keeps its case.
public struct TypedValue: Sendable, Hashable {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }
}

/// What a delivery report says happened to one recipient.
/// - SeeAlso: RFC 3464 §2.3.3.
public enum DeliveryAction: String, Sendable, Hashable, CaseIterable {
    case delivered, failed, delayed, relayed, expanded
}

/// One delivery report (DSN or legacy NDR) read from one message.
public struct DeliveryReport: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// `multipart/report; report-type=delivery-status` with `message/delivery-status` (RFC 3464/6522).
        case rfc3464
        /// A report with `message/global-delivery-status` (RFC 6533).
        case rfc6533
        /// A delivery-status part that is not inside a `multipart/report`.
        case dsnPartWithoutReport
        /// No machine-readable part; recognised by the heuristics for one MTA family.
        case legacy(family: String)
        /// Not a delivery report (ARF complaint, auto-reply, MDN, plain mail); never a verdict.
        case notAReport(reason: NotAReportReason)

        /// A short stable name: `rfc3464`, `rfc6533`, `dsn-part-without-report`, `legacy`, `not-a-report`.
        public var name: String {
            switch self {
            case .rfc3464: return "rfc3464"
            case .rfc6533: return "rfc6533"
            case .dsnPartWithoutReport: return "dsn-part-without-report"
            case .legacy: return "legacy"
            case .notAReport: return "not-a-report"
            }
        }

        public var isReport: Bool {
            if case .notAReport = self { return false }
            return true
        }
    }

    public enum NotAReportReason: String, Sendable, Hashable {
        /// `multipart/report; report-type=feedback-report` (RFC 5965).
        case feedbackReport = "arf"
        /// Auto-replies (RFC 3834), vacation notices.
        case autoReply = "auto-reply"
        /// Message disposition notifications (RFC 8098).
        case dispositionNotification = "mdn"
        /// Anything else.
        case plainMail = "plain-mail"
    }

    public var kind: Kind

    // Per-message fields (RFC 3464 §2.2).
    public var originalEnvelopeID: String?
    public var reportingMTA: TypedValue?
    public var dsnGateway: TypedValue?
    public var receivedFromMTA: TypedValue?
    /// `Arrival-Date` as written.
    public var arrivalDateText: String?
    /// `Arrival-Date` parsed (on access).
    public var arrivalDate: MessageDate? { arrivalDateText.flatMap { MessageDate($0) } }
    /// Per-message fields we do not model, by lower-cased name (`x-postfix-queue-id`, …).
    public var extraFields: [String: String]

    public var recipients: [RecipientReport]

    /// Headers of the original message, from part 3 or quoted in a legacy body.
    public var returnedHeaders: ReturnedHeaders?

    /// The report's own header fields that carry the return path (correlation hints).
    public var envelope: ReportEnvelope

    public init(
        kind: Kind, originalEnvelopeID: String? = nil, reportingMTA: TypedValue? = nil,
        dsnGateway: TypedValue? = nil, receivedFromMTA: TypedValue? = nil, arrivalDateText: String? = nil,
        extraFields: [String: String] = [:], recipients: [RecipientReport] = [],
        returnedHeaders: ReturnedHeaders? = nil, envelope: ReportEnvelope = ReportEnvelope()
    ) {
        self.kind = kind
        self.originalEnvelopeID = originalEnvelopeID
        self.reportingMTA = reportingMTA
        self.dsnGateway = dsnGateway
        self.receivedFromMTA = receivedFromMTA
        self.arrivalDateText = arrivalDateText
        self.extraFields = extraFields
        self.recipients = recipients
        self.returnedHeaders = returnedHeaders
        self.envelope = envelope
    }
}

/// Per-recipient fields (RFC 3464 §2.3).
public struct RecipientReport: Sendable, Hashable {
    /// `Final-Recipient` (type lower-cased, address trimmed of blanks and angle brackets,
    /// `\x{…}` decoded for `utf-8`).
    public var finalRecipient: TypedValue?
    /// `Original-Recipient` exactly as written (after the type).
    public var originalRecipient: TypedValue?
    /// `Original-Recipient` xtext-decoded (`rfc822`) or `\x{…}`-decoded (`utf-8`); compare both.
    public var originalRecipientDecoded: String?
    public var action: DeliveryAction
    /// The Action as written when it was not one of the five registered values.
    public var actionRaw: String?
    /// True when `action` was mapped from an unknown or missing value by the status class.
    public var actionInferred: Bool
    /// The status: the `Status` field, except that a generic `x.0.0` field yields to a more specific
    /// code of the same class quoted in the Diagnostic-Code; without a field, the code in the
    /// diagnostic; else a guess from the reply code (`statusIsPseudo`).
    public var status: StatusCode?
    /// The enhanced code found in the Diagnostic-Code text, if any.
    public var diagnosticStatus: StatusCode? = nil
    /// True when the status is a guess from the SMTP reply code or the class (not written).
    public var statusIsPseudo: Bool
    public var remoteMTA: TypedValue?
    public var diagnosticType: String?
    /// `Diagnostic-Code` text, kept raw (unfolded only).
    public var diagnostic: String?
    /// `Last-Attempt-Date` as written; `lastAttemptDate` parses it on access.
    public var lastAttemptDateText: String?
    public var lastAttemptDate: MessageDate? { lastAttemptDateText.flatMap { MessageDate($0) } }
    /// `Will-Retry-Until` as written; `willRetryUntil` parses it on access.
    public var willRetryUntilText: String?
    public var willRetryUntil: MessageDate? { willRetryUntilText.flatMap { MessageDate($0) } }
    public var finalLogID: String?
    /// Per-recipient fields we do not model, by lower-cased name.
    public var extraFields: [String: String]

    public init(
        finalRecipient: TypedValue? = nil, originalRecipient: TypedValue? = nil,
        originalRecipientDecoded: String? = nil, action: DeliveryAction, actionRaw: String? = nil,
        actionInferred: Bool = false, status: StatusCode? = nil, statusIsPseudo: Bool = false,
        remoteMTA: TypedValue? = nil, diagnosticType: String? = nil, diagnostic: String? = nil,
        lastAttemptDateText: String? = nil, willRetryUntilText: String? = nil, finalLogID: String? = nil,
        extraFields: [String: String] = [:]
    ) {
        self.finalRecipient = finalRecipient
        self.originalRecipient = originalRecipient
        self.originalRecipientDecoded = originalRecipientDecoded
        self.action = action
        self.actionRaw = actionRaw
        self.actionInferred = actionInferred
        self.status = status
        self.statusIsPseudo = statusIsPseudo
        self.remoteMTA = remoteMTA
        self.diagnosticType = diagnosticType
        self.diagnostic = diagnostic
        self.lastAttemptDateText = lastAttemptDateText
        self.willRetryUntilText = willRetryUntilText
        self.finalLogID = finalLogID
        self.extraFields = extraFields
    }

    /// The best address for this recipient: Final-Recipient, else the decoded Original-Recipient.
    /// A Final-Recipient that is not a mailbox (an `x400;` O/R address, RFC 3464 §2.3.2) yields to
    /// an Original-Recipient that is one.
    public var address: String {
        let original = originalRecipientDecoded ?? originalRecipient?.value ?? ""
        if let f = finalRecipient?.value, !f.isEmpty {
            if !RecipientReport.isMailbox(f) && RecipientReport.isMailbox(original) { return original }
            return f
        }
        return original
    }

    /// `local@domain` with both sides non-empty and no blanks or `/` in the domain.
    static func isMailbox(_ a: String) -> Bool {
        let u = a.utf8
        guard let at = u.lastIndex(of: 0x40), at != u.startIndex, u.index(after: at) != u.endIndex else { return false }
        return !u[u.index(after: at)...].contains { $0 == 0x20 || $0 == 0x2F }
    }
}

/// Headers of the returned original message, with the correlation keys pulled out.
public struct ReturnedHeaders: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable {
        case rfc822Headers = "text/rfc822-headers"
        case rfc822Message = "message/rfc822"
        case globalHeaders = "message/global-headers"
        case globalMessage = "message/global"
        case inlineText = "inline"
    }

    public var source: Source
    public var header: HeaderSection

    public init(source: Source, header: HeaderSection) {
        self.source = source
        self.header = header
    }

    /// `Message-ID` without angle brackets.
    public var messageID: String? { header.value("message-id").map(ReturnedHeaders.stripAngles) }
    public var subject: String? { header["subject"]?.decodedValue }
    public var roundtripProbe: String? { header.value("x-roundtrip-probe") }
    public var from: String? { header["from"]?.decodedValue }
    public var to: String? { header["to"]?.decodedValue }
    public var date: String? { header.value("date") }
    public var returnPath: String? { header.value("return-path").flatMap(AddressParser.addrSpec(in:)) }

    static func stripAngles(_ s: String) -> String {
        var t = s.trimmedBlanks
        if let open = t.firstIndex(of: "<"), let close = t[open...].firstIndex(of: ">") {
            t = String(t[t.index(after: open)..<close])
        }
        return t
    }
}

/// The report's own header fields that carry our return path (strongest correlation keys).
/// Values are read from the header on access, so parsing pays nothing for unused keys.
public struct ReportEnvelope: Sendable, Hashable {
    /// The report's own header section.
    public var header: HeaderSection

    public init(header: HeaderSection = HeaderSection()) { self.header = header }

    func addresses(_ name: String) -> [String] {
        header.all(name).flatMap { f -> [String] in
            f.value.splitASCII(0x2C).compactMap { AddressParser.addrSpec(in: String($0)) }
        }
    }

    public var to: [String] { addresses("to") }
    public var deliveredTo: [String] { addresses("delivered-to") }
    public var xOriginalTo: [String] { addresses("x-original-to") }
    public var returnPath: String? { header.value("return-path").flatMap { AddressParser.addrSpec(in: $0) } }
    public var from: String? { header["from"]?.decodedValue }
    public var subject: String? { header["subject"]?.decodedValue }
    public var messageID: String? { header.value("message-id").map(ReturnedHeaders.stripAngles) }
    public var dateText: String? { header.value("date") }
    public var date: MessageDate? { dateText.flatMap { MessageDate($0) } }
}
