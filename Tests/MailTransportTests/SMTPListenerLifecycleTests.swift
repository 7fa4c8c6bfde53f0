import Foundation
import InMemoryLogging
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import ServiceLifecycleTestKit
import TestSupport
import Testing

@testable import MailTransport

@Suite(.serialized) struct SMTPListenerLifecycleTests {
    @Test func serviceLifecycleGracefulShutdown() async throws {
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = SMTPListenerConfiguration(
            port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir,
            shutdownGracePeriod: .seconds(5))
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let listener = try SMTPListener(configuration: config, onServerRunning: { cont.yield($0.port ?? 0) })
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                var it = ports.makeAsyncIterator()
                let port = try #require(await it.next())
                let client = try await RawSMTPClient.connect(port: port)
                #expect(try await client.reply()?.code == 220)
                trigger.triggerGracefulShutdown()
                let bye = try await client.reply()
                #expect(bye?.code == 421)
                #expect(bye?.enhancedCode?.description == "4.3.2")
                #expect(try await client.waitForClose())
                try await group.waitForAll()
            }
        }
    }

    @Test func logsCarryThePeerAndNeverTheMessage() async throws {
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "test.listener") { _ in logs }
        logger.logLevel = .trace
        let dir = ListenerHarness.makeStoreDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = SMTPListenerConfiguration(
            port: 0, hostname: "mx.test", domains: ["return.example"], storeDirectory: dir)
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let listener = try SMTPListener(
            configuration: config, logger: logger, onServerRunning: { cont.yield($0.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            var it = ports.makeAsyncIterator()
            let port = try #require(await it.next())
            let c = try await RawSMTPClient.connect(port: port)
            #expect(try await c.reply()?.code == 220)
            try await c.send(
                "EHLO client.example\r\nMAIL FROM:<canary-sender@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            try await c.send("Subject: CANARY-SUBJECT\r\n\r\nCANARY-BODY-7731\r\n.\r\nVRFY canary-vrfy\r\nQUIT\r\n")
            #expect(try await c.replies(3) == [250, 252, 221])
            listener.triggerShutdown()
            try await group.waitForAll()
        }
        let entries = logs.entries
        let text = entries.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
        #expect(text.contains("message stored"))
        #expect(entries.contains { $0.metadata["smtp.peer"]?.description.hasPrefix("127.0.0.1:") == true })
        for canary in ["CANARY-BODY-7731", "CANARY-SUBJECT", "canary-sender", "canary-vrfy"] {
            #expect(!text.contains(canary), "\(canary) leaked into the logs")
        }
    }
}
