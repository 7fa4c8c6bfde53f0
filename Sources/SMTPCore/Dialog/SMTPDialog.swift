import MailCore

/// The SMTP dialog of `check` and of probe submission as a value type:
/// greeting, EHLO (HELO fallback), STARTTLS, AUTH (PLAIN or LOGIN, never in
/// plaintext unless allowed), MAIL with or without DSN parameters, RCPT,
/// DATA, RSET, QUIT. It takes replies and returns the next action, and
/// judges every step (`steps`, `warnings`, `recipients`). What may be sent
/// when, and the encoding, is `SMTPClientSession`'s business, which it
/// drives. It performs no I/O: time comes in as seconds since the start.
public struct SMTPDialog: Sendable {
    public let configuration: Configuration
    public private(set) var session: SMTPClientSession
    public private(set) var steps: [StepResult] = []
    public private(set) var warnings: [String] = []
    public private(set) var recipients: [RecipientOutcome] = []
    /// The greeting's text and the server's name in it.
    public private(set) var banner: String?
    public private(set) var serverName: String?
    /// The capabilities of the last EHLO/HELO that succeeded.
    public private(set) var capabilities: EHLOCapabilities?
    public private(set) var usedHELO = false
    /// Whether DSN parameters went out with MAIL and RCPT.
    public private(set) var dsnRequested = false
    /// The reply after the message data.
    public private(set) var dataReply: SMTPReply?
    /// When the message was accepted (the final 2xx).
    public private(set) var acceptedAt: Double?

    private enum AuthPhase: Sendable {
        /// `first` went out; `responses` answer the next 334 challenges in order.
        case exchanging(first: SMTPCommand, responses: [String])
        /// The server still challenged after the last response: "*" went out.
        case aborting(first: SMTPCommand, reply: SMTPReply)
    }

    private enum Phase: Sendable {
        case connecting
        case greeting
        case ehlo
        case helo
        case startTLS
        case handshake(command: String, reply: SMTPReply)
        case ehloAfterTLS
        case auth(mechanism: String, AuthPhase)
        /// MAIL went out with the first `pipelined` RCPT commands behind it.
        case mail(SubmissionEnvelope, pipelined: Int)
        /// RCPT for `envelope.recipients[from..<from + count]`.
        case rcpt(SubmissionEnvelope, from: Int, count: Int)
        case data(message: [UInt8])
        case message
        case rset
        case quit(refused: SMTPReply?)
        case over
    }

    private var phase: Phase = .connecting
    /// When the step under way started (its command went out).
    private var stepStart = 0.0
    private var transactionStart = 0.0
    private var dataStart = 0.0
    private var tlsStart = 0.0
    private var refusedRecipient: SMTPReply?
    /// The transaction under way (as sent: DSN parameters dropped where the server lacks DSN)
    /// and where its recipients' outcomes start in `recipients`.
    private var transaction: SubmissionEnvelope?
    private var transactionOutcomes = 0
    /// Recipients a server limit turned away with 452 after others were accepted: they go in
    /// the next transaction (RFC 5321 §4.5.3.1.10).
    private var overflow: [SubmissionEnvelope.Recipient] = []
    /// Recipients accepted in the transaction under way.
    private var acceptedInTransaction = 0
    /// RCPT commands pipelined at once: RFC 5321 §4.5.3.1.8 has every server take at least 100
    /// recipients, and a server counts the refusals beyond its limit as errors (Postfix drops the
    /// session after `smtpd_recipient_overshoot_limit`, 1000): never more than this past it.
    static let recipientBatch = 100
    /// The 421 that closed the session, and the step it answered.
    private var closedBy: (reply: SMTPReply, step: Step)?

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.session = SMTPClientSession(
            policy: .init(allowPlaintextAuth: configuration.allowPlaintextAuth),
            implicitTLS: configuration.tls == .implicit
        )
    }

    // MARK: Inputs

    /// The connection is up; the greeting (and, with implicit TLS, the
    /// handshake) is awaited from now on.
    public mutating func connected(at now: Double) {
        phase = .greeting
        stepStart = now
        tlsStart = now
    }

    /// The peer's TLS, verified by the runner: after the implicit-TLS greeting
    /// arrived, or after `.verifyTLS`. Records the TLS step; a fatal problem
    /// ends the dialog.
    public mutating func tlsVerified(_ check: TLSCheck, at now: Double) -> Failure? {
        var command: String?
        var reply: SMTPReply?
        if case .handshake(let c, let r) = phase {
            command = c
            reply = r
        }
        if let problem = check.problem {
            if check.fatal {
                addStep(.tls, command: command, reply: reply, since: tlsStart, at: now, status: .fail, note: problem)
                phase = .over
                return Failure(.certificateRejected, step: .tls, message: "certificate verification failed: \(problem)")
            }
            addStep(
                .tls, command: command, reply: reply, since: tlsStart, at: now, status: .warn,
                note: "\(check.summary): \(problem) (opportunistic TLS, RFC 7435)")
            warnings.append("TLS certificate: \(problem)")
        } else {
            addStep(.tls, command: command, reply: reply, since: tlsStart, at: now, status: .pass, note: check.summary)
        }
        return nil
    }

    /// After `.verifyTLS` and a `tlsVerified` that did not fail: EHLO again
    /// (RFC 3207 §4.2: what was learnt before TLS is forgotten).
    public mutating func continueAfterTLS(at now: Double) -> Action {
        guard case .handshake = phase else {
            return fail(.protocolViolation, .tls, "TLS verified outside the STARTTLS switch")
        }
        phase = .ehloAfterTLS
        return send([.ehlo(configuration.heloName)], step: .ehlo, at: now)
    }

    /// The greeting (after `tlsVerified` with implicit TLS).
    public mutating func greeting(_ reply: SMTPReply, at now: Double) -> Action {
        guard case .greeting = phase else { return fail(.protocolViolation, .banner, "a greeting out of order") }
        do {
            _ = try session.receive(reply)
        } catch {
            return fail(.protocolViolation, .banner, "\(error)", reply: reply)
        }
        banner = reply.text
        serverName = reply.lines.first?.split(separator: " ").first.map(String.init)
        guard reply.code == 220 else {
            addStep(
                .banner, command: nil, reply: reply, since: stepStart, at: now, status: .fail,
                note: reply.code == 554 ? "the server refuses service" : nil)
            return fail(.rejected, .banner, "the greeting is not 220", reply: reply)
        }
        addStep(.banner, command: nil, reply: reply, since: stepStart, at: now, status: .pass)
        phase = .ehlo
        return send([.ehlo(configuration.heloName)], step: .ehlo, at: now)
    }

    /// The replies to the last `.send`, `.startTLS` (with the plaintext
    /// octets discarded after a 220) or `.sendMessage`, in order.
    public mutating func receive(_ replies: [SMTPReply], discarded: Int = 0, at now: Double) -> Action {
        let step = currentStep
        var outcomes: [SMTPClientSession.Outcome] = []
        for reply in replies {
            do {
                outcomes.append(try session.receive(reply))
            } catch {
                return fail(.protocolViolation, step, "\(error)", reply: reply)
            }
        }
        guard !replies.isEmpty else { return fail(.protocolViolation, step, "no reply") }
        // 421 (RFC 5321 §3.8): the session says nothing may follow; a step
        // that would go on (the next RCPT, RSET) ends the dialog instead.
        for case .closing(let r) in outcomes where closedBy == nil && r.code == 421 {
            closedBy = (r, step)
        }
        return answered(replies, outcomes: outcomes, discarded: discarded, at: now)
    }

    private mutating func answered(
        _ replies: [SMTPReply], outcomes: [SMTPClientSession.Outcome], discarded: Int, at now: Double
    ) -> Action {
        let reply = replies[0]
        let step = currentStep
        switch phase {
        case .ehlo: return ehloAnswered(reply, at: now)
        case .helo: return heloAnswered(reply, at: now)
        case .startTLS:
            let upgrade = outcomes.contains { if case .startTLS = $0 { return true } else { return false } }
            return startTLSAnswered(reply, upgrade: upgrade, discarded: discarded, at: now)
        case .ehloAfterTLS:
            guard reply.code == 250 else {
                addStep(
                    .ehlo, command: SMTPCommand.ehlo(configuration.heloName).redactedLine, reply: reply,
                    since: stepStart, at: now,
                    status: .fail, note: "EHLO after STARTTLS refused")
                return fail(.rejected, .ehlo, "EHLO after STARTTLS refused", reply: reply)
            }
            addStep(
                .ehlo, command: SMTPCommand.ehlo(configuration.heloName).redactedLine, reply: reply, since: stepStart,
                at: now,
                status: .pass, note: "after TLS")
            captureCapabilities()
            return authenticate(at: now)
        case .auth(let mechanism, let auth): return authAnswered(reply, mechanism: mechanism, auth, at: now)
        case .mail(let envelope, let pipelined):
            return mailAnswered(replies, envelope: envelope, pipelined: pipelined, at: now)
        case .rcpt(let envelope, let from, _):
            for (i, reply) in replies.enumerated() {
                recipientAnswered(reply, envelope: envelope, index: from + i, since: stepStart, at: now)
            }
            return sendRecipients(envelope, from: from + replies.count, at: now)
        case .data(let message): return dataAnswered(reply, message: message, at: now)
        case .message: return messageAnswered(reply, at: now)
        case .rset:
            addStep(
                .quit, command: "RSET", reply: reply, since: stepStart, at: now,
                status: reply.isPositive ? .pass : .warn)
            return afterTransaction(at: now)
        case .quit(let refused):
            addStep(
                .quit, command: "QUIT", reply: reply, since: stepStart, at: now,
                status: reply.code == 221 ? .pass : .warn)
            return finish(refused: refused)
        case .connecting, .greeting, .handshake, .over:
            return fail(.protocolViolation, step, "a reply out of order", reply: reply)
        }
    }

    /// A `tolerant` exchange failed (timeout, closed connection): the dialog
    /// ends as it would have after the reply.
    public mutating func exchangeFailed(at now: Double) -> Action {
        switch phase {
        case .auth(_, .aborting(let first, let reply)):
            return authFailed(first: first, reply: reply, at: now)
        case .quit(let refused?):
            return finish(refused: refused)
        default:
            return fail(.protocolViolation, currentStep, "an exchange failed that had to succeed")
        }
    }

    /// The bytes of a last QUIT after a failure, when the session allows one.
    public mutating func quitAfterFailure() -> [UInt8]? {
        guard session.state == .ready || session.state == .greeted else { return nil }
        return try? session.send(.quit)
    }

    // MARK: EHLO, HELO

    private mutating func ehloAnswered(_ reply: SMTPReply, at now: Double) -> Action {
        let ehlo = SMTPCommand.ehlo(configuration.heloName).redactedLine
        if reply.code == 250 {
            addStep(.ehlo, command: ehlo, reply: reply, since: stepStart, at: now, status: .pass)
            captureCapabilities()
            return startTLS(at: now)
        }
        guard reply.code == 500 || reply.code == 502 else {
            addStep(.ehlo, command: ehlo, reply: reply, since: stepStart, at: now, status: .fail)
            return fail(.rejected, .ehlo, "EHLO refused", reply: reply)
        }
        addStep(
            .ehlo, command: ehlo, reply: reply, since: stepStart, at: now, status: .warn,
            note: "EHLO not supported; falling back to HELO")
        phase = .helo
        return send([.helo(configuration.heloName)], step: .ehlo, at: now)
    }

    private mutating func heloAnswered(_ reply: SMTPReply, at now: Double) -> Action {
        let helo = SMTPCommand.helo(configuration.heloName).redactedLine
        guard reply.code == 250 else {
            addStep(.ehlo, command: helo, reply: reply, since: stepStart, at: now, status: .fail)
            return fail(.rejected, .ehlo, "HELO refused", reply: reply)
        }
        addStep(
            .ehlo, command: helo, reply: reply, since: stepStart, at: now, status: .warn,
            note: "HELO only: no extensions, no DSN")
        warnings.append("the server only speaks HELO: no ESMTP extensions, so no DSN can be requested")
        captureCapabilities()
        return startTLS(at: now)
    }

    private mutating func captureCapabilities() {
        guard let caps = session.capabilities else { return }
        capabilities = caps
        usedHELO = session.usedHELO
    }

    // MARK: STARTTLS

    private mutating func startTLS(at now: Double) -> Action {
        switch configuration.tls {
        case .implicit:
            return authenticate(at: now)
        case .never:
            addStep(
                .tls, command: nil, reply: nil, since: now, at: now, status: .skip,
                note: "STARTTLS not attempted (--starttls never)")
            return authenticate(at: now)
        case .opportunistic, .required:
            break
        }
        guard session.capabilities?.startTLS == true else {
            if configuration.tls == .required {
                addStep(
                    .tls, command: nil, reply: nil, since: now, at: now, status: .fail, note: "STARTTLS not offered")
                return fail(.tlsFailed, .tls, "the server does not offer STARTTLS (--starttls require)")
            }
            addStep(
                .tls, command: nil, reply: nil, since: now, at: now, status: .warn,
                note: "STARTTLS not offered: the session stays in plaintext")
            warnings.append("the server does not offer STARTTLS")
            return authenticate(at: now)
        }
        phase = .startTLS
        tlsStart = now
        switch exchange([.startTLS], step: .tls) {
        case .success(let e): return .startTLS(e)
        case .failure(let f): return fail(f)
        }
    }

    /// `upgrade`: the session took the reply as the go-ahead (220).
    private mutating func startTLSAnswered(_ reply: SMTPReply, upgrade: Bool, discarded: Int, at now: Double) -> Action
    {
        let command = SMTPCommand.startTLS.redactedLine
        guard upgrade else {
            if configuration.tls == .required {
                addStep(.tls, command: command, reply: reply, since: tlsStart, at: now, status: .fail)
                return fail(.tlsFailed, .tls, "STARTTLS refused", reply: reply)
            }
            addStep(
                .tls, command: command, reply: reply, since: tlsStart, at: now, status: .warn,
                note: "STARTTLS refused: plaintext")
            warnings.append("STARTTLS was refused: \(reply.code) \(reply.text)")
            return authenticate(at: now)
        }
        if discarded > 0 {
            warnings.append("the server sent \(discarded) octets after 220 to STARTTLS; they were discarded")
        }
        session.tlsEstablished()
        phase = .handshake(command: command, reply: reply)
        return .verifyTLS(discarded: discarded)
    }

    // MARK: AUTH

    private mutating func authenticate(at now: Double) -> Action {
        guard let auth = configuration.auth else { return beginTransaction(at: now) }
        guard let caps = session.capabilities, !caps.authMechanisms.isEmpty else {
            addStep(.auth, command: nil, reply: nil, since: now, at: now, status: .fail, note: "AUTH not offered")
            return fail(
                .authFailed, .auth,
                session.tlsActive ? "the server does not offer AUTH" : "the server does not offer AUTH without TLS")
        }
        let offered = caps.authMechanisms
        let mechanism: String
        if let m = auth.mechanism?.uppercased() {
            guard offered.contains(m) else {
                addStep(
                    .auth, command: nil, reply: nil, since: now, at: now, status: .fail,
                    note: "\(m) not offered (offered: \(offered.joined(separator: " ")))")
                return fail(.authFailed, .auth, "AUTH \(m) is not offered")
            }
            mechanism = m
        } else if offered.contains("PLAIN") {
            mechanism = "PLAIN"
        } else if offered.contains("LOGIN") {
            mechanism = "LOGIN"
        } else {
            addStep(
                .auth, command: nil, reply: nil, since: now, at: now, status: .fail,
                note: "no supported mechanism (offered: \(offered.joined(separator: " ")))")
            return fail(.authFailed, .auth, "the server offers neither PLAIN nor LOGIN")
        }
        guard session.tlsActive || configuration.allowPlaintextAuth else {
            addStep(
                .auth, command: nil, reply: nil, since: now, at: now, status: .fail,
                note: "refused to send credentials without TLS")
            return fail(
                .authFailed, .auth,
                "AUTH over a connection without TLS is refused (use --allow-plaintext-auth for test servers)")
        }
        let b64 = { (s: String) in Base64.encode(Array(s.utf8), lineLength: 0) }
        let first: SMTPCommand
        let responses: [String]
        if mechanism == "PLAIN" {
            let plain = b64("\0\(auth.user)\0\(auth.password)")
            first = .auth(mechanism: "PLAIN", initialResponse: plain)
            // Should the server ignore the initial response, the empty challenge gets it again.
            responses = [plain]
        } else {
            first = .auth(mechanism: "LOGIN", initialResponse: nil)
            responses = [b64(auth.user), b64(auth.password)]
        }
        stepStart = now
        phase = .auth(mechanism: mechanism, .exchanging(first: first, responses: responses))
        return send([first], step: .auth, at: now, restartsStep: false)
    }

    private mutating func authAnswered(_ reply: SMTPReply, mechanism: String, _ auth: AuthPhase, at now: Double)
        -> Action
    {
        switch auth {
        case .exchanging(let first, var responses):
            if reply.code == 334, !responses.isEmpty {
                let next = responses.removeFirst()
                phase = .auth(mechanism: mechanism, .exchanging(first: first, responses: responses))
                return send([.authResponse(next)], step: .auth, at: now, restartsStep: false)
            }
            if reply.code == 235 {
                addStep(
                    .auth, command: first.redactedLine, reply: reply, since: stepStart, at: now, status: .pass,
                    note: "authenticated as \(configuration.auth?.user ?? "") with \(mechanism)")
                return beginTransaction(at: now)
            }
            if reply.code == 334 {
                phase = .auth(mechanism: mechanism, .aborting(first: first, reply: reply))
                return send([.authResponse("*")], step: .auth, at: now, restartsStep: false, tolerant: true)
            }
            return authFailed(first: first, reply: reply, at: now)
        case .aborting(let first, let reply):
            return authFailed(first: first, reply: reply, at: now)
        }
    }

    private mutating func authFailed(first: SMTPCommand, reply: SMTPReply, at now: Double) -> Action {
        addStep(.auth, command: first.redactedLine, reply: reply, since: stepStart, at: now, status: .fail)
        return fail(.authFailed, .auth, "authentication as \(configuration.auth?.user ?? "") failed", reply: reply)
    }

    // MARK: MAIL, RCPT

    private func envelope() -> Result<SubmissionEnvelope, Failure>? {
        switch configuration.transaction {
        case .none:
            return nil
        case .submit(let envelope):
            return .success(envelope)
        case .check(let from, let addresses, let stamp):
            let fromText = from ?? "roundtrip-check@\(configuration.heloName)"
            let path: ReversePath
            do {
                path =
                    fromText == "<>" || fromText.isEmpty
                    ? .null : .mailbox(try SMTPMailbox(fromText, context: "--from"))
            } catch {
                return .failure(Failure(.invalidInput, step: .mail, message: "\(error)"))
            }
            var recipients: [SubmissionEnvelope.Recipient] = []
            for r in addresses {
                do { recipients.append(.init(mailbox: try SMTPMailbox(r, context: "--rcpt"))) } catch {
                    return .failure(Failure(.invalidInput, step: .rcpt, message: "\(error)"))
                }
            }
            let utf8 =
                (path.mailboxValue?.requiresSMTPUTF8 ?? false) || recipients.contains { $0.mailbox.requiresSMTPUTF8 }
            let message = stamp.map {
                Self.testMessage(from: path, to: recipients.map(\.mailbox), heloName: configuration.heloName, stamp: $0)
            }
            return .success(
                SubmissionEnvelope(
                    reversePath: path, mailParameters: MailParameters(smtpUTF8: utf8), recipients: recipients,
                    message: message))
        }
    }

    /// The small message `check --data` sends (CRLF, not yet dot-stuffed).
    public static func testMessage(from: ReversePath, to: [SMTPMailbox], heloName: String, stamp: TestMessageStamp)
        -> [UInt8]
    {
        let text =
            "From: \(from.mailboxValue.map { "<\($0)>" } ?? "<>")\r\n"
            + "To: \(to.map { "<\($0)>" }.joined(separator: ", "))\r\n"
            + "Subject: roundtrip check \(stamp.id)\r\n"
            + "Date: \(stamp.date)\r\n"
            + "Message-ID: <\(stamp.id)@\(heloName)>\r\n"
            + "\r\n"
            + "This is a test message sent by `roundtrip check --data`.\r\n"
        return Array(text.utf8)
    }

    private mutating func beginTransaction(at now: Double) -> Action {
        guard let built = envelope() else { return quit(refused: nil, at: now) }
        var envelope: SubmissionEnvelope
        switch built {
        case .success(let e): envelope = e
        case .failure(let f): return fail(f)
        }
        guard let caps = session.capabilities else { return quit(refused: nil, at: now) }
        if envelope.mailParameters.smtpUTF8 && !caps.smtpUTF8 {
            return fail(.invalidInput, .mail, "a non-ASCII address needs SMTPUTF8, which the server does not offer")
        }
        let wantsDSN = envelope.mailParameters.usesDSN || envelope.recipients.contains { $0.parameters.usesDSN }
        if wantsDSN && !caps.dsn {
            if envelope.requireDSN {
                addStep(
                    .mail, command: nil, reply: nil, since: now, at: now, status: .fail,
                    note: "the server does not offer DSN (--require-dsn)")
                return fail(
                    .dsnUnavailable, .mail, "the server does not advertise DSN, so no delivery report can be requested")
            }
            warnings.append(
                "the server does not advertise DSN: the probe goes out without DSN parameters, so no report can be asked for"
            )
            envelope.mailParameters.ret = nil
            envelope.mailParameters.envelopeID = nil
            for i in envelope.recipients.indices { envelope.recipients[i].parameters = RcptParameters() }
        }
        dsnRequested = wantsDSN && caps.dsn
        if let size = envelope.message?.count, caps.sizeLimit != nil {
            envelope.mailParameters.size = size
        }
        return startTransaction(envelope, pipelining: caps.pipelining, at: now)
    }

    private mutating func startTransaction(_ envelope: SubmissionEnvelope, pipelining: Bool, at now: Double)
        -> Action
    {
        let mail = SMTPCommand.mail(envelope.reversePath, envelope.mailParameters)
        let first = pipelining ? min(Self.recipientBatch, envelope.recipients.count) : 0
        let rcpts = envelope.recipients.prefix(first).map { SMTPCommand.rcpt($0.mailbox, $0.parameters) }
        transaction = envelope
        transactionOutcomes = recipients.count
        acceptedInTransaction = 0
        transactionStart = now
        phase = .mail(envelope, pipelined: first)
        return send([mail] + rcpts, step: .mail, at: now)
    }

    /// The recipients of this transaction not answered yet and those waiting for the next: a
    /// failure that ends the dialog refuses them all with its reply.
    private mutating func refuseUnsent(_ reply: SMTPReply, at stage: String, from index: Int) {
        let unsent = (transaction?.recipients.dropFirst(index) ?? []) + overflow
        overflow = []
        for r in unsent {
            recipients.append(
                RecipientOutcome(
                    address: r.mailbox.description, accepted: false, replyCode: reply.code,
                    enhancedCode: reply.enhancedCode?.description, text: reply.text, refusedAt: stage))
        }
    }

    private mutating func mailAnswered(
        _ replies: [SMTPReply], envelope: SubmissionEnvelope, pipelined: Int, at now: Double
    ) -> Action {
        let mail = SMTPCommand.mail(envelope.reversePath, envelope.mailParameters).redactedLine
        let mailReply = replies[0]
        guard mailReply.isPositive else {
            addStep(.mail, command: mail, reply: mailReply, since: transactionStart, at: now, status: .fail)
            // In a later transaction (after a recipient limit) its recipients are refused with it.
            if transactionOutcomes > 0 { refuseUnsent(mailReply, at: "mail", from: 0) }
            return fail(.rejected, .mail, "MAIL FROM refused", reply: mailReply)
        }
        addStep(
            .mail, command: mail, reply: mailReply, since: transactionStart, at: now, status: .pass,
            note: pipelined > 0 ? "pipelined with RCPT" : nil)
        for (i, reply) in replies.dropFirst().enumerated() {
            recipientAnswered(reply, envelope: envelope, index: i, since: transactionStart, at: now)
        }
        return sendRecipients(envelope, from: replies.count - 1, at: now)
    }

    private mutating func recipientAnswered(
        _ reply: SMTPReply, envelope: SubmissionEnvelope, index: Int, since: Double, at now: Double
    ) {
        let recipient = envelope.recipients[index]
        let ok = reply.isPositive
        // 452 once some recipients were taken: the server's limit per transaction (Postfix
        // 1000, Exim 100 by default); RFC 5321 §4.5.3.1.10 has the client send the message to
        // the rest in another transaction. A 452 to a transaction's first recipient is a refusal.
        if reply.code == 452, acceptedInTransaction > 0 {
            addStep(
                .rcpt, command: SMTPCommand.rcpt(recipient.mailbox, recipient.parameters).redactedLine, reply: reply,
                since: since, at: now, status: .warn,
                note: "too many recipients for one transaction: sent again in the next")
            overflow.append(recipient)
            return
        }
        addStep(
            .rcpt, command: SMTPCommand.rcpt(recipient.mailbox, recipient.parameters).redactedLine, reply: reply,
            since: since, at: now,
            status: ok ? .pass : .fail, note: ok ? "recipient accepted" : "recipient refused")
        recipients.append(
            RecipientOutcome(
                address: recipient.mailbox.description, accepted: ok, replyCode: reply.code,
                enhancedCode: reply.enhancedCode?.description, text: reply.text, refusedAt: ok ? nil : "rcpt"
            ))
        if ok { acceptedInTransaction += 1 }
        if !ok && refusedRecipient == nil { refusedRecipient = reply }
    }

    /// The next RCPT commands from `index` (a batch with PIPELINING, else one); once the server's
    /// limit turned a recipient away, the rest wait for the next transaction unsent.
    private mutating func sendRecipients(_ envelope: SubmissionEnvelope, from index: Int, at now: Double) -> Action {
        guard index < envelope.recipients.count else { return afterRecipients(envelope, at: now) }
        if !overflow.isEmpty {
            overflow += envelope.recipients[index...]
            return afterRecipients(envelope, at: now)
        }
        let count = (session.capabilities?.pipelining ?? false) ? Self.recipientBatch : 1
        let batch = envelope.recipients[index..<min(index + count, envelope.recipients.count)]
        phase = .rcpt(envelope, from: index, count: batch.count)
        return send(batch.map { .rcpt($0.mailbox, $0.parameters) }, step: .rcpt, at: now)
    }

    // MARK: DATA

    private mutating func afterRecipients(_ envelope: SubmissionEnvelope, at now: Double) -> Action {
        guard let message = envelope.message, session.acceptedRecipients > 0 else { return endTransaction(at: now) }
        dataStart = now
        phase = .data(message: message)
        return send([.data], step: .data, timeout: .dataStart, at: now)
    }

    private mutating func dataAnswered(_ reply: SMTPReply, message: [UInt8], at now: Double) -> Action {
        guard reply.code == 354 else {
            addStep(.data, command: "DATA", reply: reply, since: dataStart, at: now, status: .fail)
            refuseUnsent(reply, at: "data", from: transaction?.recipients.count ?? 0)
            return fail(.rejected, .data, "DATA refused", reply: reply)
        }
        let bytes: [UInt8]
        do { bytes = try session.sendMessage(message) } catch {
            return fail(.invalidInput, .data, "\(error)")
        }
        phase = .message
        return .sendMessage(bytes: bytes, octets: message.count)
    }

    private mutating func messageAnswered(_ reply: SMTPReply, at now: Double) -> Action {
        if dataReply?.isPositive != true { dataReply = reply }
        guard reply.isPositive else {
            refuseUnsent(reply, at: "data", from: transaction?.recipients.count ?? 0)
            for i in recipients.indices[transactionOutcomes...] where recipients[i].accepted {
                recipients[i].accepted = false
                recipients[i].replyCode = reply.code
                recipients[i].enhancedCode = reply.enhancedCode?.description
                recipients[i].text = reply.text
                recipients[i].refusedAt = "data"
            }
            addStep(
                .data, command: "DATA", reply: reply, since: dataStart, at: now, status: .fail,
                note: "message refused after the data")
            return fail(.rejected, .data, "the message was refused", reply: reply)
        }
        if acceptedAt == nil { acceptedAt = now }
        addStep(
            .data, command: "DATA", reply: reply, since: dataStart, at: now, status: .pass, note: "message accepted")
        return endTransaction(at: now)
    }

    // MARK: RSET, QUIT

    /// A transaction still open (acceptance test, or no recipient took the
    /// message) is reset before the dialog ends.
    private mutating func endTransaction(at now: Double) -> Action {
        guard session.mailSent else { return afterTransaction(at: now) }
        phase = .rset
        return send([.rset], step: .quit, at: now)
    }

    private mutating func afterTransaction(at now: Double) -> Action {
        if !overflow.isEmpty, var next = transaction, let caps = session.capabilities {
            next.recipients = overflow
            overflow = []
            return startTransaction(next, pipelining: caps.pipelining, at: now)
        }
        if let refused = refusedRecipient, configuration.refusedRecipientIsFailure {
            return quit(refused: refused, at: now)
        }
        return quit(refused: nil, at: now)
    }

    /// QUIT; after a refused recipient that fails the check, its failure
    /// follows (whatever became of the QUIT).
    private mutating func quit(refused: SMTPReply?, at now: Double) -> Action {
        guard session.state != .closed else { return finish(refused: refused) }
        phase = .quit(refused: refused)
        return send([.quit], step: .quit, at: now, tolerant: refused != nil)
    }

    private mutating func finish(refused: SMTPReply?) -> Action {
        if let refused { return fail(.rejected, .rcpt, "a recipient was refused", reply: refused) }
        phase = .over
        return .finished
    }

    // MARK: Helpers

    private var currentStep: Step {
        switch phase {
        case .connecting: return .connect
        case .greeting: return .banner
        case .ehlo, .helo, .ehloAfterTLS: return .ehlo
        case .startTLS, .handshake: return .tls
        case .auth: return .auth
        case .mail: return .mail
        case .rcpt: return .rcpt
        case .data, .message: return .data
        case .rset, .quit, .over: return .quit
        }
    }

    private mutating func exchange(
        _ commands: [SMTPCommand], step: Step, timeout: Timeout = .command,
        tolerant: Bool = false
    ) -> Result<Exchange, Failure> {
        if let closedBy {
            return .failure(
                Failure(
                    .rejected, step: closedBy.step, message: "the server is closing the session", reply: closedBy.reply)
            )
        }
        do {
            let bytes = try session.send(commands)
            return .success(
                Exchange(commands: commands, bytes: bytes, step: step, timeout: timeout, tolerant: tolerant))
        } catch {
            return .failure(Failure(.invalidInput, step: step, message: "\(error)"))
        }
    }

    private mutating func send(
        _ commands: [SMTPCommand], step: Step, timeout: Timeout = .command, at now: Double,
        restartsStep: Bool = true, tolerant: Bool = false
    ) -> Action {
        if restartsStep { stepStart = now }
        switch exchange(commands, step: step, timeout: timeout, tolerant: tolerant) {
        case .success(let e): return .send(e)
        case .failure(let f): return fail(f)
        }
    }

    private mutating func fail(_ kind: Failure.Kind, _ step: Step, _ message: String, reply: SMTPReply? = nil) -> Action
    {
        fail(Failure(kind, step: step, message: message, reply: reply))
    }

    private mutating func fail(_ failure: Failure) -> Action {
        phase = .over
        return .failed(failure)
    }

    private mutating func addStep(
        _ step: Step, command: String?, reply: SMTPReply?, since: Double, at now: Double,
        status: StepResult.Status, note: String? = nil
    ) {
        steps.append(
            StepResult(
                step: step, command: command, reply: reply, durationMs: ((now - since) * 1_000_000).rounded() / 1000,
                status: status, note: note))
    }
}
