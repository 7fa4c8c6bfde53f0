import Foundation
import RoundtripCore
import SMTPCore

/// Where a probe stands as a whole.
public enum ProbeStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Some recipient still waits for a report.
    case pending
    /// Every recipient has a final verdict.
    case complete
    /// The deadline passed; recipients that were still pending got `timeout`.
    case expired
}

/// Which correlation key tied a report to a probe: the correlator's own key.
public typealias ReportMatchKey = CorrelationKey

/// How sure the correlation is: the correlator's own confidence.
public typealias MatchConfidence = Confidence

extension Confidence {
    var rank: Int {
        switch self {
        case .high: return 2
        case .medium: return 1
        case .low: return 0
        }
    }
}

/// Whether a received message was a delivery report at all.
public enum ReportKind: String, Sendable, Hashable, Codable, CaseIterable {
    case report
    /// Something else that reached the return path (spam, an auto-reply...).
    case notAReport = "not-a-report"
}

/// The SMTP step whose reply decided a recipient at submission.
public enum SubmissionStage: String, Sendable, Hashable, Codable, CaseIterable {
    case rcpt, data
}

public struct ReportID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

public struct EventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

// MARK: - Inputs

/// A probe about to be submitted. It is recorded *before* submission so that
/// a report arriving within milliseconds (a listener in another process) finds it.
public struct NewProbe: Sendable, Hashable {
    public var token: String
    public var createdAt: Date
    /// When to stop waiting for reports.
    public var deadline: Date
    /// `localpart+TOKEN@return.domain`.
    public var returnPath: String
    /// The ENVID value.
    public var envelopeID: String
    /// Without angle brackets.
    public var messageID: String
    public var subject: String
    /// Envelope recipients, in RCPT order.
    public var recipients: [String]

    public init(
        token: String, createdAt: Date, deadline: Date, returnPath: String, envelopeID: String,
        messageID: String, subject: String, recipients: [String]
    ) {
        self.token = token
        self.createdAt = createdAt
        self.deadline = deadline
        self.returnPath = returnPath
        self.envelopeID = envelopeID
        self.messageID = messageID
        self.subject = subject
        self.recipients = recipients
    }

    /// The ledger's view of a built probe.
    public init(_ probe: Probe, createdAt: Date, deadline: Date) {
        self.init(
            token: probe.token.value, createdAt: createdAt, deadline: deadline,
            returnPath: probe.returnPath.description,
            envelopeID: probe.mailParameters.envelopeID?.value ?? probe.token.value,
            messageID: probe.messageID, subject: probe.subject,
            recipients: probe.recipients.map { $0.mailbox.description }
        )
    }
}

/// A received message, before correlation.
public struct NewReport: Sendable, Hashable {
    public enum Storage: Sendable, Hashable {
        /// Keep the bytes in the ledger.
        case inline
        /// The bytes stay in a file (a spool or Maildir file); the ledger keeps the path.
        case file(path: String)
    }

    public var receivedAt: Date
    /// `listener`, `imap://host/INBOX;UID=17`, `maildir:/path/new/file`...
    public var source: String
    /// The message as received: the content hash is taken over these bytes.
    public var raw: [UInt8]
    public var storage: Storage
    /// The parsed report as JSON text, or nil when it did not parse.
    public var parsed: String?
    public var kind: ReportKind
    /// It carries a token-shaped value whose HMAC does not verify.
    public var forged: Bool

    public init(
        receivedAt: Date, source: String, raw: [UInt8], storage: Storage = .inline, parsed: String? = nil,
        kind: ReportKind = .report, forged: Bool = false
    ) {
        self.receivedAt = receivedAt
        self.source = source
        self.raw = raw
        self.storage = storage
        self.parsed = parsed
        self.kind = kind
        self.forged = forged
    }
}

// MARK: - Stored values

public struct LedgerProbe: Sendable, Hashable {
    public var token: String
    public var createdAt: Date
    public var deadline: Date
    public var returnPath: String
    public var envelopeID: String
    public var messageID: String
    public var subject: String
    /// `host:port` actually used; nil until the session is recorded.
    public var server: String?
    /// MX hosts tried, in order.
    public var mxTried: [String]
    /// The submission transcript as JSON text, redacted by whoever recorded it.
    public var transcript: String
    /// Whether the server offered DSN; nil until the session is recorded.
    public var dsnAvailable: Bool?
    public var status: ProbeStatus
}

public struct LedgerRecipient: Sendable, Hashable {
    public var probeToken: String
    public var address: String
    /// RCPT order, from 0.
    public var position: Int
    public var replyStage: SubmissionStage?
    public var replyCode: Int?
    public var replyEnhancedCode: String?
    public var replyText: String?
    /// nil until submitted.
    public var accepted: Bool?
    public var verdict: Verdict
    /// The report's `Status` (x.y.z).
    public var statusCode: String?
    public var diagnostic: String?
    public var remoteMTA: String?
    /// The report's `Reporting-MTA`.
    public var reportingMTA: String?
    /// Reports that named this recipient without a valid probe token.
    public var unconfirmedReports: Int
    /// The report that gave the verdict.
    public var reportID: ReportID?
    public var reportedAt: Date?
    /// From the probe's creation to the report's receipt.
    public var latencyMilliseconds: Int64?
}

public struct LedgerReport: Sendable, Hashable {
    public var id: ReportID
    public var receivedAt: Date
    public var source: String
    /// SHA-256 of the raw bytes, lower-case hex.
    public var contentHash: String
    public var size: Int
    /// Set when the bytes live in a file.
    public var rawPath: String?
    public var parsed: String?
    public var kind: ReportKind
    public var forged: Bool
    public var matchedToken: String?
    public var matchKey: ReportMatchKey
    public var confidence: MatchConfidence?
    public var matchedAt: Date?
}

public enum ReportRaw: Sendable, Hashable {
    case bytes([UInt8])
    case file(path: String)
}

public struct LedgerEvent: Sendable, Hashable {
    public var id: EventID
    public var token: String?
    public var at: Date
    public var kind: String
    /// JSON text.
    public var detail: String
}

/// A probe with its recipients.
public struct ProbeSummary: Sendable, Hashable {
    public var probe: LedgerProbe
    public var recipients: [LedgerRecipient]
}

/// A probe with everything the ledger knows about it.
public struct ProbeDetails: Sendable, Hashable {
    public var probe: LedgerProbe
    public var recipients: [LedgerRecipient]
    /// Reports matched to the probe, oldest first.
    public var reports: [LedgerReport]
    /// Its audit trail, oldest first.
    public var events: [LedgerEvent]
    /// The probe seen in recipients' mailboxes (`verify --arrival`).
    public var arrivals: [LedgerArrival] = []
}

/// What `attach` did to the recipient.
public struct AttachOutcome: Sendable, Hashable {
    public var previous: Verdict
    public var current: Verdict
    /// False when the existing verdict was stronger (e.g. a `delayed` after `delivered`).
    public var changed: Bool { previous != current }
    public var probeStatus: ProbeStatus
}

/// What `expire` changed for one probe.
public struct ExpiredProbe: Sendable, Hashable {
    public var token: String
    /// Recipients whose verdict became `timeout`.
    public var timedOut: [String]
    /// Recipients left `delayed`: a report proved the inbound path, so they are not a timeout.
    public var stillDelayed: [String]
}

/// An opaque fingerprint of the ledger (or of one probe) for `waitForUpdate`.
public struct LedgerRevision: Hashable, Sendable {
    let value: String
}

/// The server's reply to one recipient of a probe at RCPT or DATA, as the ledger records it.
public struct LedgerSubmission: Sendable, Hashable {
    public var recipient: String
    public var reply: SMTPReply
    public var stage: SubmissionStage
    /// Must agree with the reply (2xx).
    public var accepted: Bool

    public init(recipient: String, reply: SMTPReply, stage: SubmissionStage = .rcpt, accepted: Bool) {
        self.recipient = recipient
        self.reply = reply
        self.stage = stage
        self.accepted = accepted
    }
}

/// What a report says about one recipient of a probe, as the ledger applies it.
public struct LedgerAttachment: Sendable, Hashable {
    public var recipient: String
    public var verdict: Verdict
    public var status: String?
    public var diagnostic: String?
    public var remoteMTA: String?
    public var reportingMTA: String?
    public var key: ReportMatchKey
    public var confidence: MatchConfidence

    public init(
        recipient: String, verdict: Verdict, status: String?, diagnostic: String?, remoteMTA: String? = nil,
        reportingMTA: String? = nil, key: ReportMatchKey, confidence: MatchConfidence
    ) {
        self.recipient = recipient
        self.verdict = verdict
        self.status = status
        self.diagnostic = diagnostic
        self.remoteMTA = remoteMTA
        self.reportingMTA = reportingMTA
        self.key = key
        self.confidence = confidence
    }

    public init(_ e: ReportEvidence) {
        self.init(
            recipient: e.address, verdict: e.verdict, status: e.status, diagnostic: e.diagnostic,
            remoteMTA: e.remoteMTA, reportingMTA: e.reportingMTA, key: e.key, confidence: e.confidence ?? .low)
    }
}
