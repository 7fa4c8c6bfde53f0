/// Credentials for AUTH. The password never appears in a description, a
/// transcript, a report or an error.
public struct AuthCredentials: Sendable, CustomStringConvertible {
    public var user: String
    public var password: String
    /// PLAIN or LOGIN; nil picks PLAIN when offered, else LOGIN.
    public var mechanism: String?

    public init(user: String, password: String, mechanism: String? = nil) {
        self.user = user
        self.password = password
        self.mechanism = mechanism
    }

    public var description: String { "AuthCredentials(user: \(user), password: <redacted>)" }
}

/// What to submit after the dialog's set-up: the envelope with its ESMTP
/// parameters and, optionally, the message (CRLF, not yet dot-stuffed).
public struct SubmissionEnvelope: Sendable {
    public struct Recipient: Sendable {
        public var mailbox: SMTPMailbox
        public var parameters: RcptParameters
        public init(mailbox: SMTPMailbox, parameters: RcptParameters = RcptParameters()) {
            self.mailbox = mailbox
            self.parameters = parameters
        }
    }

    public var reversePath: ReversePath
    public var mailParameters: MailParameters
    public var recipients: [Recipient]
    /// nil: test acceptance only (RSET after RCPT).
    public var message: [UInt8]?
    /// When the server lacks DSN: true stops before MAIL, false sends without
    /// the DSN parameters (and says so).
    public var requireDSN: Bool

    public init(
        reversePath: ReversePath, mailParameters: MailParameters = MailParameters(), recipients: [Recipient],
        message: [UInt8]? = nil, requireDSN: Bool = false
    ) {
        self.reversePath = reversePath
        self.mailParameters = mailParameters
        self.recipients = recipients
        self.message = message
        self.requireDSN = requireDSN
    }
}

/// The server's answer for one recipient of the transaction.
public struct RecipientOutcome: Sendable, Hashable, Codable {
    public var address: String
    public var accepted: Bool
    public var replyCode: Int?
    public var enhancedCode: String?
    public var text: String?
    /// "rcpt", or "data" when the message itself was refused.
    public var refusedAt: String?

    public init(
        address: String, accepted: Bool, replyCode: Int? = nil, enhancedCode: String? = nil, text: String? = nil,
        refusedAt: String? = nil
    ) {
        self.address = address
        self.accepted = accepted
        self.replyCode = replyCode
        self.enhancedCode = enhancedCode
        self.text = text
        self.refusedAt = refusedAt
    }
}

extension SMTPDialog {
    /// The steps of an SMTP dialog, in order. `check` names the step that
    /// failed and maps it to an exit code.
    public enum Step: String, Sendable, Hashable, Codable, CaseIterable {
        case dns
        case connect
        case banner
        case ehlo
        case tls
        case auth
        case mail
        case rcpt
        case data
        case quit
    }

    /// The verdict on one step of the dialog.
    public struct StepResult: Sendable, Hashable, Codable {
        public enum Status: String, Sendable, Hashable, Codable {
            case pass, warn, fail, skip
        }
        public var step: Step
        /// The command as sent (redacted for AUTH), nil for connect/banner.
        public var command: String?
        public var replyCode: Int?
        public var enhancedCode: String?
        public var text: String?
        public var durationMs: Double
        public var status: Status
        public var note: String?

        public init(
            step: Step, command: String?, reply: SMTPReply?, durationMs: Double, status: Status, note: String? = nil
        ) {
            self.step = step
            self.command = command
            self.replyCode = reply?.code
            self.enhancedCode = reply?.enhancedCode?.description
            self.text = reply?.text
            self.durationMs = durationMs
            self.status = status
            self.note = note
        }
    }

    /// Why the dialog stopped; the runner turns it into a `TransportError`.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable {
            case rejected, protocolViolation, tlsFailed, certificateRejected, authFailed, dsnUnavailable, invalidInput
        }
        public var kind: Kind
        public var step: Step
        public var message: String
        public var reply: SMTPReply?

        public init(_ kind: Kind, step: Step, message: String, reply: SMTPReply? = nil) {
            self.kind = kind
            self.step = step
            self.message = message
            self.reply = reply
        }

        public var description: String { "\(step.rawValue): \(message)" }
    }

    /// Which of the runner's timeouts applies to an exchange.
    public enum Timeout: Sendable, Hashable {
        case command, dataStart, dataEnd
    }

    /// Commands to write (one, or a pipelined batch), already checked and
    /// encoded by the session; the replies go back through `receive`.
    public struct Exchange: Sendable, Hashable {
        public var commands: [SMTPCommand]
        public var bytes: [UInt8]
        public var step: Step
        public var timeout: Timeout
        /// A failure of the exchange itself (timeout, closed connection) does
        /// not end the dialog: report it with `exchangeFailed`.
        public var tolerant: Bool
    }

    /// What the runner does next.
    public enum Action: Sendable, Hashable {
        /// Write the commands and feed every reply, in order, to `receive`.
        case send(Exchange)
        /// Arm the TLS switch, write STARTTLS and feed its reply (and the
        /// plaintext octets discarded after it) to `receive`.
        case startTLS(Exchange)
        /// Write the message (dot-stuffed, with the final dot) and feed the
        /// reply to `receive`. `octets` is the size before stuffing.
        case sendMessage(bytes: [UInt8], octets: Int)
        /// The handshake is done: verify the peer and call `tlsVerified`, then `continueAfterTLS`.
        case verifyTLS(discarded: Int)
        /// The dialog is over; close the connection.
        case finished
        /// The dialog failed; QUIT quietly if `quitAfterFailure` allows, then close.
        case failed(Failure)
    }

    /// What the runner learnt about the TLS of the connection.
    public struct TLSCheck: Sendable, Hashable {
        /// e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate trusted".
        public var summary: String
        /// Why the certificate is not trusted, nil when it is.
        public var problem: String?
        /// Whether the policy makes `problem` fatal.
        public var fatal: Bool

        public init(summary: String, problem: String?, fatal: Bool) {
            self.summary = summary
            self.problem = problem
            self.fatal = fatal
        }
    }

    public enum TLSMode: Sendable, Hashable {
        /// TLS from the first octet (port 465): no STARTTLS.
        case implicit
        /// STARTTLS is not attempted.
        case never
        /// STARTTLS when offered; plaintext (with a warning) when not, or when refused.
        case opportunistic
        /// STARTTLS or fail at the TLS step.
        case required
    }

    /// The test message `check --data` sends; stamped by the runner (the
    /// clock and the random id are not this machine's business).
    public struct TestMessageStamp: Sendable, Hashable {
        public var id: String
        /// RFC 5322 date.
        public var date: String
        public init(id: String, date: String) {
            self.id = id
            self.date = date
        }
    }

    public enum Transaction: Sendable {
        /// Greeting, EHLO, TLS, AUTH, QUIT: no transaction.
        case none
        /// `check`: MAIL FROM `from` (default `roundtrip-check@<helo name>`),
        /// RCPT each recipient; the test message when stamped, else RSET.
        case check(from: String?, recipients: [String], testMessage: TestMessageStamp?)
        /// Submit this envelope.
        case submit(SubmissionEnvelope)
    }

    public struct Configuration: Sendable {
        /// Our EHLO name.
        public var heloName: String
        public var tls: TLSMode
        public var auth: AuthCredentials?
        public var allowPlaintextAuth: Bool
        public var transaction: Transaction
        /// A refused recipient fails the dialog at RCPT (check); a submission
        /// goes on with the accepted ones.
        public var refusedRecipientIsFailure: Bool

        public init(
            heloName: String, tls: TLSMode = .opportunistic, auth: AuthCredentials? = nil,
            allowPlaintextAuth: Bool = false,
            transaction: Transaction = .none, refusedRecipientIsFailure: Bool = true
        ) {
            self.heloName = heloName
            self.tls = tls
            self.auth = auth
            self.allowPlaintextAuth = allowPlaintextAuth
            self.transaction = transaction
            self.refusedRecipientIsFailure = refusedRecipientIsFailure
        }
    }
}

extension ReversePath {
    /// The sender's mailbox, nil for the null path.
    public var mailboxValue: SMTPMailbox? {
        if case .mailbox(let m) = self { return m }
        return nil
    }
}
