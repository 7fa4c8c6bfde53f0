import NIOCore
import SMTPCore

/// The steps of an SMTP dialog, in order (defined with the dialog machine).
public typealias SMTPStep = SMTPDialog.Step
/// The verdict on one step of the dialog.
public typealias CheckStepResult = SMTPDialog.StepResult

/// Per-step timeouts, RFC 5321 §4.5.3.2 minimums by default.
public struct SMTPTimeouts: Sendable, Hashable {
    public var connect: TimeAmount = .seconds(30)
    public var greeting: TimeAmount = .minutes(5)
    public var command: TimeAmount = .minutes(5)
    public var dataStart: TimeAmount = .minutes(2)
    public var dataEnd: TimeAmount = .minutes(10)
    public var tlsHandshake: TimeAmount = .seconds(60)

    public init() {}

    /// One limit for every step (`--timeout`).
    public init(all: TimeAmount) {
        connect = all
        greeting = all
        command = all
        dataStart = all
        dataEnd = all
        tlsHandshake = all
    }

    func limit(_ timeout: SMTPDialog.Timeout) -> TimeAmount {
        switch timeout {
        case .command: return command
        case .dataStart: return dataStart
        case .dataEnd: return dataEnd
        }
    }
}

/// How to reach one server and what to say in the dialog's set-up (EHLO
/// name, TLS, AUTH); `check` adds its acceptance test, a submission its envelope.
public struct SMTPCheckOptions: Sendable {
    public var host: String
    public var port: Int
    /// Our EHLO name.
    public var heloName: String
    public var from: String?
    public var recipients: [String]
    public var tls: TLSPolicy
    public var auth: AuthCredentials?
    public var allowPlaintextAuth: Bool
    /// Send a small test message after RCPT (it will be delivered).
    public var sendData: Bool
    public var timeouts: SMTPTimeouts
    /// Resolves the host's addresses (the test DNS server); nil uses the system.
    public var resolver: (any MXResolver)?
    /// A refused recipient fails the run at RCPT (check); a submission goes on
    /// with the accepted ones.
    public var refusedRecipientIsFailure = true

    public init(
        host: String, port: Int, heloName: String, from: String? = nil, recipients: [String] = [],
        tls: TLSPolicy = TLSPolicy(),
        auth: AuthCredentials? = nil, allowPlaintextAuth: Bool = false, sendData: Bool = false,
        timeouts: SMTPTimeouts = SMTPTimeouts(), resolver: (any MXResolver)? = nil
    ) {
        self.host = host
        self.port = port
        self.heloName = heloName
        self.from = from
        self.recipients = recipients
        self.tls = tls
        self.auth = auth
        self.allowPlaintextAuth = allowPlaintextAuth
        self.sendData = sendData
        self.timeouts = timeouts
        self.resolver = resolver
    }
}

public struct CapabilityEntry: Sendable, Hashable, Codable {
    public var keyword: String
    public var parameters: [String]
}

/// Everything one SMTP session (`roundtrip check`, or one submission attempt)
/// found out about one server.
public struct SMTPCheckReport: Sendable, Codable {
    public var host: String
    public var port: Int
    /// The address actually connected to.
    public var address: String?
    public var banner: String?
    public var serverName: String?
    public var steps: [CheckStepResult] = []
    public var capabilities: [CapabilityEntry] = []
    public var usedHELO = false
    public var dsn = false
    /// Whether DSN parameters went out with MAIL and RCPT.
    public var dsnRequested = false
    public var recipients: [RecipientOutcome] = []
    /// The reply after the message data; 2xx means the server owns the message.
    public var dataReplyCode: Int?
    public var dataReplyText: String?
    /// Seconds since the start when the final 250 arrived.
    public var acceptedAt: Double?
    public var tls: TLSReport?
    public var warnings: [String] = []
    /// The step that failed, nil when the dialog passed.
    public var failedStep: SMTPStep?
    /// What kind of failure (connectFailed, rejected, timeout, tlsFailed, ...).
    public var failureKind: TransportError.Kind?
    public var error: String?
    public var transcript: [TranscriptEntry] = []

    public var passed: Bool { failedStep == nil }
}
