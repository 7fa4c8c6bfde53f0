import TestSupport
import Testing

@testable import MailTransport
@testable import SMTPCore

@Suite struct SubmitterTests {
    static func dsnServer(_ line: String, _ tls: Bool) -> ScriptedSMTPServer.Step {
        if line.uppercased().hasPrefix("EHLO") { return .send("250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n") }
        return SMTPCheckTests.standard(line, tls)
    }

    func envelope(_ rcpts: [String], requireDSN: Bool = false) throws -> SubmissionEnvelope {
        SubmissionEnvelope(
            reversePath: .mailbox(try SMTPMailbox("rt+tok@return.test")),
            mailParameters: MailParameters(ret: .headers, envelopeID: try EnvelopeID("tok")),
            recipients: try rcpts.map {
                .init(
                    mailbox: try SMTPMailbox($0),
                    parameters: RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(address: $0)))
            },
            message: Array("Subject: probe\r\n\r\nbody\r\n".utf8),
            requireDSN: requireDSN
        )
    }

    func base() -> SMTPCheckOptions {
        var o = SMTPCheckOptions(host: "", port: 0, heloName: "client.test")
        o.timeouts = SMTPTimeouts(all: .seconds(5))
        return o
    }

    @Test func nextMXWhenTheFirstIsUnreachableAndOneTransactionPerDomain() async throws {
        try await ScriptedSMTPServer.with(script: Self.dsnServer) { server in
            var zone = FakeDNSServer.Zone()
            zone.mx["one.test"] = [(10, "down.one.test"), (20, "up.one.test")]
            zone.mx["two.test"] = [(5, "up.one.test")]
            zone.a["down.one.test"] = [[127, 0, 0, 2]]
            zone.a["up.one.test"] = [[127, 0, 0, 1]]
            try await FakeDNSServer.with(zone) { dns in
                let resolver = LibresolvResolver(server: ("127.0.0.1", dns.port), timeoutSeconds: 3, attempts: 2)
                let groups = await Submitter.submit(
                    try envelope(["a@one.test", "b@one.test", "c@two.test"]), base: base(), server: nil,
                    resolver: resolver, mxPort: server.port)
                #expect(groups.count == 2)
                #expect(groups[0].attempts.map(\.route.target.host) == ["down.one.test", "up.one.test"])
                #expect(groups[0].attempts[0].report.failedStep == .connect)
                #expect(groups[0].final?.route.mxPreference == 20)
                #expect(groups[0].final?.report.recipients.map(\.accepted) == [true, true])
                #expect(groups[0].final?.report.dataReplyCode == 250)
                #expect(groups[0].final?.report.dsnRequested == true)
                #expect(groups[1].final?.report.recipients.map(\.address) == ["c@two.test"])
                let mails = server.commands.filter { $0.hasPrefix("MAIL") }
                #expect(mails.count == 2)
                #expect(mails.allSatisfy { $0 == "MAIL FROM:<rt+tok@return.test> RET=HDRS ENVID=tok" })
                #expect(
                    server.commands.contains(
                        "RCPT TO:<a@one.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a@one.test"))
            }
        }
    }

    @Test func refusedRecipientDoesNotStopTheOthers() async throws {
        try await ScriptedSMTPServer.with(script: Self.dsnServer) { server in
            let groups = await Submitter.submit(
                try envelope(["alice@x.test", "nobody@x.test"]), base: base(),
                server: HostPort(host: "127.0.0.1", port: server.port), resolver: LibresolvResolver())
            let report = try #require(groups.first?.final?.report)
            #expect(report.recipients.map(\.accepted) == [true, false])
            #expect(report.recipients[1].enhancedCode == "5.1.1")
            #expect(report.dataReplyCode == 250)
            #expect(report.passed)
        }
    }

    @Test func withoutDSNTheProbeGoesOutPlainOrStops() async throws {
        try await ScriptedSMTPServer.with(script: { line, tls in
            line.uppercased().hasPrefix("EHLO")
                ? .send("250-mx.test\r\n250 PIPELINING\r\n") : SMTPCheckTests.standard(line, tls)
        }) { noDSN in
            let target = HostPort(host: "127.0.0.1", port: noDSN.port)
            let plain = await Submitter.submit(
                try envelope(["alice@x.test"]), base: base(), server: target, resolver: LibresolvResolver())
            let report = try #require(plain.first?.final?.report)
            #expect(report.dsnRequested == false)
            #expect(report.dataReplyCode == 250)
            #expect(noDSN.commands.contains("MAIL FROM:<rt+tok@return.test>"))
            #expect(noDSN.commands.contains("RCPT TO:<alice@x.test>"))
            let strict = await Submitter.submit(
                try envelope(["alice@x.test"], requireDSN: true), base: base(), server: target,
                resolver: LibresolvResolver())
            #expect(strict.first?.attempts.last?.report.failureKind == .dsnUnavailable)
            #expect(noDSN.commands.filter { $0.hasPrefix("MAIL") }.count == 1)
        }
    }

    @Test func nullMXIsARoutingError() async throws {
        var zone = FakeDNSServer.Zone()
        zone.mx["null.test"] = [(0, "")]
        try await FakeDNSServer.with(zone) { dns in
            let groups = await Submitter.submit(
                try envelope(["a@null.test"]), base: base(), server: nil,
                resolver: LibresolvResolver(server: ("127.0.0.1", dns.port), timeoutSeconds: 3, attempts: 2))
            #expect(groups.first?.routingError?.message.contains("null MX") == true)
            #expect(groups.first?.attempts.isEmpty == true)
        }
    }
}
