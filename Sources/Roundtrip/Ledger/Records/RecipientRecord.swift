import Foundation
import GRDB
import RoundtripCore

/// One row of `recipients`. `Verdict` is stored through its existing
/// `Codable` raw value; no GRDB conformance is added to the pure type.
struct RecipientRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "recipients"

    var id: Int64?
    var probeToken: String
    var address: String
    var position: Int
    var replyStage: SubmissionStage?
    var replyCode: Int?
    var replyEnhanced: String?
    var replyText: String?
    var accepted: Bool?
    var verdict: Verdict
    var statusCode: String?
    var diagnostic: String?
    var remoteMTA: String?
    var reportingMTA: String?
    var unconfirmedReports: Int = 0
    var reportID: Int64?
    var reportedAt: Date?
    var latencyMs: Int64?

    enum CodingKeys: String, CodingKey {
        case id
        case probeToken = "probe_token"
        case address
        case position
        case replyStage = "reply_stage"
        case replyCode = "reply_code"
        case replyEnhanced = "reply_enhanced"
        case replyText = "reply_text"
        case accepted
        case verdict
        case statusCode = "status_code"
        case diagnostic
        case remoteMTA = "remote_mta"
        case reportingMTA = "reporting_mta"
        case unconfirmedReports = "unconfirmed_reports"
        case reportID = "report_id"
        case reportedAt = "reported_at"
        case latencyMs = "latency_ms"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let probeToken = Column(CodingKeys.probeToken)
        static let address = Column(CodingKeys.address)
        static let position = Column(CodingKeys.position)
        static let verdict = Column(CodingKeys.verdict)
        static let reportID = Column(CodingKeys.reportID)
    }

    init(probeToken: String, address: String, position: Int) {
        self.probeToken = probeToken
        self.address = address
        self.position = position
        verdict = .pending
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    var plain: LedgerRecipient {
        LedgerRecipient(
            probeToken: probeToken, address: address, position: position, replyStage: replyStage, replyCode: replyCode,
            replyEnhancedCode: replyEnhanced, replyText: replyText, accepted: accepted, verdict: verdict,
            statusCode: statusCode, diagnostic: diagnostic, remoteMTA: remoteMTA, reportingMTA: reportingMTA,
            unconfirmedReports: unconfirmedReports, reportID: reportID.map(ReportID.init),
            reportedAt: reportedAt, latencyMilliseconds: latencyMs
        )
    }
}
