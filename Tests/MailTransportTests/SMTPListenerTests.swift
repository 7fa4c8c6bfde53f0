import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SMTPCore
import TestSupport
import Testing

@testable import MailTransport

@Suite(.serialized) struct SMTPListenerTests {
    static let hello = "EHLO client.example\r\n"

    func transaction(
        _ c: RawSMTPClient, from: String = "<>", to: String = "<roundtrip+tok@return.example>",
        body: String = "Subject: r\r\n\r\nhi\r\n"
    ) async throws -> [Int] {
        try await c.send("MAIL FROM:\(from)\r\nRCPT TO:\(to)\r\nDATA\r\n")
        var codes = try await c.replies(3)
        guard codes.last == 354 else { return codes }
        try await c.send(body + ".\r\n")
        codes += try await c.replies(1)
        return codes
    }

    @Test func messageIsOnDiskWhenThe250Arrives() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(Self.hello)
            #expect(try await c.reply()?.code == 250)
            try await c.send("MAIL FROM:<>\r\nRCPT TO:<roundtrip+tok123@return.example> NOTIFY=NEVER\r\nDATA\r\n")
            #expect(try await c.replies(3) == [250, 250, 354])
            #expect(h.newFiles.isEmpty)
            try await c.send("Subject: report\r\n\r\n..dots\r\n.\r\n")
            let reply = try #require(try await c.reply())
            // Checked the moment the 250 arrives: the message, its envelope inside, exists.
            let files = h.newFiles
            #expect(reply.code == 250)
            #expect(files.count == 1)
            let name = try #require(files.first)
            #expect(reply.text.contains(name))
            let content = try String(contentsOfFile: h.store + "/new/" + name, encoding: .utf8)
            let trace = try #require(content.range(of: "\r\nReturn-Path: <>\r\n"))
            #expect(content.hasPrefix("X-Roundtrip-Envelope: {"))
            #expect(
                content[trace.upperBound...].hasPrefix(
                    "Delivered-To: roundtrip+tok123@return.example\r\nReceived: from client.example ([127.0.0.1])"))
            #expect(content.hasSuffix("\r\nSubject: report\r\n\r\n.dots\r\n"))
            // Every header line stays within RFC 5322's 78-octet recommendation but for long tokens.
            #expect(content.split(separator: "\r\n").prefix(4).allSatisfy { $0.utf8.count <= 998 })
            let env = try #require(h.envelope(of: name))
            #expect(env.mailFrom == "")
            #expect(env.rcptTo == ["roundtrip+tok123@return.example"])
            #expect(env.recipients.first?.notify == "NEVER")
            #expect(env.clientAddress == "127.0.0.1")
            #expect(env.heloName == "client.example")
            #expect(env.protocolName == "ESMTP")
            #expect(env.messageSize == "Subject: report\r\n\r\n.dots\r\n".utf8.count)
            #expect(env.tlsVersion == nil)
            try await c.send("QUIT\r\n")
            #expect(try await c.reply()?.code == 221)
            #expect(try await c.waitForClose())
            // onMessage got it too.
            let deadline = ContinuousClock.now + .seconds(2)
            while h.stored.withLockedValue({ $0.isEmpty }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(h.stored.withLockedValue { $0.map(\.name) } == [name])
        }
    }

    @Test func nullSenderAcceptedAndRelayDenied() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(Self.hello)
            _ = try await c.reply()
            try await c.send(
                "MAIL FROM:<>\r\nRCPT TO:<alice@elsewhere.example>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<b@return.example>\r\n"
            )
            let mail = try await c.reply()
            let denied = try await c.reply()
            #expect(mail?.code == 250)
            #expect(denied?.code == 550)
            #expect(denied?.enhancedCode?.description == "5.7.1")
            #expect(try await c.replies(2) == [250, 250])
            await c.close()
        }
    }

    @Test(arguments: ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n"])
    func smugglingIsRefusedAfterTheRealTerminator(_ fake: String) async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(Self.hello + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            try await c.send(
                "Subject: x\r\n\r\nhello" + fake
                    + "MAIL FROM:<evil@x.example>\r\nRCPT TO:<y@return.example>\r\nDATA\r\nforged\r\n")
            try await Task.sleep(for: .milliseconds(100))
            #expect(c.unreadBytes == 0, "a fake terminator was answered")
            try await c.send(".\r\nNOOP\r\n")
            let refused = try await c.reply()
            #expect(refused?.code == 550)
            #expect(refused?.enhancedCode?.description == "5.5.2")
            #expect(try await c.reply()?.code == 250)
            #expect(h.newFiles.isEmpty)
            await c.close()
        }
    }

    @Test func startTLSDropsInjectedPlaintextAndRestartsTheSession() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(Self.hello)
            let ehlo = try #require(try await c.reply())
            #expect(ehlo.lines.contains("STARTTLS"))
            // The injection: commands after STARTTLS in the same packet.
            try await c.send("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\n")
            #expect(try await c.reply()?.code == 220)
            try await c.startTLS()
            try await c.send("RCPT TO:<x@return.example>\r\nMAIL FROM:<a@b.example>\r\nEHLO client.example\r\n")
            #expect(try await c.reply()?.code == 503)  // the injected MAIL never ran
            #expect(try await c.reply()?.code == 503)  // and EHLO is needed again
            let again = try #require(try await c.reply())
            #expect(again.code == 250)
            #expect(!again.lines.contains("STARTTLS"))
            #expect(try await transaction(c) == [250, 250, 354, 250])
            let env = try #require(h.newFiles.first.flatMap { h.envelope(of: $0) })
            #expect(env.tlsVersion?.hasPrefix("TLSv1.") == true)
            #expect(env.protocolName == "ESMTPS")
            #expect(env.tlsCipher?.hasPrefix("TLS_") == true)
            await c.close()
        }
    }

    @Test func certificateFromFiles() async throws {
        let cert = try TestCertificate.make(commonName: "mx.test", dnsNames: ["mx.test"])
        let dir = ListenerHarness.makeStoreDirectory() + "-pem"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cert.certificatePEM.write(toFile: dir + "/c.pem", atomically: true, encoding: .utf8)
        try cert.privateKeyPEM.write(toFile: dir + "/k.pem", atomically: true, encoding: .utf8)
        try await ListenerHarness.with({ $0.tls = .files(certificate: dir + "/c.pem", key: dir + "/k.pem") }) { h in
            let c = try await h.client()
            try await c.send(Self.hello + "STARTTLS\r\n")
            #expect(try await c.replies(2) == [250, 220])
            try await c.startTLS()
            try await c.send(Self.hello)
            #expect(try await c.reply()?.code == 250)
            await c.close()
        }
        // A key that does not exist, and garbage as a certificate: configuration errors.
        for tls in [
            ListenerTLSSource.files(certificate: dir + "/c.pem", key: dir + "/missing.pem"),
            .files(certificate: dir + "/k.pem", key: dir + "/k.pem"),
        ] {
            let config = SMTPListenerConfiguration(
                port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir + "/store", tls: tls)
            #expect(throws: SMTPListenerError.self) { _ = try SMTPListener(configuration: config) }
        }
    }

    @Test func sizeLimitIs552() async throws {
        try await ListenerHarness.with({ $0.maxMessageSize = 1000 }) { h in
            let c = try await h.client()
            try await c.send(Self.hello)
            let ehlo = try await c.reply()
            #expect(ehlo?.lines.contains("SIZE 1000") == true)
            try await c.send("MAIL FROM:<a@b.example> SIZE=5000\r\n")
            #expect(try await c.reply()?.enhancedCode?.description == "5.3.4")
            let big = String(repeating: String(repeating: "x", count: 78) + "\r\n", count: 20)
            let codes = try await transaction(c, body: big)
            #expect(codes == [250, 250, 354, 552])
            #expect(h.newFiles.isEmpty)
            #expect(try await transaction(c, body: "small\r\n") == [250, 250, 354, 250])
            await c.close()
        }
    }

    @Test func recipientLimitIs452() async throws {
        try await ListenerHarness.with({ $0.maxRecipients = 2 }) { h in
            let c = try await h.client()
            try await c.send(
                Self.hello
                    + "MAIL FROM:<a@b.example>\r\nRCPT TO:<a@return.example>\r\nRCPT TO:<b@return.example>\r\nRCPT TO:<c@return.example>\r\n"
            )
            let codes = try await c.replies(4)
            #expect(codes == [250, 250, 250, 250])
            let over = try await c.reply()
            #expect(over?.code == 452)
            #expect(over?.enhancedCode?.description == "4.5.3")
            await c.close()
        }
    }

    @Test func overlongLineIs500() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(Self.hello + "NOOP " + String(repeating: "a", count: 2043) + "\r\n")
            #expect(try await c.replies(2) == [250, 250])
            try await c.send("QUIT " + String(repeating: "a", count: 10000) + "\r\nNOOP\r\n")
            let long = try await c.reply()
            #expect(long?.code == 500)
            #expect(long?.enhancedCode?.description == "5.5.2")
            #expect(try await c.reply()?.code == 250)
            await c.close()
        }
    }

    @Test func totalConnectionLimitIs421() async throws {
        try await ListenerHarness.with({ $0.maxConnections = 2 }) { h in
            let a = try await h.client()
            let b = try await h.client()
            let c = try await RawSMTPClient.connect(port: h.port)
            let refused = try await c.reply()
            #expect(refused?.code == 421)
            #expect(refused?.enhancedCode?.description == "4.7.0")
            #expect(try await c.waitForClose())
            await a.close()
            try await Task.sleep(for: .milliseconds(100))
            let d = try await h.client()
            await b.close()
            await d.close()
        }
    }

    @Test func perClientConnectionLimitIs421() async throws {
        try await ListenerHarness.with({ $0.maxConnectionsPerClient = 1 }) { h in
            let a = try await h.client()
            let b = try await RawSMTPClient.connect(port: h.port)
            let refused = try await b.reply()
            #expect(refused?.code == 421)
            #expect(refused?.text.contains("too many connections from 127.0.0.1") == true)
            #expect(try await b.waitForClose())
            await a.close()
        }
    }

    @Test func idleTimeoutIs421AndClose() async throws {
        try await ListenerHarness.with({
            $0.timeouts = SMTPListenerTimeouts(command: .milliseconds(300), data: .milliseconds(300))
        }) { h in
            let c = try await h.client()
            let start = ContinuousClock.now
            let reply = try await c.reply()
            #expect(reply?.code == 421)
            #expect(reply?.enhancedCode?.description == "4.4.2")
            #expect(try await c.waitForClose())
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    @Test func tricklingClientIsCutOff() async throws {
        try await ListenerHarness.with({ $0.timeouts = SMTPListenerTimeouts(command: .milliseconds(1000)) }) { h in
            let c = try await h.client()
            try await c.send("NOOP\r\n")
            #expect(try await c.reply()?.code == 250)
            // One byte every 100 ms never completes a line within 1 s.
            var cut = false
            for byte in "MAIL FROM:<slow@b.example>\r\n" {
                try? await c.send(String(byte))
                try await Task.sleep(for: .milliseconds(100))
                if c.unreadBytes > 0 {
                    cut = true
                    break
                }
            }
            #expect(cut)
            let reply = try await c.reply()
            #expect(reply?.code == 421)
            #expect(try await c.waitForClose())
        }
    }

    @Test func dataTimeoutCutsOffASlowMessage() async throws {
        try await ListenerHarness.with({
            $0.timeouts = SMTPListenerTimeouts(command: .seconds(5), data: .milliseconds(400))
        }) { h in
            let c = try await h.client()
            try await c.send(Self.hello + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            let start = ContinuousClock.now
            for _ in 0..<10 {
                try? await c.send("line\r\n")
                try await Task.sleep(for: .milliseconds(100))
                if c.unreadBytes > 0 { break }
            }
            #expect(try await c.reply()?.code == 421)
            // The data deadline (400 ms) wins over the longer command one.
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(h.newFiles.isEmpty)
        }
    }

    @Test func gracefulShutdownLetsTheMessageInProgressFinish() async throws {
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = SMTPListenerConfiguration(
            port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir,
            shutdownGracePeriod: .seconds(5))
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let listener = try SMTPListener(configuration: config, onServerRunning: { cont.yield($0.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            var it = ports.makeAsyncIterator()
            let port = try #require(await it.next())
            let idle = try await RawSMTPClient.connect(port: port)
            let busy = try await RawSMTPClient.connect(port: port)
            #expect(try await idle.reply()?.code == 220)
            #expect(try await busy.reply()?.code == 220)
            try await busy.send(Self.hello + "MAIL FROM:<>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nSubject: a\r\n")
            #expect(try await busy.replies(4) == [250, 250, 250, 354])
            listener.triggerShutdown()
            // The idle session is told at once.
            let bye = try await idle.reply()
            #expect(bye?.code == 421)
            #expect(bye?.enhancedCode?.description == "4.3.2")
            #expect(try await idle.waitForClose())
            // New connections are refused (the listening socket closes
            // asynchronously: allow it a moment).
            var refused = false
            for _ in 0..<50 where !refused {
                do {
                    let late = try await RawSMTPClient.connect(port: port)
                    await late.close()
                    try await Task.sleep(for: .milliseconds(50))
                } catch {
                    refused = true
                }
            }
            #expect(refused)
            // The message in progress finishes and is stored, then 421.
            try await busy.send("\r\nbody\r\n.\r\n")
            #expect(try await busy.reply()?.code == 250)
            #expect(try await busy.reply()?.code == 421)
            #expect(try await busy.waitForClose())
            try await group.waitForAll()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/new").count == 1)
    }

    @Test func gracePeriodEndsLingeringSessions() async throws {
        let start = ContinuousClock.now
        try await ListenerHarness.with({ $0.shutdownGracePeriod = .milliseconds(300) }) { h in
            let c = try await h.client()
            try await c.send(Self.hello + "MAIL FROM:<>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            h.listener.triggerShutdown()
            #expect(try await c.waitForClose())
        }
        #expect(ContinuousClock.now - start < .seconds(4))
    }

    @Test func portInUseIsABindError() async throws {
        try await ListenerHarness.with { h in
            let dir = ListenerHarness.makeStoreDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let config = SMTPListenerConfiguration(
                port: h.port, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir)
            let second = try SMTPListener(configuration: config)
            do {
                try await second.run()
                Issue.record("bound twice")
            } catch let e as SMTPListenerError {
                #expect(e.kind == .bind)
            }
        }
    }

    @Test func unwritableStoreIsAConfigurationError() throws {
        let config = SMTPListenerConfiguration(
            port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: "/proc/roundtrip-store")
        #expect { try SMTPListener(configuration: config) } throws: {
            ($0 as? SMTPListenerError)?.kind == .configuration
        }
        let noDomain = SMTPListenerConfiguration(port: 0, hostname: "mx.test", domains: [], storeDirectory: "/tmp/x")
        #expect(throws: SMTPListenerError.self) { try SMTPListener(configuration: noDomain) }
    }

    @Test func pipelinedTransactionsOnOneConnection() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            // DATA ends a batch: send the first, then each message + next batch.
            try await c.send(Self.hello + "MAIL FROM:<s@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            for _ in 0..<4 {
                try await c.send("m\r\n.\r\nMAIL FROM:<s@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
                #expect(try await c.replies(4) == [250, 250, 250, 354])
            }
            try await c.send("m\r\n.\r\nQUIT\r\n")
            #expect(try await c.replies(2) == [250, 221])
            #expect(h.newFiles.count == 5)
            #expect(h.newFiles.compactMap { h.envelope(of: $0) }.count == 5)
        }
    }
}

@Suite struct MessageStoreTests {
    @Test func concurrentStoresAreGroupCommitted() async throws {
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try MessageStore(directory: dir, hostname: "mx.test")
        store.start()
        defer { store.stop() }
        let envelope = SMTPEnvelope(
            reversePath: .null, mailParameters: MailParameters(), recipients: [], heloName: "c", protocolName: "ESMTP")
        // Whole seconds: the stored envelope keeps ISO 8601 time to the second.
        let received = ReceivedEnvelope(
            envelope: envelope, clientAddress: "127.0.0.1", clientPort: 1, tlsVersion: nil, tlsCipher: nil,
            receivedAt: Date(timeIntervalSince1970: 1_700_000_000), messageSize: 3)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let names = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<50 {
                group.addTask {
                    let m = try await store.store(Array("m\(i)\r\n".utf8), envelope: received, on: loop)
                    #expect(FileManager.default.fileExists(atPath: m.path))
                    let stored = try #require(FileManager.default.contents(atPath: m.path))
                    #expect(ReceivedEnvelope(storedMessage: Array(stored)) == received)
                    return m.name
                }
            }
            var out: [String] = []
            for try await n in group { out.append(n) }
            return out
        }
        #expect(Set(names).count == 50)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/new").count == 50)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/tmp").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cur").isEmpty)
    }

    @Test func storingAfterStopFails() async throws {
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try MessageStore(directory: dir, hostname: "mx.test")
        let envelope = SMTPEnvelope(
            reversePath: .null, mailParameters: MailParameters(), recipients: [], heloName: "c", protocolName: "SMTP")
        let received = ReceivedEnvelope(
            envelope: envelope, clientAddress: "::1", clientPort: nil, tlsVersion: nil, tlsCipher: nil,
            receivedAt: Date(), messageSize: 0)
        await #expect(throws: MessageStoreError.self) {
            _ = try await store.store([], envelope: received, on: MultiThreadedEventLoopGroup.singleton.next())
        }
    }

    @Test func receivedHeaderAndDate() {
        #expect(MessageStore.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 1 Jan 1970 00:00:00 +0000")
    }
}

/// The envelope travels inside the stored message; only the listener's own first field counts.
@Suite struct StoredEnvelopeTests {
    static func envelope(recipients: Int) -> ReceivedEnvelope {
        var params = MailParameters()
        params.envelopeID = try? EnvelopeID("env,\"id\"/1")
        let rcpts = (0..<recipients).map { i in
            SMTPEnvelope.Recipient(
                path: .mailbox(try! SMTPMailbox("rt+tok\(i)@return.example")), parameters: RcptParameters())
        }
        let e = SMTPEnvelope(
            reversePath: .null, mailParameters: params, recipients: rcpts, heloName: "mx, \"quoted\".example",
            protocolName: "ESMTPS")
        return ReceivedEnvelope(
            envelope: e, clientAddress: "2001:db8::1", clientPort: 25, tlsVersion: "TLSv1.3",
            tlsCipher: "TLS_AES_256_GCM_SHA384", receivedAt: Date(timeIntervalSince1970: 1_700_000_000),
            messageSize: 42)
    }

    @Test(arguments: [0, 1, 3, 100])
    func foldedFieldRoundTrips(recipients: Int) throws {
        let e = Self.envelope(recipients: recipients)
        let field = try e.headerField()
        let lines = String(decoding: field, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines.last == "")
        #expect(lines.dropLast().allSatisfy { $0.utf8.count <= 998 })
        // Folded where a line grows long: continuation lines start with a tab.
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.hasPrefix("\t") })
        if recipients >= 3 { #expect(lines.count > 3) }
        let stored = field + Array("Return-Path: <>\r\nSubject: x\r\n\r\nbody\r\n".utf8)
        #expect(ReceivedEnvelope(storedMessage: stored) == e)
    }

    @Test func aFieldFromThePeerIsNeverRead() throws {
        let forged = Array("Return-Path: <>\r\n".utf8) + (try Self.envelope(recipients: 1).headerField())
        #expect(ReceivedEnvelope(storedMessage: forged) == nil)
        #expect(ReceivedEnvelope(storedMessage: Array("X-Roundtrip-Envelope: {not json\r\n\r\n".utf8)) == nil)
        #expect(ReceivedEnvelope(storedMessage: [UInt8]()) == nil)
    }
}

@Suite struct SyncModeTests {
    /// `auto` is `batch` only where a journal commit makes earlier data durable (ext4, XFS).
    @Test func autoIsFileOnFilesystemsWithoutThatJournal() throws {
        #expect(MessageStore.SyncMode.suited(for: "/proc") == .file)
        #expect(MessageStore.SyncMode.suited(for: "/nonexistent-\(UUID().uuidString)") == .file)
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try MessageStore(directory: dir, hostname: "mx.test", syncMode: .auto)
        #expect(store.syncMode == MessageStore.SyncMode.suited(for: dir))
        #expect(store.syncMode != .auto)
        // Against coreutils' own statfs reading of the same folder.
        let stat = Process()
        stat.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
        stat.arguments = ["-f", "-c", "%t", dir]
        let pipe = Pipe()
        stat.standardOutput = pipe
        try stat.run()
        stat.waitUntilExit()
        let hex = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let type = Int(hex.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
        #expect(store.syncMode == ([0xEF53, 0x5846_5342].contains(type) ? .batch : .file), "f_type \(hex)")
    }
}

@Suite struct ListenerTLSShutdownTests {
    /// A TLS client that stops reading after QUIT never answers our close_notify: the listener
    /// must not keep counting it against --max-per-client for NIOSSL's default 5 s, or a busy
    /// sender's next connections get 421.
    @Test func aTLSClientThatNeverAnswersCloseNotifyIsReleasedQuickly() async throws {
        try await ListenerHarness.with({ $0.maxConnectionsPerClient = 1 }) { h in
            let a = try await h.client()
            try await a.send("EHLO client.example\r\n")
            #expect(try await a.reply()?.code == 250)
            try await a.send("STARTTLS\r\n")
            #expect(try await a.reply()?.code == 220)
            try await a.startTLS()
            try await a.send("EHLO client.example\r\n")
            #expect(try await a.reply()?.code == 250)
            // From here the client reads nothing: neither the 221 nor the close_notify behind it.
            try await a.channel.setOption(ChannelOptions.autoRead, value: false).get()
            try await a.send("QUIT\r\n")
            let quit = ContinuousClock.now
            // The next connection from the same address is greeted once the first is released.
            var greeted = false
            while !greeted && ContinuousClock.now - quit < .seconds(30) {
                let b = try await RawSMTPClient.connect(port: h.port)
                greeted = try await b.reply()?.code == 220
                await b.close()
                if !greeted { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(greeted)
            // Well under NIOSSL's default of 5 s (the margin is for a loaded machine).
            #expect(ContinuousClock.now - quit < .seconds(4))
            await a.close()
        }
    }
}
