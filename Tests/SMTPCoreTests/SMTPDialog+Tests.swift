import MailCore
import Testing

@testable import SMTPCore

/// The dialog machine against scripted servers, without channels: every
/// branch of EHLO/HELO, STARTTLS, AUTH, DSN, RCPT, DATA and QUIT.
@Suite("SMTPDialog")
struct SMTPDialogTests {
    typealias Dialog = SMTPDialog

    static func r(_ code: Int, _ lines: String...) -> SMTPReply { SMTPReply(code: code, lines: lines) }
    static func ehlo(_ keywords: String...) -> SMTPReply { SMTPReply(code: 250, lines: ["mx.example"] + keywords) }

    static let trusted = Dialog.TLSCheck(
        summary: "TLSv1.3 TLS_AES_128_GCM_SHA256, certificate trusted", problem: nil, fatal: false)

    /// What the scripted server saw and how the dialog ended.
    struct Run {
        var dialog: Dialog
        /// Each write: one command line, or several for a pipelined batch; "<message>" for the data.
        var writes: [[String]] = []
        var tolerant: [Bool] = []
        var verified: [Int] = []
        var end: Dialog.Action

        var lines: [String] { writes.flatMap { $0 } }
        var failure: Dialog.Failure? {
            if case .failed(let f) = end { return f }
            return nil
        }
        var finished: Bool { end == .finished }
        func steps(_ step: Dialog.Step) -> [Dialog.StepResult] { dialog.steps.filter { $0.step == step } }
    }

    /// Plays the server: `respond` answers every command; STARTTLS is
    /// answered by `respond(.startTLS)` with `discarded` plaintext octets behind it.
    static func drive(
        _ configuration: Dialog.Configuration,
        greeting: SMTPReply = r(220, "mx.example ESMTP"),
        tls: Dialog.TLSCheck = trusted,
        discarded: Int = 0,
        afterMessage: SMTPReply = r(250, "2.0.0 queued as A1"),
        failExchange: (SMTPCommand) -> Bool = { _ in false },
        respond: (SMTPCommand, _ tls: Bool) -> SMTPReply
    ) -> Run {
        var dialog = Dialog(configuration: configuration)
        var clock = 0.0
        func tick() -> Double {
            clock += 0.5
            return clock
        }
        dialog.connected(at: tick())
        var run = Run(dialog: dialog, end: .finished)
        if configuration.tls == .implicit, let f = dialog.tlsVerified(tls, at: tick()) {
            run.dialog = dialog
            run.end = .failed(f)
            return run
        }
        var action = dialog.greeting(greeting, at: tick())
        var tlsActive = configuration.tls == .implicit
        for _ in 0..<100 {
            switch action {
            case .send(let e):
                run.writes.append(e.commands.map(\.redactedLine))
                run.tolerant.append(e.tolerant)
                #expect(e.bytes == e.commands.flatMap { try! $0.encode() })
                if e.commands.contains(where: failExchange) {
                    #expect(e.tolerant)
                    action = dialog.exchangeFailed(at: tick())
                } else {
                    action = dialog.receive(e.commands.map { respond($0, tlsActive) }, at: tick())
                }
            case .startTLS(let e):
                #expect(e.commands == [.startTLS])
                run.writes.append(["STARTTLS"])
                let reply = respond(.startTLS, tlsActive)
                action = dialog.receive([reply], discarded: reply.code == 220 ? discarded : 0, at: tick())
            case .verifyTLS(let octets):
                run.verified.append(octets)
                tlsActive = true
                if let f = dialog.tlsVerified(tls, at: tick()) {
                    action = .failed(f)
                } else {
                    action = dialog.continueAfterTLS(at: tick())
                }
            case .sendMessage(let bytes, let octets):
                #expect(bytes.suffix(5) == Array(".\r\n".utf8).suffix(5) || bytes.suffix(3) == Array(".\r\n".utf8))
                #expect(octets > 0)
                run.writes.append(["<message>"])
                action = dialog.receive([afterMessage], at: tick())
            case .finished, .failed:
                run.dialog = dialog
                run.end = action
                return run
            }
        }
        Issue.record("the dialog did not end")
        run.dialog = dialog
        return run
    }

    /// A server that takes everything; `caps` are its EHLO keywords (before and after TLS).
    static func accepting(_ caps: [String], afterTLS: [String]? = nil, refuse: Set<String> = []) -> (SMTPCommand, Bool)
        -> SMTPReply
    {
        { command, tls in
            switch command {
            case .ehlo: return SMTPReply(code: 250, lines: ["mx.example"] + (tls ? (afterTLS ?? caps) : caps))
            case .helo: return r(250, "mx.example")
            case .startTLS: return r(220, "2.0.0 Ready to start TLS")
            case .auth, .authResponse: return r(235, "2.7.0 Authentication successful")
            case .mail: return r(250, "2.1.0 Ok")
            case .rcpt(let m, _):
                return refuse.contains(m.description) ? r(550, "5.1.1 no such user") : r(250, "2.1.5 Ok")
            case .data: return r(354, "End data with <CR><LF>.<CR><LF>")
            case .rset: return r(250, "2.0.0 Ok")
            case .quit: return r(221, "2.0.0 Bye")
            case .noop, .vrfy: return r(250, "Ok")
            }
        }
    }

    static let full = [
        "PIPELINING", "SIZE 10485760", "DSN", "STARTTLS", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME",
        "SMTPUTF8",
    ]

    static func config(
        tls: Dialog.TLSMode = .opportunistic, auth: AuthCredentials? = nil, allowPlaintextAuth: Bool = false,
        _ transaction: Dialog.Transaction = .none, refusedIsFailure: Bool = true
    ) -> Dialog.Configuration {
        Dialog.Configuration(
            heloName: "client.test", tls: tls, auth: auth, allowPlaintextAuth: allowPlaintextAuth,
            transaction: transaction, refusedRecipientIsFailure: refusedIsFailure)
    }

    static func check(_ rcpts: [String], from: String? = "probe@client.test", data: Bool = false) -> Dialog.Transaction
    {
        .check(
            from: from, recipients: rcpts,
            testMessage: data ? .init(id: "id-1", date: "Thu, 1 Jan 1970 00:00:00 +0000") : nil)
    }

    static func probe(_ rcpts: [String], requireDSN: Bool = false, message: Bool = true) throws -> Dialog.Transaction {
        .submit(
            SubmissionEnvelope(
                reversePath: .mailbox(try SMTPMailbox("roundtrip+tok@return.example")),
                mailParameters: MailParameters(ret: .headers, envelopeID: try EnvelopeID("tok")),
                recipients: try rcpts.map {
                    .init(mailbox: try SMTPMailbox($0), parameters: RcptParameters(notify: .all))
                },
                message: message ? Array("Subject: probe\r\n\r\nhello\r\n".utf8) : nil,
                requireDSN: requireDSN
            ))
    }

    // MARK: greeting, EHLO, HELO

    @Test("the whole dialog: EHLO, STARTTLS, EHLO again, pipelined MAIL+RCPT, RSET, QUIT")
    func happyPath() {
        let run = Self.drive(
            Self.config(Self.check(["alice@dest.example", "bob@dest.example"])), respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(
            run.writes == [
                ["EHLO client.test"], ["STARTTLS"], ["EHLO client.test"],
                ["MAIL FROM:<probe@client.test>", "RCPT TO:<alice@dest.example>", "RCPT TO:<bob@dest.example>"],
                ["RSET"], ["QUIT"],
            ])
        #expect(run.verified == [0])
        #expect(run.dialog.steps.map(\.step) == [.banner, .ehlo, .tls, .ehlo, .mail, .rcpt, .rcpt, .quit, .quit])
        #expect(run.dialog.steps.allSatisfy { $0.status == .pass })
        #expect(run.steps(.mail).first?.note == "pipelined with RCPT")
        #expect(run.steps(.tls).first?.command == "STARTTLS")
        #expect(run.steps(.tls).first?.replyCode == 220)
        #expect(run.dialog.recipients.map(\.accepted) == [true, true])
        #expect(run.dialog.banner == "mx.example ESMTP")
        #expect(run.dialog.serverName == "mx.example")
        #expect(run.dialog.warnings.isEmpty)
        #expect(run.dialog.session.tlsActive)
        // Durations come from the times fed in (0.5 s per tick): MAIL and RCPT share the batch's start.
        #expect(run.steps(.mail)[0].durationMs == 500)
        #expect(run.steps(.rcpt).map(\.durationMs) == [500, 500])
    }

    @Test("without PIPELINING, MAIL and each RCPT go one by one")
    func noPipelining() {
        let run = Self.drive(
            Self.config(tls: .never, Self.check(["alice@dest.example", "bob@dest.example"])),
            respond: Self.accepting(["DSN"]))
        #expect(run.finished)
        #expect(
            run.writes == [
                ["EHLO client.test"], ["MAIL FROM:<probe@client.test>"], ["RCPT TO:<alice@dest.example>"],
                ["RCPT TO:<bob@dest.example>"], ["RSET"], ["QUIT"],
            ])
        #expect(run.steps(.mail).first?.note == nil)
    }

    @Test("a greeting that is not 220 fails the banner step; 554 is named")
    func greetingRefused() {
        let run = Self.drive(Self.config(), greeting: Self.r(554, "no service"), respond: Self.accepting(Self.full))
        #expect(
            run.failure
                == Dialog.Failure(
                    .rejected, step: .banner, message: "the greeting is not 220", reply: Self.r(554, "no service")))
        #expect(run.steps(.banner).first?.note == "the server refuses service")
        #expect(run.writes.isEmpty)
        var d = run.dialog
        #expect(d.quitAfterFailure() == Array("QUIT\r\n".utf8), "QUIT may still follow a 554 greeting")
    }

    @Test("EHLO 502 falls back to HELO: no extensions, a warning, no STARTTLS (auto) and no DSN")
    func heloFallback() throws {
        let script = Self.accepting(Self.full)
        let run = Self.drive(Self.config(try Self.probe(["alice@dest.example"]), refusedIsFailure: false)) { c, tls in
            if case .ehlo = c { return Self.r(502, "5.5.2 command not recognized") }
            return script(c, tls)
        }
        #expect(run.finished)
        #expect(
            run.writes == [
                ["EHLO client.test"], ["HELO client.test"], ["MAIL FROM:<roundtrip+tok@return.example>"],
                ["RCPT TO:<alice@dest.example>"], ["DATA"], ["<message>"], ["QUIT"],
            ])
        #expect(run.steps(.ehlo).map(\.status) == [.warn, .warn])
        #expect(
            run.steps(.ehlo).map(\.note) == [
                "EHLO not supported; falling back to HELO", "HELO only: no extensions, no DSN",
            ])
        #expect(run.steps(.tls).map(\.status) == [.warn])
        #expect(run.dialog.usedHELO)
        #expect(!run.dialog.dsnRequested)
        #expect(
            run.dialog.warnings.contains("the server only speaks HELO: no ESMTP extensions, so no DSN can be requested")
        )
        #expect(run.dialog.warnings.contains("the server does not offer STARTTLS"))
        #expect(run.dialog.acceptedAt != nil)
    }

    @Test("EHLO 500 also falls back; a refused HELO fails the EHLO step")
    func heloRefused() {
        let run = Self.drive(Self.config()) { c, _ in
            if case .ehlo = c { return Self.r(500, "what?") }
            return Self.r(550, "go away")
        }
        #expect(run.failure?.kind == .rejected)
        #expect(run.failure?.step == .ehlo)
        #expect(run.failure?.message == "HELO refused")
        #expect(run.steps(.ehlo).map(\.status) == [.warn, .fail])
    }

    @Test("EHLO refused with anything but 500/502 fails without HELO")
    func ehloRefused() {
        let run = Self.drive(Self.config()) { _, _ in Self.r(554, "5.7.1 not you") }
        #expect(run.failure?.message == "EHLO refused")
        #expect(run.writes == [["EHLO client.test"]])
    }

    // MARK: STARTTLS

    @Test("--starttls never: a skipped TLS step, no STARTTLS although offered")
    func startTLSNever() {
        let run = Self.drive(Self.config(tls: .never), respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(!run.lines.contains("STARTTLS"))
        #expect(run.steps(.tls).map(\.status) == [.skip])
        #expect(run.steps(.tls).first?.note == "STARTTLS not attempted (--starttls never)")
    }

    @Test("STARTTLS required but not offered fails before anything else is sent")
    func startTLSRequiredNotOffered() {
        let run = Self.drive(
            Self.config(tls: .required, auth: AuthCredentials(user: "u", password: "pw")),
            respond: Self.accepting(["AUTH PLAIN"]))
        #expect(
            run.failure
                == Dialog.Failure(
                    .tlsFailed, step: .tls, message: "the server does not offer STARTTLS (--starttls require)"))
        #expect(run.writes == [["EHLO client.test"]])
        #expect(run.steps(.tls).map(\.status) == [.fail])
    }

    @Test("STARTTLS refused: required fails with the reply; auto goes on in plaintext with a warning")
    func startTLSRefused() {
        let base = Self.accepting(Self.full)
        let refusing: (SMTPCommand, Bool) -> SMTPReply = { c, tls in
            c == .startTLS ? Self.r(454, "4.7.0 TLS not available") : base(c, tls)
        }
        let required = Self.drive(Self.config(tls: .required), respond: refusing)
        #expect(
            required.failure
                == Dialog.Failure(
                    .tlsFailed, step: .tls, message: "STARTTLS refused", reply: Self.r(454, "4.7.0 TLS not available")))
        let auto = Self.drive(Self.config(tls: .opportunistic), respond: refusing)
        #expect(auto.finished)
        #expect(auto.steps(.tls).map(\.status) == [.warn])
        #expect(auto.steps(.tls).first?.note == "STARTTLS refused: plaintext")
        #expect(auto.dialog.warnings == ["STARTTLS was refused: 454 TLS not available"])
        #expect(!auto.dialog.session.tlsActive)
        #expect(auto.writes == [["EHLO client.test"], ["STARTTLS"], ["QUIT"]])
    }

    @Test("plaintext octets discarded after 220 are reported; the capabilities are the ones after TLS")
    func startTLSDiscarded() {
        let run = Self.drive(
            Self.config(), discarded: 12,
            respond: Self.accepting(["STARTTLS", "PIPELINING"], afterTLS: ["DSN", "AUTH PLAIN"]))
        #expect(run.finished)
        #expect(run.verified == [12])
        #expect(run.dialog.warnings == ["the server sent 12 octets after 220 to STARTTLS; they were discarded"])
        #expect(run.dialog.capabilities?.keywords == ["DSN", "AUTH"])
        #expect(run.steps(.ehlo).last?.note == "after TLS")
    }

    @Test("certificate problems: fatal fails the TLS step; else a warning (RFC 7435)")
    func certificate() {
        let fatal = Dialog.TLSCheck(summary: "TLSv1.3 x, certificate untrusted", problem: "self-signed", fatal: true)
        let bad = Self.drive(Self.config(), tls: fatal, respond: Self.accepting(Self.full))
        #expect(
            bad.failure
                == Dialog.Failure(
                    .certificateRejected, step: .tls, message: "certificate verification failed: self-signed"))
        #expect(bad.writes == [["EHLO client.test"], ["STARTTLS"]])
        #expect(bad.steps(.tls).first?.command == "STARTTLS")
        #expect(bad.steps(.tls).first?.status == .fail)
        var d = bad.dialog
        #expect(d.quitAfterFailure() == Array("QUIT\r\n".utf8), "after the handshake QUIT goes out over TLS")

        let lenient = Dialog.TLSCheck(summary: "TLSv1.3 x, certificate untrusted", problem: "self-signed", fatal: false)
        let ok = Self.drive(Self.config(), tls: lenient, respond: Self.accepting(Self.full))
        #expect(ok.finished)
        #expect(ok.steps(.tls).first?.status == .warn)
        #expect(
            ok.steps(.tls).first?.note == "TLSv1.3 x, certificate untrusted: self-signed (opportunistic TLS, RFC 7435)")
        #expect(ok.dialog.warnings == ["TLS certificate: self-signed"])
    }

    @Test("implicit TLS: verified before the greeting, no STARTTLS, AUTH allowed")
    func implicitTLS() {
        let run = Self.drive(
            Self.config(tls: .implicit, auth: AuthCredentials(user: "u", password: "pw")),
            respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(run.dialog.steps.map(\.step) == [.tls, .banner, .ehlo, .auth, .quit])
        #expect(run.steps(.tls).first?.command == nil)
        #expect(!run.lines.contains("STARTTLS"))
        let fatal = Dialog.TLSCheck(summary: "s", problem: "expired", fatal: true)
        let bad = Self.drive(Self.config(tls: .implicit), tls: fatal, respond: Self.accepting(Self.full))
        #expect(bad.failure?.kind == .certificateRejected)
        #expect(bad.writes.isEmpty)
    }

    @Test("EHLO refused after STARTTLS fails the EHLO step")
    func ehloAfterTLSRefused() {
        let base = Self.accepting(Self.full)
        let run = Self.drive(Self.config()) { c, tls in
            if case .ehlo = c, tls { return Self.r(554, "no") }
            return base(c, tls)
        }
        #expect(run.failure?.message == "EHLO after STARTTLS refused")
        #expect(run.steps(.ehlo).last?.status == .fail)
    }

    @Test("continueAfterTLS outside the switch is a protocol violation")
    func continueOutOfOrder() {
        var d = Dialog(configuration: Self.config())
        d.connected(at: 0)
        guard case .failed(let f) = d.continueAfterTLS(at: 1) else {
            Issue.record("no failure")
            return
        }
        #expect(f.kind == .protocolViolation)
    }

    // MARK: AUTH

    @Test("AUTH PLAIN is chosen when offered, with the initial response; never shown in the redacted line")
    func authPlain() {
        let run = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "Canary-1")), respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(run.writes[3] == ["AUTH PLAIN <redacted>"])
        #expect(run.steps(.auth).first?.note == "authenticated as u with PLAIN")
        #expect(!run.lines.joined().contains("Canary"))
    }

    @Test("AUTH PLAIN answers an empty 334 challenge with the response again")
    func authPlainChallenge() {
        let base = Self.accepting(Self.full)
        var sent: [SMTPCommand] = []
        let run = Self.drive(Self.config(auth: AuthCredentials(user: "u", password: "p"))) { c, tls in
            sent.append(c)
            if case .auth = c { return Self.r(334, "") }
            return base(c, tls)
        }
        #expect(run.finished)
        #expect(sent.contains(.authResponse(Base64.encode(Array("\0u\0p".utf8), lineLength: 0))))
    }

    @Test("AUTH LOGIN when PLAIN is not offered: user, then password")
    func authLogin() {
        var sent: [SMTPCommand] = []
        let base = Self.accepting(["STARTTLS", "AUTH LOGIN"])
        let run = Self.drive(Self.config(auth: AuthCredentials(user: "user", password: "pass"))) { c, tls in
            sent.append(c)
            switch c {
            case .auth: return Self.r(334, "VXNlcm5hbWU6")
            case .authResponse(let s) where s == Base64.encode(Array("user".utf8), lineLength: 0):
                return Self.r(334, "UGFzc3dvcmQ6")
            default: return base(c, tls)
            }
        }
        #expect(run.finished)
        #expect(
            sent.filter { $0.verb == .auth || $0.verb == .authResponse } == [
                .auth(mechanism: "LOGIN", initialResponse: nil),
                .authResponse(Base64.encode(Array("user".utf8), lineLength: 0)),
                .authResponse(Base64.encode(Array("pass".utf8), lineLength: 0)),
            ])
        #expect(run.steps(.auth).first?.command == "AUTH LOGIN")
    }

    @Test("an explicit mechanism must be offered; neither PLAIN nor LOGIN fails; no AUTH at all fails")
    func authChoice() {
        let cram = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "p", mechanism: "cram-md5")),
            respond: Self.accepting(Self.full))
        #expect(cram.failure == Dialog.Failure(.authFailed, step: .auth, message: "AUTH CRAM-MD5 is not offered"))
        #expect(cram.steps(.auth).first?.note == "CRAM-MD5 not offered (offered: PLAIN LOGIN)")
        let login = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "p", mechanism: "login")),
            respond: Self.accepting(Self.full))
        #expect(login.lines.contains("AUTH LOGIN"))
        let neither = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "p")),
            respond: Self.accepting(["STARTTLS", "AUTH XOAUTH2"]))
        #expect(neither.failure?.message == "the server offers neither PLAIN nor LOGIN")
        let none = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "p")), respond: Self.accepting(["STARTTLS"]))
        #expect(none.failure?.message == "the server does not offer AUTH")
        let plainNone = Self.drive(
            Self.config(tls: .never, auth: AuthCredentials(user: "u", password: "p")),
            respond: Self.accepting(["STARTTLS"]))
        #expect(plainNone.failure?.message == "the server does not offer AUTH without TLS")
    }

    @Test("credentials never cross without TLS unless allowed")
    func authRefusedWithoutTLS() {
        let auth = AuthCredentials(user: "u", password: "Canary-2")
        let refused = Self.drive(
            Self.config(tls: .never, auth: auth, Self.check(["a@dest.example"])), respond: Self.accepting(Self.full))
        #expect(
            refused.failure
                == Dialog.Failure(
                    .authFailed, step: .auth,
                    message:
                        "AUTH over a connection without TLS is refused (use --allow-plaintext-auth for test servers)"))
        #expect(refused.steps(.auth).first?.note == "refused to send credentials without TLS")
        #expect(!refused.lines.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") })
        let allowed = Self.drive(
            Self.config(tls: .never, auth: auth, allowPlaintextAuth: true), respond: Self.accepting(Self.full))
        #expect(allowed.finished)
        #expect(allowed.lines.contains("AUTH PLAIN <redacted>"))
    }

    @Test("AUTH refused: the reply is kept; a 334 after the last response is aborted with *")
    func authFailures() {
        let base = Self.accepting(Self.full)
        let refused = Self.drive(Self.config(auth: AuthCredentials(user: "u", password: "p"))) { c, tls in
            if case .auth = c { return Self.r(535, "5.7.8 bad credentials") }
            return base(c, tls)
        }
        #expect(
            refused.failure
                == Dialog.Failure(
                    .authFailed, step: .auth, message: "authentication as u failed",
                    reply: Self.r(535, "5.7.8 bad credentials")))
        #expect(refused.steps(.auth).first?.status == .fail)

        var sent: [SMTPCommand] = []
        let endless = Self.drive(Self.config(auth: AuthCredentials(user: "u", password: "p"))) { c, tls in
            sent.append(c)
            if c.verb == .auth || (c.verb == .authResponse && c != .authResponse("*")) { return Self.r(334, "") }
            if c == .authResponse("*") { return Self.r(501, "5.7.0 aborted") }
            return base(c, tls)
        }
        #expect(sent.last == .authResponse("*"))
        #expect(endless.tolerant.last == true)
        #expect(endless.failure?.reply == Self.r(334, ""), "the failure names the challenge, not the answer to *")

        let lost = Self.drive(
            Self.config(auth: AuthCredentials(user: "u", password: "p")), failExchange: { $0 == .authResponse("*") }
        ) { c, tls in
            if c.verb == .auth || c.verb == .authResponse { return Self.r(334, "") }
            return base(c, tls)
        }
        #expect(lost.failure?.kind == .authFailed)
        #expect(lost.failure?.reply == Self.r(334, ""))
    }

    // MARK: MAIL, DSN

    @Test("DSN parameters go out when advertised")
    func dsnKept() throws {
        let run = Self.drive(
            Self.config(try Self.probe(["alice@dest.example"]), refusedIsFailure: false),
            respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(run.dialog.dsnRequested)
        #expect(run.lines.contains("MAIL FROM:<roundtrip+tok@return.example> SIZE=25 RET=HDRS ENVID=tok"))
        #expect(run.lines.contains("RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY"))
    }

    @Test("DSN not advertised: parameters stripped with a warning, or --require-dsn stops before MAIL")
    func dsnStripped() throws {
        let run = Self.drive(
            Self.config(try Self.probe(["alice@dest.example"]), refusedIsFailure: false),
            respond: Self.accepting(["STARTTLS"]))
        #expect(run.finished)
        #expect(!run.dialog.dsnRequested)
        #expect(run.lines.contains("MAIL FROM:<roundtrip+tok@return.example>"))
        #expect(run.lines.contains("RCPT TO:<alice@dest.example>"))
        #expect(run.dialog.warnings.contains { $0.hasPrefix("the server does not advertise DSN") })

        let strict = Self.drive(
            Self.config(try Self.probe(["alice@dest.example"], requireDSN: true)), respond: Self.accepting(["STARTTLS"])
        )
        #expect(strict.failure?.kind == .dsnUnavailable)
        #expect(strict.failure?.step == .mail)
        #expect(strict.steps(.mail).first?.note == "the server does not offer DSN (--require-dsn)")
        #expect(!strict.lines.contains { $0.hasPrefix("MAIL") })
    }

    @Test("MAIL refused fails the MAIL step, also when pipelined with RCPT")
    func mailRefused() {
        let base = Self.accepting(Self.full)
        let script: (SMTPCommand, Bool) -> SMTPReply = { c, tls in
            if case .mail = c { return Self.r(553, "5.7.1 sender rejected") }
            return base(c, tls)
        }
        let run = Self.drive(Self.config(Self.check(["alice@dest.example"])), respond: script)
        #expect(
            run.failure
                == Dialog.Failure(
                    .rejected, step: .mail, message: "MAIL FROM refused", reply: Self.r(553, "5.7.1 sender rejected")))
        #expect(run.dialog.recipients.isEmpty)
        var d = run.dialog
        #expect(d.quitAfterFailure() != nil)
    }

    @Test("an address that needs SMTPUTF8 fails when the server lacks it; a bad --from is invalid input")
    func invalidInput() {
        let utf8 = Self.drive(
            Self.config(tls: .never, Self.check(["jörg@dest.example"])), respond: Self.accepting(["DSN"]))
        #expect(utf8.failure?.kind == .invalidInput)
        #expect(utf8.failure?.step == .mail)
        let badFrom = Self.drive(
            Self.config(tls: .never, Self.check(["a@dest.example"], from: "not an address")),
            respond: Self.accepting(["DSN"]))
        #expect(badFrom.failure?.kind == .invalidInput)
        #expect(badFrom.failure?.step == .mail)
        let badRcpt = Self.drive(
            Self.config(tls: .never, Self.check(["<a@b>\r\nDATA"])), respond: Self.accepting(["DSN"]))
        #expect(badRcpt.failure?.kind == .invalidInput)
        #expect(badRcpt.failure?.step == .rcpt)
    }

    @Test("the check's default sender and the null path")
    func senders() {
        let def = Self.drive(
            Self.config(tls: .never, Self.check(["a@dest.example"], from: nil)), respond: Self.accepting([]))
        #expect(def.lines.contains("MAIL FROM:<roundtrip-check@client.test>"))
        let null = Self.drive(
            Self.config(tls: .never, Self.check(["a@dest.example"], from: "<>")), respond: Self.accepting([]))
        #expect(null.lines.contains("MAIL FROM:<>"))
    }

    // MARK: RCPT

    @Test("a refused recipient fails a check at RCPT after RSET and QUIT")
    func rcptRefusedCheck() {
        let run = Self.drive(
            Self.config(tls: .never, Self.check(["alice@dest.example", "nobody@dest.example"])),
            respond: Self.accepting([], refuse: ["nobody@dest.example"]))
        #expect(
            run.failure
                == Dialog.Failure(
                    .rejected, step: .rcpt, message: "a recipient was refused", reply: Self.r(550, "5.1.1 no such user")
                ))
        #expect(run.steps(.rcpt).map(\.status) == [.pass, .fail])
        #expect(run.steps(.rcpt).map(\.note) == ["recipient accepted", "recipient refused"])
        #expect(run.dialog.recipients.map(\.refusedAt) == [nil, "rcpt"])
        #expect(run.writes.suffix(2) == [["RSET"], ["QUIT"]])
        #expect(run.tolerant.last == true)
        #expect(run.steps(.quit).map(\.status) == [.pass, .pass])
        var d = run.dialog
        #expect(d.quitAfterFailure() == nil, "QUIT already went out")
        // The QUIT may fail: the refusal is still the verdict.
        let lost = Self.drive(
            Self.config(tls: .never, Self.check(["nobody@dest.example"])), failExchange: { $0 == .quit },
            respond: Self.accepting([], refuse: ["nobody@dest.example"]))
        #expect(lost.failure?.step == .rcpt)
    }

    @Test("a submission goes on with the accepted recipients: DATA for them, no RSET")
    func rcptPartialSubmission() throws {
        let run = Self.drive(
            Self.config(try Self.probe(["alice@dest.example", "nobody@dest.example"]), refusedIsFailure: false),
            respond: Self.accepting(Self.full, refuse: ["nobody@dest.example"]))
        #expect(run.finished)
        #expect(run.dialog.recipients.map(\.accepted) == [true, false])
        #expect(run.writes.suffix(3) == [["DATA"], ["<message>"], ["QUIT"]])
        #expect(run.dialog.dataReply?.code == 250)
    }

    /// A server that takes at most `limit` recipients per transaction, as Postfix
    /// (`smtpd_recipient_limit`) and Exim (`recipients_max`) do: 452 4.5.3 for the rest.
    final class LimitedServer {
        let limit: Int
        var taken = 0
        var transactions: [[String]] = []
        init(limit: Int) { self.limit = limit }
        func respond(_ c: SMTPCommand, _ tls: Bool, refuse: Set<String> = []) -> SMTPReply {
            switch c {
            case .mail:
                taken = 0
                transactions.append([])
            case .rcpt(let m, _):
                if refuse.contains(m.description) { return r(550, "5.1.1 no such user") }
                guard taken < limit else { return r(452, "4.5.3 Error: too many recipients") }
                taken += 1
                transactions[transactions.count - 1].append(m.description)
                return r(250, "2.1.5 Ok")
            default: break
            }
            return accepting(full)(c, tls)
        }
    }

    @Test(
        "a recipient limit (452 after some were taken) sends the rest in further transactions, same message",
        arguments: [true, false])
    func recipientLimitSplitsTransactions(pipelining: Bool) throws {
        let rcpts = (1...8).map { "u\($0)@dest.example" }
        let server = LimitedServer(limit: 3)
        let caps = pipelining ? Self.full : Self.full.filter { $0 != "PIPELINING" }
        let run = Self.drive(
            Self.config(try Self.probe(rcpts), refusedIsFailure: false),
            respond: { c, tls in
                if case .ehlo = c { return SMTPReply(code: 250, lines: ["mx.example"] + caps) }
                return server.respond(c, tls, refuse: ["u5@dest.example"])
            })
        #expect(run.finished)
        #expect(
            server.transactions
                == [["u1", "u2", "u3"], ["u4", "u6", "u7"], ["u8"]].map { $0.map { "\($0)@dest.example" } })
        #expect(run.lines.filter { $0 == "<message>" }.count == 3)
        // One outcome per recipient: the refused one refused, every other accepted.
        #expect(Set(run.dialog.recipients.map(\.address)) == Set(rcpts))
        #expect(run.dialog.recipients.count == 8)
        #expect(run.dialog.recipients.filter { !$0.accepted }.map(\.address) == ["u5@dest.example"])
        #expect(run.lines.filter { $0.hasPrefix("MAIL FROM:<roundtrip+tok@return.example>") }.count == 3)
        // Pipelined: u4, u6, u7, u8 turned away in the first transaction, u8 again in the second.
        // One at a time: after u4's 452 the rest wait unsent; u8's 452 in the second.
        #expect(run.steps(.rcpt).filter { $0.status == .warn }.count == (pipelining ? 5 : 2))
    }

    @Test("RCPT goes out pipelined 100 at a time, and none past the batch that met the server's limit")
    func recipientsInBatches() throws {
        let rcpts = (1...250).map { "u\($0)@dest.example" }
        let open = LimitedServer(limit: 1000)
        let run = Self.drive(Self.config(try Self.probe(rcpts)), respond: { c, tls in open.respond(c, tls) })
        #expect(run.finished)
        #expect(run.writes.map { $0.filter { $0.hasPrefix("RCPT") }.count }.filter { $0 > 0 } == [100, 100, 50])
        #expect(run.dialog.recipients.allSatisfy { $0.accepted })
        // A server that takes 30: the first batch overshoots by 70, then a new transaction.
        let limited = LimitedServer(limit: 30)
        let split = Self.drive(Self.config(try Self.probe(rcpts)), respond: { c, tls in limited.respond(c, tls) })
        #expect(split.finished)
        #expect(limited.transactions.map(\.count) == [30, 30, 30, 30, 30, 30, 30, 30, 10])
        #expect(split.lines.filter { $0.hasPrefix("RCPT") }.count <= 250 + 9 * 70)
        #expect(split.dialog.recipients.count == 250 && split.dialog.recipients.allSatisfy { $0.accepted })
    }

    @Test("452 to a transaction's first recipient is a refusal, not a loop")
    func firstRecipient452IsARefusal() throws {
        let server = LimitedServer(limit: 0)
        let run = Self.drive(
            Self.config(try Self.probe(["a@dest.example", "b@dest.example"]), refusedIsFailure: false),
            respond: { c, tls in server.respond(c, tls) })
        #expect(run.finished)
        #expect(run.dialog.recipients.map(\.replyCode) == [452, 452])
        #expect(!run.lines.contains("DATA"))
    }

    @Test("the message refused in the first transaction: the recipients waiting for the next are refused too")
    func messageRefusedWithOverflow() throws {
        let server = LimitedServer(limit: 1)
        let run = Self.drive(
            Self.config(
                try Self.probe(["a@dest.example", "b@dest.example", "c@dest.example"]), refusedIsFailure: false),
            afterMessage: Self.r(554, "5.7.1 spam"), respond: { c, tls in server.respond(c, tls) })
        #expect(run.failure?.step == .data)
        #expect(run.dialog.recipients.map(\.address) == ["a@dest.example", "b@dest.example", "c@dest.example"])
        #expect(run.dialog.recipients.allSatisfy { !$0.accepted && $0.replyCode == 554 && $0.refusedAt == "data" })
    }

    @Test("every recipient refused: no DATA, the transaction is reset")
    func allRefused() throws {
        let run = Self.drive(
            Self.config(try Self.probe(["nobody@dest.example"]), refusedIsFailure: false),
            respond: Self.accepting(Self.full, refuse: ["nobody@dest.example"]))
        #expect(run.finished)
        #expect(!run.lines.contains("DATA"))
        #expect(run.writes.suffix(2) == [["RSET"], ["QUIT"]])
    }

    // MARK: DATA

    @Test("check --data: the test message, SIZE when advertised, accepted at the final 250")
    func dataAccepted() {
        let run = Self.drive(
            Self.config(Self.check(["alice@dest.example"], data: true)), respond: Self.accepting(Self.full))
        #expect(run.finished)
        #expect(run.lines.contains { $0.hasPrefix("MAIL FROM:<probe@client.test> SIZE=") })
        #expect(run.steps(.data).first?.note == "message accepted")
        #expect(run.dialog.acceptedAt != nil)
        #expect(!run.lines.contains("RSET"))
        let message = String(
            decoding: Dialog.testMessage(
                from: .null, to: [try! SMTPMailbox("a@b.example")], heloName: "h.test",
                stamp: .init(id: "x1", date: "D")), as: UTF8.self)
        #expect(
            message
                == "From: <>\r\nTo: <a@b.example>\r\nSubject: roundtrip check x1\r\nDate: D\r\nMessage-ID: <x1@h.test>\r\n\r\n"
                + "This is a test message sent by `roundtrip check --data`.\r\n")
    }

    @Test("DATA refused before the message")
    func dataRefused() {
        let base = Self.accepting(Self.full)
        let run = Self.drive(Self.config(Self.check(["alice@dest.example"], data: true))) { c, tls in
            c == .data ? Self.r(554, "5.5.1 no valid recipients") : base(c, tls)
        }
        #expect(
            run.failure
                == Dialog.Failure(
                    .rejected, step: .data, message: "DATA refused", reply: Self.r(554, "5.5.1 no valid recipients")))
        #expect(!run.lines.contains("<message>"))
    }

    @Test("the message refused after the data: every accepted recipient is refused at data")
    func messageRefused() {
        let run = Self.drive(
            Self.config(Self.check(["alice@dest.example", "bob@dest.example"], data: true)),
            afterMessage: Self.r(552, "5.3.4 message too big"), respond: Self.accepting(Self.full))
        #expect(run.failure?.message == "the message was refused")
        #expect(run.failure?.step == .data)
        #expect(run.dialog.recipients.map(\.refusedAt) == ["data", "data"])
        #expect(run.dialog.recipients.map(\.replyCode) == [552, 552])
        #expect(run.dialog.dataReply?.code == 552)
        #expect(run.dialog.acceptedAt == nil)
    }

    // MARK: QUIT

    @Test("QUIT answered with something else than 221 is a warning, not a failure")
    func quitWarn() {
        let base = Self.accepting(Self.full)
        let run = Self.drive(Self.config()) { c, tls in c == .quit ? Self.r(250, "fine") : base(c, tls) }
        #expect(run.finished)
        #expect(run.steps(.quit).map(\.status) == [.warn])
    }

    @Test("421 closes the session: no QUIT after it")
    func closing() {
        let run = Self.drive(Self.config(tls: .never, Self.check(["a@dest.example"]))) { c, _ in
            if case .ehlo = c { return Self.ehlo() }
            return Self.r(421, "4.3.2 shutting down")
        }
        #expect(run.failure?.step == .mail)
        var d = run.dialog
        #expect(d.quitAfterFailure() == nil)
    }

    @Test("421 to a RCPT ends the dialog at RCPT: no further RCPT, RSET or QUIT")
    func closingAtRcpt() {
        let base = Self.accepting([])
        let run = Self.drive(Self.config(tls: .never, Self.check(["a@dest.example", "b@dest.example"]))) { c, tls in
            if case .rcpt = c { return Self.r(421, "4.3.2 shutting down") }
            return base(c, tls)
        }
        #expect(
            run.failure
                == Dialog.Failure(
                    .rejected, step: .rcpt, message: "the server is closing the session",
                    reply: Self.r(421, "4.3.2 shutting down")))
        #expect(run.writes.last == ["RCPT TO:<a@dest.example>"])
        #expect(run.dialog.recipients.map(\.accepted) == [false])
    }

    @Test("a failed exchange that had to succeed is a protocol violation")
    func exchangeFailedOutOfPlace() {
        var d = Dialog(configuration: Self.config())
        d.connected(at: 0)
        _ = d.greeting(Self.r(220, "hi"), at: 0)
        guard case .failed(let f) = d.exchangeFailed(at: 1) else {
            Issue.record("no failure")
            return
        }
        #expect(f.kind == .protocolViolation)
    }
}
