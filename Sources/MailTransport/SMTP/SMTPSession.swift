import Foundation
import MailCore
import NIOCore
import SMTPCore

/// `roundtrip check`: the dialog with an acceptance test (MAIL FROM, RCPT,
/// optionally a small test message, else RSET), each step timed and judged.
public enum SMTPCheck {
    public static func run(_ options: SMTPCheckOptions) async -> SMTPCheckReport {
        let wantsTransaction = options.from != nil || !options.recipients.isEmpty
        let stamp =
            options.sendData
            ? SMTPDialog.TestMessageStamp(id: UUID().uuidString.lowercased(), date: MessageDate(Date()).rfc5322) : nil
        let transaction: SMTPDialog.Transaction =
            wantsTransaction
            ? .check(from: options.from, recipients: options.recipients, testMessage: stamp) : .none
        return await SMTPSession(
            options: options, transaction: transaction, refusedRecipientIsFailure: options.refusedRecipientIsFailure
        ).run()
    }
}

/// The probe's way out: one envelope to one server, going on with the
/// accepted recipients when some are refused (`Submitter` picks the servers).
public enum ProbeSubmission {
    public static func submit(_ envelope: SubmissionEnvelope, options: SMTPCheckOptions) async -> SMTPCheckReport {
        await SMTPSession(options: options, transaction: .submit(envelope), refusedRecipientIsFailure: false).run()
    }
}

/// One SMTP session from connect to close: resolves and connects, then runs
/// the `SMTPDialog` machine over an `SMTPClientConnection`, writing what it
/// asks for, feeding it the replies, verifying TLS, and keeping the
/// transcript. The decisions are the machine's.
final class SMTPSession {
    private let options: SMTPCheckOptions
    private var dialog: SMTPDialog
    private var report: SMTPCheckReport
    private var connection: SMTPClientConnection?
    private let start = ContinuousClock.now

    init(options: SMTPCheckOptions, transaction: SMTPDialog.Transaction, refusedRecipientIsFailure: Bool) {
        self.options = options
        self.report = SMTPCheckReport(host: options.host, port: options.port)
        let tls: SMTPDialog.TLSMode
        switch (options.tls.transport, options.tls.starttls) {
        case (.implicit, _): tls = .implicit
        case (.starttls, .never): tls = .never
        case (.starttls, .auto): tls = .opportunistic
        case (.starttls, .require): tls = .required
        }
        self.dialog = SMTPDialog(
            configuration: .init(
                heloName: options.heloName, tls: tls, auth: options.auth,
                allowPlaintextAuth: options.allowPlaintextAuth,
                transaction: transaction, refusedRecipientIsFailure: refusedRecipientIsFailure
            ))
    }

    private var elapsed: Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func note(_ direction: TranscriptEntry.Direction, _ text: String) {
        report.transcript.append(
            TranscriptEntry(at: (elapsed * 1000).rounded() / 1000, direction: direction, text: text))
    }

    private func record(_ reply: SMTPReply, redact: Bool = false) {
        for line in reply.wireLines {
            note(.server, redact ? "\(reply.code) <redacted>" : line)
        }
    }

    private func addStep(
        _ step: SMTPStep, reply: SMTPReply?, since t0: Double, status: CheckStepResult.Status, note: String?
    ) {
        report.steps.append(
            CheckStepResult(
                step: step, command: nil, reply: reply, durationMs: ((elapsed - t0) * 1_000_000).rounded() / 1000,
                status: status, note: note))
    }

    func run() async -> SMTPCheckReport {
        var connectStep: [CheckStepResult] = []
        var failure: TransportError?
        do {
            connectStep = [try await connect()]
            try await converse()
        } catch let e as TransportError {
            failure = e
        } catch {
            failure = TransportError(.protocolViolation, step: dialog.steps.last?.step ?? .connect, message: "\(error)")
        }
        report.steps = connectStep + dialog.steps
        if let failure {
            report.failedStep = failure.step
            report.failureKind = failure.kind
            report.error = failure.description
            if !report.steps.contains(where: { $0.status == .fail }) {
                addStep(failure.step, reply: failure.reply, since: elapsed, status: .fail, note: failure.message)
            }
            await quitQuietly()
        }
        await connection?.close()
        report.banner = dialog.banner
        report.serverName = dialog.serverName
        if let caps = dialog.capabilities {
            report.capabilities = caps.extensions.map {
                CapabilityEntry(keyword: $0.keyword, parameters: $0.parameters)
            }
            report.dsn = caps.dsn
        }
        report.usedHELO = dialog.usedHELO
        report.dsnRequested = dialog.dsnRequested
        report.recipients = dialog.recipients
        report.dataReplyCode = dialog.dataReply?.code
        report.dataReplyText = dialog.dataReply?.text
        report.acceptedAt = dialog.acceptedAt
        report.warnings = dialog.warnings
        return report
    }

    // MARK: connect

    private func connect() async throws -> CheckStepResult {
        let t0 = elapsed
        let addresses = try await HostAddresses.resolve(options.host, resolver: options.resolver)
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
                return CheckStepResult(
                    step: .connect, command: nil, reply: nil, durationMs: ((elapsed - t0) * 1_000_000).rounded() / 1000,
                    status: .pass, note: "connected to \(sa.displayString)")
            } catch let e as TransportError {
                note(.info, e.message)
                lastError = e
            }
        }
        throw lastError
            ?? TransportError(.connectFailed, step: .connect, message: "no usable address for \(options.host)")
    }

    // MARK: the dialog

    private func converse() async throws {
        guard let connection else { return }
        dialog.connected(at: elapsed)
        let greeting = try await connection.readReply(timeout: options.timeouts.greeting, step: .banner)
        if options.tls.transport == .implicit {
            // The greeting arrives inside TLS, so the handshake is done: verify
            // before anything is sent.
            try await verifyTLS(connection, discarded: 0)
        }
        record(greeting)
        var action = dialog.greeting(greeting, at: elapsed)
        while true {
            switch action {
            case .send(let exchange):
                for c in exchange.commands { note(.client, c.redactedLine) }
                let replies: [SMTPReply]
                do {
                    replies = try await connection.send(
                        exchange.bytes, replies: exchange.commands.count,
                        timeout: options.timeouts.limit(exchange.timeout), step: exchange.step)
                } catch  where exchange.tolerant {
                    action = dialog.exchangeFailed(at: elapsed)
                    continue
                }
                for (c, r) in zip(exchange.commands, replies) {
                    record(r, redact: (c.verb == .auth || c.verb == .authResponse) && r.code == 334)
                }
                action = dialog.receive(replies, at: elapsed)
            case .startTLS(let exchange):
                for c in exchange.commands { note(.client, c.redactedLine) }
                let (reply, discarded) = try await connection.startTLS(
                    command: exchange.bytes, serverName: options.host, sendsCredentials: options.auth != nil,
                    timeout: options.timeouts.command, handshakeTimeout: options.timeouts.tlsHandshake
                )
                record(reply)
                action = dialog.receive([reply], discarded: discarded, at: elapsed)
            case .verifyTLS(let discarded):
                if discarded > 0 {
                    note(
                        .info,
                        "discarded \(discarded) octets the server sent in plaintext after 220 (never read as TLS data)")
                }
                try await verifyTLS(connection, discarded: discarded)
                action = dialog.continueAfterTLS(at: elapsed)
            case .sendMessage(let bytes, let octets):
                note(.client, "<message: \(octets) octets>")
                note(.client, ".")
                let final = try await connection.send(
                    bytes, replies: 1, timeout: options.timeouts.dataEnd, step: .data)[0]
                record(final)
                action = dialog.receive([final], at: elapsed)
            case .finished:
                return
            case .failed(let failure):
                throw TransportError(failure)
            }
        }
    }

    private func verifyTLS(_ connection: SMTPClientConnection, discarded: Int) async throws {
        let tlsReport = try await connection.tlsReport(
            serverName: options.host, policy: options.tls, discarded: discarded)
        report.tls = tlsReport
        note(.info, "TLS established: \(tlsReport.protocolVersion ?? "?") \(tlsReport.cipher ?? "")")
        let check = SMTPDialog.TLSCheck(
            summary:
                "\(tlsReport.protocolVersion ?? "TLS") \(tlsReport.cipher ?? ""), certificate \(tlsReport.verification.rawValue)",
            problem: tlsReport.problem,
            fatal: options.tls.verificationIsFatal(port: options.port, usesAuth: options.auth != nil)
        )
        if let failure = dialog.tlsVerified(check, at: elapsed) { throw TransportError(failure) }
    }

    private func quitQuietly() async {
        guard let connection, let bytes = dialog.quitAfterFailure() else { return }
        note(.client, "QUIT")
        if let r = try? await connection.send(bytes, replies: 1, timeout: .seconds(5), step: .quit).first {
            record(r)
        }
    }
}

extension TransportError {
    /// Where the dialog machine stopped.
    init(_ failure: SMTPDialog.Failure) {
        let kind: Kind
        switch failure.kind {
        case .rejected: kind = .rejected
        case .protocolViolation: kind = .protocolViolation
        case .tlsFailed: kind = .tlsFailed
        case .certificateRejected: kind = .certificateRejected
        case .authFailed: kind = .authFailed
        case .dsnUnavailable: kind = .dsnUnavailable
        case .invalidInput: kind = .invalidInput
        }
        self.init(kind, step: failure.step, message: failure.message, reply: failure.reply)
    }
}
