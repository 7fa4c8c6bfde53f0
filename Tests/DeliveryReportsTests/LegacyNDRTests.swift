import DeliveryReports
import MailCore
import Testing

private func parse(_ s: String) throws -> DeliveryReport {
    try DeliveryReportParser.parse(Array(s.utf8))
}

@Suite("Legacy NDR recognisers")
struct LegacyNDRTests {
    @Test("qmail: literal status in the text")
    func qmail() throws {
        let r = try parse(
            """
            From: MAILER-DAEMON@mx.example.jp
            To: roundtrip+tok@return.example
            Subject: failure notice

            Hi. This is the qmail-send program at mx.example.jp.
            I'm afraid I wasn't able to deliver your message to the following addresses.
            This is a permanent error; I've given up. Sorry it didn't work out.

            <kijitora@example.ne.jp>:
            remote host 192.0.2.32 said: 550 Unknown user kijitora@example.ne.jp (#5.1.1)

            --- Below this line is a copy of the message.

            Message-ID: <tok@return.example>
            Subject: probe tok
            """)
        #expect(r.kind == .legacy(family: "qmail"))
        let rr = try #require(r.recipients.first)
        #expect(r.recipients.count == 1)
        #expect(rr.address == "kijitora@example.ne.jp")
        #expect(rr.action == .failed)
        #expect(rr.status?.description == "5.1.1")
        #expect(!rr.statusIsPseudo)
        #expect(r.returnedHeaders?.messageID == "tok@return.example")
        #expect(r.returnedHeaders?.source == .inlineText)
    }

    @Test("Exim: two recipients, pseudo status from the reply code")
    func exim() throws {
        let r = try parse(
            """
            From: Mail Delivery System <Mailer-Daemon@mx.example.org>
            Subject: Mail delivery failed: returning message to sender

            This message was created automatically by mail delivery software.

            A message that you sent could not be delivered to one or more of its
            recipients. This is a permanent error. The following address(es) failed:

              a@example.jp
                SMTP error from remote mail server after RCPT TO:<a@example.jp>:
                host mx.example.jp [192.0.2.20]: 550 Unknown user
              b@example.jp
                SMTP error from remote mail server after RCPT TO:<b@example.jp>:
                host mx.example.jp [192.0.2.20]: 552 mailbox quota exceeded

            ------ This is a copy of the message, including all the headers. ------
            Subject: x
            """)
        #expect(r.kind == .legacy(family: "exim"))
        #expect(r.recipients.map(\.address) == ["a@example.jp", "b@example.jp"])
        #expect(r.recipients.map { $0.status?.description } == ["5.0.0", "5.2.2"])
        #expect(r.recipients.allSatisfy { $0.statusIsPseudo })
        #expect(r.recipients[0].remoteMTA?.value == "mx.example.jp")
    }

    @Test("Exim delay warning is delayed")
    func eximDelay() throws {
        let r = try parse(
            """
            From: Mail Delivery System <Mailer-Daemon@mx.example.org>
            Subject: Warning: message 1abc delayed 24 hours

            This message was created automatically by mail delivery software.
            A message that you sent has not yet been delivered to one or more of its
            recipients after more than 24 hours on the queue on mx.example.org.

              late@example.jp
                Delay reason: SMTP error from remote mail server after RCPT TO:<late@example.jp>:
                host mx.example.jp [192.0.2.20]: 451 4.7.1 greylisted

            No action is required on your part.
            """)
        #expect(r.recipients.first?.action == .delayed)
        #expect(r.recipients.first?.status?.description == "4.7.1")
    }

    @Test("Postfix without a delivery-status part, CRLF line ends")
    func postfix() throws {
        let r = try parse(
            """
            From: MAILER-DAEMON@smtp.example.ne.jp (Mail Delivery System)
            Subject: Undelivered Mail Returned to Sender

            This is the mail system at host smtp.example.ne.jp.

            I'm sorry to have to inform you that your message could not
            be delivered to one or more recipients.

            <user@example.or.jp>: host mx.example.or.jp[192.0.2.22] said: 550 5.1.1
                <user@example.or.jp>: Recipient address rejected: User unknown (in reply to RCPT TO command)
            """.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(r.kind == .legacy(family: "postfix"))
        #expect(r.recipients.first?.address == "user@example.or.jp")
        #expect(r.recipients.first?.status?.description == "5.1.1")
    }

    @Test("Exchange / Office 365 text NDR")
    func exchange() throws {
        let r = try parse(
            """
            From: postmaster@contoso.example
            Subject: Undeliverable: probe
            Content-Type: text/plain; charset=utf-8

            Delivery has failed to these recipients or groups:

            alice@contoso.example
            The email address you entered couldn't be found.

            Diagnostic information for administrators:

            Generating server: mail.contoso.example

            alice@contoso.example
            Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

            Original message headers:

            Message-ID: <tok@return.example>
            """)
        #expect(r.kind == .legacy(family: "exchange"))
        #expect(r.recipients.map(\.address) == ["alice@contoso.example"])
        #expect(r.recipients.first?.status?.description == "5.1.10")
    }

    @Test("Courier text NDR")
    func courier() throws {
        let r = try parse(
            """
            From: Courier mail server at mx.example.jp <@>
            Subject: NOTICE: mail delivery status.

            This is a delivery status notification from mx.example.jp,
            running the Courier mail server, version 0.65.2.

                                       UNDELIVERABLE MAIL

            Your message to the following recipients cannot be delivered:

            <kijitora@example.jp>:
                mx.example.jp [192.0.2.2]:
            >>> RCPT TO:<kijitora@example.jp>
            <<< 550 5.1.1 <kijitora@example.jp>... User Unknown
            """)
        #expect(r.kind == .legacy(family: "courier"))
        #expect(r.recipients.map(\.address) == ["kijitora@example.jp"])
        #expect(r.recipients.first?.status?.description == "5.1.1")
    }

    @Test("every registered recogniser has a family name and the registry is an array")
    func registry() {
        #expect(!LegacyNDR.registry.isEmpty)
        #expect(Set(LegacyNDR.registry.map(\.family)).count == LegacyNDR.registry.count)
        // The catch-alls come last: the daemon-sender catch-all, then failure texts with a written code.
        #expect(LegacyNDR.registry.suffix(2).map(\.family) == ["generic", "failure-text"])
    }
}
