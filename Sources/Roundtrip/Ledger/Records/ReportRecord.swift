import Foundation
import GRDB

/// One row of `reports`.
struct ReportRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "reports"

    var id: Int64?
    var receivedAt: Date
    var source: String
    var contentHash: String
    var size: Int
    var raw: Data?
    var rawPath: String?
    var parsed: String?
    var kind: ReportKind
    var forged: Bool
    var matchedToken: String?
    var matchKey: ReportMatchKey
    var confidence: MatchConfidence?
    var matchedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id
        case receivedAt = "received_at"
        case source
        case contentHash = "content_hash"
        case size
        case raw
        case rawPath = "raw_path"
        case parsed
        case kind
        case forged
        case matchedToken = "matched_token"
        case matchKey = "match_key"
        case confidence
        case matchedAt = "matched_at"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let receivedAt = Column(CodingKeys.receivedAt)
        static let contentHash = Column(CodingKeys.contentHash)
        static let raw = Column(CodingKeys.raw)
        static let rawPath = Column(CodingKeys.rawPath)
        static let kind = Column(CodingKeys.kind)
        static let matchedToken = Column(CodingKeys.matchedToken)
    }

    /// Every column but the raw bytes, for listings.
    static let summaryColumns: [Column] = [
        Column(CodingKeys.id), Column(CodingKeys.receivedAt), Column(CodingKeys.source), Column(CodingKeys.contentHash),
        Column(CodingKeys.size), Column(CodingKeys.rawPath), Column(CodingKeys.parsed), Column(CodingKeys.kind),
        Column(CodingKeys.forged), Column(CodingKeys.matchedToken), Column(CodingKeys.matchKey),
        Column(CodingKeys.confidence), Column(CodingKeys.matchedAt),
    ]

    init(_ new: NewReport, contentHash: String) {
        receivedAt = new.receivedAt
        source = new.source
        self.contentHash = contentHash
        size = new.raw.count
        switch new.storage {
        case .inline:
            raw = Data(new.raw)
            rawPath = nil
        case .file(let path):
            raw = nil
            rawPath = path
        }
        parsed = new.parsed
        kind = new.kind
        forged = new.forged
        matchedToken = nil
        matchKey = .none
        confidence = nil
        matchedAt = nil
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    func plain() throws -> LedgerReport {
        guard let id else { throw LedgerError(.corrupt, "a report row has no id") }
        return LedgerReport(
            id: ReportID(rawValue: id), receivedAt: receivedAt, source: source, contentHash: contentHash, size: size,
            rawPath: rawPath, parsed: parsed, kind: kind, forged: forged, matchedToken: matchedToken,
            matchKey: matchKey, confidence: confidence, matchedAt: matchedAt
        )
    }
}
