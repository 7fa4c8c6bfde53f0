import Foundation
import NIOCore
import SMTPCore
import TestSupport
import Testing

@testable import MailTransport

/// The listener against clients that try to exhaust it.
@Suite struct ListenerHostileTests {
    @Test("1,000 pipelined NOOPs: 100 answers, 421 4.7.0, closed")
    func noopFlood() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send(String(repeating: "NOOP\r\n", count: 1000))
            var codes: [Int] = []
            while let r = try await c.reply(timeout: .seconds(5)) { codes.append(r.code) }
            #expect(codes.count == 101)
            #expect(codes.last == 421)
            #expect(try await c.waitForClose())
            await c.close()
        }
    }

    @Test("a client that pipelines EHLO without reading is no longer read; another client is served meanwhile")
    func pipelinedEHLOWithoutReading() async throws {
        try await ListenerHarness.with({ $0.maxJunkCommands = .max }) { h in
            let sent = try await floodWithoutReading(port: h.port, seconds: 1.5, limit: 45 * 1024 * 1024)
            // Reading stops once the replies back up: what the attacker gets in is bounded
            // by the socket buffers (a few MB), far from the 45 MB offered (1.5 s: the buffers
            // fill in milliseconds, and a longer flood only burns the suite's CPU).
            #expect(sent < 24 * 1024 * 1024, "the listener kept reading: \(sent) octets taken")
            let other = try await h.client()
            try await other.send("EHLO other.example\r\nQUIT\r\n")
            #expect(try await other.replies(2) == [250, 221])
            await other.close()
        }
    }

    @Test("the recipient gate answers 550 5.1.1 at RCPT through the listener")
    func gate() async throws {
        try await ListenerHarness.with({
            $0.recipientGate = RecipientGate(acceptedLocalParts: ["reports"]) { $0 == "good" }
        }) { h in
            let c = try await h.client()
            try await c.send(
                "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<roundtrip@return.example>\r\nRCPT TO:<roundtrip+bad@return.example>\r\n"
                    + "RCPT TO:<roundtrip+good@return.example>\r\nRCPT TO:<reports@return.example>\r\nRCPT TO:<postmaster@return.example>\r\nQUIT\r\n"
            )
            #expect(try await c.replies(8) == [250, 250, 550, 550, 250, 250, 250, 221])
            await c.close()
        }
    }

    @Test("with less free space than min-free, DATA gets 452 and nothing is stored")
    func minFree() async throws {
        try await ListenerHarness.with({ $0.minFreeBytes = .max }) { h in
            let c = try await h.client()
            try await c.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@return.example>\r\nDATA\r\nQUIT\r\n")
            #expect(try await c.replies(5) == [250, 250, 250, 452, 221])
            #expect(h.newFiles.isEmpty)
            await c.close()
        }
    }

    @Test("a session that outlives its lifetime gets 421 4.4.2 and is closed")
    func lifetime() async throws {
        try await ListenerHarness.with({ $0.maxSessionLifetime = .seconds(1) }) { h in
            let c = try await h.client()
            let opened = ContinuousClock.now
            try await c.send("EHLO c\r\n")
            var last: SMTPReply?
            while let r = try await c.reply(timeout: .seconds(5)) { last = r }
            #expect(last?.code == 421)
            #expect(last?.lines.first?.hasPrefix("4.4.2") == true)
            #expect(try await c.waitForClose())
            #expect(ContinuousClock.now - opened < .seconds(4))
        }
    }

    @Test(
        "a client that pipelines `.` and QUIT and shuts its side down (as Exim does) still gets 250 and 221; the message is stored once"
    )
    func halfClosedAfterData() async throws {
        try await ListenerHarness.with { h in
            let c = try await h.client()
            try await c.send("EHLO exim.example\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            try await c.send("Subject: report\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            try? await c.channel.close(mode: .output).get()
            #expect(try await c.replies(2) == [250, 221])
            #expect(try await c.waitForClose())
            #expect(h.newFiles.count == 1)
        }
        try await ListenerHarness.with { h in
            // FIN right after the dot, without QUIT: the 250 still goes out, then the close.
            let c = try await h.client()
            try await c.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@return.example>\r\nDATA\r\n")
            #expect(try await c.replies(4) == [250, 250, 250, 354])
            try await c.send("Subject: report\r\n\r\nbody\r\n.\r\n")
            try? await c.channel.close(mode: .output).get()
            #expect(try await c.reply()?.code == 250)
            #expect(try await c.waitForClose())
        }
    }

    @Test("IPv6 clients are counted per /64; IPv4-mapped as IPv4")
    func clientKeys() throws {
        let a = try SocketAddress(ipAddress: "2001:db8:1:2:aaaa::1", port: 1)
        let b = try SocketAddress(ipAddress: "2001:db8:1:2:ffff:1:2:3", port: 2)
        let c = try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 3)
        #expect(ConnectionRegistry.clientKey(a) == ConnectionRegistry.clientKey(b))
        #expect(ConnectionRegistry.clientKey(a) != ConnectionRegistry.clientKey(c))
        #expect(ConnectionRegistry.clientKey(a) == "2001:db8:1:2::/64")
        #expect(ConnectionRegistry.clientKey(try SocketAddress(ipAddress: "::ffff:192.0.2.7", port: 4)) == "192.0.2.7")
        #expect(ConnectionRegistry.clientKey(try SocketAddress(ipAddress: "192.0.2.7", port: 4)) == "192.0.2.7")
    }
}
