import Foundation
import GRDB

/// One row of `probes`.
struct ProbeRecord: Codable, Sendable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "probes"

    var token: String
    var createdAt: Date
    var deadline: Date
    var returnPath: String
    var envelopeID: String
    var messageID: String
    var subject: String
    var server: String?
    /// JSON array of strings.
    var mxTried: String
    /// JSON text.
    var transcript: String
    var dsnAvailable: Bool?
    var status: ProbeStatus

    enum CodingKeys: String, CodingKey {
        case token
        case createdAt = "created_at"
        case deadline
        case returnPath = "return_path"
        case envelopeID = "envelope_id"
        case messageID = "message_id"
        case subject
        case server
        case mxTried = "mx_tried"
        case transcript
        case dsnAvailable = "dsn_available"
        case status
    }

    enum Columns {
        static let token = Column(CodingKeys.token)
        static let createdAt = Column(CodingKeys.createdAt)
        static let deadline = Column(CodingKeys.deadline)
        static let server = Column(CodingKeys.server)
        static let mxTried = Column(CodingKeys.mxTried)
        static let transcript = Column(CodingKeys.transcript)
        static let dsnAvailable = Column(CodingKeys.dsnAvailable)
        static let status = Column(CodingKeys.status)
    }

    init(_ new: NewProbe) {
        token = new.token
        createdAt = new.createdAt
        deadline = new.deadline
        returnPath = new.returnPath
        envelopeID = new.envelopeID
        messageID = new.messageID
        subject = new.subject
        server = nil
        mxTried = "[]"
        transcript = "[]"
        dsnAvailable = nil
        status = .pending
    }

    func plain() throws -> LedgerProbe {
        let mx: [String]
        do {
            mx = try JSONDecoder().decode([String].self, from: Data(mxTried.utf8))
        } catch {
            throw LedgerError(.corrupt, "probe \(token): mx_tried is not a JSON array of strings")
        }
        return LedgerProbe(
            token: token, createdAt: createdAt, deadline: deadline, returnPath: returnPath, envelopeID: envelopeID,
            messageID: messageID, subject: subject, server: server, mxTried: mx, transcript: transcript,
            dsnAvailable: dsnAvailable, status: status
        )
    }
}
