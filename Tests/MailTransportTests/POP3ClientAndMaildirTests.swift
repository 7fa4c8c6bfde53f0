import Foundation
import MailCore
import MailboxCore
import NIOCore
import TestSupport
import Testing

@testable import MailTransport

func pop3Script(
    capa: String = "USER\r\nUIDL\r\nSTLS\r\n", afterTLSCapa: String = "USER\r\nUIDL\r\nSASL PLAIN\r\n",
    _ extra: @escaping @Sendable (_ line: String, _ tls: Bool) -> ScriptedMailboxServer.Step? = { _, _ in nil }
) -> ScriptedMailboxServer.Script {
    { line, tls in
        if let step = extra(line, tls) { return step }
        let verb = line.split(separator: " ").first.map { $0.uppercased() } ?? ""
        switch verb {
        case "CAPA": return .send("+OK\r\n\(tls ? afterTLSCapa : capa).\r\n")
        case "USER", "PASS", "AUTH": return .send("+OK Logged in.\r\n")
        case "UIDL": return .send("+OK\r\n1 uid-one\r\n2 uid;two\r\n3 uid-three\r\n.\r\n")
        case "RETR":
            let n = line.split(separator: " ").last.map(String.init) ?? "?"
            return .send(
                "+OK message follows\r\nX-Roundtrip-Probe: tok\(n)\r\n\r\n..dot-stuffed line \(n)\r\nbody\r\n.\r\n")
        case "DELE": return .send("+OK Marked to be deleted.\r\n")
        case "QUIT": return .sendThenClose("+OK Logging out, messages deleted.\r\n")
        default: return .send("-ERR unknown\r\n")
        }
    }
}

func pop3Options(
    port: Int, scheme: String = "pop3", host: String = "127.0.0.1", password: String = "s3cret",
    starttls: STARTTLSMode = .never,
    allowPlaintext: Bool = true, caFile: String? = nil
) throws -> MailboxServerOptions {
    MailboxServerOptions(
        url: try MailboxURL(parsing: "\(scheme)://alice@\(host):\(port)"), password: password,
        tls: TLSPolicy(starttls: starttls, verify: caFile == nil ? .off : .strict, caFile: caFile),
        allowPlaintextAuth: allowPlaintext, timeout: .seconds(10), connectTimeout: .seconds(10)
    )
}

@Suite struct POP3ClientTests {
    @Test func stlsDropsInjectedPlaintextAndLogsInOverTLS() async throws {
        let cert = try TestCertificate.make()
        let ca = try cert.writeCA()
        let injected = "+OK injected\r\n"
        let server = try await ScriptedMailboxServer.start(
            greeting: "+OK ready\r\n", tls: cert,
            script: pop3Script { line, _ in
                line == "STLS" ? .sendThenStartTLS("+OK Begin TLS negotiation\r\n\(injected)") : nil
            })
        let canary = "canary-" + UUID().uuidString
        let client = try await POP3Client.connect(
            try pop3Options(
                port: server.port, host: "localhost", password: canary, starttls: .require, allowPlaintext: false,
                caFile: ca))
        #expect(await client.tlsReport?.discardedPlaintextOctets == injected.utf8.count)
        #expect(await client.tlsReport?.verification == .verified)
        try await client.quit()
        let lines = server.lines
        #expect(lines.prefix(2) == ["CAPA", "STLS"])
        #expect(lines.contains("[tls] CAPA"))
        // SASL PLAIN is offered only after TLS, so AUTH PLAIN is used.
        #expect(lines.contains { $0.hasPrefix("[tls] AUTH PLAIN ") })
        #expect(
            !lines.contains {
                !$0.hasPrefix("[tls]") && ($0.hasPrefix("USER") || $0.hasPrefix("PASS") || $0.hasPrefix("AUTH"))
            })
        let transcript = await client.transcript.map(\.text).joined(separator: "\n")
        #expect(transcript.contains("AUTH PLAIN <redacted>"))
        #expect(!transcript.contains(canary))
        #expect(!transcript.contains(Base64.encode(Array("\u{0}alice\u{0}\(canary)".utf8))))
        await server.stop()
    }

    @Test func retrUnstuffsDotsAndDeleTouchesOnlyNamedMessages() async throws {
        let server = try await ScriptedMailboxServer.start(greeting: "+OK ready\r\n", script: pop3Script())
        let options = try pop3Options(port: server.port)
        let base = "pop3://alice@127.0.0.1:\(server.port)"
        let (messages, report) = try await POP3Client.withConnection(options) { (client: POP3Client) async throws in
            let found = try await client.poll(MailboxQuery(token: "tok2"))
            let report = try await client.cleanup(
                sources: found.map(\.source) + ["\(base);UIDL=gone", "imap://x@y/INBOX;UIDVALIDITY=1;UID=1"])
            return (found, report)
        }
        #expect(messages.count == 1)
        #expect(messages.first?.source == "\(base);UIDL=uid%3Btwo")
        #expect(messages.first?.bytes == Array("X-Roundtrip-Probe: tok2\r\n\r\n.dot-stuffed line 2\r\nbody\r\n".utf8))
        #expect(report.removed == ["\(base);UIDL=uid%3Btwo"])
        #expect(report.kept.count == 2)
        let lines = server.lines
        #expect(lines.filter { $0.hasPrefix("DELE") } == ["DELE 2"])
        #expect(lines.last == "QUIT")
        await server.stop()
    }

    @Test func plaintextLoginRefusedWithoutPermissionAndRequiredSTLSMissing() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "+OK ready\r\n", script: pop3Script(capa: "USER\r\nUIDL\r\n"))
        do {
            _ = try await POP3Client.connect(try pop3Options(port: server.port, starttls: .auto, allowPlaintext: false))
            Issue.record("logged in without TLS")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed)
        }
        do {
            _ = try await POP3Client.connect(
                try pop3Options(port: server.port, starttls: .require, allowPlaintext: true))
            Issue.record("went on without STLS")
        } catch let e as MailboxError {
            #expect(e.kind == .tlsFailed)
        }
        #expect(!server.lines.contains { $0.hasPrefix("USER") || $0.hasPrefix("PASS") })
        await server.stop()
    }

    @Test func errGreetingIsAGreetingFailure() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "-ERR [SYS/TEMP] too many connections\r\n", script: pop3Script())
        do {
            _ = try await POP3Client.connect(try pop3Options(port: server.port))
            Issue.record("connected")
        } catch let e as MailboxError {
            #expect(e.kind == .greetingFailed && e.description.contains("too many connections"))
        }
        await server.stop()
    }

    @Test func lockedMailboxIsAnAuthFailureWithTheCode() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "+OK ready\r\n",
            script: pop3Script { line, _ in
                line.hasPrefix("PASS") ? .send("-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n") : nil
            })
        do {
            _ = try await POP3Client.connect(try pop3Options(port: server.port))
            Issue.record("logged in")
        } catch let e as MailboxError {
            #expect(e.kind == .authFailed && e.description.contains("locked") && e.description.contains("[IN-USE]"))
        }
        await server.stop()
    }
}

@Suite struct MaildirReaderTests {
    func makeMaildir() throws -> String {
        let root = NSTemporaryDirectory() + "roundtrip-maildir-\(UUID().uuidString)"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        return root
    }

    func put(_ root: String, _ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/" + path))
    }

    @Test func scansNewSkipsDotFilesAndNeverReadsTmp() throws {
        let root = try makeMaildir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try put(root, "new/1700000000.M1P1.host", "X-Roundtrip-Probe: aaa\n\nbody\n")
        try put(root, "new/.hidden", "X-Roundtrip-Probe: aaa\n")
        try put(root, "tmp/1700000001.M2P2.host", "X-Roundtrip-Probe: aaa\n")
        try put(root, "cur/1700000002.M3P3.host:2,", "X-Roundtrip-Probe: aaa\n")
        let newOnly = try MaildirReader(root: root).scan(MailboxQuery(token: "aaa"))
        #expect(newOnly.map(\.source) == [root + "/new/1700000000.M1P1.host"])
        let both = try MaildirReader(root: root, includeCur: true).scan(MailboxQuery(token: "AAA"))
        #expect(both.count == 2)
        #expect(!both.contains { $0.source.hasPrefix(root + "/tmp/") || $0.source.contains("/.hidden") })
        #expect(try MaildirReader(root: root).scan(MailboxQuery(token: "zzz")).isEmpty)
    }

    @Test func marksHandledByRenamingIntoCur() throws {
        let root = try makeMaildir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try put(root, "new/1700000000.M1P1.host,S=20", "a\n")
        try put(root, "cur/1700000002.M3P3.host:2,F", "b\n")
        try put(root, "tmp/x", "c\n")
        let report = MaildirReader(root: root).markHandled(sources: [
            root + "/new/1700000000.M1P1.host,S=20", root + "/cur/1700000002.M3P3.host:2,F", root + "/tmp/x",
            "/etc/passwd", root + "/new/gone",
        ])
        #expect(report.removed.count == 2)
        #expect(report.kept.count == 3)
        let cur = try FileManager.default.contentsOfDirectory(atPath: root + "/cur").sorted()
        #expect(cur == ["1700000000.M1P1.host,S=20:2,S", "1700000002.M3P3.host:2,FS"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/new").isEmpty)
        #expect(FileManager.default.fileExists(atPath: root + "/tmp/x"))
    }

    @Test func aFileThatMovedToCurIsFoundThere() throws {
        let root = try makeMaildir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try put(root, "cur/1700000000.M1P1.host:2,S", "moved\n")
        let found = MaildirReader.read(
            root + "/new/1700000000.M1P1.host", limit: 1 << 20, fallbackCurDir: root + "/cur",
            name: "1700000000.M1P1.host")
        #expect(found?.0.path == root + "/cur/1700000000.M1P1.host:2,S")
        #expect(
            MaildirReader.read(root + "/new/nothing", limit: 1 << 20, fallbackCurDir: root + "/cur", name: "nothing")
                == nil)
    }

    @Test func notAMaildir() {
        #expect(throws: MailboxError.self) { try MaildirReader(root: "/nonexistent-\(UUID().uuidString)").scan() }
    }
}

@Suite struct MailboxWatchTests {
    @Test func maildirWatchReportsExistingThenNewFiles() async throws {
        let root = NSTemporaryDirectory() + "roundtrip-maildir-\(UUID().uuidString)"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("X-Roundtrip-Probe: old\n\n".utf8).write(to: URL(fileURLWithPath: root + "/new/1.a.host"))
        let got = FoundMessages()
        async let writer: Void = {
            try await Task.sleep(nanoseconds: 200_000_000)
            // Written in tmp/, then renamed into new/, as an MTA does.
            try Data("X-Roundtrip-Probe: new\n\n".utf8).write(to: URL(fileURLWithPath: root + "/tmp/2.b.host"))
            try FileManager.default.moveItem(atPath: root + "/tmp/2.b.host", toPath: root + "/new/2.b.host")
        }()
        let reader: any MailboxReader = MaildirReader(root: root)
        try await (reader as? MaildirReader)?.watch(
            MailboxQuery(), until: .now + .seconds(120), interval: .milliseconds(50)
        ) { m in
            got.append(m)
            // Ends on the second message; the limit is only for a broken watch.
            return got.all.count < 2
        }
        try await writer
        #expect(got.all.map(\.source) == [root + "/new/1.a.host", root + "/new/2.b.host"])
        let report = try await reader.cleanup(sources: got.all.map(\.source))
        #expect(report.removed.count == 2 && report.method == .markedSeen)
        #expect(try await reader.poll(MailboxQuery()).isEmpty)
    }

    @Test func pop3WatchReconnectsAndRetrievesEachMessageOnce() async throws {
        let server = try await ScriptedMailboxServer.start(greeting: "+OK ready\r\n", script: pop3Script())
        let got = FoundMessages()
        let options = try pop3Options(port: server.port)
        // The watch runs until cancelled once the server has seen a second
        // session end, not until a fixed deadline: with the whole suite
        // starting at once on 2 cores, one session can take seconds.
        let watching = Task {
            try await POP3Client.watch(
                options, query: MailboxQuery(), until: .now + .seconds(120), interval: .milliseconds(50)
            ) { m in
                got.append(m)
                return true
            }
        }
        let giveUp = ContinuousClock.now + .seconds(120)
        while server.lines.filter({ $0 == "QUIT" }).count < 2, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(50))
        }
        watching.cancel()
        _ = await watching.result
        #expect(got.all.count == 3)
        #expect(server.lines.filter { $0 == "QUIT" }.count >= 2)
        #expect(server.lines.filter { $0.hasPrefix("RETR") }.count == 3)
        await server.stop()
    }
}

@Suite struct POP3ExpungedMeanwhileTests {
    @Test("a message expunged by another session while we poll is skipped; the others are read")
    func expungedMessageIsSkipped() async throws {
        let server = try await ScriptedMailboxServer.start(
            greeting: "+OK ready\r\n",
            script: pop3Script { line, _ in
                line == "RETR 2" ? .send("-ERR Message 2 expunged.\r\n") : nil
            })
        let client = try await POP3Client.connect(try pop3Options(port: server.port))
        let messages = try await client.poll(MailboxQuery())
        #expect(
            messages.map { String(decoding: $0.bytes, as: UTF8.self) }.map {
                $0.contains("tok1") || $0.contains("tok3")
            } == [true, true])
        #expect(await client.transcript.contains { $0.text.contains("RETR 2 refused") })
        try await client.quit()
        await server.stop()
    }
}
