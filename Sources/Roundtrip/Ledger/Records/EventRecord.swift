import Foundation
import GRDB

/// One row of `events`, the audit trail.
struct EventRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "events"

    var id: Int64?
    var token: String?
    var at: Date
    var kind: String
    /// JSON text.
    var detail: String

    enum CodingKeys: String, CodingKey {
        case id, token, at, kind, detail
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let token = Column(CodingKeys.token)
        static let at = Column(CodingKeys.at)
        static let kind = Column(CodingKeys.kind)
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    func plain() throws -> LedgerEvent {
        guard let id else { throw LedgerError(.corrupt, "an event row has no id") }
        return LedgerEvent(id: EventID(rawValue: id), token: token, at: at, kind: kind, detail: detail)
    }
}
