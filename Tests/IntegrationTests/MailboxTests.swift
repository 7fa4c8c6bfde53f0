import Foundation
import MailCore
import MailTransport
import MailboxCore
import NIOCore
import SMTPCore
import Testing

extension TestEnv {
    static var imap: String { value("ROUNDTRIP_TEST_IMAP") }
    static var imaps: String { value("ROUNDTRIP_TEST_IMAPS") }
    static var pop3: String { value("ROUNDTRIP_TEST_POP3") }
    static var pop3s: String { value("ROUNDTRIP_TEST_POP3S") }
    static var maildirRoot: String { value("ROUNDTRIP_TEST_MAILDIR_ROOT") }
    static let reportsUser = "reports@rt.test"

    static var password: String {
        let text = (try? String(contentsOfFile: passwordFile, encoding: .utf8)) ?? ""
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// 20 random lower-case letters and digits, like a probe token.
    /// A probe-token-shaped string (35 characters of a-z, 2-7: `poll --search` takes no other); its HMAC is not checked here.
    static func token() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        return String((0..<35).map { _ in alphabet.randomElement() ?? "x" })
    }

    static func options(
        _ url: String, password: String? = nil, starttls: STARTTLSMode = .require, verify: TLSVerifyMode = .strict,
        allowPlaintextAuth: Bool = false, cleanupFolder: String? = "Roundtrip-Processed"
    ) throws -> MailboxServerOptions {
        MailboxServerOptions(
            url: try MailboxURL(parsing: url), password: password ?? TestEnv.password,
            tls: TLSPolicy(starttls: starttls, verify: verify, caFile: TestEnv.ca),
            allowPlaintextAuth: allowPlaintextAuth, timeout: .seconds(15), connectTimeout: .seconds(5),
            cleanupFolder: cleanupFolder
        )
    }

    static func imapURL(_ hostPort: String, scheme: String = "imap") -> String {
        "\(scheme)://reports%40rt.test@\(hostPort)/INBOX"
    }
    static func pop3URL(_ hostPort: String, scheme: String = "pop3") -> String {
        "\(scheme)://reports%40rt.test@\(hostPort)"
    }
}

/// Sends one message through the real Postfix (127.0.0.1:2525) to
/// `reports+<tag>@rt.test` with an X-Roundtrip-Probe header; returns when
/// Postfix has answered 250 to the end of data.
func deliverThroughPostfix(token: String, subject: String? = nil, extraBody: String = "", user: String = "reports")
    async throws -> ContinuousClock.Instant
{
    let hostPort = TestEnv.smtp.split(separator: ":")
    let address = try SocketAddress(ipAddress: String(hostPort[0]), port: Int(hostPort[1]) ?? 2525)
    let c = try await SMTPClientConnection.connect(
        to: address, implicitTLSName: nil, useImplicitTLS: false, timeout: .seconds(5))
    do {
        let accepted = try await send(over: c, token: token, subject: subject, extraBody: extraBody, user: user)
        await c.close()
        return accepted
    } catch {
        await c.close()
        throw error
    }
}

private func send(over c: SMTPClientConnection, token: String, subject: String?, extraBody: String, user: String)
    async throws -> ContinuousClock.Instant
{
    let t: TimeAmount = .seconds(15)
    func expect(_ line: String?, _ code: Int, _ step: SMTPStep) async throws {
        let r: SMTPReply
        if let line {
            r = try await c.send(Array((line + "\r\n").utf8), replies: 1, timeout: t, step: step)[0]
        } else {
            r = try await c.readReply(timeout: t, step: step)
        }
        guard r.code == code else { throw TransportError(.rejected, step: step, message: "expected \(code)", reply: r) }
    }
    try await expect(nil, 220, .banner)
    try await expect("EHLO mailbox-tests.rt.test", 250, .ehlo)
    try await expect("MAIL FROM:<sender@rt.test>", 250, .mail)
    try await expect("RCPT TO:<\(user)+\(token)@rt.test>", 250, .rcpt)
    try await expect("DATA", 354, .data)
    let message = """
        From: Mailbox Tests <sender@rt.test>\r
        To: \(user)+\(token)@rt.test\r
        Subject: \(subject ?? "mailbox test \(token)")\r
        Message-ID: <\(token)@mailbox-tests.rt.test>\r
        X-Roundtrip-Probe: \(token)\r
        \r
        Body of \(token).\r
        ..leading dot line (dot-stuffed on the wire)\r
        \(extraBody)\r
        .\r

        """
    try await expect(message, 250, .data)
    let accepted = ContinuousClock.now
    _ = try? await c.send(Array("QUIT\r\n".utf8), replies: 1, timeout: t, step: .quit)
    return accepted
}

/// Searches until the server finds the message (Postfix delivers within
/// milliseconds, but asynchronously).
func waitForUIDs(_ client: IMAPClient, token: String, count: Int = 1, seconds: Double = 10) async throws -> [UInt32] {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        _ = try await client.select()
        let uids = try await client.search([.header("X-Roundtrip-Probe", token)])
        if uids.count >= count || Date() > deadline { return uids }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
}

@Suite(
    .enabled(if: TestEnv.enabled, "needs the services of scripts/test-env.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct MailboxTests {
    // MARK: IMAP

    @Test func imapSTARTTLSFindsAPostfixDeliveryBySearchAndFetchesIt() async throws {
        let token = TestEnv.token()
        _ = try await deliverThroughPostfix(token: token)
        let found = try await IMAPClient.withConnection(try TestEnv.options(TestEnv.imapURL(TestEnv.imap))) { client in
            #expect(await client.tlsActive)
            let tls = try #require(await client.tlsReport)
            #expect(tls.verification == .verified)
            #expect(await client.capabilities.contains("IDLE"))
            let uids = try await waitForUIDs(client, token: token)
            #expect(uids.count == 1)
            let byText = try await client.search([.text(token)])
            #expect(byText == uids)
            let messages = try await client.poll(MailboxQuery(token: token, since: Date()))
            let transcript = await client.transcript.map(\.text)
            #expect(transcript.contains { $0.contains("STARTTLS") })
            #expect(transcript.contains { $0.hasSuffix("AUTHENTICATE PLAIN <redacted>") })
            let all = transcript.joined(separator: "\n")
            #expect(!all.contains(TestEnv.password))
            #expect(!all.contains(Base64.encode(Array("\u{0}reports@rt.test\u{0}\(TestEnv.password)".utf8))))
            _ = try await client.cleanup(sources: messages.map(\.source))
            return messages
        }
        #expect(found.count == 1)
        let m = try #require(found.first)
        #expect(
            m.source.hasPrefix(
                "imap://reports%40rt.test@127.0.0.1:\(TestEnv.port(of: TestEnv.imap))/INBOX;UIDVALIDITY="))
        let summary = MessageSummary(m.bytes)
        #expect(summary.probeToken == token)
        #expect(summary.messageID == "<\(token)@mailbox-tests.rt.test>")
        #expect(
            String(decoding: m.bytes, as: UTF8.self).contains("\r\n.leading dot line (dot-stuffed on the wire)\r\n"))
    }

    @Test func imapsWithRightAndWrongPassword() async throws {
        let ok = try await IMAPClient.withConnection(
            try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"))
        ) { client in
            try await client.select()
        }
        #expect(ok.uidValidity != nil)
        let canary = "canary-\(TestEnv.token())"
        do {
            _ = try await IMAPClient.connect(
                try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"), password: canary))
            Issue.record("a wrong password logged in")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed && e.step == .auth)
            #expect(!e.description.contains(canary))
            #expect(
                e.description.contains("AUTHENTICATIONFAILED") || e.description.contains("bad user name or password"))
        }
    }

    @Test func imapWrongPasswordOverSTARTTLS() async throws {
        await #expect(throws: MailboxError.self) {
            _ = try await IMAPClient.connect(
                try TestEnv.options(TestEnv.imapURL(TestEnv.imap), password: "wrong-\(TestEnv.token())"))
        }
    }

    @Test func imapPlaintextNeedsPermission() async throws {
        do {
            _ = try await IMAPClient.connect(try TestEnv.options(TestEnv.imapURL(TestEnv.imap), starttls: .never))
            Issue.record("credentials went out without TLS")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed)
        }
        let status = try await IMAPClient.withConnection(
            try TestEnv.options(TestEnv.imapURL(TestEnv.imap), starttls: .never, allowPlaintextAuth: true)
        ) { client in
            #expect(await !client.tlsActive)
            return try await client.select()
        }
        #expect(status.mailbox == "INBOX")
    }

    @Test func imapWrongCAIsACertificateFailure() async throws {
        var options = try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"))
        options.tls.caFile = TestEnv.otherCA
        do {
            _ = try await IMAPClient.connect(options)
            Issue.record("connected with an untrusted certificate")
        } catch let e as MailboxError {
            #expect(e.kind == .certificateRejected && e.step == .tls)
        }
    }

    @Test func idleWakesUpWithinOneSecondOfADelivery() async throws {
        let token = TestEnv.token()
        let options = try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"))
        let (sentAt, arrivedAt, fileTime, source) = try await IMAPClient.withConnection(options) { client in
            _ = try await client.select()
            #expect(await client.usesIDLE)
            async let sent = { () async throws -> ContinuousClock.Instant in
                try await Task.sleep(nanoseconds: 700_000_000)  // let IDLE start first
                return try await deliverThroughPostfix(token: token)
            }()
            let box = FoundBox()
            try await client.watch(MailboxQuery(token: token), until: .now + .seconds(20)) { m in
                box.set(m.source)
                return false
            }
            let arrived = ContinuousClock.now
            let arrivedWall = Date()
            let sentAt = try await sent
            // When Postfix wrote the file into the Maildir.
            let maildir = TestEnv.maildirRoot + "/rt.test/reports"
            let file = try MaildirReader(root: maildir, includeCur: true).scan(MailboxQuery(token: token)).first
            let mtime =
                try file.map { try FileManager.default.attributesOfItem(atPath: $0.source)[.modificationDate] as? Date }
                ?? nil
            let source = box.get()
            // The client's own share: from the EXISTS to the fetched message.
            let transcript = await client.transcript
            if let exists = transcript.last(where: { $0.direction == .server && $0.text.hasSuffix(" EXISTS") }),
                let fetched = transcript.last(where: { $0.direction == .server && $0.text.contains(" OK ") })
            {
                print("IDLE: EXISTS → message fetched in \(String(format: "%.1f", (fetched.at - exists.at) * 1000)) ms")
            }
            if let source { _ = try await client.cleanup(sources: [source]) }
            return (sentAt, arrived, mtime.map { arrivedWall.timeIntervalSince($0) }, source)
        }
        #expect(source != nil, "the watcher never saw the message")
        let fromSMTP = arrivedAt - sentAt
        let ms = Double(fromSMTP.components.seconds) * 1000 + Double(fromSMTP.components.attoseconds) / 1e15
        print(
            "IDLE wake-up: \(String(format: "%.1f", ms)) ms after Postfix's 250; \(fileTime.map { String(format: "%.1f ms", $0 * 1000) } ?? "?") after the Maildir file was written"
        )
        #expect(fromSMTP < .seconds(1))
        if let fileTime { #expect(fileTime < 1.0) }
    }

    @Test func cleanupRemovesOnlyTheNamedMessages() async throws {
        let keep = TestEnv.token()
        let remove = TestEnv.token()
        let viaExpunge = TestEnv.token()
        for t in [keep, remove, viaExpunge] { _ = try await deliverThroughPostfix(token: t) }
        // MOVE (Dovecot offers it) to a folder created on [TRYCREATE].
        try await IMAPClient.withConnection(try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"))) {
            client in
            for t in [keep, remove, viaExpunge] { _ = try await waitForUIDs(client, token: t) }
            let gone = try await client.poll(MailboxQuery(token: remove))
            #expect(gone.count == 1)
            let report = try await client.cleanup(
                sources: gone.map(\.source) + ["imaps://someone@else:993/INBOX;UIDVALIDITY=1;UID=1"])
            #expect(report.method == .moved)
            #expect(report.removed == gone.map(\.source))
            #expect(report.kept.count == 1)
            #expect(try await client.search([.header("X-Roundtrip-Probe", remove)]).isEmpty)
            #expect(try await client.search([.header("X-Roundtrip-Probe", keep)]).count == 1)
            #expect(try await client.search([.header("X-Roundtrip-Probe", viaExpunge)]).count == 1)
            try await client.select("Roundtrip-Processed")
            #expect(try await client.search([.header("X-Roundtrip-Probe", remove)]).count == 1)
        }
        // Without a folder: UID STORE \Deleted + UID EXPUNGE (UIDPLUS).
        try await IMAPClient.withConnection(
            try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"), cleanupFolder: nil)
        ) { client in
            let target = try await client.poll(MailboxQuery(token: viaExpunge))
            let report = try await client.cleanup(sources: target.map(\.source))
            #expect(report.method == .expunged && report.removed.count == 1)
            #expect(try await client.search([.header("X-Roundtrip-Probe", viaExpunge)]).isEmpty)
            let kept = try await client.poll(MailboxQuery(token: keep))
            #expect(kept.count == 1)
            _ = try await client.cleanup(sources: kept.map(\.source))
        }
    }

    // MARK: POP3

    @Test func pop3STLSFindsTheMessageAndDeletesOnlyTheNamedOne() async throws {
        let keep = TestEnv.token()
        let remove = TestEnv.token()
        for t in [keep, remove] { _ = try await deliverThroughPostfix(token: t) }
        try await Task.sleep(nanoseconds: 500_000_000)
        let removedSource = try await POP3Client.withConnection(try TestEnv.options(TestEnv.pop3URL(TestEnv.pop3))) {
            client in
            #expect(await client.tlsActive)
            #expect(await client.tlsReport?.verification == .verified)
            let found = try await client.poll(MailboxQuery(token: remove))
            #expect(found.count == 1)
            #expect(
                found.first.map {
                    String(decoding: $0.bytes, as: UTF8.self).contains(
                        "\r\n.leading dot line (dot-stuffed on the wire)\r\n")
                } == true)
            let report = try await client.cleanup(sources: found.map(\.source))
            #expect(report.removed == found.map(\.source))
            let transcript = await client.transcript.map(\.text).joined(separator: "\n")
            #expect(transcript.contains("STLS"))
            #expect(!transcript.contains(TestEnv.password))
            return found.first?.source
        }
        #expect(
            removedSource?.hasPrefix("pop3://reports%40rt.test@127.0.0.1:\(TestEnv.port(of: TestEnv.pop3));UIDL=")
                == true)
        try await POP3Client.withConnection(try TestEnv.options(TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"))) {
            client in
            #expect(try await client.poll(MailboxQuery(token: remove)).isEmpty)
            let kept = try await client.poll(MailboxQuery(token: keep))
            #expect(kept.count == 1)
            _ = try await client.cleanup(sources: kept.map(\.source))
        }
    }

    @Test func pop3DroppedSessionDeletesNothing() async throws {
        let token = TestEnv.token()
        _ = try await deliverThroughPostfix(token: token)
        try await Task.sleep(nanoseconds: 500_000_000)
        let client = try await POP3Client.connect(try TestEnv.options(TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s")))
        let found = try await client.poll(MailboxQuery(token: token))
        #expect(found.count == 1)
        _ = try await client.cleanup(sources: found.map(\.source))
        await client.closeChannel()  // no QUIT: no UPDATE state
        try await POP3Client.withConnection(try TestEnv.options(TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"))) {
            client in
            let again = try await client.poll(MailboxQuery(token: token))
            #expect(again.count == 1)
            _ = try await client.cleanup(sources: again.map(\.source))
        }
    }

    @Test func pop3sAndSTLSWithAWrongPassword() async throws {
        let canary = "canary-\(TestEnv.token())"
        for url in [TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"), TestEnv.pop3URL(TestEnv.pop3)] {
            do {
                _ = try await POP3Client.connect(try TestEnv.options(url, password: canary))
                Issue.record("a wrong password logged in at \(url)")
            } catch let e as MailboxError {
                #expect(e.kind == .authFailed && e.step == .auth)
                #expect(!e.description.contains(canary))
            }
        }
    }

    @Test func aTwoMiBMessageIsTheSameOverIMAPPOP3AndMaildir() async throws {
        let token = TestEnv.token()
        let line = String(repeating: "0123456789abcdef", count: 4) + "\r\n"  // 66 octets
        _ = try await deliverThroughPostfix(token: token, extraBody: String(repeating: line, count: 32 * 1024))
        let imap = try await IMAPClient.withConnection(
            try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"))
        ) { client in
            _ = try await waitForUIDs(client, token: token)
            return try await client.poll(MailboxQuery(token: token))
        }
        let pop = try await POP3Client.withConnection(
            try TestEnv.options(TestEnv.pop3URL(TestEnv.pop3s, scheme: "pop3s"))
        ) { client in
            try await client.poll(MailboxQuery(token: token))
        }
        let file = try MaildirReader(root: TestEnv.maildirRoot + "/rt.test/reports", includeCur: true).scan(
            MailboxQuery(token: token))
        #expect(imap.count == 1 && pop.count == 1 && file.count == 1)
        let a = try #require(imap.first?.bytes)
        let b = try #require(pop.first?.bytes)
        let c = try #require(file.first?.bytes)
        #expect(a.count > 2 * 1024 * 1024)
        #expect(a == b)
        // The Maildir file has LF line ends; IMAP and POP3 deliver CRLF.
        #expect(a.filter { $0 != 0x0D } == c.filter { $0 != 0x0D })
        try await IMAPClient.withConnection(
            try TestEnv.options(TestEnv.imapURL(TestEnv.imaps, scheme: "imaps"), cleanupFolder: nil)
        ) { client in
            _ = try await client.cleanup(sources: imap.map(\.source))
        }
    }

    // MARK: Maildir

    @Test func maildirReaderFindsThePostfixDeliveryAndMarksItSeen() async throws {
        // bob's Maildir: no IMAP client (Dovecot moves new/ to cur/ on SELECT) races this test.
        let token = TestEnv.token()
        _ = try await deliverThroughPostfix(token: token, user: "bob")
        let root = TestEnv.maildirRoot + "/rt.test/bob"
        let reader = MaildirReader(root: root, includeCur: true)
        var found: [FetchedMessage] = []
        for _ in 0..<50 {
            found = try reader.scan(MailboxQuery(token: token))
            if !found.isEmpty { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(found.count == 1)
        let m = try #require(found.first)
        #expect(MessageSummary(m.bytes).probeToken == token)
        #expect(m.source.hasPrefix(root + "/new/") || m.source.hasPrefix(root + "/cur/"))
        let report = reader.markHandled(sources: [m.source])
        #expect(report.removed == [m.source])
        let after = try reader.scan(MailboxQuery(token: token))
        #expect(after.count == 1)
        #expect(after.first?.source.contains(":2,") == true && after.first?.source.hasSuffix("S") == true)
        #expect(try MaildirReader(root: root).scan(MailboxQuery(token: token)).isEmpty)  // no longer in new/
        // Leave the mailbox as we found it.
        for m in after { try? FileManager.default.removeItem(atPath: m.source) }
    }
}

/// Collects a value from a @Sendable closure.
final class FoundBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ v: String) {
        lock.lock()
        value = v
        lock.unlock()
    }
    func get() -> String? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
