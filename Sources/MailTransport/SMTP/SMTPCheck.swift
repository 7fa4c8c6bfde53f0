import Foundation
import NIOCore
import NIOPosix
import SMTPCore

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
        connect = all; greeting = all; command = all; dataStart = all; dataEnd = all; tlsHandshake = all
    }
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

    public init(reversePath: ReversePath, mailParameters: MailParameters = MailParameters(), recipients: [Recipient],
                message: [UInt8]? = nil, requireDSN: Bool = false) {
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
}

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
    /// Submit this instead of the from/recipients acceptance test.
    public var envelope: SubmissionEnvelope?
    /// A refused recipient fails the run at RCPT (check); a submission goes on
    /// with the accepted ones.
    public var refusedRecipientIsFailure = true

    public init(host: String, port: Int, heloName: String, from: String? = nil, recipients: [String] = [], tls: TLSPolicy = TLSPolicy(),
                auth: AuthCredentials? = nil, allowPlaintextAuth: Bool = false, sendData: Bool = false,
                timeouts: SMTPTimeouts = SMTPTimeouts(), resolver: (any MXResolver)? = nil) {
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

/// The verdict on one step of the dialog.
public struct CheckStepResult: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case pass, warn, fail, skip
    }
    public var step: SMTPStep
    /// The command as sent (redacted for AUTH), nil for connect/banner.
    public var command: String?
    public var replyCode: Int?
    public var enhancedCode: String?
    public var text: String?
    public var durationMs: Double
    public var status: Status
    public var note: String?
}

public struct CapabilityEntry: Sendable, Hashable, Codable {
    public var keyword: String
    public var parameters: [String]
}

/// Everything `roundtrip check` found out about one server.
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

/// Runs the basic dialog check: connect, banner, EHLO (HELO fallback),
/// STARTTLS + EHLO, AUTH, MAIL, RCPT, optional DATA, RSET, QUIT; each step
/// timed and judged.
public final class SMTPCheck {
    private let options: SMTPCheckOptions
    private var report: SMTPCheckReport
    private var session: SMTPClientSession
    private var connection: SMTPClientConnection?
    private let start = ContinuousClock.now

    public init(options: SMTPCheckOptions) {
        self.options = options
        self.report = SMTPCheckReport(host: options.host, port: options.port)
        self.session = SMTPClientSession(
            policy: .init(allowPlaintextAuth: options.allowPlaintextAuth),
            implicitTLS: options.tls.transport == .implicit
        )
    }

    public static func run(_ options: SMTPCheckOptions) async -> SMTPCheckReport {
        await SMTPCheck(options: options).run()
    }

    private var elapsed: Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func note(_ direction: TranscriptEntry.Direction, _ text: String) {
        report.transcript.append(TranscriptEntry(at: (elapsed * 1000).rounded() / 1000, direction: direction, text: text))
    }

    private func record(_ reply: SMTPReply, redact: Bool = false) {
        for line in reply.wireLines {
            note(.server, redact ? "\(reply.code) <redacted>" : line)
        }
    }

    private func addStep(_ step: SMTPStep, command: String?, reply: SMTPReply?, since t0: Double, status: CheckStepResult.Status, note: String? = nil) {
        report.steps.append(CheckStepResult(
            step: step, command: command, replyCode: reply?.code, enhancedCode: reply?.enhancedCode?.description,
            text: reply?.text, durationMs: ((elapsed - t0) * 1_000_000).rounded() / 1000, status: status, note: note
        ))
    }

    private func fail(_ error: TransportError) {
        if report.failedStep == nil {
            report.failedStep = error.step
            report.failureKind = error.kind
            report.error = error.description
        }
    }

    public func run() async -> SMTPCheckReport {
        do {
            try await dialog()
        } catch let e as TransportError {
            fail(e)
            if !report.steps.contains(where: { $0.status == .fail }) {
                addStep(e.step, command: nil, reply: e.reply, since: elapsed, status: .fail, note: e.message)
            }
            await quitQuietly()
        } catch {
            fail(TransportError(.protocolViolation, step: report.steps.last?.step ?? .connect, message: "\(error)"))
            await quitQuietly()
        }
        await connection?.close()
        return report
    }

    /// Sends commands (pipelined when there are several), records the lines,
    /// and feeds the replies to the session.
    private func exchange(_ commands: [SMTPCommand], step: SMTPStep, timeout: TimeAmount) async throws -> [SMTPReply] {
        guard let connection else { throw TransportError(.connectionClosed, step: step, message: "not connected") }
        let bytes: [UInt8]
        do {
            bytes = try session.send(commands)
        } catch let e as SMTPClientSession.SessionError {
            throw TransportError(.invalidInput, step: step, message: e.description)
        }
        for c in commands { note(.client, c.redactedLine) }
        let replies = try await connection.send(bytes, replies: commands.count, timeout: timeout, step: step)
        for (c, r) in zip(commands, replies) {
            record(r, redact: (c.verb == .auth || c.verb == .authResponse) && r.code == 334)
            do {
                _ = try session.receive(r)
            } catch {
                throw TransportError(.protocolViolation, step: step, message: "\(error)", reply: r)
            }
        }
        return replies
    }

    private func exchange(_ command: SMTPCommand, step: SMTPStep, timeout: TimeAmount? = nil) async throws -> SMTPReply {
        try await exchange([command], step: step, timeout: timeout ?? options.timeouts.command)[0]
    }

    private func dialog() async throws {
        try await connect()
        try await greeting()
        try await ehlo()
        try await tls()
        try await authenticate()
        if options.envelope != nil || options.from != nil || !options.recipients.isEmpty {
            try await transaction()
        }
        try await quit()
    }

    // MARK: connect

    private func connect() async throws {
        let t0 = elapsed
        let addresses: [String]
        if HostPort.isIPLiteral(options.host) {
            addresses = [options.host]
        } else if let resolver = options.resolver {
            addresses = try await resolver.addresses(of: options.host)
            guard !addresses.isEmpty else {
                throw TransportError(.resolutionFailed, step: .dns, message: "\(options.host) has no address records")
            }
        } else {
            addresses = try await systemAddresses(options.host, port: options.port)
        }
        var lastError: TransportError?
        for address in addresses {
            let sa: SocketAddress
            do {
                sa = try SocketAddress(ipAddress: address, port: options.port)
            } catch {
                continue
            }
            note(.info, "connecting to \(sa.displayString)")
            do {
                connection = try await SMTPClientConnection.connect(
                    to: sa, implicitTLSName: options.host, useImplicitTLS: options.tls.transport == .implicit,
                    sendsCredentials: options.auth != nil, timeout: options.timeouts.connect
                )
                report.address = sa.displayString
                addStep(.connect, command: nil, reply: nil, since: t0, status: .pass, note: "connected to \(sa.displayString)")
                return
            } catch let e as TransportError {
                note(.info, e.message)
                lastError = e
            }
        }
        throw lastError ?? TransportError(.connectFailed, step: .connect, message: "no usable address for \(options.host)")
    }

    private func systemAddresses(_ host: String, port: Int) async throws -> [String] {
        do {
            let all = try await NIOThreadPool.singleton.runIfActive { () -> [String] in
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var res: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return [] }
                defer { freeaddrinfo(first) }
                var out: [String] = []
                var p: UnsafeMutablePointer<addrinfo>? = first
                while let ai = p {
                    if let sa = ai.pointee.ai_addr {
                        var ip: SocketAddress?
                        if sa.pointee.sa_family == sa_family_t(AF_INET) {
                            ip = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                        } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                            ip = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
                        }
                        if let text = ip?.ipAddress, !out.contains(text) { out.append(text) }
                    }
                    p = ai.pointee.ai_next
                }
                return out
            }
            guard !all.isEmpty else { throw TransportError(.resolutionFailed, step: .dns, message: "cannot resolve \(host)") }
            return all
        }
    }

    // MARK: banner, EHLO

    private func greeting() async throws {
        let t0 = elapsed
        guard let connection else { return }
        let reply = try await connection.readReply(timeout: options.timeouts.greeting, step: .banner)
        if options.tls.transport == .implicit {
            // The greeting arrives inside TLS, so the handshake is done: verify
            // before anything is sent.
            try await checkTLS(connection: connection, discarded: 0, since: t0)
        }
        record(reply)
        _ = try session.receive(reply)
        report.banner = reply.text
        report.serverName = reply.lines.first?.split(separator: " ").first.map(String.init)
        if reply.code == 220 {
            addStep(.banner, command: nil, reply: reply, since: t0, status: .pass)
        } else {
            addStep(.banner, command: nil, reply: reply, since: t0, status: .fail, note: reply.code == 554 ? "the server refuses service" : nil)
            throw TransportError(.rejected, step: .banner, message: "the greeting is not 220", reply: reply)
        }
    }

    private func ehlo() async throws {
        let t0 = elapsed
        let command = SMTPCommand.ehlo(options.heloName)
        let reply = try await exchange(command, step: .ehlo)
        if reply.code == 250 {
            addStep(.ehlo, command: command.redactedLine, reply: reply, since: t0, status: .pass)
        } else if reply.code == 500 || reply.code == 502 {
            addStep(.ehlo, command: command.redactedLine, reply: reply, since: t0, status: .warn, note: "EHLO not supported; falling back to HELO")
            let t1 = elapsed
            let helo = SMTPCommand.helo(options.heloName)
            let r = try await exchange(helo, step: .ehlo)
            guard r.code == 250 else {
                addStep(.ehlo, command: helo.redactedLine, reply: r, since: t1, status: .fail)
                throw TransportError(.rejected, step: .ehlo, message: "HELO refused", reply: r)
            }
            addStep(.ehlo, command: helo.redactedLine, reply: r, since: t1, status: .warn, note: "HELO only: no extensions, no DSN")
            report.warnings.append("the server only speaks HELO: no ESMTP extensions, so no DSN can be requested")
        } else {
            addStep(.ehlo, command: command.redactedLine, reply: reply, since: t0, status: .fail)
            throw TransportError(.rejected, step: .ehlo, message: "EHLO refused", reply: reply)
        }
        captureCapabilities()
    }

    private func captureCapabilities() {
        guard let caps = session.capabilities else { return }
        report.capabilities = caps.extensions.map { CapabilityEntry(keyword: $0.keyword, parameters: $0.parameters) }
        report.dsn = caps.dsn
        report.usedHELO = session.usedHELO
    }

    // MARK: TLS

    private func tls() async throws {
        guard options.tls.transport == .starttls, let connection else { return }
        let t0 = elapsed
        if options.tls.starttls == .never {
            addStep(.tls, command: nil, reply: nil, since: t0, status: .skip, note: "STARTTLS not attempted (--starttls never)")
            return
        }
        guard session.capabilities?.startTLS == true else {
            if options.tls.starttls == .require {
                addStep(.tls, command: nil, reply: nil, since: t0, status: .fail, note: "STARTTLS not offered")
                throw TransportError(.tlsFailed, step: .tls, message: "the server does not offer STARTTLS (--starttls require)")
            }
            addStep(.tls, command: nil, reply: nil, since: t0, status: .warn, note: "STARTTLS not offered: the session stays in plaintext")
            report.warnings.append("the server does not offer STARTTLS")
            return
        }
        let command = SMTPCommand.startTLS
        let bytes: [UInt8]
        do { bytes = try session.send(command) } catch {
            throw TransportError(.invalidInput, step: .tls, message: "\(error)")
        }
        note(.client, command.redactedLine)
        let (reply, discarded) = try await connection.startTLS(
            command: bytes, serverName: options.host, sendsCredentials: options.auth != nil, timeout: options.timeouts.command,
            handshakeTimeout: options.timeouts.tlsHandshake
        )
        record(reply)
        _ = try session.receive(reply)
        guard reply.code == 220 else {
            if options.tls.starttls == .require {
                addStep(.tls, command: command.redactedLine, reply: reply, since: t0, status: .fail)
                throw TransportError(.tlsFailed, step: .tls, message: "STARTTLS refused", reply: reply)
            }
            addStep(.tls, command: command.redactedLine, reply: reply, since: t0, status: .warn, note: "STARTTLS refused: plaintext")
            report.warnings.append("STARTTLS was refused: \(reply.code) \(reply.text)")
            return
        }
        if discarded > 0 {
            note(.info, "discarded \(discarded) octets the server sent in plaintext after 220 (never read as TLS data)")
            report.warnings.append("the server sent \(discarded) octets after 220 to STARTTLS; they were discarded")
        }
        session.tlsEstablished()
        try await checkTLS(connection: connection, discarded: discarded, since: t0, command: command.redactedLine, reply: reply)
        // RFC 3207 §4.2: forget what was learnt before TLS and ask again.
        let t1 = elapsed
        let ehlo = SMTPCommand.ehlo(options.heloName)
        let r = try await exchange(ehlo, step: .ehlo)
        guard r.code == 250 else {
            addStep(.ehlo, command: ehlo.redactedLine, reply: r, since: t1, status: .fail, note: "EHLO after STARTTLS refused")
            throw TransportError(.rejected, step: .ehlo, message: "EHLO after STARTTLS refused", reply: r)
        }
        addStep(.ehlo, command: ehlo.redactedLine, reply: r, since: t1, status: .pass, note: "after TLS")
        captureCapabilities()
    }

    private func checkTLS(connection: SMTPClientConnection, discarded: Int, since t0: Double, command: String? = nil, reply: SMTPReply? = nil) async throws {
        let tlsReport = try await connection.tlsReport(serverName: options.host, policy: options.tls, discarded: discarded)
        report.tls = tlsReport
        note(.info, "TLS established: \(tlsReport.protocolVersion ?? "?") \(tlsReport.cipher ?? "")")
        let summary = "\(tlsReport.protocolVersion ?? "TLS") \(tlsReport.cipher ?? ""), certificate \(tlsReport.verification.rawValue)"
        if let problem = tlsReport.problem {
            if options.tls.verificationIsFatal(port: options.port, usesAuth: options.auth != nil) {
                addStep(.tls, command: command, reply: reply, since: t0, status: .fail, note: problem)
                throw TransportError(.certificateRejected, step: .tls, message: "certificate verification failed: \(problem)")
            }
            addStep(.tls, command: command, reply: reply, since: t0, status: .warn, note: "\(summary): \(problem) (opportunistic TLS, RFC 7435)")
            report.warnings.append("TLS certificate: \(problem)")
        } else {
            addStep(.tls, command: command, reply: reply, since: t0, status: .pass, note: summary)
        }
    }

    // MARK: AUTH

    private func authenticate() async throws {
        guard let auth = options.auth else { return }
        let t0 = elapsed
        guard let caps = session.capabilities, !caps.authMechanisms.isEmpty else {
            addStep(.auth, command: nil, reply: nil, since: t0, status: .fail, note: "AUTH not offered")
            throw TransportError(.authFailed, step: .auth, message: session.tlsActive ? "the server does not offer AUTH" : "the server does not offer AUTH without TLS")
        }
        let offered = caps.authMechanisms
        let mechanism: String
        if let m = auth.mechanism?.uppercased() {
            guard offered.contains(m) else {
                addStep(.auth, command: nil, reply: nil, since: t0, status: .fail, note: "\(m) not offered (offered: \(offered.joined(separator: " ")))")
                throw TransportError(.authFailed, step: .auth, message: "AUTH \(m) is not offered")
            }
            mechanism = m
        } else if offered.contains("PLAIN") {
            mechanism = "PLAIN"
        } else if offered.contains("LOGIN") {
            mechanism = "LOGIN"
        } else {
            addStep(.auth, command: nil, reply: nil, since: t0, status: .fail, note: "no supported mechanism (offered: \(offered.joined(separator: " ")))")
            throw TransportError(.authFailed, step: .auth, message: "the server offers neither PLAIN nor LOGIN")
        }
        guard session.tlsActive || options.allowPlaintextAuth else {
            addStep(.auth, command: nil, reply: nil, since: t0, status: .fail, note: "refused to send credentials without TLS")
            throw TransportError(.authFailed, step: .auth, message: "AUTH over a connection without TLS is refused (use --allow-plaintext-auth for test servers)")
        }
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        var reply: SMTPReply
        let first: SMTPCommand
        if mechanism == "PLAIN" {
            first = .auth(mechanism: "PLAIN", initialResponse: b64("\0\(auth.user)\0\(auth.password)"))
            reply = try await exchange(first, step: .auth)
            if reply.code == 334 {
                // The server ignored the initial response; answer the empty challenge.
                reply = try await exchange(.authResponse(b64("\0\(auth.user)\0\(auth.password)")), step: .auth)
            }
        } else {
            first = .auth(mechanism: "LOGIN", initialResponse: nil)
            reply = try await exchange(first, step: .auth)
            if reply.code == 334 { reply = try await exchange(.authResponse(b64(auth.user)), step: .auth) }
            if reply.code == 334 { reply = try await exchange(.authResponse(b64(auth.password)), step: .auth) }
        }
        if reply.code == 235 {
            addStep(.auth, command: first.redactedLine, reply: reply, since: t0, status: .pass, note: "authenticated as \(auth.user) with \(mechanism)")
        } else {
            if reply.code == 334 { _ = try? await exchange(.authResponse("*"), step: .auth) }
            addStep(.auth, command: first.redactedLine, reply: reply, since: t0, status: .fail)
            throw TransportError(.authFailed, step: .auth, message: "authentication as \(auth.user) failed", reply: reply)
        }
    }

    // MARK: MAIL, RCPT, DATA

    private func checkEnvelope() throws -> SubmissionEnvelope {
        if let envelope = options.envelope { return envelope }
        let fromText = options.from ?? "roundtrip-check@\(options.heloName)"
        let path: ReversePath
        do {
            path = fromText == "<>" || fromText.isEmpty ? .null : .mailbox(try SMTPMailbox(fromText, context: "--from"))
        } catch {
            throw TransportError(.invalidInput, step: .mail, message: "\(error)")
        }
        var recipients: [SubmissionEnvelope.Recipient] = []
        for r in options.recipients {
            do { recipients.append(.init(mailbox: try SMTPMailbox(r, context: "--rcpt"))) } catch {
                throw TransportError(.invalidInput, step: .rcpt, message: "\(error)")
            }
        }
        let utf8 = (path.mailboxValue?.requiresSMTPUTF8 ?? false) || recipients.contains { $0.mailbox.requiresSMTPUTF8 }
        let message = options.sendData ? testMessage(from: path, to: recipients.map(\.mailbox)) : nil
        return SubmissionEnvelope(reversePath: path, mailParameters: MailParameters(smtpUTF8: utf8), recipients: recipients, message: message)
    }

    private func transaction() async throws {
        var envelope = try checkEnvelope()
        guard let caps = session.capabilities else { return }
        if envelope.mailParameters.smtpUTF8 && !caps.smtpUTF8 {
            throw TransportError(.invalidInput, step: .mail, message: "a non-ASCII address needs SMTPUTF8, which the server does not offer")
        }
        let wantsDSN = envelope.mailParameters.usesDSN || envelope.recipients.contains { $0.parameters.usesDSN }
        if wantsDSN && !caps.dsn {
            if envelope.requireDSN {
                addStep(.mail, command: nil, reply: nil, since: elapsed, status: .fail, note: "the server does not offer DSN (--require-dsn)")
                throw TransportError(.dsnUnavailable, step: .mail, message: "the server does not advertise DSN, so no delivery report can be requested")
            }
            report.warnings.append("the server does not advertise DSN: the probe goes out without DSN parameters, so no report can be asked for")
            envelope.mailParameters.ret = nil
            envelope.mailParameters.envelopeID = nil
            for i in envelope.recipients.indices { envelope.recipients[i].parameters = RcptParameters() }
        }
        report.dsnRequested = wantsDSN && caps.dsn
        if envelope.message != nil, caps.sizeLimit != nil, let size = envelope.message?.count {
            envelope.mailParameters.size = size
        }
        let mail = SMTPCommand.mail(envelope.reversePath, envelope.mailParameters)
        let rcpts = envelope.recipients.map { SMTPCommand.rcpt($0.mailbox, $0.parameters) }
        let t0 = elapsed
        let pipelined = caps.pipelining && !rcpts.isEmpty
        var replies: [SMTPReply]
        if pipelined {
            replies = try await exchange([mail] + rcpts, step: .mail, timeout: options.timeouts.command)
        } else {
            replies = [try await exchange(mail, step: .mail)]
        }
        let mailReply = replies[0]
        guard mailReply.isPositive else {
            addStep(.mail, command: mail.redactedLine, reply: mailReply, since: t0, status: .fail)
            throw TransportError(.rejected, step: .mail, message: "MAIL FROM refused", reply: mailReply)
        }
        addStep(.mail, command: mail.redactedLine, reply: mailReply, since: t0, status: .pass, note: pipelined ? "pipelined with RCPT" : nil)
        var refused: SMTPReply?
        for (i, rcpt) in rcpts.enumerated() {
            let t1 = elapsed
            let reply = pipelined ? replies[i + 1] : try await exchange(rcpt, step: .rcpt)
            let ok = reply.isPositive
            addStep(.rcpt, command: rcpt.redactedLine, reply: reply, since: pipelined ? t0 : t1, status: ok ? .pass : .fail,
                    note: ok ? "recipient accepted" : "recipient refused")
            report.recipients.append(RecipientOutcome(
                address: envelope.recipients[i].mailbox.description, accepted: ok, replyCode: reply.code,
                enhancedCode: reply.enhancedCode?.description, text: reply.text, refusedAt: ok ? nil : "rcpt"
            ))
            if !ok && refused == nil { refused = reply }
        }
        if let message = envelope.message, session.acceptedRecipients > 0 {
            try await data(message)
        }
        if session.mailSent {
            let t2 = elapsed
            let r = try await exchange(.rset, step: .quit)
            addStep(.quit, command: "RSET", reply: r, since: t2, status: r.isPositive ? .pass : .warn)
        }
        if let refused, options.refusedRecipientIsFailure {
            try? await quit()
            throw TransportError(.rejected, step: .rcpt, message: "a recipient was refused", reply: refused)
        }
    }

    private func testMessage(from: ReversePath, to: [SMTPMailbox]) -> [UInt8] {
        let id = UUID().uuidString.lowercased()
        let text = """
        From: \(from.mailboxValue.map { "<\($0)>" } ?? "<>")\r
        To: \(to.map { "<\($0)>" }.joined(separator: ", "))\r
        Subject: roundtrip check \(id)\r
        Date: \(Self.rfc5322Date(Date()))\r
        Message-ID: <\(id)@\(options.heloName)>\r
        \r
        This is a test message sent by `roundtrip check --data`.\r

        """
        return Array(text.utf8)
    }

    private func data(_ message: [UInt8]) async throws {
        guard let connection else { return }
        let t0 = elapsed
        let reply = try await exchange(.data, step: .data, timeout: options.timeouts.dataStart)
        guard reply.code == 354 else {
            addStep(.data, command: "DATA", reply: reply, since: t0, status: .fail)
            throw TransportError(.rejected, step: .data, message: "DATA refused", reply: reply)
        }
        let bytes: [UInt8]
        do { bytes = try session.sendMessage(message) } catch {
            throw TransportError(.invalidInput, step: .data, message: "\(error)")
        }
        note(.client, "<message: \(message.count) octets>")
        note(.client, ".")
        let final = try await connection.send(bytes, replies: 1, timeout: options.timeouts.dataEnd, step: .data)[0]
        record(final)
        _ = try session.receive(final)
        report.dataReplyCode = final.code
        report.dataReplyText = final.text
        if final.isPositive {
            report.acceptedAt = elapsed
            addStep(.data, command: "DATA", reply: final, since: t0, status: .pass, note: "message accepted")
        } else {
            for i in report.recipients.indices where report.recipients[i].accepted {
                report.recipients[i].accepted = false
                report.recipients[i].replyCode = final.code
                report.recipients[i].enhancedCode = final.enhancedCode?.description
                report.recipients[i].text = final.text
                report.recipients[i].refusedAt = "data"
            }
            addStep(.data, command: "DATA", reply: final, since: t0, status: .fail, note: "message refused after the data")
            throw TransportError(.rejected, step: .data, message: "the message was refused", reply: final)
        }
    }

    static func rfc5322Date(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, d MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: date)
    }

    // MARK: QUIT

    private func quit() async throws {
        guard session.state != .closed else { return }
        let t0 = elapsed
        let reply = try await exchange(.quit, step: .quit)
        addStep(.quit, command: "QUIT", reply: reply, since: t0, status: reply.code == 221 ? .pass : .warn)
    }

    private func quitQuietly() async {
        guard connection != nil, session.state == .ready || session.state == .greeted else { return }
        if let bytes = try? session.send(.quit), let connection {
            note(.client, "QUIT")
            if let r = try? await connection.send(bytes, replies: 1, timeout: .seconds(5), step: .quit).first {
                record(r)
            }
        }
    }
}

extension ReversePath {
    var mailboxValue: SMTPMailbox? {
        if case .mailbox(let m) = self { return m }
        return nil
    }
}
