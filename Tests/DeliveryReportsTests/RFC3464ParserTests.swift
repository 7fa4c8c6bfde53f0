import DeliveryReports
import MailCore
import Testing

private func parse(_ s: String) throws -> DeliveryReport {
    try DeliveryReportParser.parse(Array(s.utf8))
}

@Suite("RFC 3464 / 6522 / 6533 reports")
struct RFC3464ParserTests {
    /// protocol-notes §3.6, with the report's own envelope headers.
    static let example = """
        Return-Path: <>
        Delivered-To: roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example
        X-Original-To: roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example
        From: MAILER-DAEMON@mx1.dest.example
        To: roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example
        Subject: Undelivered Mail Returned to Sender
        Content-Type: multipart/report; report-type=delivery-status;
                boundary="b1"

        --b1
        Content-Type: text/plain; charset=us-ascii

        Delivery to alice@dest.example failed.
        --b1
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx1.dest.example
        Original-Envelope-Id: k3v9x2q8m4tz7c1bh6n0wr5d
        Arrival-Date: Tue, 4 Mar 2025 10:12:07 +0100
        X-Postfix-Queue-ID: 4ABC

        Original-Recipient: rfc822;alice+2Btag@dest.example
        Final-Recipient: rfc822; alice@dest.example
        Action: failed
        Status: 5.1.1 (bad mailbox)
        Remote-MTA: dns; store.dest.example. (192.0.2.1, the server)
        Diagnostic-Code: smtp; 550-5.1.1 mailbox unknown (really)
         550 5.1.1 see https://dest.example/help
        Last-Attempt-Date: Tue, 4 Mar 2025 10:12:09 +0100
        Final-Log-ID: 4ABC
        X-Actual-Recipient: rfc822; alice@store.dest.example
        --b1
        Content-Type: text/rfc822-headers

        Message-ID: <k3v9x2q8m4tz7c1bh6n0wr5d@return.example>
        X-Roundtrip-Probe: k3v9x2q8m4tz7c1bh6n0wr5d
        Subject: roundtrip probe k3v9x2q8m4tz7c1bh6n0wr5d
        --b1--
        """

    @Test("the protocol-notes example, every field", arguments: ["\n", "\r\n", "\r"])
    func example(_ eol: String) throws {
        let r = try parse(Self.example.replacingOccurrences(of: "\n", with: eol))
        #expect(r.kind == .rfc3464)
        #expect(r.originalEnvelopeID == "k3v9x2q8m4tz7c1bh6n0wr5d")
        #expect(r.reportingMTA == TypedValue(type: "dns", value: "mx1.dest.example"))
        #expect(r.arrivalDate?.secondsSince1970 == 1_741_079_527)
        #expect(r.extraFields["x-postfix-queue-id"] == "4ABC")
        let rr = try #require(r.recipients.first)
        #expect(r.recipients.count == 1)
        #expect(rr.finalRecipient == TypedValue(type: "rfc822", value: "alice@dest.example"))
        #expect(rr.originalRecipient?.value == "alice+2Btag@dest.example")
        #expect(rr.originalRecipientDecoded == "alice+tag@dest.example")
        #expect(rr.action == .failed)
        #expect(!rr.actionInferred)
        #expect(rr.status?.description == "5.1.1")
        #expect(!rr.statusIsPseudo)
        #expect(rr.remoteMTA?.value == "store.dest.example")
        #expect(rr.diagnosticType == "smtp")
        #expect(rr.diagnostic == "550-5.1.1 mailbox unknown (really) 550 5.1.1 see https://dest.example/help")
        #expect(rr.finalLogID == "4ABC")
        #expect(rr.extraFields["x-actual-recipient"] == "rfc822; alice@store.dest.example")
        #expect(r.returnedHeaders?.messageID == "k3v9x2q8m4tz7c1bh6n0wr5d@return.example")
        #expect(r.returnedHeaders?.roundtripProbe == "k3v9x2q8m4tz7c1bh6n0wr5d")
        #expect(r.returnedHeaders?.subject == "roundtrip probe k3v9x2q8m4tz7c1bh6n0wr5d")
        #expect(r.returnedHeaders?.source == .rfc822Headers)
        #expect(r.envelope.to == ["roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example"])
        #expect(r.envelope.deliveredTo == ["roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example"])
        #expect(r.envelope.xOriginalTo == ["roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example"])
        #expect(r.envelope.returnPath == nil)
    }

    @Test("lenient fields: case, type prefixes, angle brackets, missing blank line, unknown actions")
    func lenient() throws {
        let r = try parse(
            """
            Content-Type: multipart/report; report-type=delivery-status; boundary=x

            --x
            Content-Type: message/delivery-status

            reporting-mta: dsn; mta.example
            FINAL-RECIPIENT: RFC822;<a@x.example>
            ACTION: Failed (permanent)
            status: 5.7.606
            final-recipient: rfc822; b@x.example
            Action: expired
            Status: 4.4.7
            Final-Recipient: rfc822; c@x.example
            Action: deliverable
            Status: 2.1.5
            Final-Recipient: rfc822; d@x.example
            Action: whatever
            Status: 4.2.2
            Diagnostic-Code: no type here
            --x--
            """)
        #expect(r.recipients.map(\.address) == ["a@x.example", "b@x.example", "c@x.example", "d@x.example"])
        #expect(r.recipients.map(\.action) == [.failed, .failed, .delivered, .delayed])
        #expect(r.recipients.map(\.actionInferred) == [false, true, true, true])
        #expect(r.recipients[0].status?.description == "5.7.606")
        #expect(r.recipients[3].diagnosticType == "unknown")
        #expect(r.recipients[3].diagnostic == "no type here")
    }

    @Test(
        "status from the reply code is a flagged guess (protocol-notes §4 table)",
        arguments: [
            ("550 mailbox unavailable", "5.0.0"), ("421 try later", "4.4.2"), ("452 too many recipients", "4.5.3"),
            ("452 insufficient storage", "4.3.1"), ("552 quota exceeded", "5.2.2"), ("552 message too big", "5.3.4"),
            ("553 bad address", "5.1.3"), ("535 auth failed", "5.7.8"), ("501 syntax", "5.5.4"),
            ("451 local error", "4.3.0"),
        ])
    func pseudoStatus(_ diagnostic: String, _ expected: String) throws {
        let r = try parse(
            """
            Content-Type: message/delivery-status

            Reporting-MTA: dns; m.example

            Final-Recipient: rfc822; a@x.example
            Action: failed
            Diagnostic-Code: smtp; \(diagnostic)
            """)
        #expect(r.kind == .dsnPartWithoutReport)
        #expect(r.recipients.first?.status?.description == expected)
        #expect(r.recipients.first?.statusIsPseudo == true)
    }

    @Test("a generic x.0.0 Status yields to the remote's specific code in the diagnostic")
    func genericStatus() throws {
        let r = try parse(
            """
            Content-Type: message/delivery-status

            Reporting-MTA: dns; m.example

            Final-Recipient: rfc822; a@x.example
            Action: failed
            Status: 5.0.0
            Diagnostic-Code: smtp; 5.1.0 - Unknown address error 550-'5.7.1 access denied'
            """)
        #expect(r.recipients.first?.status?.description == "5.7.1")
        #expect(r.recipients.first?.diagnosticStatus?.description == "5.7.1")
    }

    @Test("report nested in multipart/mixed, QP and base64 encoded status parts, misspelled header part type")
    func nestedAndEncoded() throws {
        let ds =
            "Reporting-MTA: dns; m.example\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
        let b64 = Base64.encode(Array(ds.utf8))
        let r = try parse(
            """
            Content-Type: multipart/mixed; boundary=outer

            --outer
            Content-Type: text/plain

            forwarded report below
            --outer
            Content-Type: multipart/report; report-type=delivery-status; boundary=inner

            --inner
            Content-Type: message/delivery-status
            Content-Transfer-Encoding: base64

            \(b64)
            --inner
            Content-Type: text/rfc822-header

            Message-ID: <probe@return.example>
            --inner--
            --outer--
            """)
        #expect(r.kind == .rfc3464)
        #expect(r.recipients.first?.action == .delayed)
        #expect(r.recipients.first?.status?.description == "4.4.1")
        #expect(r.returnedHeaders?.messageID == "probe@return.example")

        let qp = try parse(
            """
            Content-Type: multipart/report; report-type=delivery-status; boundary=b

            --b
            Content-Type: message/delivery-status
            Content-Transfer-Encoding: quoted-printable

            Reporting-MTA: dns; m.example

            Final-Recipient: rfc822; a=3Db@x.example
            Action: failed
            Status: 5.1.1
            Diagnostic-Code: smtp; 550 5.1.1 a very long line that was =
            soft-broken
            --b--
            """)
        #expect(qp.recipients.first?.address == "a=b@x.example")
        #expect(qp.recipients.first?.diagnostic == "550 5.1.1 a very long line that was soft-broken")
    }

    @Test("a report forwarded as message/rfc822 is found")
    func forwardedReport() throws {
        let r = try parse(
            """
            From: admin@x.example
            Subject: Fwd: bounce
            Content-Type: multipart/mixed; boundary=o

            --o
            Content-Type: text/plain

            FYI
            --o
            Content-Type: message/rfc822

            From: MAILER-DAEMON@m.example
            Content-Type: multipart/report; report-type=delivery-status; boundary=i

            --i
            Content-Type: message/delivery-status

            Reporting-MTA: dns; m.example

            Final-Recipient: rfc822; a@x.example
            Action: failed
            Status: 5.2.2
            --i--
            --o--
            """)
        #expect(r.kind == .rfc3464)
        #expect(r.recipients.first?.status?.description == "5.2.2")
    }

    @Test("RFC 6533: global delivery status, utf-8 address type with \\x{} escapes, raw UTF-8, message/global-headers")
    func global() throws {
        let r = try parse(
            """
            Content-Type: multipart/report; report-type=global-delivery-status; boundary=g

            --g
            Content-Type: message/global-delivery-status

            Reporting-MTA: dns; m.example

            Original-Recipient: utf-8; j\\x{F6}rg@b\\x{FC}cher.example
            Final-Recipient: utf-8; jörg@bücher.example
            Action: failed
            Status: 5.1.1
            --g
            Content-Type: message/global-headers

            Subject: =?utf-8?q?Pr=C3=BCfung?=
            Message-ID: <p@return.example>
            --g--
            """)
        #expect(r.kind == .rfc6533)
        let rr = try #require(r.recipients.first)
        #expect(rr.address == "jörg@bücher.example")
        #expect(rr.originalRecipientDecoded == "jörg@bücher.example")
        #expect(r.returnedHeaders?.subject == "Prüfung")
        #expect(r.returnedHeaders?.source == .globalHeaders)
    }

    @Test("a returned message/rfc822 gives the returned headers")
    func returnedMessage() throws {
        let r = try parse(
            """
            Content-Type: multipart/report; report-type=delivery-status; boundary=b

            --b
            Content-Type: message/delivery-status

            Reporting-MTA: dns; m.example

            Final-Recipient: rfc822; a@x.example
            Action: delivered
            Status: 2.0.0
            --b
            Content-Type: message/rfc822

            Message-ID: <tok@return.example>
            X-Roundtrip-Probe: tok
            Subject: probe

            body
            --b--
            """)
        #expect(r.recipients.first?.action == .delivered)
        #expect(r.returnedHeaders?.source == .rfc822Message)
        #expect(r.returnedHeaders?.roundtripProbe == "tok")
    }

    @Test("ARF complaints, MDNs, auto-replies and plain mail are not reports")
    func notReports() throws {
        let arf = try parse(
            """
            Content-Type: multipart/report; report-type=feedback-report; boundary=f

            --f
            Content-Type: message/feedback-report

            Feedback-Type: abuse
            --f--
            """)
        #expect(arf.kind == .notAReport(reason: .feedbackReport))
        let mdn = try parse(
            """
            Content-Type: multipart/report; report-type=disposition-notification; boundary=m

            --m
            Content-Type: message/disposition-notification

            Disposition: manual-action/MDN-sent-manually; displayed
            --m--
            """)
        #expect(mdn.kind == .notAReport(reason: .dispositionNotification))
        let vacation = try parse(
            "From: bob@x.example\nAuto-Submitted: auto-replied\nSubject: Out of office\n\nI am away, write to carol@x.example.\n"
        )
        #expect(vacation.kind == .notAReport(reason: .autoReply))
        let plain = try parse("From: bob@x.example\nSubject: lunch?\n\nsee you at noon\n")
        #expect(plain.kind == .notAReport(reason: .plainMail))
        #expect(plain.recipients.isEmpty)
    }

    @Test(
        "empty, garbage and truncated reports never crash",
        arguments: [
            "", "Content-Type: message/delivery-status\n\n",
            "Content-Type: message/delivery-status\n\nFinal-Recipient:\n",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;",
            "Status: 5.1.1\n\n\n", "From: MAILER-DAEMON\n\n<@>:\n", "\u{FF}\u{FE}\u{0}",
        ])
    func garbage(_ s: String) throws {
        _ = try parse(s)
    }

    @Test("50 MiB messages are rejected with an error")
    func tooLarge() {
        let big = [UInt8](repeating: 0x0A, count: 50 * 1024 * 1024 + 10)
        #expect(throws: MIMELimitError.self) { try DeliveryReportParser.parse(big) }
    }
}

@Suite("RFC3464Builder round trip")
struct RFC3464BuilderTests {
    @Test("build → parse gives the same fields", arguments: [false, true])
    func roundTrip(_ global: Bool) throws {
        let date = MessageDate(secondsSince1970: 1_741_079_527, zoneOffsetMinutes: 0)
        let builder = RFC3464Builder(
            reportingMTA: "sim.return.example", from: "MAILER-DAEMON@sim.return.example",
            to: "roundtrip+tok@return.example", messageID: "r1@sim.return.example", date: date, boundary: "=_b_1",
            originalEnvelopeID: "tok", arrivalDate: date,
            recipients: [
                .init(
                    finalRecipient: "alice@dest.example", originalRecipient: "alice@dest.example", action: .failed,
                    status: StatusCode(statusClass: 5, subject: 1, detail: 1), remoteMTA: "mx.dest.example",
                    diagnostic: "550 5.1.1 unknown user"),
                .init(
                    finalRecipient: global ? "jörg@dest.example" : "bob@dest.example", action: .delayed,
                    status: StatusCode(statusClass: 4, subject: 2, detail: 2), willRetryUntil: date),
                .init(
                    finalRecipient: "carol@dest.example", action: .delivered,
                    status: StatusCode(statusClass: 2, subject: 0, detail: 0)),
            ],
            returnedHeader: Array("Message-ID: <tok@return.example>\nX-Roundtrip-Probe: tok\nSubject: probe\n\n".utf8),
            global: global)
        let bytes = builder.build()
        #expect(!bytes.contains(0x0A) || zip(bytes, bytes.dropFirst()).allSatisfy { $0.1 != 0x0A || $0.0 == 0x0D })
        let r = try DeliveryReportParser.parse(bytes)
        #expect(r.kind == (global ? .rfc6533 : .rfc3464))
        #expect(r.originalEnvelopeID == "tok")
        #expect(r.reportingMTA?.value == "sim.return.example")
        #expect(r.arrivalDate == date)
        #expect(
            r.recipients.map(\.address) == [
                "alice@dest.example", global ? "jörg@dest.example" : "bob@dest.example", "carol@dest.example",
            ])
        #expect(r.recipients.map(\.action) == [.failed, .delayed, .delivered])
        #expect(r.recipients.map { $0.status?.description } == ["5.1.1", "4.2.2", "2.0.0"])
        #expect(r.recipients[0].remoteMTA?.value == "mx.dest.example")
        #expect(r.recipients[0].diagnostic == "550 5.1.1 unknown user")
        #expect(r.recipients[0].originalRecipientDecoded == "alice@dest.example")
        #expect(r.recipients[1].willRetryUntil == date)
        #expect(r.returnedHeaders?.messageID == "tok@return.example")
        #expect(r.returnedHeaders?.roundtripProbe == "tok")
        #expect(r.envelope.to == ["roundtrip+tok@return.example"])
    }

    @Test("header injection is neutralised")
    func injection() throws {
        let date = MessageDate(secondsSince1970: 0, zoneOffsetMinutes: 0)
        let b = RFC3464Builder(
            reportingMTA: "m.example", from: "a@b", to: "c@d\r\nBcc: evil@x", messageID: "i@m",
            date: date, boundary: "b", recipients: [])
        let (h, _) = HeaderSection.parse(b.build()[...])
        #expect(h["bcc"] == nil)
    }
}

@Suite("Hostile input stays fast")
struct HostileInputTests {
    static func timed(_ s: String) throws -> Duration {
        let bytes = Array(s.utf8)
        let clock = ContinuousClock()
        return try clock.measure { _ = try DeliveryReportParser.parse(bytes) }
    }

    @Test("many header-like lines in a bounce body")
    func headerLikeLines() throws {
        let body = String(repeating: "to: someone\n", count: 60_000)
        #expect(try Self.timed("From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n" + body) < .seconds(10))
    }

    @Test("unclosed HTML tags")
    func unclosedTags() throws {
        let body = String(repeating: "<", count: 300_000)
        #expect(try Self.timed("From: MAILER-DAEMON@x.example\nContent-Type: text/html\n\n" + body) < .seconds(10))
    }

    @Test("a delivery-status part with a flood of fields")
    func fieldFlood() throws {
        let fields = String(repeating: "Reporting-MTA: dns; x\n", count: 60_000)
        let s =
            "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@x.example\nAction: failed\n" + fields
        #expect(try Self.timed(s) < .seconds(10))
    }

    @Test("one long line full of addresses")
    func addressLine() throws {
        let line = String(repeating: "recipient: a@b.example ", count: 30_000)
        #expect(
            try Self.timed("From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail\n\n" + line + "\n") < .seconds(10))
    }

    /// Postfix answers a probe for 5,000 recipients with one success DSN that lists them all,
    /// in its text and in its machine part: the text is read once, not once per recipient.
    @Test("a success DSN for 5,000 recipients, listed in the text and the machine part")
    func thousandsOfRecipients() throws {
        let n = 5000
        let text = (1...n).map { "<u\($0)@dest.example>: delivery via virtual: delivered to maildir" }
        let groups = (1...n).map {
            "Final-Recipient: rfc822; u\($0)@dest.example\nOriginal-Recipient: rfc822;u\($0)@dest.example\nAction: delivered\nStatus: 2.0.0\n"
        }
        let s = """
            From: MAILER-DAEMON@mx.example
            Subject: Successful Mail Delivery Report
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: text/plain

            This is the mail system at host mx.example.

            Your message was successfully delivered to the destination(s)
            listed below.

            \(text.joined(separator: "\n\n"))

            --b
            Content-Type: message/delivery-status

            Reporting-MTA: dns; mx.example

            \(groups.joined(separator: "\n"))
            --b--
            """
        var report: DeliveryReport?
        let took = try ContinuousClock().measure { report = try DeliveryReportParser.parse(Array(s.utf8)) }
        #expect(report?.recipients.count == n)
        #expect(report?.recipients.allSatisfy { $0.action == .delivered } == true)
        #expect(took < .seconds(10))
    }
}
