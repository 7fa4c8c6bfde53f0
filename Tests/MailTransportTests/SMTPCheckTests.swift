import Foundation
import NIOCore
import TestSupport
import Testing

@testable import MailTransport
@testable import SMTPCore

/// Exact dialogs against an in-process scripted server.
@Suite struct SMTPCheckTests {
    static let ehloFull =
        "250-test.example hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n"

    func options(_ server: ScriptedSMTPServer, _ configure: (inout SMTPCheckOptions) -> Void = { _ in })
        -> SMTPCheckOptions
    {
        var o = SMTPCheckOptions(host: "127.0.0.1", port: server.port, heloName: "client.test")
        o.tls = TLSPolicy(starttls: .auto)
        o.timeouts = SMTPTimeouts(all: .seconds(5))
        configure(&o)
        return o
    }

    static func standard(_ line: String, _ tls: Bool) -> ScriptedSMTPServer.Step {
        let u = line.uppercased()
        if u.hasPrefix("EHLO") { return .send(ehloFull) }
        if u.hasPrefix("MAIL") { return .send("250 2.1.0 Ok\r\n") }
        if u.hasPrefix("RCPT") {
            return u.contains("NOBODY@")
                ? .send("550 5.1.1 <nobody@test.example>: Recipient address rejected: User unknown\r\n")
                : .send("250 2.1.5 Ok\r\n")
        }
        if u == "DATA" { return .send("354 End data with <CR><LF>.<CR><LF>\r\n") }
        if u == "." { return .send("250 2.0.0 Ok: queued as ABC\r\n") }
        if u == "RSET" { return .send("250 2.0.0 Ok\r\n") }
        if u == "QUIT" { return .sendThenClose("221 2.0.0 Bye\r\n") }
        return .send("502 5.5.2 Error: command not recognized\r\n")
    }

    @Test func plainDialogPassesAndListsExtensions() async throws {
        try await ScriptedSMTPServer.with(script: Self.standard) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.from = "probe@client.test"
                    $0.recipients = ["alice@test.example"]
                })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.dsn)
            #expect(
                report.capabilities.map(\.keyword) == ["PIPELINING", "SIZE", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"])
            #expect(report.steps.map(\.step) == [.connect, .banner, .ehlo, .tls, .mail, .rcpt, .quit, .quit])
            #expect(report.steps.first { $0.step == .tls }?.status == .warn)
            // MAIL and RCPT went out in one pipelined batch, then RSET and QUIT.
            #expect(
                server.commands == [
                    "EHLO client.test", "MAIL FROM:<probe@client.test>", "RCPT TO:<alice@test.example>", "RSET", "QUIT",
                ])
        }
    }

    @Test func refusedRecipientFailsAtRCPT() async throws {
        try await ScriptedSMTPServer.with(script: Self.standard) { server in
            let report = await SMTPCheck.run(
                options(server) { $0.recipients = ["alice@test.example", "nobody@test.example"] })
            #expect(report.failedStep == .rcpt)
            let rcpts = report.steps.filter { $0.step == .rcpt }
            #expect(rcpts.map(\.status) == [.pass, .fail])
            #expect(rcpts[1].replyCode == 550)
            #expect(rcpts[1].enhancedCode == "5.1.1")
        }
    }

    @Test func heloFallbackOn502() async throws {
        try await ScriptedSMTPServer.with(script: { line, _ in
            let u = line.uppercased()
            if u.hasPrefix("EHLO") { return .send("502 5.5.1 EHLO not implemented\r\n") }
            if u.hasPrefix("HELO") { return .send("250 test.example\r\n") }
            return Self.standard(line, false)
        }) { server in
            let report = await SMTPCheck.run(options(server))
            #expect(report.passed)
            #expect(report.usedHELO)
            #expect(!report.dsn)
            #expect(server.commands.prefix(2) == ["EHLO client.test", "HELO client.test"])
        }
    }

    @Test func replySplitAcrossWritesAndMultilineGreeting() async throws {
        try await ScriptedSMTPServer.with(
            greeting: "220-test.example first\r\n220-second\r\n220 third\r\n",
            script: { line, tls in
                if line.uppercased().hasPrefix("EHLO") { return .send("250-test.example\r\n250-DSN\r\n250 SIZE\r\n") }
                return Self.standard(line, tls)
            }
        ) { server in
            let report = await SMTPCheck.run(options(server))
            #expect(report.passed)
            #expect(report.banner == "test.example first second third")
        }
    }

    @Test func silentServerTimesOut() async throws {
        try await ScriptedSMTPServer.with(greeting: "", script: { _, _ in .silence }) { server in
            let clock = ContinuousClock()
            let start = clock.now
            let report = await SMTPCheck.run(options(server) { $0.timeouts = SMTPTimeouts(all: .seconds(2)) })
            #expect(report.failedStep == .banner)
            #expect(report.failureKind == .timeout)
            #expect(clock.now - start < .seconds(10))
        }
    }

    @Test func serverClosingMidReplyIsReported() async throws {
        try await ScriptedSMTPServer.with(script: { line, _ in
            line.uppercased().hasPrefix("EHLO") ? .sendThenClose("250-test.example\r\n250-PIPEL") : .silence
        }) { server in
            let report = await SMTPCheck.run(options(server))
            #expect(report.failedStep == .ehlo)
            #expect(report.failureKind == .connectionClosed)
            #expect(report.error?.contains("middle of a reply") == true)
        }
    }

    @Test func garbageInsteadOfSMTPIsAProtocolViolation() async throws {
        try await ScriptedSMTPServer.with(greeting: "HTTP/1.1 400 Bad Request\r\n", script: { _, _ in .silence }) {
            server in
            let report = await SMTPCheck.run(options(server))
            #expect(report.failedStep == .banner)
            #expect(report.failureKind == .protocolViolation)
        }
    }

    @Test func greeting554IsFailureAtBanner() async throws {
        try await ScriptedSMTPServer.with(greeting: "554 5.7.1 no service for you\r\n", script: Self.standard) {
            server in
            let report = await SMTPCheck.run(options(server))
            #expect(report.failedStep == .banner)
            #expect(server.commands == ["QUIT"])
        }
    }

    @Test func authIsNeverSentWithoutTLS() async throws {
        try await ScriptedSMTPServer.with(script: { line, tls in
            if line.uppercased().hasPrefix("EHLO") { return .send("250-test.example\r\n250 AUTH PLAIN LOGIN\r\n") }
            return Self.standard(line, tls)
        }) { server in
            let report = await SMTPCheck.run(
                options(server) { $0.auth = AuthCredentials(user: "u", password: "Canary-Pw-1") })
            #expect(report.failedStep == .auth)
            #expect(!server.commands.contains { $0.uppercased().hasPrefix("AUTH") })
        }
    }

    @Test func plaintextAuthWhenAllowedIsRedacted() async throws {
        let password = "Canary-Pw-\(UUID().uuidString)"
        try await ScriptedSMTPServer.with(script: { line, tls in
            let u = line.uppercased()
            if u.hasPrefix("EHLO") { return .send("250-test.example\r\n250 AUTH LOGIN\r\n") }
            if u == "AUTH LOGIN" { return .send("334 VXNlcm5hbWU6\r\n") }
            if u == Data("u".utf8).base64EncodedString().uppercased() { return .send("334 UGFzc3dvcmQ6\r\n") }
            if line == Data(password.utf8).base64EncodedString() {
                return .send("235 2.7.0 Authentication successful\r\n")
            }
            return Self.standard(line, tls)
        }) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.auth = AuthCredentials(user: "u", password: password)
                    $0.allowPlaintextAuth = true
                })
            #expect(report.passed, "\(report.error ?? "")")
            let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
            let b64 = Data(password.utf8).base64EncodedString()
            #expect(!json.contains(password) && !json.contains(b64))
            #expect(report.transcript.contains { $0.text == "<redacted>" })
        }
    }

    @Test func startTLSDiscardsPipelinedPlaintextAndSendsEHLOAgain() async throws {
        let cert = try TestCertificate.make()
        try await ScriptedSMTPServer.with(
            tls: cert,
            script: { line, tls in
                let u = line.uppercased()
                if u.hasPrefix("EHLO") {
                    return tls
                        ? .send("250-test.example secure\r\n250-DSN\r\n250 AUTH PLAIN\r\n")
                        : .send("250-test.example\r\n250-STARTTLS\r\n250 DSN\r\n")
                }
                // The attack: a fake reply right behind 220, in the same segment.
                if u == "STARTTLS" {
                    return .sendThenStartTLS("220 2.0.0 Ready to start TLS\r\n250-evil.example\r\n250 AUTH NONE\r\n")
                }
                return Self.standard(line, tls)
            }
        ) { server in
            let report = await SMTPCheck.run(options(server) { $0.host = "localhost" })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.tls?.discardedPlaintextOctets == 33)
            #expect(report.tls?.protocolVersion == "TLSv1.3")
            #expect(report.tls?.cipher?.hasPrefix("TLS_") == true)
            #expect(report.tls?.chainVerified == false)
            #expect(report.tls?.hostnameMatched == true)
            #expect(report.tls?.subjectAlternativeNames == ["DNS:localhost"])
            #expect(report.capabilities.map(\.keyword) == ["DSN", "AUTH"])
            #expect(server.commands == ["EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT"])
            // Port 25 semantics in auto mode: a warning, not a failure.
            #expect(report.steps.first { $0.step == .tls }?.status == .warn)
        }
    }

    @Test(arguments: [TLSVerifyMode.strict, .auto])
    func untrustedCertificateFailsWhenStrictOrSubmission(mode: TLSVerifyMode) async throws {
        let cert = try TestCertificate.make()
        try await ScriptedSMTPServer.with(
            tls: cert,
            script: { line, tls in
                if line.uppercased().hasPrefix("EHLO") { return .send("250-test.example\r\n250 STARTTLS\r\n") }
                if line.uppercased() == "STARTTLS" { return .sendThenStartTLS("220 go ahead\r\n") }
                return Self.standard(line, tls)
            }
        ) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.host = "localhost"
                    $0.tls.verify = mode
                    // In auto mode, AUTH makes it a submission: verification is fatal.
                    if mode == .auto { $0.auth = AuthCredentials(user: "u", password: "p") }
                })
            #expect(report.failedStep == .tls)
            #expect(report.failureKind == .certificateRejected)
            #expect(!server.commands.contains { $0.hasPrefix("AUTH") })
        }
    }

    @Test func caFileMakesTheChainVerify() async throws {
        let cert = try TestCertificate.make()
        let caPath = try cert.writeCA()
        defer { try? FileManager.default.removeItem(atPath: caPath) }
        try await ScriptedSMTPServer.with(
            tls: cert,
            script: { line, tls in
                if line.uppercased().hasPrefix("EHLO") { return .send("250-test.example\r\n250 STARTTLS\r\n") }
                if line.uppercased() == "STARTTLS" { return .sendThenStartTLS("220 go ahead\r\n") }
                return Self.standard(line, tls)
            }
        ) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.host = "localhost"
                    $0.tls = TLSPolicy(starttls: .require, verify: .strict, caFile: caPath)
                })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.tls?.verification == .verified)
            #expect(report.tls?.chainVerified == true)
        }
    }

    @Test func requireFailsWhenSTARTTLSIsNotOffered() async throws {
        try await ScriptedSMTPServer.with(script: Self.standard) { server in
            let report = await SMTPCheck.run(options(server) { $0.tls.starttls = .require })
            #expect(report.failedStep == .tls)
            #expect(server.commands.last == "QUIT")
        }
    }

    @Test func implicitTLSGreetingArrivesInsideTLS() async throws {
        let cert = try TestCertificate.make()
        let caPath = try cert.writeCA()
        defer { try? FileManager.default.removeItem(atPath: caPath) }
        try await ScriptedSMTPServer.with(tls: cert, implicitTLS: true, script: Self.standard) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.host = "localhost"
                    $0.tls = TLSPolicy(transport: .implicit, verify: .strict, caFile: caPath)
                })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.tls?.verification == .verified)
            #expect(report.banner == "test.example ESMTP ready")
        }
    }

    @Test func ipv6Loopback() async throws {
        try await ScriptedSMTPServer.with(host: "::1", script: Self.standard) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.host = "::1"
                    $0.recipients = ["alice@test.example"]
                })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.address == "[::1]:\(server.port)")
        }
    }

    @Test func dataIsDotStuffedAndAccepted() async throws {
        try await ScriptedSMTPServer.with(script: Self.standard) { server in
            let report = await SMTPCheck.run(
                options(server) {
                    $0.recipients = ["alice@test.example"]
                    $0.sendData = true
                })
            #expect(report.passed, "\(report.error ?? "")")
            #expect(report.steps.contains { $0.step == .data && $0.status == .pass && $0.replyCode == 250 })
        }
    }
}
