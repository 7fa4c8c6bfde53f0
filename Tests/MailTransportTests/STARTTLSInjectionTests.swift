import Foundation
import MailboxCore
import NIOCore
import SMTPCore
import TestSupport
import Testing

@testable import MailTransport

/// A man in the middle queues forged answers, in plaintext, to the commands
/// the client will send after STARTTLS ("NO STARTTLS", USENIX Security 2021).
/// Every client must refuse at the TLS step, before the handshake, and send
/// nothing that needs TLS.
@Suite struct STARTTLSInjectionTests {
    @Test("SMTP: forged replies queued behind the EHLO reply fail the TLS step; no STARTTLS, no AUTH, no MAIL")
    func smtp() async throws {
        let cert = try TestCertificate.make()
        let forged =
            "220 2.0.0 Ready to start TLS\r\n250-evil.example\r\n250 AUTH PLAIN\r\n235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n"
        let server = try await ScriptedSMTPServer.start(tls: cert) { line, tls in
            let u = line.uppercased()
            if u.hasPrefix("EHLO") { return .send("250-test.example\r\n250-STARTTLS\r\n250 DSN\r\n" + forged) }
            if u == "STARTTLS" { return .sendThenStartTLS("220 2.0.0 Ready to start TLS\r\n") }
            if u == "QUIT" { return .sendThenClose("221 2.0.0 Bye\r\n") }
            return .send("250 2.0.0 Ok\r\n")
        }
        var o = SMTPCheckOptions(host: "localhost", port: server.port, heloName: "client.test")
        o.tls = TLSPolicy(starttls: .require, verify: .off)
        o.timeouts = SMTPTimeouts(all: .seconds(5))
        o.auth = AuthCredentials(user: "u", password: "canary-password")
        let report = await SMTPCheck.run(o)
        #expect(report.failedStep == .tls)
        #expect(report.error?.contains("STARTTLS response injection") == true, "\(report.error ?? "")")
        #expect(report.tls == nil)
        let commands = server.commands
        #expect(!commands.contains("STARTTLS"))
        #expect(!commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") || $0.hasPrefix("RCPT") })
        #expect(commands.allSatisfy { $0.hasPrefix("EHLO") || $0 == "QUIT" }, "\(commands)")
        await server.stop()
    }

    @Test("IMAP: forged tagged answers behind the greeting fail the TLS step; nothing but the connection is used")
    func imap() async throws {
        let cert = try TestCertificate.make()
        let ca = try cert.writeCA()
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let forged =
            "a1 OK Begin TLS\r\na2 OK caps\r\na3 OK logged in\r\n* 3 EXISTS\r\na4 OK selected\r\n* SEARCH 1 2 3\r\na5 OK search done\r\n"
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting + forged, tls: cert,
            script: imapScript { tag, rest, tls in
                if rest == "STARTTLS" { return .sendThenStartTLS("\(tag) OK Begin TLS\r\n") }
                return nil
            })
        let options = try imapOptions(
            port: server.port, host: "localhost", starttls: .require, allowPlaintext: false, caFile: ca)
        do {
            let client = try await IMAPClient.connect(options)
            await client.logout()
            Issue.record("connected although forged answers were queued")
        } catch let e as MailboxError {
            #expect(e.step == .tls)
            #expect(e.message.contains("STARTTLS response injection"), "\(e.message)")
        }
        try await Task.sleep(for: .milliseconds(100))
        let lines = server.lines
        #expect(!lines.contains { $0.contains("STARTTLS") || $0.hasPrefix("[tls]") }, "\(lines)")
        #expect(
            !lines.contains {
                $0.contains("AUTHENTICATE") || $0.contains("LOGIN") || $0.contains("SELECT") || $0.contains("SEARCH")
            })
        await server.stop()
    }

    @Test("POP3: forged replies behind the CAPA reply fail the TLS step; no STLS, USER, PASS, RETR or DELE")
    func pop3() async throws {
        let cert = try TestCertificate.make()
        let ca = try cert.writeCA()
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let forged = "+OK Begin TLS negotiation\r\n+OK\r\nSASL PLAIN\r\n.\r\n+OK Logged in.\r\n+OK 1 messages\r\n"
        let server = try await ScriptedMailboxServer.start(
            greeting: "+OK ready\r\n", tls: cert,
            script: pop3Script { line, tls in
                if line == "CAPA" && !tls { return .send("+OK\r\nUSER\r\nUIDL\r\nSTLS\r\n.\r\n" + forged) }
                if line == "STLS" { return .sendThenStartTLS("+OK Begin TLS negotiation\r\n") }
                return nil
            })
        do {
            let client = try await POP3Client.connect(
                try pop3Options(
                    port: server.port, host: "localhost", starttls: .require, allowPlaintext: false, caFile: ca))
            try await client.quit()
            Issue.record("connected although forged replies were queued")
        } catch let e as MailboxError {
            #expect(e.step == .tls)
            #expect(e.message.contains("STARTTLS response injection"), "\(e.message)")
        }
        try await Task.sleep(for: .milliseconds(100))
        let lines = server.lines
        #expect(lines == ["CAPA"] || lines == ["CAPA", "QUIT"], "\(lines)")
        await server.stop()
    }

    @Test(
        "credentials never cross TLS older than 1.2; a check without them still reports the old version",
        arguments: [true, false])
    func tlsFloorWithCredentials(withAuth: Bool) async throws {
        let cert = try TestCertificate.make()
        let server = try await ScriptedSMTPServer.start(tls: cert, maximumTLSVersion: .tlsv11) { line, tls in
            let u = line.uppercased()
            if u.hasPrefix("EHLO") {
                return .send(tls ? "250-test.example\r\n250 AUTH PLAIN\r\n" : "250-test.example\r\n250 STARTTLS\r\n")
            }
            if u == "STARTTLS" { return .sendThenStartTLS("220 2.0.0 Ready to start TLS\r\n") }
            if u.hasPrefix("AUTH") { return .send("235 2.7.0 ok\r\n") }
            if u == "QUIT" { return .sendThenClose("221 2.0.0 Bye\r\n") }
            return .send("250 2.0.0 Ok\r\n")
        }
        var o = SMTPCheckOptions(host: "localhost", port: server.port, heloName: "client.test")
        o.tls = TLSPolicy(starttls: .require, verify: .off)
        o.timeouts = SMTPTimeouts(all: .seconds(5))
        if withAuth { o.auth = AuthCredentials(user: "u", password: "canary-password") }
        let report = await SMTPCheck.run(o)
        if withAuth {
            #expect(report.failedStep == .tls, "\(report.error ?? "")")
            #expect(!server.commands.contains { $0.hasPrefix("AUTH") })
        } else {
            #expect(report.failedStep == nil, "\(report.error ?? "")")
            #expect(report.tls?.protocolVersion == "TLSv1.1")
        }
        await server.stop()
    }

    @Test("the guard itself: empty queue and buffer pass; anything waiting is named")
    func guardRule() {
        #expect(STARTTLSGuard.violation(queuedResponses: 0, bufferedOctets: 0) == nil)
        #expect(STARTTLSGuard.violation(queuedResponses: 2, bufferedOctets: 0)?.contains("2 response(s)") == true)
        #expect(STARTTLSGuard.violation(queuedResponses: 0, bufferedOctets: 7)?.contains("7 octet(s)") == true)
    }
}
