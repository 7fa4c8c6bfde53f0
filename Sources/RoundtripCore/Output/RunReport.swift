import Foundation

/// One submission attempt (one server, one transaction).
public struct SubmissionSummary: Sendable, Hashable, Codable {
    /// host:port as named (MX host or --server).
    public var target: String
    /// The address connected to.
    public var address: String?
    public var mxPreference: Int?
    public var dsnAdvertised: Bool
    public var dsnRequested: Bool
    public var tls: String?
    public var recipients: [String]
    /// Why this server did not take the probe, when it did not.
    public var error: String?
    public var failedStep: String?

    public init(
        target: String, address: String? = nil, mxPreference: Int? = nil, dsnAdvertised: Bool = false,
        dsnRequested: Bool = false, tls: String? = nil, recipients: [String] = [], error: String? = nil,
        failedStep: String? = nil
    ) {
        self.target = target
        self.address = address
        self.mxPreference = mxPreference
        self.dsnAdvertised = dsnAdvertised
        self.dsnRequested = dsnRequested
        self.tls = tls
        self.recipients = recipients
        self.error = error
        self.failedStep = failedStep
    }
}

/// Everything a verify/status run knows, for every output format
/// (schema in docs/verify-json.md).
public struct RunReport: Sendable, Codable {
    public var schemaVersion = 1
    public var token: String
    public var returnPath: String
    public var messageID: String
    public var startedAt: Date
    public var finishedAt: Date
    public var deadlineSeconds: Double
    public var strict: Bool
    public var submissions: [SubmissionSummary]
    public var recipients: [RecipientResult]
    /// Reports that matched no probe, and reports carrying forged tokens.
    public var unmatchedReports: Int
    public var forgedReports: Int
    public var warnings: [String]
    public var exitCode: Int32

    public init(
        token: String, returnPath: String, messageID: String, startedAt: Date, finishedAt: Date,
        deadlineSeconds: Double,
        strict: Bool, submissions: [SubmissionSummary], recipients: [RecipientResult], unmatchedReports: Int = 0,
        forgedReports: Int = 0, warnings: [String] = [], exitCode: Int32
    ) {
        self.token = token
        self.returnPath = returnPath
        self.messageID = messageID
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.deadlineSeconds = deadlineSeconds
        self.strict = strict
        self.submissions = submissions
        self.recipients = recipients
        self.unmatchedReports = unmatchedReports
        self.forgedReports = forgedReports
        self.warnings = warnings
        self.exitCode = exitCode
    }

    public var elapsedSeconds: Double { finishedAt.timeIntervalSince(startedAt) }
}
