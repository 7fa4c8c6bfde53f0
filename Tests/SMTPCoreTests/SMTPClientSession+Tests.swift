import Testing

@testable import SMTPCore

extension SMTPClientSession.SessionError.Code {
    var isOutOfOrder: Bool {
        if case .outOfOrder = self { return true }
        return false
    }

    var syntaxCode: SMTPSyntaxError.Code? {
        if case .syntax(let e) = self { return e.code }
        return nil
    }
}

/// Scripted transcripts: the test plays the server, the session the client.
@Suite("SMTPClientSession")
struct SMTPClientSessionTests {
    typealias Session = SMTPClientSession

    static func r(_ code: Int, _ lines: String...) -> SMTPReply { SMTPReply(code: code, lines: lines) }

    static let fullKeywords = [
        "PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8",
        "STARTTLS", "AUTH PLAIN LOGIN",
    ]
    static let alice = try! SMTPMailbox("alice@dest.example")
    static let bob = try! SMTPMailbox("bob@dest.example")
    static let sender = ReversePath.mailbox(try! SMTPMailbox("roundtrip+k3v9@return.example"))

    /// Greeted and EHLO answered with the given keywords.
    static func ready(_ keywords: [String], policy: Session.Policy = .init(), implicitTLS: Bool = false) throws
        -> Session
    {
        var s = Session(policy: policy, implicitTLS: implicitTLS)
        _ = try s.receive(r(220, "mx.dest.example ESMTP"))
        #expect(wireText(try s.send(.ehlo("client.example"))) == "EHLO client.example\r\n")
        _ = try s.receive(SMTPReply(code: 250, lines: ["mx.dest.example"] + keywords))
        #expect(s.state == .ready)
        return s
    }

    // MARK: greeting

    @Test func nothingMayBeSentBeforeTheGreeting() throws {
        var s = Session()
        #expect(s.state == .awaitingGreeting)
        for c: SMTPCommand in [.ehlo("client.example"), .helo("client.example"), .quit, .noop, .rset, .startTLS] {
            #expect(sessionErrorCode { try s.send(c) }?.isOutOfOrder == true)
        }
        #expect(sessionErrorCode { try s.sendMessage(Array("x".utf8)) }?.isOutOfOrder == true)
        #expect(s.outstandingReplies == 0)
        let greeting = try wireReply("220-mx.dest.example ESMTP\r\n220-no early talkers\r\n220 \r\n")
        #expect(try s.receive(greeting) == .greeting(greeting))
        #expect(s.state == .greeted)
        #expect(s.capabilities == nil)
        #expect(wireText(try s.send(.ehlo("client.example"))) == "EHLO client.example\r\n")
    }

    @Test func greeting421Closes() throws {
        var s = Session()
        let bye = Self.r(421, "4.3.2 mx.dest.example Service not available")
        #expect(try s.receive(bye) == .closing(bye))
        #expect(s.state == .closed)
        #expect(sessionErrorCode { try s.send(.quit) }?.isOutOfOrder == true)
    }

    /// RFC 5321 §3.1: after 554 the server waits for QUIT; the client sends QUIT only.
    @Test(arguments: [554, 550, 521, 450])
    func refusedGreetingAllowsOnlyQUIT(_ code: Int) throws {
        var s = Session()
        let noService = Self.r(code, "5.7.1 No SMTP service here")
        #expect(try s.receive(noService) == .greeting(noService))
        for c: SMTPCommand in [.ehlo("client.example"), .helo("client.example"), .noop, .rset, .startTLS] {
            #expect(sessionErrorCode { try s.send(c) }?.isOutOfOrder == true, "\(c.verb)")
        }
        #expect(wireText(try s.send(.quit)) == "QUIT\r\n")
        let bye = Self.r(221, "bye")
        #expect(try s.receive(bye) == .closing(bye))
        #expect(s.state == .closed)
    }

    @Test func unpromptedReplyIsUnexpected() throws {
        var s = Session()
        _ = try s.receive(Self.r(220, "mx"))
        #expect(sessionErrorCode { try s.receive(Self.r(250, "surprise")) } == .unexpectedReply)
        #expect(sessionErrorCode { try s.receive(Self.r(220, "second greeting")) } == .unexpectedReply)
        // One reply per command, no more.
        _ = try s.send(.noop)
        #expect(try s.receive(Self.r(250, "ok")) == .reply(.noop, Self.r(250, "ok")))
        #expect(sessionErrorCode { try s.receive(Self.r(250, "ok")) } == .unexpectedReply)
    }

    // MARK: EHLO / HELO

    @Test func ehloRecordsCapabilities() throws {
        var s = Session()
        _ = try s.receive(Self.r(220, "mx"))
        _ = try s.send(.ehlo("client.example"))
        #expect(s.outstandingReplies == 1)
        let reply = try wireReply(SMTPReplyParserTests.ehloWire)
        #expect(try s.receive(reply) == .reply(.ehlo("client.example"), reply))
        #expect(s.state == .ready)
        #expect(s.outstandingReplies == 0)
        #expect(!s.usedHELO)
        let caps = try #require(s.capabilities)
        #expect(caps.dsn && caps.pipelining && caps.startTLS)
    }

    @Test(arguments: [500, 502])
    func heloFallbackMeansNoExtensions(_ ehloCode: Int) throws {
        var s = Session()
        _ = try s.receive(Self.r(220, "old.example"))
        _ = try s.send(.ehlo("client.example"))
        let refused = Self.r(ehloCode, "5.5.1 Command not recognized")
        #expect(try s.receive(refused) == .reply(.ehlo("client.example"), refused))
        #expect(s.state == .greeted)
        #expect(s.capabilities == nil)
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        #expect(wireText(try s.send(.helo("client.example"))) == "HELO client.example\r\n")
        _ = try s.receive(Self.r(250, "old.example"))
        #expect(s.usedHELO)
        #expect(s.state == .ready)
        #expect(s.capabilities?.extensions.isEmpty == true)
        // DSN parameters are refused, plain ones are fine.
        #expect(
            sessionErrorCode { try s.send(.mail(Self.sender, MailParameters(ret: .headers))) }
                == .extensionNotOffered("DSN"))
        #expect(
            sessionErrorCode { try s.send(.mail(Self.sender, MailParameters(envelopeID: try EnvelopeID("x")))) }
                == .extensionNotOffered("DSN"))
        #expect(
            wireText(try s.send(.mail(Self.sender, MailParameters())))
                == "MAIL FROM:<roundtrip+k3v9@return.example>\r\n")
        _ = try s.receive(Self.r(250, "ok"))
        #expect(
            sessionErrorCode { try s.send(.rcpt(Self.alice, RcptParameters(notify: .all))) }
                == .extensionNotOffered("DSN"))
        #expect(
            sessionErrorCode {
                try s.send(.rcpt(Self.alice, RcptParameters(originalRecipient: try OriginalRecipient(Self.alice))))
            }
                == .extensionNotOffered("DSN"))
        #expect(wireText(try s.send(.rcpt(Self.alice, RcptParameters()))) == "RCPT TO:<alice@dest.example>\r\n")
        // No STARTTLS and no AUTH after HELO.
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rset)
        _ = try s.receive(Self.r(250, "ok"))
        #expect(sessionErrorCode { try s.send(.startTLS) } == .extensionNotOffered("STARTTLS"))
    }

    @Test func ehloAbortsAnOpenTransaction() throws {
        var s = try Self.ready(Self.fullKeywords)
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        #expect(s.mailSent && s.mailAccepted)
        _ = try s.send(.ehlo("client.example"))
        #expect(!s.mailSent)
        _ = try s.receive(SMTPReply(code: 250, lines: ["mx"] + Self.fullKeywords))
        #expect(!s.mailAccepted)
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    // MARK: STARTTLS

    @Test func startTLSFlow() throws {
        var s = try Self.ready(["STARTTLS", "PIPELINING"])
        #expect(!s.tlsActive)
        #expect(wireText(try s.send(.startTLS)) == "STARTTLS\r\n")
        let go = Self.r(220, "2.0.0 Ready to start TLS")
        #expect(try s.receive(go) == .startTLS(go))
        #expect(s.state == .awaitingTLSHandshake)
        #expect(s.outstandingReplies == 0)
        // Nothing may be sent, and any reply now is plaintext injection.
        for c: SMTPCommand in [.ehlo("client.example"), .quit, .noop, .mail(Self.sender, MailParameters()), .rset] {
            #expect(sessionErrorCode { try s.send(c) }?.isOutOfOrder == true, "\(c.verb)")
        }
        #expect(sessionErrorCode { try s.receive(Self.r(250, "injected")) } == .unexpectedReply)
        s.tlsEstablished()
        #expect(s.state == .greeted)
        #expect(s.tlsActive)
        #expect(s.capabilities == nil)
        // The old EHLO reply is forgotten: MAIL and AUTH need a new EHLO.
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        #expect(
            sessionErrorCode { try s.send(.auth(mechanism: "PLAIN", initialResponse: "AA==")) }?.isOutOfOrder == true)
        _ = try s.send(.ehlo("client.example"))
        _ = try s.receive(Self.r(250, "mx", "AUTH PLAIN", "STARTTLS"))
        #expect(s.capabilities?.authMechanisms == ["PLAIN"])
        #expect(s.capabilities?.pipelining == false)
        // STARTTLS is not tried twice.
        #expect(sessionErrorCode { try s.send(.startTLS) }?.isOutOfOrder == true)
        // AUTH is fine now.
        _ = try s.send(.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHMzY3JldA=="))
    }

    @Test func tlsEstablishedOutsideTheHandshakeStateIsIgnored() throws {
        var s = try Self.ready(["STARTTLS"])
        s.tlsEstablished()
        #expect(s.state == .ready)
        #expect(!s.tlsActive)
        #expect(s.capabilities != nil)
    }

    @Test func startTLSRefusedByServer() throws {
        var s = try Self.ready(["STARTTLS"])
        _ = try s.send(.startTLS)
        let notNow = Self.r(454, "4.7.0 TLS not available")
        #expect(try s.receive(notNow) == .reply(.startTLS, notNow))
        #expect(s.state == .ready)
        #expect(!s.tlsActive)
    }

    @Test func startTLSPreconditions() throws {
        var greeted = Session()
        _ = try greeted.receive(Self.r(220, "mx"))
        #expect(sessionErrorCode { try greeted.send(.startTLS) }?.isOutOfOrder == true)
        var noTLS = try Self.ready(["DSN"])
        #expect(sessionErrorCode { try noTLS.send(.startTLS) } == .extensionNotOffered("STARTTLS"))
        var inTransaction = try Self.ready(["STARTTLS"])
        _ = try inTransaction.send(.mail(Self.sender, MailParameters()))
        _ = try inTransaction.receive(Self.r(250, "ok"))
        #expect(sessionErrorCode { try inTransaction.send(.startTLS) }?.isOutOfOrder == true)
        var implicit = try Self.ready(["STARTTLS"], implicitTLS: true)
        #expect(implicit.tlsActive)
        #expect(sessionErrorCode { try implicit.send(.startTLS) }?.isOutOfOrder == true)
    }

    @Test func startTLSMustEndABatch() throws {
        var s = try Self.ready(["STARTTLS", "PIPELINING"])
        #expect(sessionErrorCode { try s.send([.startTLS, .ehlo("client.example")]) }?.isOutOfOrder == true)
        #expect(s.outstandingReplies == 0)
    }

    // MARK: AUTH

    @Test func authRefusedWithoutTLS() throws {
        var s = try Self.ready(["AUTH PLAIN LOGIN"])
        #expect(
            sessionErrorCode { try s.send(.auth(mechanism: "PLAIN", initialResponse: "AA==")) } == .plaintextAuthRefused
        )
        #expect(s.outstandingReplies == 0)
    }

    @Test func authAllowedWithoutTLSOnlyByPolicy() throws {
        var s = try Self.ready(["AUTH PLAIN"], policy: .init(allowPlaintextAuth: true))
        #expect(
            wireText(try s.send(.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHMzY3JldA==")))
                == "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n")
        _ = try s.receive(Self.r(235, "2.7.0 Authentication successful"))
        #expect(s.authenticated)
    }

    @Test func authMechanismMustBeAdvertised() throws {
        var s = try Self.ready(["AUTH PLAIN"], implicitTLS: true)
        #expect(
            sessionErrorCode { try s.send(.auth(mechanism: "LOGIN", initialResponse: nil)) }
                == .extensionNotOffered("AUTH LOGIN"))
        #expect(
            sessionErrorCode { try s.send(.auth(mechanism: "cram-md5", initialResponse: nil)) }
                == .extensionNotOffered("AUTH CRAM-MD5"))
        var none = try Self.ready(["DSN"], implicitTLS: true)
        #expect(
            sessionErrorCode { try none.send(.auth(mechanism: "PLAIN", initialResponse: "AA==")) }
                == .extensionNotOffered("AUTH PLAIN"))
        // Case-insensitive match.
        _ = try s.send(.auth(mechanism: "plain", initialResponse: "AA=="))
    }

    @Test func authLoginExchange() throws {
        // PIPELINING is advertised so that the refusals below come from the AUTH rules.
        var s = try Self.ready(["AUTH LOGIN", "PIPELINING"], implicitTLS: true)
        _ = try s.send(.auth(mechanism: "LOGIN", initialResponse: nil))
        let user = Self.r(334, "VXNlcm5hbWU6")
        #expect(try s.receive(user) == .reply(.auth(mechanism: "LOGIN", initialResponse: nil), user))
        // While a challenge is open, only an answer may be sent.
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.send(.noop) }?.isOutOfOrder == true)
        #expect(wireText(try s.send(.authResponse("YWxpY2U="))) == "YWxpY2U=\r\n")
        // One answer per challenge.
        #expect(sessionErrorCode { try s.send(.authResponse("czNjcmV0")) }?.isOutOfOrder == true)
        _ = try s.receive(Self.r(334, "UGFzc3dvcmQ6"))
        #expect(wireText(try s.send(.authResponse("czNjcmV0"))) == "czNjcmV0\r\n")
        #expect(!s.authenticated)
        _ = try s.receive(Self.r(235, "2.7.0 ok"))
        #expect(s.authenticated)
        #expect(sessionErrorCode { try s.send(.auth(mechanism: "LOGIN", initialResponse: nil)) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.send(.authResponse("eA==")) }?.isOutOfOrder == true)
    }

    @Test func authAbortAndRetry() throws {
        var s = try Self.ready(["AUTH LOGIN PLAIN"], implicitTLS: true)
        _ = try s.send(.auth(mechanism: "LOGIN", initialResponse: nil))
        _ = try s.receive(Self.r(334, "VXNlcm5hbWU6"))
        #expect(wireText(try s.send(.authResponse("*"))) == "*\r\n")
        _ = try s.receive(Self.r(501, "5.7.0 Authentication aborted"))
        #expect(!s.authenticated)
        _ = try s.send(.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHdyb25n"))
        _ = try s.receive(Self.r(535, "5.7.8 Authentication credentials invalid"))
        #expect(!s.authenticated)
        _ = try s.send(.auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHMzY3JldA=="))
        _ = try s.receive(Self.r(235, "2.7.0 ok"))
        #expect(s.authenticated)
    }

    @Test func authResponseWithoutAChallengeIsRefused() throws {
        var s = try Self.ready(["AUTH PLAIN"], implicitTLS: true)
        #expect(sessionErrorCode { try s.send(.authResponse("AGFsaWNlAHMzY3JldA==")) }?.isOutOfOrder == true)
        var greeted = Session(implicitTLS: true)
        _ = try greeted.receive(Self.r(220, "mx"))
        #expect(sessionErrorCode { try greeted.send(.authResponse("QUIT")) }?.isOutOfOrder == true)
    }

    @Test func authNeverInsideATransaction() throws {
        var s = try Self.ready(["AUTH PLAIN"], implicitTLS: true)
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        #expect(
            sessionErrorCode { try s.send(.auth(mechanism: "PLAIN", initialResponse: "AA==")) }?.isOutOfOrder == true)
    }

    @Test func authenticationIsForgottenAfterSTARTTLS() throws {
        var s = try Self.ready(["AUTH PLAIN", "STARTTLS"], policy: .init(allowPlaintextAuth: true))
        _ = try s.send(.auth(mechanism: "PLAIN", initialResponse: "AA=="))
        _ = try s.receive(Self.r(235, "ok"))
        #expect(s.authenticated)
        _ = try s.send(.startTLS)
        _ = try s.receive(Self.r(220, "go"))
        s.tlsEstablished()
        #expect(!s.authenticated)
    }

    // MARK: extensions on MAIL / RCPT

    @Test func dsnParametersNeedDSN() throws {
        var s = try Self.ready(["PIPELINING", "SIZE 1000"])
        for p in [MailParameters(ret: .full), MailParameters(envelopeID: try EnvelopeID("id"))] {
            #expect(sessionErrorCode { try s.send(.mail(Self.sender, p)) } == .extensionNotOffered("DSN"))
        }
        _ = try s.send(.mail(Self.sender, MailParameters()))
        for p in [
            RcptParameters(notify: .never), RcptParameters(notify: .all),
            RcptParameters(originalRecipient: try OriginalRecipient(Self.alice)),
        ] {
            #expect(sessionErrorCode { try s.send(.rcpt(Self.alice, p)) } == .extensionNotOffered("DSN"))
        }
    }

    @Test func probeEnvelopeWithDSN() throws {
        var s = try Self.ready(["DSN"])
        let mail = SMTPCommand.mail(
            .mailbox(try SMTPMailbox("roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example")),
            MailParameters(ret: .headers, envelopeID: try EnvelopeID("k3v9x2q8m4tz7c1bh6n0wr5d")))
        #expect(
            wireText(try s.send(mail))
                == "MAIL FROM:<roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example> RET=HDRS ENVID=k3v9x2q8m4tz7c1bh6n0wr5d\r\n"
        )
        _ = try s.receive(Self.r(250, "2.1.0 Ok"))
        #expect(
            wireText(
                try s.send(
                    .rcpt(
                        Self.alice, RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(Self.alice))))
            )
                == "RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;alice@dest.example\r\n")
    }

    @Test(arguments: [
        (MailParameters(size: 100), "SIZE"),
        (MailParameters(body: .eightBitMIME), "8BITMIME"),
        (MailParameters(body: .sevenBit), "8BITMIME"),
        (MailParameters(smtpUTF8: true), "SMTPUTF8"),
    ])
    func mailParametersNeedTheirExtension(_ p: MailParameters, _ keyword: String) throws {
        var without = try Self.ready(["DSN", "PIPELINING"])
        #expect(sessionErrorCode { try without.send(.mail(Self.sender, p)) } == .extensionNotOffered(keyword))
        #expect(!without.mailSent)
        var with = try Self.ready([keyword])
        _ = try with.send(.mail(Self.sender, p))
        #expect(with.mailSent)
    }

    @Test func sizeWithoutValueStillAllowsTheParameter() throws {
        var s = try Self.ready(["SIZE"])
        #expect(
            wireText(try s.send(.mail(Self.sender, MailParameters(size: 123))))
                == "MAIL FROM:<roundtrip+k3v9@return.example> SIZE=123\r\n")
    }

    @Test func nonASCIIAddressesNeedSMTPUTF8() throws {
        let jöran = try SMTPMailbox("jöran@bücher.example")
        // Not advertised: neither sender nor recipient can be UTF-8.
        var plain = try Self.ready(["DSN"])
        #expect(sessionErrorCode { try plain.send(.mail(.mailbox(jöran), MailParameters())) } != nil)
        _ = try plain.send(.mail(Self.sender, MailParameters()))
        _ = try plain.receive(Self.r(250, "ok"))
        #expect(sessionErrorCode { try plain.send(.rcpt(jöran, RcptParameters())) } != nil)
        // Advertised but the transaction did not ask for it.
        var s = try Self.ready(["SMTPUTF8", "DSN"])
        #expect(sessionErrorCode { try s.send(.mail(.mailbox(jöran), MailParameters())) } != nil)
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        #expect(sessionErrorCode { try s.send(.rcpt(jöran, RcptParameters())) } != nil)
        _ = try s.send(.rset)
        _ = try s.receive(Self.r(250, "ok"))
        // With SMTPUTF8 on MAIL.
        #expect(
            wireText(try s.send(.mail(Self.sender, MailParameters(smtpUTF8: true))))
                == "MAIL FROM:<roundtrip+k3v9@return.example> SMTPUTF8\r\n")
        _ = try s.receive(Self.r(250, "ok"))
        #expect(
            wireText(
                try s.send(.rcpt(jöran, RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(jöran)))))
                == "RCPT TO:<jöran@bücher.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=utf-8;j\\x{F6}ran@b\\x{FC}cher.example\r\n"
        )
    }

    // MARK: PIPELINING

    @Test func pipelinedBatchWithRepliesPairedByCount() throws {
        var s = try Self.ready(Self.fullKeywords)
        let batch: [SMTPCommand] = [
            .mail(Self.sender, MailParameters(ret: .headers)),
            .rcpt(Self.alice, RcptParameters(notify: .all)),
            .rcpt(Self.bob, RcptParameters(notify: .all)),
            .data,
        ]
        let bytes = try s.send(batch)
        #expect(
            wireText(bytes) == "MAIL FROM:<roundtrip+k3v9@return.example> RET=HDRS\r\n"
                + "RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY\r\n"
                + "RCPT TO:<bob@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY\r\n"
                + "DATA\r\n")
        #expect(s.outstandingReplies == 4)
        // Paired by position, not by code or text: the 550 answers bob because it comes third.
        let replies = [
            Self.r(250, "2.1.0 Ok"), Self.r(250, "2.1.5 Ok"), Self.r(550, "5.1.1 unknown"), Self.r(354, "go ahead"),
        ]
        for (i, reply) in replies.enumerated() {
            #expect(try s.receive(reply) == .reply(batch[i], reply))
            #expect(s.outstandingReplies == 3 - i)
        }
        #expect(s.mailAccepted)
        #expect(s.acceptedRecipients == 1)
        #expect(s.state == .awaitingMessage)
    }

    @Test func multilineReplyCountsOnce() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters())])
        let multi = try wireReply("250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 third\r\n")
        #expect(try s.receive(multi) == .reply(.mail(Self.sender, MailParameters()), multi))
        #expect(s.outstandingReplies == 1)
    }

    @Test func batchesNeedPipelining() throws {
        var s = try Self.ready(["DSN", "SIZE"])
        #expect(
            sessionErrorCode {
                try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters())])
            }
                == .pipeliningNotOffered)
        // Refused batches leave the session untouched.
        #expect(s.outstandingReplies == 0)
        #expect(!s.mailSent)
        // One command at a time still works, but not a second one before the reply.
        _ = try s.send(.mail(Self.sender, MailParameters()))
        #expect(sessionErrorCode { try s.send(.rcpt(Self.alice, RcptParameters())) } == .pipeliningNotOffered)
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
    }

    @Test func noPipeliningBeforeTheEHLOReply() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send(.ehlo("client.example"))
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
    }

    @Test(arguments: [
        [SMTPCommand.data, .quit],
        [.ehlo("client.example"), .mail(ReversePath.null, MailParameters())],
        [.quit, .noop],
        [.noop, .mail(ReversePath.null, MailParameters())],
        [.vrfy("alice"), .rset],
        [
            .mail(ReversePath.null, MailParameters()), .rcpt(try! SMTPMailbox("a@b.example"), RcptParameters()), .data,
            .rcpt(try! SMTPMailbox("c@d.example"), RcptParameters()),
        ],
    ])
    func onlyMailRcptAndRsetMayStandMidBatch(_ batch: [SMTPCommand]) throws {
        var s = try Self.ready(["PIPELINING"])
        #expect(sessionErrorCode { try s.send(batch) }?.isOutOfOrder == true)
        #expect(s.outstandingReplies == 0)
    }

    @Test func rsetMayStandMidBatch() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.rset, .mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .noop])
        #expect(s.outstandingReplies == 4)
    }

    /// The replies to RSET and to the final dot belong to the old transaction:
    /// they must not wipe a new one pipelined behind them.
    @Test func rsetReplyDoesNotResetAPipelinedTransaction() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        let batch: [SMTPCommand] = [.rset, .mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters())]
        _ = try s.send(batch)
        for c in batch {
            #expect(try s.receive(Self.r(250, "ok")) == .reply(c, Self.r(250, "ok")))
        }
        #expect(s.mailSent && s.mailAccepted)
        #expect(s.acceptedRecipients == 1)
        #expect(wireText(try s.send(.data)) == "DATA\r\n")
    }

    @Test func rejectedMAILReplyDoesNotResetAPipelinedTransaction() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rset, .mail(Self.sender, MailParameters())])
        _ = try s.receive(Self.r(451, "4.3.0 try later"))
        #expect(s.mailSent, "the second MAIL is still open")
        for _ in 1...2 { _ = try s.receive(Self.r(250, "ok")) }
        #expect(s.mailSent && s.mailAccepted)
        #expect(wireText(try s.send(.rcpt(Self.alice, RcptParameters()))) == "RCPT TO:<alice@dest.example>\r\n")
    }

    @Test func repliesToAnAbandonedTransactionDoNotCountForTheNextOne() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([
            .mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .rset,
            .mail(Self.sender, MailParameters()),
        ])
        for _ in 1...3 { _ = try s.receive(Self.r(250, "ok")) }
        #expect(s.mailSent)
        #expect(!s.mailAccepted)
        #expect(s.acceptedRecipients == 0)
        _ = try s.receive(Self.r(250, "ok"))
        #expect(s.mailAccepted)
        #expect(s.acceptedRecipients == 0)
    }

    @Test func nextTransactionMayFollowTheFinalDotWithPipelining() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
        for _ in 0..<2 { _ = try s.receive(Self.r(250, "ok")) }
        _ = try s.receive(Self.r(354, "go"))
        _ = try s.sendMessage(Array("one\r\n".utf8))
        // The dot ended the transaction: no RCPT or DATA may be added to it.
        #expect(sessionErrorCode { try s.send(.rcpt(Self.bob, RcptParameters())) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.send(.data) }?.isOutOfOrder == true)
        let next: [SMTPCommand] = [.mail(Self.sender, MailParameters()), .rcpt(Self.bob, RcptParameters()), .data]
        #expect(wireText(try s.send(next)).hasPrefix("MAIL FROM:"))
        let queued = Self.r(250, "queued")
        #expect(try s.receive(queued) == .endOfData(queued))
        #expect(try s.receive(Self.r(250, "ok")) == .reply(next[0], Self.r(250, "ok")))
        #expect(try s.receive(Self.r(250, "ok")) == .reply(next[1], Self.r(250, "ok")))
        #expect(s.mailSent && s.mailAccepted)
        #expect(s.acceptedRecipients == 1)
        _ = try s.receive(Self.r(354, "go"))
        #expect(s.state == .awaitingMessage)
    }

    @Test func nothingAfterTheFinalDotWithoutPipelining() throws {
        var s = try Self.ready([])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.data)
        _ = try s.receive(Self.r(354, "go"))
        _ = try s.sendMessage([])
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) } == .pipeliningNotOffered)
        #expect(sessionErrorCode { try s.send(.rcpt(Self.alice, RcptParameters())) } != nil)
    }

    @Test func nothingAfterAnUnansweredDATA() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
        #expect(sessionErrorCode { try s.send(.rset) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.sendMessage(Array("x\r\n".utf8)) }?.isOutOfOrder == true)
    }

    @Test func aFailedBatchLeavesNoTrace() throws {
        var s = try Self.ready(["PIPELINING", "DSN"])
        let jöran = try SMTPMailbox("jöran@example.org")
        #expect(
            sessionErrorCode { try s.send([.mail(Self.sender, MailParameters()), .rcpt(jöran, RcptParameters())]) }
                != nil)
        #expect(!s.mailSent)
        #expect(s.outstandingReplies == 0)
        #expect(
            sessionErrorCode { try s.send([.mail(Self.sender, MailParameters()), .ehlo("bad name")]) }?.syntaxCode
                == .invalidParameter)
        #expect(!s.mailSent)
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    // MARK: DATA

    @Test func dataTransaction() throws {
        var s = try Self.ready(["DSN"])
        _ = try s.send(.mail(Self.sender, MailParameters(ret: .headers)))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters(notify: .all)))
        _ = try s.receive(Self.r(250, "ok"))
        #expect(s.acceptedRecipients == 1)
        #expect(wireText(try s.send(.data)) == "DATA\r\n")
        #expect(sessionErrorCode { try s.sendMessage(Array("x".utf8)) }?.isOutOfOrder == true)
        _ = try s.receive(Self.r(354, "End data with <CR><LF>.<CR><LF>"))
        #expect(s.state == .awaitingMessage)
        #expect(sessionErrorCode { try s.send(.rset) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.send(.quit) }?.isOutOfOrder == true)
        // A bad message is refused and the session still waits for the content.
        #expect(
            sessionErrorCode { try s.sendMessage(Array("a\n.\nMAIL FROM:<x>\r\n".utf8)) }?.syntaxCode == .bareLineEnding
        )
        #expect(s.state == .awaitingMessage)
        let message = Array("Subject: probe\r\n\r\n.hello\r\n".utf8)
        #expect(try s.sendMessage(message) == DataEncoder.encode(message))
        #expect(s.state == .ready)
        #expect(s.outstandingReplies == 1)
        #expect(sessionErrorCode { try s.sendMessage(message) }?.isOutOfOrder == true)
        let queued = Self.r(250, "2.0.0 Ok: queued as 4Xyz")
        #expect(try s.receive(queued) == .endOfData(queued))
        #expect(!s.mailSent && !s.mailAccepted)
        #expect(s.acceptedRecipients == 0)
        // The next transaction may start.
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    @Test func endOfDataRefusalAlsoEndsTheTransaction() throws {
        var s = try Self.ready([])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.data)
        _ = try s.receive(Self.r(354, "go"))
        _ = try s.sendMessage([])
        let refused = Self.r(554, "5.7.1 rejected")
        #expect(try s.receive(refused) == .endOfData(refused))
        #expect(!s.mailSent)
    }

    @Test func messageAndQUITMayShareABatchWithPipelining() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.receive(Self.r(354, "go"))
        _ = try s.sendMessage(Array("hi\r\n".utf8))
        #expect(wireText(try s.send(.quit)) == "QUIT\r\n")
        #expect(s.outstandingReplies == 2)
        let ok = Self.r(250, "queued")
        #expect(try s.receive(ok) == .endOfData(ok))
        let bye = Self.r(221, "bye")
        #expect(try s.receive(bye) == .closing(bye))
        #expect(s.state == .closed)
    }

    @Test func messageAndQUITNeedPipelining() throws {
        var s = try Self.ready([])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.data)
        _ = try s.receive(Self.r(354, "go"))
        _ = try s.sendMessage(Array("hi\r\n".utf8))
        #expect(sessionErrorCode { try s.send(.quit) } == .pipeliningNotOffered)
    }

    @Test func dataRefusedKeepsTheTransactionOpenUntilRSET() throws {
        var s = try Self.ready([])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
        _ = try s.receive(Self.r(550, "5.1.1 unknown"))
        #expect(s.acceptedRecipients == 0)
        _ = try s.send(.data)
        let noRecipients = Self.r(554, "5.5.1 No valid recipients")
        #expect(try s.receive(noRecipients) == .reply(.data, noRecipients))
        #expect(s.state == .ready)
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        _ = try s.send(.rset)
        _ = try s.receive(Self.r(250, "ok"))
        #expect(!s.mailSent)
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    // MARK: transaction order

    @Test func transactionOrder() throws {
        var s = try Self.ready([])
        #expect(sessionErrorCode { try s.send(.rcpt(Self.alice, RcptParameters())) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.send(.data) }?.isOutOfOrder == true)
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(250, "ok"))
        #expect(s.mailSent && s.mailAccepted)
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        _ = try s.send(.rcpt(Self.alice, RcptParameters()))
        _ = try s.receive(Self.r(251, "will forward"))
        #expect(s.acceptedRecipients == 1)
        // NOOP and VRFY are fine inside a transaction.
        _ = try s.send(.noop)
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.vrfy("alice"))
        _ = try s.receive(Self.r(252, "cannot verify"))
        #expect(s.mailSent)
        _ = try s.send(.rset)
        #expect(!s.mailSent)
        _ = try s.receive(Self.r(250, "ok"))
        #expect(s.acceptedRecipients == 0)
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    @Test func rejectedMAILEndsTheTransaction() throws {
        var s = try Self.ready([])
        _ = try s.send(.mail(Self.sender, MailParameters()))
        _ = try s.receive(Self.r(550, "5.7.1 sender rejected"))
        #expect(!s.mailSent && !s.mailAccepted)
        #expect(sessionErrorCode { try s.send(.rcpt(Self.alice, RcptParameters())) }?.isOutOfOrder == true)
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    @Test func rejectedPipelinedMAILKeepsTheTransactionUntilRSET() throws {
        var s = try Self.ready(["PIPELINING"])
        _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
        _ = try s.receive(Self.r(550, "no"))
        _ = try s.receive(Self.r(503, "need MAIL"))
        _ = try s.receive(Self.r(503, "need RCPT"))
        #expect(!s.mailAccepted)
        #expect(s.acceptedRecipients == 0)
        #expect(s.state == .ready)
        #expect(sessionErrorCode { try s.send(.mail(Self.sender, MailParameters())) }?.isOutOfOrder == true)
        _ = try s.send(.rset)
        _ = try s.receive(Self.r(250, "ok"))
        _ = try s.send(.mail(Self.sender, MailParameters()))
    }

    // MARK: 421 and closing

    enum Point: String, CaseIterable, Sendable {
        case afterGreeting, afterEHLO, midBatch, awaitingMessage, afterMessage, awaitingTLS, afterQUIT
    }

    @Test(arguments: Point.allCases)
    func serviceClosing421AtAnyPoint(_ point: Point) throws {
        var s = try Self.ready(["PIPELINING", "STARTTLS"])
        switch point {
        case .afterGreeting:
            s = Session()
            _ = try s.receive(Self.r(220, "mx"))
        case .afterEHLO:
            s = Session()
            _ = try s.receive(Self.r(220, "mx"))
            _ = try s.send(.ehlo("client.example"))
        case .midBatch:
            _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
            _ = try s.receive(Self.r(250, "ok"))
        case .awaitingMessage, .afterMessage:
            _ = try s.send([.mail(Self.sender, MailParameters()), .rcpt(Self.alice, RcptParameters()), .data])
            _ = try s.receive(Self.r(250, "ok"))
            _ = try s.receive(Self.r(250, "ok"))
            _ = try s.receive(Self.r(354, "go"))
            if point == .afterMessage { _ = try s.sendMessage(Array("x\r\n".utf8)) }
        case .awaitingTLS:
            _ = try s.send(.startTLS)
            _ = try s.receive(Self.r(220, "go"))
        case .afterQUIT:
            _ = try s.send(.quit)
        }
        let bye = Self.r(421, "4.4.2 mx.dest.example closing connection")
        #expect(try s.receive(bye) == .closing(bye))
        #expect(s.state == .closed)
        #expect(s.outstandingReplies == 0)
        #expect(sessionErrorCode { try s.send(.quit) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.sendMessage([]) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.receive(Self.r(250, "late")) } == .unexpectedReply)
    }

    @Test func quitCloses() throws {
        var s = try Self.ready([])
        #expect(wireText(try s.send(.quit)) == "QUIT\r\n")
        let bye = Self.r(221, "2.0.0 Bye")
        #expect(try s.receive(bye) == .closing(bye))
        #expect(s.state == .closed)
        #expect(sessionErrorCode { try s.send(.noop) }?.isOutOfOrder == true)
        #expect(sessionErrorCode { try s.receive(Self.r(250, "late")) } == .unexpectedReply)
    }

    @Test func emptyBatchSendsNothing() throws {
        var s = Session()
        #expect(try s.send([]) == [])
        #expect(s.state == .awaitingGreeting)
    }

    @Test func syntaxErrorsAreWrapped() throws {
        var s = try Self.ready([])
        #expect(
            sessionErrorCode { try s.send(.ehlo("client.example\r\nMAIL FROM:<x@y>")) }?.syntaxCode == .controlCharacter
        )
        #expect(sessionErrorCode { try s.send(.vrfy("a\0")) }?.syntaxCode == .controlCharacter)
        #expect(s.outstandingReplies == 0)
    }

    @Test func errorDescriptionsNameTheProblem() {
        #expect(Session.SessionError(.pipeliningNotOffered).description.contains("PIPELINING"))
        #expect(Session.SessionError(.extensionNotOffered("DSN")).description.contains("DSN"))
        #expect(
            Session.SessionError(.syntax(SMTPSyntaxError(.controlCharacter, "EHLO name"))).description.contains(
                "EHLO name"))
    }

    // MARK: a whole probe, as the driver would run it

    @Test func fullProbeTranscript() throws {
        var s = Session()
        var wire = ""
        func server(_ text: String) throws -> Session.Outcome {
            var parser = SMTPReplyParser()
            parser.append(text.utf8)
            let reply = try #require(try parser.next())
            return try s.receive(reply)
        }
        _ = try server("220 mx.dest.example ESMTP\r\n")
        wire += wireText(try s.send(.ehlo("client.example")))
        _ = try server("250-mx.dest.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 DSN\r\n")
        wire += wireText(try s.send(.startTLS))
        #expect(try server("220 2.0.0 go\r\n") == .startTLS(Self.r(220, "2.0.0 go")))
        s.tlsEstablished()
        wire += wireText(try s.send(.ehlo("client.example")))
        _ = try server("250-mx.dest.example\r\n250-PIPELINING\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n")
        wire += wireText(
            try s.send([
                .mail(
                    .mailbox(try SMTPMailbox("roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example")),
                    MailParameters(ret: .headers, envelopeID: try EnvelopeID("k3v9x2q8m4tz7c1bh6n0wr5d"))),
                .rcpt(Self.alice, RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(Self.alice))),
                .data,
            ]))
        _ = try server("250 2.1.0 Ok\r\n")
        _ = try server("250 2.1.5 Ok\r\n")
        _ = try server("354 End data with <CR><LF>.<CR><LF>\r\n")
        wire += wireText(try s.sendMessage(Array("Subject: probe\r\n\r\n.\r\n".utf8)))
        wire += wireText(try s.send(.quit))
        #expect(try server("250 2.0.0 Ok: queued\r\n") == .endOfData(Self.r(250, "2.0.0 Ok: queued")))
        #expect(try server("221 2.0.0 Bye\r\n") == .closing(Self.r(221, "2.0.0 Bye")))
        #expect(
            wire == """
                EHLO client.example\r
                STARTTLS\r
                EHLO client.example\r
                MAIL FROM:<roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example> RET=HDRS ENVID=k3v9x2q8m4tz7c1bh6n0wr5d\r
                RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;alice@dest.example\r
                DATA\r
                Subject: probe\r
                \r
                ..\r
                .\r
                QUIT\r

                """)
    }
}
