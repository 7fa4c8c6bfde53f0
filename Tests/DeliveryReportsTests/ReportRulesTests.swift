import DeliveryReports
import MailCore
import Testing

private func parse(_ s: String) throws -> DeliveryReport {
    try DeliveryReportParser.parse(Array(s.utf8))
}

/// A multipart/report around the given delivery-status body (and optional text part).
private func dsn(_ status: String, text: String = "Delivery report.", extraHeaders: String = "") -> String {
    """
    From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
    To: sender@return.example
    Subject: Delivery Status Notification
    \(extraHeaders)MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status; boundary="b"

    --b
    Content-Type: text/plain

    \(text)
    --b
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mx.example.org

    \(status)
    --b
    Content-Type: text/rfc822-headers

    From: sender@return.example
    To: alice@dest.example
    Message-ID: <m1@return.example>
    Subject: probe

    --b--
    """
}

/// A text-only notice from a daemon with the given subject and body.
private func notice(
    subject: String, body: String, from: String = "Mail Delivery System <MAILER-DAEMON@mx.example.org>",
    extraHeaders: String = ""
) -> String {
    """
    From: \(from)
    To: sender@return.example
    Subject: \(subject)
    \(extraHeaders)
    \(body)
    """
}

@Suite("Report rules: RFC 3464 groups")
struct RFC3464GroupRuleTests {
    @Test("Exim 4.96 field order in one group is one recipient with all its fields")
    func eximOrder() throws {
        let r = try parse(
            dsn(
                """
                Original-Recipient: rfc822;alice@dest.example
                Action: failed
                Final-Recipient: rfc822;alice@dest.example
                Status: 5.0.0
                Remote-MTA: dns; mx.dest.example
                Diagnostic-Code: smtp; 550 5.1.1 no such user
                """))
        #expect(r.recipients.count == 1)
        let rr = try #require(r.recipients.first)
        #expect(rr.address == "alice@dest.example")
        #expect(rr.action == .failed)
        #expect(rr.remoteMTA?.value == "mx.dest.example")
        #expect(rr.diagnostic == "550 5.1.1 no such user")
        #expect(rr.status?.description == "5.1.1")
    }

    @Test("field order is free: Status and Action before the address")
    func orderFree() throws {
        let r = try parse(
            dsn(
                """
                Status: 4.4.1
                Action: delayed
                Diagnostic-Code: smtp; 451 try later
                Final-Recipient: rfc822; bob@dest.example
                """))
        #expect(r.recipients.count == 1)
        #expect(r.recipients.first?.action == .delayed)
        #expect(r.recipients.first?.address == "bob@dest.example")
        #expect(r.recipients.first?.diagnostic == "451 try later")
    }

    @Test("groups separated by blank lines are separate recipients, Exim order")
    func twoGroups() throws {
        let r = try parse(
            dsn(
                """
                Original-Recipient: rfc822;a@dest.example
                Action: failed
                Final-Recipient: rfc822;a@dest.example
                Status: 5.0.0

                Original-Recipient: rfc822;b@dest.example
                Action: delivered
                Final-Recipient: rfc822;b@dest.example
                Status: 2.0.0
                """))
        #expect(r.recipients.map(\.address) == ["a@dest.example", "b@dest.example"])
        #expect(r.recipients.map(\.action) == [.failed, .delivered])
    }

    @Test("a repeated field in one group starts the next recipient (lost blank line)")
    func repeatedField() throws {
        let r = try parse(
            dsn(
                """
                Final-Recipient: rfc822; a@dest.example
                Action: failed
                Status: 5.1.1
                Final-Recipient: rfc822; b@dest.example
                Action: delayed
                Status: 4.2.2
                """))
        #expect(r.recipients.map(\.address) == ["a@dest.example", "b@dest.example"])
        #expect(r.recipients.map(\.action) == [.failed, .delayed])
        #expect(r.recipients.map { $0.status?.description } == ["5.1.1", "4.2.2"])
    }

    @Test("two groups naming one recipient are one record; the first group's fields win")
    func duplicateGroups() throws {
        let r = try parse(
            dsn(
                """
                Final-Recipient: rfc822; a@dest.example
                Action: failed
                Status: 5.1.1

                Final-Recipient: rfc822; A@DEST.EXAMPLE
                Action: delayed
                Status: 4.0.0
                Remote-MTA: dns; mx.dest.example
                Diagnostic-Code: smtp; 550 5.1.1 unknown
                """))
        #expect(r.recipients.count == 1)
        let rr = try #require(r.recipients.first)
        #expect(rr.action == .failed)
        #expect(rr.status?.description == "5.1.1")
        #expect(rr.remoteMTA?.value == "mx.dest.example")
        #expect(rr.diagnostic == "550 5.1.1 unknown")
    }

    @Test("the text naming the DSN's recipient adds no second record and may fill the diagnostic")
    func textFillsOnlyMissing() throws {
        let r = try parse(
            dsn(
                """
                Final-Recipient: rfc822; alice@dest.example
                Action: failed
                Status: 5.0.0
                """,
                text: """
                    This is the mail system at host mx.example.org.

                    <alice@dest.example>: host mx.dest.example[192.0.2.1] said: 550 5.1.1 unknown user
                    """))
        #expect(r.kind == .rfc3464)
        #expect(r.recipients.count == 1)
        let rr = try #require(r.recipients.first)
        #expect(rr.action == .failed)
        // The filled diagnostic is read like a Diagnostic-Code: 5.0.0 yields to its 5.1.1.
        #expect(rr.status?.description == "5.1.1")
        #expect(rr.diagnostic?.hasSubstring("550 5.1.1 unknown user") == true)
    }

    @Test("the text never overrides a written diagnostic")
    func textDoesNotOverride() throws {
        let r = try parse(
            dsn(
                """
                Final-Recipient: rfc822; alice@dest.example
                Action: failed
                Status: 5.2.2
                Diagnostic-Code: smtp; 552 mailbox full
                """,
                text: """
                    <alice@dest.example>: 550 5.1.1 something else entirely
                    """))
        #expect(r.recipients.count == 1)
        #expect(r.recipients.first?.diagnostic == "552 mailbox full")
        #expect(r.recipients.first?.status?.description == "5.2.2")
    }
}

@Suite("Report rules: address forms")
struct AddressFormRuleTests {
    @Test(
        "address forms reduce to the plain mailbox",
        arguments: [
            ("rfc822; alice@dest.example", "alice@dest.example"),
            ("RFC822;<alice@dest.example>", "alice@dest.example"),
            ("rfc/822; alice@dest.example", "alice@dest.example"),
            ("rfc/822;alice@dest.example", "alice@dest.example"),
            ("RFC-822; alice@dest.example", "alice@dest.example"),
            ("rfc 822 ; <alice@dest.example>", "alice@dest.example"),
            ("rfc822; <@relay.example:alice@dest.example>", "alice@dest.example"),
            ("rfc822; @relay.example:alice@dest.example", "alice@dest.example"),
            ("rfc822; @r1.example,@r2.example:alice@dest.example", "alice@dest.example"),
            ("rfc822; \"alice\"@dest.example", "alice@dest.example"),
            ("rfc822; <\"alice.smith\"@dest.example>", "alice.smith@dest.example"),
            ("rfc822; \"alice smith\"@dest.example", "\"alice smith\"@dest.example"),
            ("alice@dest.example", "alice@dest.example"),
        ])
    func forms(_ field: String, _ expected: String) throws {
        let r = try parse(
            dsn(
                """
                Final-Recipient: \(field)
                Action: failed
                Status: 5.1.1
                """))
        #expect(r.recipients.count == 1)
        #expect(r.recipients.first?.address == expected)
    }

    @Test("the mistyped type is normalised", arguments: ["rfc/822", "RFC-822", "Rfc 822", "rfc822"])
    func type(_ t: String) throws {
        let r = try parse(dsn("Final-Recipient: \(t); a@dest.example\nAction: failed\nStatus: 5.1.1"))
        #expect(r.recipients.first?.finalRecipient?.type == "rfc822")
    }

    @Test("Original-Recipient forms decode to the plain mailbox")
    func original() throws {
        let r = try parse(
            dsn(
                """
                Original-Recipient: rfc/822; <@relay.example:al+2Bice@dest.example>
                Final-Recipient: rfc822; x@dest.example
                Action: failed
                Status: 5.1.1
                """))
        #expect(r.recipients.first?.originalRecipientDecoded == "al+ice@dest.example")
    }

    @Test("legacy text addresses in angle brackets and quotes reduce to the mailbox")
    func legacyForms() throws {
        let r = try parse(
            notice(
                subject: "Undelivered Mail Returned to Sender",
                body: """
                    This is the mail system at host mx.example.org.

                    <bob@dest.example>: host mx.dest.example[192.0.2.1] said: 550 5.1.1 unknown user
                    """))
        #expect(r.recipients.map(\.address) == ["bob@dest.example"])
    }
}

@Suite("Report rules: X-Failed-Recipients and the original sender")
struct FailedRecipientsRuleTests {
    @Test("X-Failed-Recipients names the failed recipient, not the sender greeted in the text")
    func groupNotice() throws {
        let r = try parse(
            notice(
                subject: "Delivery Status Notification (Failure)",
                body: """
                    Hello sender@return.example,

                    We're writing to let you know that the group you tried to contact (team) may not exist,
                    or you may not have permission to post messages to the group.

                    ----- Original message -----
                    From: sender@return.example
                    To: team@groups.example
                    Subject: hello
                    Message-ID: <m2@return.example>
                    """, from: "Mail Delivery Subsystem <mailer-daemon@mail.example>",
                extraHeaders: "X-Failed-Recipients: team@groups.example\n"))
        #expect(r.kind.isReport)
        #expect(r.recipients.map(\.address) == ["team@groups.example"])
        #expect(r.recipients.first?.action == .failed)
    }

    @Test("X-Failed-Recipients adds the recipients the text does not list; the text's list is kept")
    func addsToText() throws {
        let r = try parse(
            notice(
                subject: "Mail delivery failed: returning message to sender",
                body: """
                    This message was created automatically by mail delivery software.

                    A message that you sent could not be delivered to one or more of its
                    recipients. This is a permanent error. The following address(es) failed:

                      b@dest.example
                        host mx.dest.example [192.0.2.2]: 550 5.1.1 unknown
                    """, extraHeaders: "X-Failed-Recipients: a@dest.example,\n b@dest.example\n"))
        #expect(r.recipients.map(\.address) == ["b@dest.example", "a@dest.example"])
        #expect(r.recipients.first?.status?.description == "5.1.1")
        #expect(r.recipients.first?.diagnostic?.hasSubstring("550 5.1.1 unknown") == true)
        #expect(r.recipients.last?.action == .failed)
    }

    @Test("the returned message's From is not the failed recipient when another address is named")
    func returnedSenderExcluded() throws {
        let r = try parse(
            notice(
                subject: "Undeliverable: hello",
                body: """
                    Your message could not be delivered.

                    owner@lists.example  (from author@return.example)
                    550 5.7.1 posting refused

                    ----- Original message -----
                    From: author@return.example
                    To: owner@lists.example
                    Message-ID: <m3@return.example>
                    Subject: hello
                    """))
        #expect(r.recipients.map(\.address) == ["owner@lists.example"])
    }

    @Test("a delivery-status part without fields takes X-Failed-Recipients before the returned To")
    func emptyStatusPart() throws {
        let r = try parse(
            """
            From: MAILER-DAEMON@mx.example.org
            X-Failed-Recipients: real@dest.example
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"

            --b
            Content-Type: text/plain

            Sorry.
            --b
            Content-Type: message/delivery-status

            --b
            Content-Type: text/rfc822-headers

            From: sender@return.example
            To: list@dest.example
            Message-ID: <m4@return.example>

            --b--
            """)
        #expect(r.recipients.map(\.address) == ["real@dest.example", "list@dest.example"])
        #expect(r.recipients.map { $0.extraFields["x-recipient-source"] } == ["x-failed-recipients", "returned-to"])
    }
}

@Suite("Report rules: delay versus final failure in legacy text")
struct LegacyActionRuleTests {
    static let head = "This message was created automatically by mail delivery software.\n\n"

    @Test(
        "the report's own words decide",
        arguments: [
            (
                "Warning: message 1abc delayed 24 hours",
                "A message that you sent has not yet been delivered to one or more of its recipients.\n  a@dest.example\n    host mx.dest.example: 451 try later\nNo action is required on your part.",
                DeliveryAction.delayed
            ),
            (
                "Mail delivery failed",
                "could not be delivered to one or more of its recipients. This is a permanent error.\n  a@dest.example\n    retry timeout exceeded",
                .failed
            ),
            (
                "Returned mail: see transcript for details",
                "   ----- The following addresses had permanent fatal errors -----\n<a@dest.example>\n    (reason: 550 5.1.1 unknown)",
                .failed
            ),
            (
                "Warning: could not send message for past 4 hours",
                "    **      THIS IS A WARNING MESSAGE ONLY      **\n    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n\n<a@dest.example>\n  451 4.4.1 no answer\nWill keep trying until message is 5 days old",
                .delayed
            ),
            (
                "Returned mail: Cannot send message for 5 days",
                "Message could not be delivered for 5 days\n<a@dest.example>\n  451 4.4.1 no answer",
                .failed
            ),
            (
                "Delayed Mail (still being retried)",
                "This is the mail system at host mx.example.org.\n# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\nYour message could not be delivered for more than 4 hour(s).\nIt will be retried until it is 5 day(s) old.\n<a@dest.example>: connect to mx.dest.example: Connection timed out",
                .delayed
            ),
            (
                "failure notice",
                "I'm afraid I wasn't able to deliver your message to the following addresses.\n<a@dest.example>:\nI'm not going to try again; this message has been in the queue too long.",
                .failed
            ),
            (
                "Delivery status notification: delayed",
                "    Please note that this is only a temporary failure report.\n    A message is delayed for more than 4 hours for the following recipients:\n\na@dest.example: 421 try again",
                .delayed
            ),
            (
                "Undeliverable: hello",
                "Delivery is delayed to these recipients or groups:\n\na@dest.example\n",
                .delayed
            ),
            (
                "Warning: message delayed",
                "a@dest.example\n  host mx.dest.example said 451 busy",
                .delayed
            ),
            (
                "Undelivered Mail Returned to Sender",
                "a@dest.example\n  host mx.dest.example said 550 no",
                .failed
            ),
            (
                "Mail delivery failed",
                "giving up on a@dest.example after 5 days; the message will be retried no more",
                .failed
            ),
        ])
    func decide(_ subject: String, _ body: String, _ expected: DeliveryAction) throws {
        let r = try parse(notice(subject: subject, body: Self.head + body))
        #expect(r.kind.isReport)
        #expect(r.recipients.first?.address == "a@dest.example")
        #expect(r.recipients.first?.action == expected)
    }

    @Test("a give-up after retrying without a written status is 4.4.7")
    func expiredStatus() throws {
        let r = try parse(
            notice(
                subject: "failure notice",
                body: """
                    I'm afraid I wasn't able to deliver your message to the following addresses.
                    <a@dest.example>:
                    I'm not going to try again; this message has been in the queue too long.
                    """))
        #expect(r.recipients.first?.action == .failed)
        #expect(r.recipients.first?.status?.description == "4.4.7")
        #expect(r.recipients.first?.statusIsPseudo == true)
    }

    @Test("words in the returned message do not count")
    func returnedWordsIgnored() throws {
        let r = try parse(
            notice(
                subject: "Undelivered Mail Returned to Sender",
                body: """
                    This is the mail system at host mx.example.org.

                    <a@dest.example>: host mx.dest.example[192.0.2.1] said: 550 5.1.1 unknown user

                    --- Below this line is a copy of the message.

                    Subject: we will retry tomorrow, delivery is delayed
                    """))
        #expect(r.recipients.first?.action == .failed)
    }
}

@Suite("Report rules: notice shapes")
struct NoticeShapeRuleTests {
    @Test("Mailman rejection: the list address is the failed recipient")
    func mailman() throws {
        let r = try parse(
            """
            From: team-owner@lists.example
            To: author@return.example
            Subject: Your message to Team was rejected
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="m"

            --m
            Content-Type: text/plain

            Hello author@return.example,

            Your message to the team@lists.example mailing list was rejected for the following reasons:

            Non-members are not allowed to post.

            The original message as received by Mailman is attached.
            --m
            Content-Type: message/rfc822

            From: author@return.example
            To: team@lists.example
            Subject: hello
            Message-ID: <m5@return.example>

            hello
            --m--
            """)
        #expect(r.kind == .legacy(family: "mailing-list"))
        #expect(r.recipients.map(\.address) == ["team@lists.example"])
        #expect(r.recipients.first?.action == .failed)
    }

    @Test("Sympa: not allowed to send to the list")
    func sympa() throws {
        let r = try parse(
            notice(
                subject: "Message distribution: Authorization denied",
                body: """
                    You are not allowed to send messages to list news@lists.example because you are not subscribed.
                    """, from: "sympa@lists.example"))
        #expect(r.recipients.map(\.address) == ["news@lists.example"])
    }

    @Test("an RFC 3834 auto-reply that carries a delivery failure with a written code is a report")
    func autoReplyWithFailure() throws {
        let r = try parse(
            notice(
                subject: "Automatic reply: hello",
                body: """
                    Your message could not be delivered to a@dest.example:
                    550 5.2.1 mailbox disabled
                    """, from: "Helpdesk <help@dest.example>", extraHeaders: "Auto-Submitted: auto-replied\n"))
        #expect(r.kind.isReport)
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.status?.description == "5.2.1")
    }

    @Test("a plain auto-reply stays not-a-report, even when it names addresses")
    func plainAutoReply() throws {
        let r = try parse(
            notice(
                subject: "Out of office",
                body: """
                    I am away until Monday. For urgent matters write to deputy@dest.example.
                    My message could not be delivered to everyone in time, sorry.
                    """, from: "Alice <a@dest.example>", extraHeaders: "Auto-Submitted: auto-replied\n"))
        #expect(r.kind == .notAReport(reason: .autoReply))
    }

    @Test("a failure text without a written code is not a report unless a daemon sent it")
    func failureTextNeedsCode() throws {
        let r = try parse(
            notice(
                subject: "about our talk",
                body: """
                    The parcel could not be delivered to bob@dest.example, the courier said.
                    """, from: "Carol <carol@friends.example>"))
        #expect(!r.kind.isReport)
    }

    @Test("Amazon SES delivery notification is a success record")
    func sesDelivery() throws {
        let r = try parse(
            notice(
                subject: "Amazon SES Email Event Notification",
                body: """
                    {"notificationType":"Delivery","mail":{"timestamp":"2026-01-01T00:00:00.000Z","source":"sender@return.example","destination":["a@dest.example"]},"delivery":{"timestamp":"2026-01-01T00:00:01.000Z","recipients":["a@dest.example"],"processingTimeMillis":500,"reportingMTA":"a1-2.smtp-out.amazonses.com","smtpResponse":"250 2.6.0 Message received"}}
                    """, from: "no-reply@sns.amazonaws.com"))
        #expect(r.kind == .legacy(family: "amazonses"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .delivered)
        #expect(r.recipients.first?.status?.description == "2.6.0")
    }

    @Test("Sendmail success notice section is delivered")
    func sendmailSuccess() throws {
        let r = try parse(
            notice(
                subject: "Return receipt",
                body: """
                       ----- The following addresses had successful delivery notifications -----
                    <a@dest.example>  (delivered to mailbox)
                    """))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .delivered)
    }
}

@Suite("Report rules: original recipients")
struct OriginalRecipientRuleTests {
    @Test("an x400 Final-Recipient yields to an rfc822 Original-Recipient (RFC 3464 §2.3.2)")
    func x400() throws {
        let r = try parse(
            dsn(
                """
                Original-Recipient: rfc822; zed@dest.example
                Final-Recipient: x400; /S=zed/OU=dest/PRMD=EX/ADMD= /C=GB/
                Action: failed
                Status: 5.1.1
                """))
        #expect(r.recipients.map(\.address) == ["zed@dest.example"])
        #expect(r.recipients.first?.finalRecipient?.type == "x400")
    }

    @Test("an rfc822 Final-Recipient stays the address even when the original differs")
    func finalWins() throws {
        let r = try parse(
            dsn(
                """
                Original-Recipient: rfc822; alias@dest.example
                Final-Recipient: rfc822; user@store.dest.example
                Action: failed
                Status: 5.2.2
                """))
        #expect(r.recipients.map(\.address) == ["user@store.dest.example"])
        #expect(r.recipients.first?.originalRecipientDecoded == "alias@dest.example")
    }

    @Test("Sendmail's \"(expanded from: …)\" gives the original recipient")
    func sendmailExpanded() throws {
        let r = try parse(
            notice(
                subject: "Returned mail: see transcript for details",
                body: """
                       ----- The following addresses had permanent fatal errors -----
                    user@store.dest.example
                        (expanded from: alias@dest.example)

                       ----- Transcript of session follows -----
                    554 5.4.6 Too many hops
                    """))
        #expect(r.recipients.map(\.address) == ["user@store.dest.example"])
        #expect(r.recipients.first?.originalRecipientDecoded == "alias@dest.example")
        #expect(r.recipients.first?.action == .failed)
    }

    @Test("PMDF \"Original address:\" gives the original recipient")
    func pmdfOriginal() throws {
        let r = try parse(
            notice(
                subject: "Delivery Notification: Delivery has failed",
                body: """
                    This report relates to a message you sent.

                      Recipient address: user@store.dest.example
                      Original address: alias@dest.example
                      Reason: recipient reached disk quota
                    """))
        #expect(r.recipients.first?.originalRecipientDecoded == "alias@dest.example")
    }
}

@Suite("Report rules: more families as data")
struct MoreFamilyRuleTests {
    @Test("MDaemon: a \"Warning:\" Subject over a no-such-user text is a final failure")
    func mdaemon() throws {
        let r = try parse(
            notice(
                subject: "Warning: a@dest.example - User unknown!",
                body: """
                    a@dest.example - no such user here.

                    There is no user by that name at this server.

                    : Message contains [1] file attachments
                    """, from: "MDaemon@mx.dest.example"))
        #expect(r.kind == .legacy(family: "mdaemon"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .failed)
    }

    @Test("a \"Non-Delivery\" notice from a non-daemon address is recognised by its Subject")
    func nonDelivery() throws {
        let r = try parse(
            notice(
                subject: "Non-Delivery: hello",
                body: """
                    --- Non-Delivery Report ---
                    The email below could not be delivered to the following user:
                    "a" <a@dest.example>
                    """, from: "<admin@dest.example>"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .failed)
    }
}

@Suite("Report rules: OpenSMTPD")
struct OpenSMTPDRuleTests {
    static func report(subject: String, text: String, action: String, status: String) -> String {
        """
        From: Mailer Daemon <MAILER-DAEMON@smtpd.example.org>
        To: sender@return.example
        Subject: Delivery status notification: \(subject)
        MIME-Version: 1.0
        Content-Type: multipart/mixed;boundary="42/smtpd.example.org"

        This is a MIME-encapsulated message.

        --42/smtpd.example.org
        Content-Description: Notification
        Content-Type: text/plain; charset=us-ascii

            Hi!

            This is the MAILER-DAEMON, please DO NOT REPLY to this email.

        \(text)
            Below is a copy of the original message:

        --42/smtpd.example.org
        Content-Description: Delivery Report
        Content-Type: message/delivery-status

        Reporting-MTA: dns; smtpd.example.org

        Final-Recipient: rfc822; a@dest.example
        Action: \(action)
        Status: \(status)

        --42/smtpd.example.org--
        """
    }

    @Test("the text fills the diagnostic the delivery-status part lacks, and the specific code")
    func failed() throws {
        let r = try parse(
            Self.report(
                subject: "failed",
                text: """
                        An error has occurred while attempting to deliver a message for
                        the following list of recipients:

                    a@dest.example: 550 5.1.1 <a@dest.example>: user unknown here

                    """, action: "failed", status: "5.0.0"))
        #expect(r.kind == .dsnPartWithoutReport)
        #expect(r.recipients.count == 1)
        let rr = try #require(r.recipients.first)
        #expect(rr.action == .failed)
        #expect(rr.diagnostic == "550 5.1.1 <a@dest.example>: user unknown here")
        #expect(rr.status?.description == "5.1.1")
    }

    @Test("a delay notice keeps the DSN's action; the text gives the diagnostic")
    func delayed() throws {
        let r = try parse(
            Self.report(
                subject: "delayed",
                text: """
                        A message is delayed for more than 20 seconds for the following
                        list of recipients:

                    a@dest.example: 451 4.3.0 try again later

                        Please note that this is only a temporary failure report.
                    """, action: "delayed", status: "4.0.0"))
        #expect(r.recipients.map(\.action) == [.delayed])
        #expect(r.recipients.first?.diagnostic == "451 4.3.0 try again later")
        #expect(r.recipients.first?.status?.description == "4.3.0")
    }

    @Test("the text-only notice is read by the same rules")
    func legacyOnly() throws {
        let r = try parse(
            """
            From: Mailer Daemon <MAILER-DAEMON@smtpd.example.org>
            Subject: Delivery status notification: delayed

                Hi!

                This is the MAILER-DAEMON, please DO NOT REPLY to this email.

                A message is delayed for more than 4 hours for the following
                list of recipients:

            a@dest.example: 421 4.4.2 connection dropped

                Please note that this is only a temporary failure report.
            """)
        #expect(r.kind == .legacy(family: "opensmtpd"))
        #expect(r.recipients.map(\.action) == [.delayed])
        #expect(r.recipients.first?.status?.description == "4.4.2")
    }
}

@Suite("Report rules: Courier templates and relayed entries")
struct CourierRuleTests {
    static func courier(_ section: String, subject: String = "NOTICE: mail delivery status.") -> String {
        """
        From: Courier mail server at mx.dest.example <@>
        Subject: \(subject)

        This is a delivery status notification from mx.dest.example,
        running the Courier mail server, version 1.0.16.

        The original message was received on Fri, 04 Dec 2026 08:00:00 +0000
        from localhost [127.0.0.1]

        ---------------------------------------------------------------------------
        \(section)
        ---------------------------------------------------------------------------

        If your message was also sent to additional recipients, their delivery
        status is not included in this report.
        """
    }

    @Test(
        "Courier's four templates give failed, delayed, relayed and delivered",
        arguments: [
            (
                """
                                          UNDELIVERABLE MAIL

                Your message to the following recipients cannot be delivered:

                <a@dest.example>:
                    mx.dest.example [192.0.2.1]:
                >>> RCPT TO:<a@dest.example>
                <<< 550 5.1.1 unknown user
                """, DeliveryAction.failed, "5.1.1"
            ),
            (
                """
                                    DELAYS IN DELIVERING YOUR MESSAGE

                The delivery of the following E-mail message has been delayed.  This is an
                advisory notice only; it is sent only to notify you about a temporary delay
                in delivering your message.  You DO NOT need to do anything at this time.
                Additional attempts to deliver your message will be made.

                <a@dest.example>:
                <<< 451 4.4.1 no answer
                """, .delayed, "4.4.1"
            ),
            (
                """
                                  MESSAGE DELIVERED TO A MAIL GATEWAY

                Unfortunately, your message
                has been transferred to an intermediate mail gateway that is not capable
                of generating delivery acknowledgements.

                Unless your message is eventually returned as undeliverable, you may not
                receive any further delivery notices for the following addresses:

                <a@dest.example>:
                """, .relayed, "2.0.0"
            ),
            (
                """
                                   MESSAGE DELIVERED SUCCESSFULLY

                Your E-mail requested a delivery notice/return receipt for the following
                addresses:

                <a@dest.example>:
                <<< 250 2.6.0 ok
                """, .delivered, "2.6.0"
            ),
        ])
    func templates(_ section: String, _ action: DeliveryAction, _ status: String) throws {
        let r = try parse(Self.courier(section))
        #expect(r.kind == .legacy(family: "courier"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == action)
        #expect(r.recipients.first?.status?.description == status)
    }

    @Test("a success notice entry \"relayed to non-DSN-aware mailer\" is relayed, the others delivered")
    func relayedEntry() throws {
        let r = try parse(
            notice(
                subject: "Return receipt",
                body: """
                       ----- The following addresses had successful delivery notifications -----
                    <a@dest.example>  (relayed via non "Remote SMTP" router)
                    <b@hop.example>  (relayed to non-DSN-aware mailer)
                    """))
        #expect(r.recipients.map(\.address) == ["a@dest.example", "b@hop.example"])
        #expect(r.recipients.map(\.action) == [.delivered, .relayed])
    }
}

@Suite("Report rules: Postfix and Exchange success texts")
struct SuccessTextRuleTests {
    @Test("Postfix's success template without a delivery-status part is delivered")
    func postfixSuccess() throws {
        let r = try parse(
            notice(
                subject: "Successful Mail Delivery Report",
                body: """
                    This is the mail system at host mx.example.org.

                    Your message was successfully delivered to the destination(s)
                    listed below. If the message was delivered to mailbox you will
                    receive no further notifications. Otherwise you may still receive
                    notifications of mail delivery errors from other systems.

                                       The mail system

                    <a@dest.example>: delivery via local: delivered to mailbox
                    """))
        #expect(r.kind == .legacy(family: "postfix"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .delivered)
        #expect(r.recipients.first?.status?.description == "2.0.0")
    }

    @Test(
        "Exchange's relay text is relayed, its plain success text delivered",
        arguments: [
            (
                "Delivery to these recipients or groups is complete, but no delivery notification was sent by the destination server:",
                DeliveryAction.relayed
            ),
            ("Your message has been delivered to the following recipients:", .delivered),
            ("Delivery to these recipients or groups is complete:", .delivered),
        ])
    func exchange(_ line: String, _ action: DeliveryAction) throws {
        let r = try parse(
            notice(
                subject: "Relayed: hello",
                body: """
                    \(line)

                    a@dest.example

                    Subject: hello
                    """, from: "postmaster@ex.example.org", extraHeaders: "X-MS-Exchange-Message-Is-Ndr:\n"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == action)
    }
}

@Suite("Report rules: Sieve reject (RFC 5429)")
struct SieveRejectRuleTests {
    static func mdn(_ disposition: String) -> String {
        """
        From: Mail Delivery Subsystem <postmaster@dest.example>
        To: <sender@return.example>
        Subject: Automatically rejected mail
        Auto-Submitted: auto-replied (rejected)
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=disposition-notification; boundary="r"

        --r
        Content-Type: text/plain; charset=utf-8

        Your message to <a@dest.example> was automatically rejected:
        Quota exceeded

        --r
        Content-Type: message/disposition-notification

        Reporting-UA: mail.dest.example; Dovecot Mail Delivery Agent
        Final-Recipient: rfc822; a@dest.example
        Original-Message-ID: <m1@return.example>
        Disposition: \(disposition)

        --r--
        """
    }

    @Test("automatic-action …; deleted is a refusal: failed, with the reason")
    func reject() throws {
        let r = try parse(Self.mdn("automatic-action/MDN-sent-automatically; deleted"))
        #expect(r.kind == .legacy(family: "sieve-reject"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .failed)
        #expect(r.recipients.first?.statusIsPseudo == true)
        #expect(r.recipients.first?.diagnostic == "Quota exceeded")
    }

    @Test(
        "other dispositions stay not-a-report",
        arguments: [
            "manual-action/MDN-sent-manually; displayed",
            "manual-action/MDN-sent-manually; deleted",
            "automatic-action/MDN-sent-automatically; displayed",
            "automatic-action/MDN-sent-automatically; dispatched",
        ])
    func others(_ disposition: String) throws {
        let r = try parse(Self.mdn(disposition))
        #expect(r.kind == .notAReport(reason: .dispositionNotification))
    }
}

@Suite("Report rules: generic Subject markers")
struct GenericSubjectRuleTests {
    @Test("\"Delivery Status\" in the Subject from a non-daemon sender is a report")
    func deliveryStatus() throws {
        let r = try parse(
            notice(
                subject: "Delivery Status",
                body: """
                    --- The following addresses had delivery problems ---

                    <a@dest.example>   (User unknown: 550 5.1.1 no mailbox here)
                    """, from: "Gateway <gateway@mx.dest.example>"))
        #expect(r.kind == .legacy(family: "generic"))
        #expect(r.recipients.map(\.address) == ["a@dest.example"])
        #expect(r.recipients.first?.action == .failed)
        #expect(r.recipients.first?.status?.description == "5.1.1")
    }
}
