/// The one error type of the ledger (postgres-nio style: a code plus a
/// message that never contains secrets; the key bytes are never printed).
public struct LedgerError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownProbe, unknownRecipient, unknownReport, duplicateProbe, invalidArgument
            case conflictingMatch, ledgerTooNew, locked, insecureKeyFile, invalidKeyFile, io, corrupt, configuration
            case unavailable
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No probe with that token.
        public static let unknownProbe = Code(.unknownProbe)
        /// The probe has no such recipient.
        public static let unknownRecipient = Code(.unknownRecipient)
        /// No report with that id.
        public static let unknownReport = Code(.unknownReport)
        /// A probe with that token is already recorded.
        public static let duplicateProbe = Code(.duplicateProbe)
        /// A value the ledger refuses (bad JSON, a verdict a report cannot give, ...).
        public static let invalidArgument = Code(.invalidArgument)
        /// The report is already matched to another probe.
        public static let conflictingMatch = Code(.conflictingMatch)
        /// The file was migrated by a newer roundtrip.
        public static let ledgerTooNew = Code(.ledgerTooNew)
        /// Another process held the ledger's setup lock for longer than the busy timeout.
        public static let locked = Code(.locked)
        /// The key file may be read or written by group or others, or belongs to another user.
        public static let insecureKeyFile = Code(.insecureKeyFile)
        /// The key file is not a regular 32-octet file.
        public static let invalidKeyFile = Code(.invalidKeyFile)
        /// A system call failed.
        public static let io = Code(.io)
        /// A stored value does not decode (written by something else than this ledger).
        public static let corrupt = Code(.corrupt)
        /// No data directory could be determined.
        public static let configuration = Code(.configuration)
        /// The database server cannot be reached or did not answer in time (PostgreSQL).
        public static let unavailable = Code(.unavailable)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "ledger: \(message)" }
}
