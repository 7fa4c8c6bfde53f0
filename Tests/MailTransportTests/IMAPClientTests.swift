import Foundation
import MailCore
import MailTransport
import MailboxCore
import NIOCore
import TestSupport
import Testing

/// A server that speaks enough IMAP for the client; `extra` overrides any command.
func imapScript(
    greetingCaps: String = "IMAP4rev1 AUTH=PLAIN SASL-IR",
    loginCaps: String = "IMAP4rev1 IDLE MOVE UIDPLUS",
    _ extra: @escaping @Sendable (_ tag: String, _ rest: String, _ tls: Bool) -> ScriptedMailboxServer.Step? = {
        _, _, _ in nil
    }
) -> ScriptedMailboxServer.Script {
    { line, tls in
        let (tag, rest) = split(line)
        if let step = extra(tag, rest, tls) { return step }
        let verb = rest.split(separator: " ").first.map { $0.uppercased() } ?? ""
        switch verb {
        case "CAPABILITY": return .send("* CAPABILITY \(greetingCaps)\r\n\(tag) OK done\r\n")
        case "LOGIN", "AUTHENTICATE": return .send("\(tag) OK [CAPABILITY \(loginCaps)] Logged in\r\n")
        case "SELECT":
            return .send(
                "* FLAGS (\\Seen \\Deleted)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 10] n\r\n\(tag) OK [READ-WRITE] done\r\n"
            )
        case "NOOP": return .send("\(tag) OK done\r\n")
        case "LOGOUT": return .sendThenClose("* BYE bye\r\n\(tag) OK done\r\n")
        default: return .send("\(tag) BAD unknown command\r\n")
        }
    }
}

func imapOptions(
    port: Int, user: String = "alice", password: String = "s3cret", scheme: String = "imap", host: String = "127.0.0.1",
    starttls: STARTTLSMode = .never, allowPlaintext: Bool = true, caFile: String? = nil,
    cleanupFolder: String? = "Roundtrip-Processed"
) throws -> MailboxServerOptions {
    MailboxServerOptions(
        url: try MailboxURL(parsing: "\(scheme)://\(user)@\(host):\(port)/INBOX"), password: password,
        tls: TLSPolicy(starttls: starttls, verify: caFile == nil ? .off : .strict, caFile: caFile),
        allowPlaintextAuth: allowPlaintext, timeout: .seconds(10), connectTimeout: .seconds(10),
        cleanupFolder: cleanupFolder, pollInterval: .milliseconds(100)
    )
}

let greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR] ready\r\n"

@Suite struct IMAPClientTests {
    @Test func literalSplitAcrossWritesIsFetchedExactly() async throws {
        let body = "From: a@b\r\nSubject: split\r\n\r\n{5}\r\nnot a literal\r\n.\r\n"
        let n = body.utf8.count
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                guard rest.hasPrefix("UID FETCH") else { return nil }
                let whole =
                    "* 2 FETCH (UID 5 RFC822.SIZE \(n) BODY[] {\(n)}\r\n\(body) FLAGS (\\Seen))\r\n\(tag) OK done\r\n"
                let u = Array(whole.utf8)
                // Cut inside "{n}", inside the literal, and right before ")".
                let cuts = [30, 50, 60, u.count - 12, u.count]
                var parts: [String] = []
                var from = 0
                for c in cuts {
                    parts.append(String(decoding: u[from..<c], as: UTF8.self))
                    from = c
                }
                return .sendParts(parts, gapMs: 20)
            })
        let messages = try await IMAPClient.withConnection(try imapOptions(port: server.port)) {
            (client: IMAPClient) async throws in
            try await client.fetch(uids: [5])
        }
        #expect(
            messages == [
                FetchedMessage(
                    source: "imap://alice@127.0.0.1:\(server.port)/INBOX;UIDVALIDITY=7;UID=5", bytes: Array(body.utf8))
            ])
        #expect(server.lines.contains { $0.hasSuffix("UID FETCH 5 (UID RFC822.SIZE INTERNALDATE BODY.PEEK[])") })
        await server.stop()
    }

    @Test func untaggedExistsMidCommandIsRememberedForTheWatcher() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                if rest.hasPrefix("UID SEARCH") {
                    return .send("* 4 EXISTS\r\n* SEARCH 8 9\r\n* 1 EXPUNGE\r\n\(tag) OK done\r\n")
                }
                return nil
            })
        try await IMAPClient.withConnection(try imapOptions(port: server.port)) { (client: IMAPClient) async throws in
            #expect(try await client.search([.all]) == [8, 9])
            // No IDLE needed: the EXISTS already told us.
            #expect(try await client.waitForNewMail(maxWait: .seconds(2)))
        }
        #expect(!server.lines.contains { $0.contains("IDLE") })
        await server.stop()
    }

    @Test func starttlsDiscardsPlaintextPipelinedAfterTheOKAndRereadsCapabilities() async throws {
        let cert = try TestCertificate.make()
        let ca = try cert.writeCA()
        let injected = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED] injected\r\n"
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting, tls: cert,
            script: imapScript { tag, rest, tls in
                if rest == "STARTTLS" { return .sendThenStartTLS("\(tag) OK Begin TLS\r\n\(injected)") }
                if rest == "CAPABILITY" && tls {
                    return .send("* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR IDLE\r\n\(tag) OK done\r\n")
                }
                return nil
            })
        let client = try await IMAPClient.connect(
            try imapOptions(port: server.port, host: "localhost", starttls: .require, allowPlaintext: false, caFile: ca)
        )
        let report = try #require(await client.tlsReport)
        #expect(report.discardedPlaintextOctets == injected.utf8.count)
        #expect(report.verification == .verified)
        #expect(await client.tlsActive)
        #expect(await client.capabilities.contains("IDLE"))
        #expect(await !client.capabilities.contains("LOGINDISABLED"))
        #expect(
            await client.transcript.contains { $0.text.contains("discarded \(injected.utf8.count) plaintext octets") })
        await client.logout()
        let lines = server.lines
        #expect(lines.contains("[tls] a2 CAPABILITY"))
        #expect(lines.contains { $0.hasPrefix("[tls] a3 AUTHENTICATE PLAIN ") })
        #expect(!lines.contains { !$0.hasPrefix("[tls]") && ($0.contains("AUTHENTICATE") || $0.contains("LOGIN")) })
        await server.stop()
    }

    @Test func starttlsRequiredButNotOffered() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", script: imapScript())
        do {
            _ = try await IMAPClient.connect(
                try imapOptions(port: server.port, starttls: .require, allowPlaintext: false))
            Issue.record("connected without STARTTLS")
        } catch let e as MailboxError {
            #expect(e.kind == .tlsFailed && e.step == .tls)
        }
        #expect(!server.lines.contains { $0.contains("AUTHENTICATE") || $0.contains("LOGIN") })
        await server.stop()
    }

    @Test func credentialsAreNeverSentWithoutTLSUnlessAllowed() async throws {
        let server = try await ScriptedMailboxServer.start(greeting: greeting, script: imapScript())
        do {
            _ = try await IMAPClient.connect(
                try imapOptions(port: server.port, starttls: .never, allowPlaintext: false))
            Issue.record("logged in without TLS")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed && e.step == .auth)
        }
        #expect(!server.lines.contains { $0.contains("AUTHENTICATE") || $0.contains("LOGIN") })
        await server.stop()
    }

    @Test func byeDuringACommandIsAClosedConnection() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { _, rest, _ in
                rest.hasPrefix("SELECT") ? .sendThenClose("* BYE Server shutting down\r\n") : nil
            })
        let client = try await IMAPClient.connect(try imapOptions(port: server.port))
        do {
            try await client.select()
            Issue.record("SELECT succeeded")
        } catch let e as MailboxError {
            #expect(e.kind == .connectionClosed && e.step == .select)
            #expect(e.description.contains("Server shutting down"))
        }
        await client.logout()
        await server.stop()
    }

    @Test func byeGreetingAndPreauth() async throws {
        let bye = try await ScriptedMailboxServer.start(greeting: "* BYE too busy\r\n", script: imapScript())
        do {
            _ = try await IMAPClient.connect(try imapOptions(port: bye.port))
            Issue.record("connected")
        } catch let e as MailboxError {
            #expect(e.kind == .greetingFailed && e.description.contains("too busy"))
        }
        await bye.stop()
        let pre = try await ScriptedMailboxServer.start(
            greeting: "* PREAUTH [CAPABILITY IMAP4rev1] hi alice\r\n", script: imapScript())
        let status = try await IMAPClient.withConnection(try imapOptions(port: pre.port)) { try await $0.select() }
        #expect(status.uidValidity == 7 && status.uidNext == 10 && status.exists == 3)
        #expect(!pre.lines.contains { $0.contains("LOGIN") || $0.contains("AUTHENTICATE") })
        await pre.stop()
    }

    @Test func idleWakesUpOnExistsThenSearchesAndFetches() async throws {
        let idleTag = LockedBox("")
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                switch rest {
                case "IDLE":
                    idleTag.withLock { $0 = tag }
                    return .sendParts(["+ idling\r\n", "* 4 EXISTS\r\n"], gapMs: 150)
                case "": return tag == "DONE" ? .send("\(idleTag.withLock { $0 }) OK Idle completed\r\n") : nil
                case "UID SEARCH ALL": return .send("* SEARCH\r\n\(tag) OK done\r\n")
                case "UID SEARCH UID 10:*": return .send("* SEARCH 11\r\n\(tag) OK done\r\n")
                case _ where rest.hasPrefix("UID FETCH 11 "):
                    return .send("* 4 FETCH (UID 11 BODY[] {7}\r\nhi\r\nyou)\r\n\(tag) OK done\r\n")
                default: return nil
                }
            })
        let got = FoundMessages()
        let start = ContinuousClock.now
        try await IMAPClient.withConnection(try imapOptions(port: server.port)) { (client: IMAPClient) async throws in
            try await client.watch(MailboxQuery(), until: .now + .seconds(120)) { m in
                got.append(m)
                return false
            }
        }
        // Woken by the EXISTS, not by the 120 s limit (the margin is for the whole suite starting at once on 2 cores).
        let elapsed = ContinuousClock.now - start
        #expect(got.all.map(\.bytes) == [Array("hi\r\nyou".utf8)])
        #expect(elapsed < .seconds(60))
        let commands = server.lines.map { split($0).rest.isEmpty ? $0 : split($0).rest }
        let idle = try #require(commands.firstIndex(of: "IDLE"))
        #expect(commands[idle + 1] == "DONE")
        #expect(server.lines.contains("DONE"))  // untagged
        await server.stop()
    }

    @Test func watcherReconnectsAfterBye() async throws {
        let idles = LockedBox(0)
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                switch rest {
                case "IDLE":
                    let n = idles.withLock {
                        $0 += 1
                        return $0
                    }
                    if n == 1 { return .sendThenClose("+ idling\r\n* BYE Server shutting down\r\n") }
                    return .send("+ idling\r\n")
                case "UID SEARCH ALL":
                    return .send(
                        idles.withLock { $0 } == 0
                            ? "* SEARCH\r\n\(tag) OK done\r\n" : "* SEARCH 11\r\n\(tag) OK done\r\n")
                case _ where rest.hasPrefix("UID FETCH 11 "):
                    return .send("* 4 FETCH (UID 11 BODY[] {2}\r\nhi)\r\n\(tag) OK done\r\n")
                default: return nil
                }
            })
        let got = FoundMessages()
        let reconnects = LockedBox(0)
        try await IMAPClient.watch(
            try imapOptions(port: server.port), query: MailboxQuery(), until: .now + .seconds(120),
            onReconnect: { e in
                #expect(e.kind == .connectionClosed)
                reconnects.withLock { $0 += 1 }
            }
        ) { m in
            got.append(m)
            return false
        }
        #expect(got.all.map(\.bytes) == [Array("hi".utf8)])
        #expect(reconnects.withLock { $0 } == 1)
        #expect(server.lines.filter { $0.contains("AUTHENTICATE") }.count == 2)
        await server.stop()
    }

    @Test func oversizedLiteralIsAProtocolErrorAtTheFetchStep() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                rest.hasPrefix("UID FETCH") ? .send("* 1 FETCH (UID 5 BODY[] {52428801}\r\n") : nil
            })
        let client = try await IMAPClient.connect(try imapOptions(port: server.port))
        do {
            _ = try await client.fetch(uids: [5])
            Issue.record("fetched")
        } catch let e as MailboxError {
            #expect(e.kind == .protocolViolation && e.step == .fetch)
            #expect(e.description.contains("52428801"))
        }
        await client.logout()
        await server.stop()
    }

    @Test func silenceIsATimeoutAtTheRunningStep() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { _, rest, _ in
                rest.hasPrefix("SELECT") ? .silence : nil
            })
        var options = try imapOptions(port: server.port)
        // Long enough for connect and login while the whole suite starts on 2 cores; the silence at
        // SELECT must end it, at this step.
        options.timeout = .seconds(5)
        let client = try await IMAPClient.connect(options)
        let t0 = ContinuousClock.now
        do {
            try await client.select()
            Issue.record("selected")
        } catch let e as MailboxError {
            #expect(e.kind == .timeout && e.step == .select)
        }
        #expect(ContinuousClock.now - t0 < .seconds(15))
        await client.logout()
        await server.stop()
    }

    @Test func alertsAreKeptAndMissingMailboxIsUnavailable() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "* OK [ALERT] Maintenance at 22:00\r\n",
            script: imapScript { tag, rest, _ in
                if rest == "CAPABILITY" {
                    return .send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n* OK [ALERT] Quota at 95%\r\n\(tag) OK done\r\n")
                }
                if rest.hasPrefix("SELECT") { return .send("\(tag) NO Mailbox doesn't exist: Nope\r\n") }
                return nil
            })
        let client = try await IMAPClient.connect(try imapOptions(port: server.port))
        #expect(await client.alerts == ["Maintenance at 22:00", "Quota at 95%"])
        // No CAPABILITY in the greeting: it was asked for before login.
        #expect(server.lines.first == "a1 CAPABILITY")
        do {
            try await client.select("Nope")
            Issue.record("selected")
        } catch let e as MailboxError {
            #expect(e.kind == .mailboxUnavailable && e.step == .select)
        }
        await client.logout()
        await server.stop()
    }

    @Test func esearchResultsAreUnderstood() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript(loginCaps: "IMAP4rev2 IDLE") { tag, rest, _ in
                rest.hasPrefix("UID SEARCH")
                    ? .send("* ESEARCH (TAG \"\(tag)\") UID ALL 4,7:9\r\n\(tag) OK done\r\n") : nil
            })
        let uids = try await IMAPClient.withConnection(try imapOptions(port: server.port)) {
            (client: IMAPClient) async throws in
            try await client.search([.header("X-Roundtrip-Probe", "tok")])
        }
        #expect(uids == [4, 7, 8, 9])
        await server.stop()
    }

    @Test func existsInTheSameWriteAsTheIdleContinuation() async throws {
        let idleTag = LockedBox("")
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                if rest == "IDLE" {
                    idleTag.withLock { $0 = tag }
                    return .send("+ idling\r\n* 12 EXISTS\r\n")
                }
                if tag == "DONE" { return .send("\(idleTag.withLock { $0 }) OK Idle completed\r\n") }
                return nil
            })
        try await IMAPClient.withConnection(try imapOptions(port: server.port)) { (client: IMAPClient) async throws in
            try await client.select()
            let t0 = ContinuousClock.now
            #expect(try await client.waitForNewMail(maxWait: .seconds(5)))
            #expect(ContinuousClock.now - t0 < .seconds(2))
            // The session is usable afterwards: IDLE has ended.
            try await client.select()
        }
        await server.stop()
    }

    @Test func idleIsReissuedWhenTheLimitIsReached() async throws {
        let idleTag = LockedBox("")
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript { tag, rest, _ in
                switch rest {
                case "IDLE":
                    idleTag.withLock { $0 = tag }
                    return .send("+ idling\r\n")
                case "": return tag == "DONE" ? .send("\(idleTag.withLock { $0 }) OK Idle completed\r\n") : nil
                default: return nil
                }
            })
        var options = try imapOptions(port: server.port)
        options.idleReissue = .milliseconds(200)
        try await IMAPClient.withConnection(options) { (client: IMAPClient) async throws in
            try await client.select()
            #expect(try await client.waitForNewMail(maxWait: .seconds(5)) == false)
            #expect(try await client.waitForNewMail(maxWait: .seconds(5)) == false)
        }
        let idles = server.lines.filter { $0.hasSuffix(" IDLE") }.count
        let dones = server.lines.filter { $0 == "DONE" }.count
        #expect(idles == 2 && dones == 2)
        await server.stop()
    }

    @Test func withoutIdleItPollsWithNoop() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting, script: imapScript(loginCaps: "IMAP4rev1 UIDPLUS"))
        try await IMAPClient.withConnection(try imapOptions(port: server.port)) { (client: IMAPClient) async throws in
            try await client.select()
            #expect(await !client.usesIDLE)
            let t0 = ContinuousClock.now
            #expect(try await client.waitForNewMail(maxWait: .seconds(5)))
            #expect(ContinuousClock.now - t0 >= .milliseconds(90))
        }
        #expect(server.lines.contains { $0.hasSuffix(" NOOP") })
        #expect(!server.lines.contains { $0.hasSuffix(" IDLE") })
        await server.stop()
    }

    static func sources(_ port: Int) -> [String] {
        [
            "imap://alice@127.0.0.1:\(port)/INBOX;UIDVALIDITY=7;UID=7",
            "imap://alice@127.0.0.1:\(port)/INBOX;UIDVALIDITY=7;UID=9",
        ]
    }

    func assertNoBlanketExpunge(_ lines: [String]) {
        for l in lines {
            let rest = split(l).rest.uppercased()
            #expect(rest != "EXPUNGE" && rest != "CLOSE", "sent \(l)")
        }
    }

    @Test func cleanupUsesMoveWhenOffered() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript(loginCaps: "IMAP4rev1 MOVE UIDPLUS") { tag, rest, _ in
                rest.hasPrefix("UID MOVE")
                    ? .send("* OK [COPYUID 1 7,9 1:2] moved\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n\(tag) OK done\r\n") : nil
            })
        let report = try await IMAPClient.withConnection(try imapOptions(port: server.port)) {
            (client: IMAPClient) async throws in
            try await client.cleanup(
                sources: Self.sources(server.port) + [
                    "imap://alice@127.0.0.1:\(server.port)/INBOX;UIDVALIDITY=6;UID=3", "pop3://x@y;UIDL=1",
                ])
        }
        #expect(report.method == .moved)
        #expect(report.removed == Self.sources(server.port))
        #expect(report.kept.count == 2)
        #expect(server.lines.contains { $0.hasSuffix("UID MOVE 7,9 Roundtrip-Processed") })
        #expect(!server.lines.contains { $0.contains("STORE") || $0.contains("UID MOVE 3") || $0.contains(",3 ") })
        assertNoBlanketExpunge(server.lines)
        await server.stop()
    }

    @Test func cleanupCreatesTheFolderOnTryCreate() async throws {
        let movedOnce = LockedBox(false)
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript(loginCaps: "IMAP4rev1 MOVE") { tag, rest, _ in
                if rest.hasPrefix("UID MOVE") {
                    let created = movedOnce.withLock { $0 }
                    movedOnce.withLock { $0 = true }
                    return .send(created ? "\(tag) OK done\r\n" : "\(tag) NO [TRYCREATE] no such mailbox\r\n")
                }
                if rest.hasPrefix("CREATE") { return .send("\(tag) OK created\r\n") }
                return nil
            })
        let report = try await IMAPClient.withConnection(try imapOptions(port: server.port, cleanupFolder: "Done")) {
            (client: IMAPClient) async throws in
            try await client.cleanup(sources: Self.sources(server.port))
        }
        #expect(report.method == .moved && report.removed.count == 2)
        let commands = server.lines.map { split($0).rest }
        #expect(commands.filter { $0 == "UID MOVE 7,9 Done" }.count == 2)
        #expect(commands.contains("CREATE Done"))
        await server.stop()
    }

    @Test func cleanupUsesUIDExpungeWithUIDPLUS() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting,
            script: imapScript(loginCaps: "IMAP4rev1 UIDPLUS") { tag, rest, _ in
                if rest.hasPrefix("UID STORE") { return .send("\(tag) OK stored\r\n") }
                if rest.hasPrefix("UID EXPUNGE") {
                    return .send("* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n\(tag) OK expunged\r\n")
                }
                return nil
            })
        let report = try await IMAPClient.withConnection(try imapOptions(port: server.port)) {
            (client: IMAPClient) async throws in
            try await client.cleanup(sources: Self.sources(server.port))
        }
        #expect(report.method == .expunged && report.removed == Self.sources(server.port))
        let commands = server.lines.map { split($0).rest }
        #expect(commands.contains("UID STORE 7,9 +FLAGS.SILENT (\\Deleted)"))
        #expect(commands.contains("UID EXPUNGE 7,9"))
        assertNoBlanketExpunge(server.lines)
        await server.stop()
    }

    @Test func cleanupLeavesEverythingWithoutMoveOrUIDPLUS() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: greeting, script: imapScript(loginCaps: "IMAP4rev1"))
        let report = try await IMAPClient.withConnection(try imapOptions(port: server.port)) {
            (client: IMAPClient) async throws in
            try await client.cleanup(sources: Self.sources(server.port))
        }
        #expect(report.method == .none && report.removed.isEmpty && report.kept.count == 2)
        #expect(report.note?.contains("neither MOVE nor UIDPLUS") == true)
        #expect(
            !server.lines.contains {
                $0.contains("STORE") || $0.contains("EXPUNGE") || $0.contains("MOVE") || $0.contains("CLOSE")
            })
        await server.stop()
    }

    @Test func canaryPasswordNeverLeaks() async throws {
        let canary = "canary-Zq8w3" + UUID().uuidString
        let b64 = Base64.encode(Array("\u{0}alice\u{0}\(canary)".utf8))
        // AUTHENTICATE PLAIN without SASL-IR (continuation), then LOGIN with a literal, then a failure.
        let server = try await ScriptedMailboxServer.start(
            greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n",
            script: imapScript { tag, rest, _ in
                if rest == "AUTHENTICATE PLAIN" { return .send("+ \r\n") }
                if rest.isEmpty, tag == b64 { return .send("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n") }
                return nil
            })
        do {
            _ = try await IMAPClient.connect(try imapOptions(port: server.port, password: canary))
            Issue.record("logged in")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed)
            #expect(!"\(e)".contains(canary) && !"\(e)".contains(b64))
            #expect(!String(reflecting: e).contains(canary))
        }
        #expect(server.lines.contains(b64))  // it was sent, so the test is real
        let literal = try await ScriptedMailboxServer.start(
            greeting: "* OK [CAPABILITY IMAP4rev1] hi\r\n",
            script: imapScript { tag, rest, _ in
                if rest.hasPrefix("LOGIN") { return .send("+ go ahead\r\n") }
                if tag.hasPrefix("pässword") { return .send("a1 OK [CAPABILITY IMAP4rev1] in\r\n") }
                return nil
            })
        let transcript = try await IMAPClient.withConnection(
            try imapOptions(port: literal.port, password: "pässword-\(canary)")
        ) { (client: IMAPClient) async throws in
            await client.transcript
        }
        let text = transcript.map(\.text).joined(separator: "\n")
        #expect(text.contains("a1 LOGIN <redacted>"))
        let options = try imapOptions(port: literal.port, password: canary)
        for shown in [
            "\(options)", String(reflecting: options), "\(Mirror(reflecting: options).children.map { "\($0.value)" })",
            "\(IMAPCommand.login(user: "alice", password: canary))",
            String(reflecting: IMAPCommand.authenticatePlain(user: "a", password: canary, initialResponse: true)),
            "\(POP3Command.pass(canary))", String(reflecting: POP3Command.authPlain(user: "a", password: canary)),
        ] {
            #expect(!shown.contains(canary), "\(shown)")
            #expect(!shown.contains(b64))
        }
        #expect(text.contains("<redacted>"))
        #expect(!text.contains(canary))
        await server.stop()
        await literal.stop()
    }
}

final class LockedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

final class FoundMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [FetchedMessage] = []
    func append(_ m: FetchedMessage) {
        lock.lock()
        list.append(m)
        lock.unlock()
    }
    var all: [FetchedMessage] {
        lock.lock()
        defer { lock.unlock() }
        return list
    }
}
