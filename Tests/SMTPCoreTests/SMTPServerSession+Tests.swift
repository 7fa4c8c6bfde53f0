import Testing

@testable import SMTPCore

/// Drives a session the way the listener's handler does: feed bytes, run
/// every action, "store" accepted messages at once.
struct SessionDriver {
    var session: SMTPServerSession
    var replies: [SMTPReply] = []
    var messages: [(SMTPEnvelope, [UInt8])] = []
    var closed = false
    var startedTLS = false
    /// When false, accepted messages stay pending until `store()`.
    var autoStore = true

    init(_ configuration: SMTPServerSession.Configuration = .init(hostname: "mx.test", domains: ["return.example"])) {
        session = SMTPServerSession(configuration: configuration)
    }

    var codes: [Int] { replies.map(\.code) }

    mutating func feed(_ text: String) {
        feed(Array(text.utf8))
    }

    mutating func feed(_ bytes: [UInt8]) {
        session.receive(bytes)
        run()
    }

    mutating func run() {
        while let action = session.next() {
            switch action {
            case .reply(let r):
                replies.append(r)
            case .replyThenClose(let r):
                replies.append(r)
                closed = true
            case .replyThenStartTLS(let r):
                replies.append(r)
                startedTLS = true
            case .acceptMessage(let e, let m):
                messages.append((e, m))
                if autoStore {
                    if case .reply(let r) = session.messageStored(id: "Q\(messages.count)") { replies.append(r) }
                } else {
                    return
                }
            }
        }
    }

    /// Replies since the last call.
    mutating func take() -> [Int] {
        defer { replies = [] }
        return codes
    }
}

@Suite struct SMTPServerSessionTests {
    static let hello = "EHLO client.example\r\n"

    @Test func greetingAndEHLOAdvertiseTheExtensions() {
        var d = SessionDriver()
        #expect(d.session.greetingReply().code == 220)
        #expect(d.session.greetingReply().lines[0].hasPrefix("mx.test "))
        d.feed(Self.hello)
        let ehlo = d.replies[0]
        #expect(ehlo.code == 250)
        let keywords = ehlo.lines.dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(Set(keywords) == ["PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS"])
        #expect(!keywords.contains("DSN"))
        #expect(ehlo.lines.contains("SIZE 10485760"))
    }

    @Test func aWholeTransaction() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.feed("MAIL FROM:<>\r\n")
        d.feed("RCPT TO:<roundtrip+tok123@return.example> NOTIFY=NEVER\r\n")
        d.feed("DATA\r\n")
        d.feed("Subject: report\r\n\r\n..body\r\n.\r\n")
        d.feed("QUIT\r\n")
        #expect(d.codes == [250, 250, 250, 354, 250, 221])
        #expect(d.closed)
        #expect(d.messages.count == 1)
        let (env, msg) = d.messages[0]
        #expect(env.reversePath == .null)
        #expect(env.recipients.map(\.path.address) == ["roundtrip+tok123@return.example"])
        #expect(env.heloName == "client.example")
        #expect(env.protocolName == "ESMTP")
        #expect(String(decoding: msg, as: UTF8.self) == "Subject: report\r\n\r\n.body\r\n")
        #expect(d.replies[4].lines[0] == "2.0.0 Ok: queued as Q1")
        #expect(d.session.messagesAccepted == 1)
    }

    @Test func pipelinedBatchIsAnsweredInOrder() {
        var d = SessionDriver()
        d.feed(
            Self.hello
                + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nRCPT TO:<y@elsewhere.example>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n"
        )
        #expect(d.codes == [250, 250, 250, 550, 250, 354])
        d.replies = []
        d.feed("hi\r\n.\r\nMAIL FROM:<c@d.example>\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        #expect(d.codes == [250, 250, 250, 250, 221])
        #expect(
            d.messages[0].0.recipients.map(\.path) == [.mailbox(try! SMTPMailbox("x@return.example")), .postmaster])
    }

    @Test func byteAtATimeFeedingGivesTheSameTranscript() {
        let transcript =
            Self.hello
            + "MAIL FROM:<a@b.example> SIZE=100\r\nRCPT TO:<x@return.example>\r\nDATA\r\nx\r\n..\r\ny\n.\nz\r\n.\r\n"
            + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n.\r\nQUIT\r\n"
        var whole = SessionDriver()
        whole.feed(transcript)
        var single = SessionDriver()
        for b in transcript.utf8 { single.feed([b]) }
        #expect(whole.codes == [250, 250, 250, 354, 550, 250, 250, 354, 250, 221])
        #expect(single.codes == whole.codes)
        #expect(single.messages.count == 1)
        #expect(single.messages[0].1.isEmpty)
    }

    @Test func orderIsEnforced() {
        var d = SessionDriver()
        d.feed("MAIL FROM:<a@b.example>\r\n")
        d.feed("RCPT TO:<x@return.example>\r\n")
        d.feed("DATA\r\n")
        #expect(d.take() == [503, 503, 503])
        d.feed(Self.hello + "RCPT TO:<x@return.example>\r\nDATA\r\n")
        #expect(d.take() == [250, 503, 503])
        d.feed("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n")
        #expect(d.take() == [250, 503, 503])
        d.feed("RCPT TO:<nobody@other.example>\r\nDATA\r\n")
        #expect(d.take() == [550, 554])
    }

    @Test func rsetAndEHLOAbortTheTransaction() {
        var d = SessionDriver()
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\nRSET\r\nRCPT TO:<x@return.example>\r\n")
        #expect(d.take() == [250, 250, 250, 503])
        d.feed(
            "MAIL FROM:<a@b.example>\r\nEHLO again.example\r\nRCPT TO:<x@return.example>\r\nMAIL FROM:<a@b.example>\r\n"
        )
        #expect(d.take() == [250, 250, 503, 250])
    }

    @Test func heloMeansNoExtensions() {
        var d = SessionDriver()
        d.feed("HELO old.example\r\n")
        #expect(d.replies[0].lines == ["mx.test"])
        d.feed(
            "MAIL FROM:<a@b.example> BODY=8BITMIME\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example> NOTIFY=NEVER\r\nRCPT TO:<x@return.example>\r\nDATA\r\nx\r\n.\r\n"
        )
        #expect(d.take() == [250, 555, 250, 555, 250, 354, 250])
        #expect(d.messages[0].0.protocolName == "SMTP")
    }

    @Test func otherCommands() {
        var d = SessionDriver()
        d.feed("NOOP\r\nVRFY bob\r\nEXPN list\r\nHELP\r\nRSET\r\nTURN\r\n")
        #expect(d.take() == [250, 252, 502, 502, 250, 502])
        #expect(d.replies.isEmpty)
    }

    @Test func relayIsDenied() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["Return.Example", "second.example"]))
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\n")
        d.replies = []
        d.feed("RCPT TO:<x@RETURN.example>\r\nRCPT TO:<y@second.example>\r\nRCPT TO:<x@sub.return.example>\r\n")
        d.feed(
            "RCPT TO:<postmaster@other.example>\r\nRCPT TO:<x@[127.0.0.1]>\r\nRCPT TO:<PostMaster>\r\nRCPT TO:<postmaster@return.example>\r\n"
        )
        #expect(d.codes == [250, 250, 550, 550, 550, 250, 250])
        #expect(d.replies[2].enhancedCode?.description == "5.7.1")
        #expect(d.replies[2].text.contains("Relay access denied"))
    }

    @Test func nullSenderAndVERPAreAccepted() {
        var d = SessionDriver()
        d.feed(Self.hello + "MAIL FROM:<>\r\nRCPT TO:<roundtrip+AbC-123_x@return.example>\r\nDATA\r\n.\r\n")
        #expect(d.codes == [250, 250, 250, 354, 250])
    }

    @Test func recipientLimit() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"], maxRecipients: 3))
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\n")
        d.replies = []
        for i in 0..<5 { d.feed("RCPT TO:<r\(i)@return.example>\r\n") }
        #expect(d.codes == [250, 250, 250, 452, 452])
        #expect(d.replies[3].enhancedCode?.description == "4.5.3")
        d.replies = []
        d.feed("DATA\r\nx\r\n.\r\n")
        #expect(d.codes == [354, 250])
        #expect(d.messages[0].0.recipients.count == 3)
    }

    @Test func sizeLimitAtMAIL() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"], maxMessageSize: 1000))
        d.feed(Self.hello + "MAIL FROM:<a@b.example> SIZE=1001\r\nMAIL FROM:<a@b.example> SIZE=1000\r\n")
        #expect(d.codes == [250, 552, 250])
        #expect(d.replies[1].enhancedCode?.description == "5.3.4")
    }

    @Test func sizeLimitInData() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"], maxMessageSize: 1000))
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
        d.replies = []
        let line = String(repeating: "x", count: 98) + "\r\n"
        for _ in 0..<10 { d.feed(line) }  // exactly 1000
        d.feed(".\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
        for _ in 0..<11 { d.feed(line) }  // 1100
        d.feed(".\r\nNOOP\r\n")
        #expect(d.codes == [250, 250, 250, 354, 552, 250])
        #expect(d.replies[4].enhancedCode?.description == "5.3.4")
        #expect(d.messages.count == 1)
        #expect(d.messages[0].1.count == 1000)
    }

    @Test(arguments: [
        "a\n.\nMAIL FROM:<evil@x.example>\nRCPT TO:<x@return.example>\nDATA\nforged\n.\n",
        "a\r\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nforged\r\n",
        "a\n.\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nforged\r\n",
        "a\r.\rMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nforged\r\n",
        "a\r.\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nforged\r\n",
    ])
    func smugglingIsOneRefusedMessage(_ payload: String) {
        var d = SessionDriver()
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\n")
        d.replies = []
        d.feed(payload)
        // Nothing inside the data is a command.
        #expect(d.codes.isEmpty, "\(d.codes)")
        d.feed("\r\n.\r\nNOOP\r\n")
        #expect(d.codes == [550, 250])
        #expect(d.replies[0].enhancedCode?.description == "5.5.2")
        #expect(d.messages.isEmpty)
    }

    @Test func lineLimitAcceptsAtLeast2048Octets() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.replies = []
        let longParam = "NOOP " + String(repeating: "a", count: 2048 - 5)
        #expect(longParam.utf8.count == 2048)
        d.feed(longParam + "\r\n")
        #expect(d.codes == [250])
    }

    @Test func overlongLineIs500AndNotActedOn() {
        var d = SessionDriver()
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\n")
        d.replies = []
        // A RSET padded to 2049 octets: it must not reset the transaction.
        d.feed("RSET " + String(repeating: " ", count: 2044) + "\r\n")
        d.feed("RCPT TO:<x@return.example>\r\n")
        #expect(d.codes == [500, 250])
        #expect(d.replies[0].enhancedCode?.description == "5.5.2")
    }

    @Test func overlongLineArrivingInPiecesResyncsAtCRLF() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.replies = []
        d.feed("QUIT")
        for _ in 0..<100 { d.feed(String(repeating: "x", count: 100)) }
        // The tail of the long line looks like a command but is not one.
        d.feed("\r")
        d.feed("\nNOOP\r\n")
        #expect(d.codes == [500, 250])
        #expect(!d.closed)
        #expect(d.session.bufferedByteCount == 0)
    }

    @Test func overlongLineEndingInTheMiddleOfAPacket() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.replies = []
        d.feed(String(repeating: "y", count: 5000) + "\r\nQUIT\r\n")
        #expect(d.codes == [500, 221])
    }

    @Test func startTLSDiscardsPipelinedPlaintext() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.replies = []
        d.feed("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\n")
        #expect(d.codes == [220])
        #expect(d.startedTLS)
        #expect(
            d.session.discardedPlaintextOctets
                == "MAIL FROM:<evil@x.example>\r\nRCPT TO:<x@return.example>\r\n".utf8.count)
        #expect(d.session.phase == .tlsHandshake)
        d.session.tlsHandshakeCompleted()
        d.replies = []
        // The injected MAIL was dropped, and EHLO is needed again.
        d.feed("RCPT TO:<x@return.example>\r\nMAIL FROM:<a@b.example>\r\nEHLO client.example\r\n")
        #expect(d.codes == [503, 503, 250])
        #expect(!d.replies[2].lines.contains("STARTTLS"))
        d.replies = []
        d.feed("STARTTLS\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nx\r\n.\r\n")
        #expect(d.codes == [503, 250, 250, 354, 250])
        #expect(d.messages[0].0.protocolName == "ESMTPS")
    }

    @Test func bytesArrivingDuringTheHandshakeWaitForIt() {
        var d = SessionDriver()
        d.feed(Self.hello + "STARTTLS\r\n")
        d.replies = []
        d.feed("EHLO again.example\r\n")  // these came through TLS
        #expect(d.codes.isEmpty)
        d.session.tlsHandshakeCompleted()
        d.run()
        #expect(d.codes == [250])
    }

    @Test func startTLSRules() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"], startTLSAvailable: false))
        d.feed(Self.hello)
        #expect(!d.replies[0].lines.contains("STARTTLS"))
        d.feed("STARTTLS\r\n")
        #expect(d.codes.last == 454)
        var e = SessionDriver()
        e.feed(Self.hello + "MAIL FROM:<a@b.example>\r\nSTARTTLS\r\nSTARTTLS now\r\n")
        #expect(e.codes == [250, 250, 503, 501])
        #expect(!e.startedTLS)
    }

    @Test func storageIsAwaitedBeforeTheNextCommand() {
        var d = SessionDriver()
        d.autoStore = false
        d.feed(Self.hello + "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n")
        #expect(d.codes == [250, 250, 250, 354])
        #expect(d.session.phase == .storing)
        #expect(d.session.next() == nil)
        #expect(
            d.session.messageNotStored()
                == .reply(
                    SMTPReply(
                        code: 451, lines: ["4.3.0 Local error in processing: message not stored, try again later"])))
        d.run()
        #expect(d.codes == [250, 250, 250, 354, 221])
    }

    @Test func timeoutAndShutdownClose() {
        var d = SessionDriver()
        guard case .replyThenClose(let r) = d.session.timedOut() else {
            Issue.record("no close")
            return
        }
        #expect(r.code == 421 && r.enhancedCode?.description == "4.4.2")
        d.feed("NOOP\r\n")
        #expect(d.codes.isEmpty)
        var e = SessionDriver()
        guard case .replyThenClose(let s) = e.session.shutdown() else { return }
        #expect(s.code == 421)
    }

    @Test func tooManyErrorsCloses() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"], maxErrors: 3))
        d.feed("FOO\r\nBAR\r\nBAZ\r\nQUX\r\nNOOP\r\n")
        #expect(d.codes == [502, 502, 502, 421])
        #expect(d.closed)
    }

    @Test func bareLineEndingsInCommandsAreRefused() {
        var d = SessionDriver()
        d.feed(Self.hello)
        d.replies = []
        d.feed("NOOP\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@return.example>\r\n")
        #expect(d.codes == [500, 503])
    }

    @Test func smtpUTF8Recipients() {
        var d = SessionDriver(.init(hostname: "mx.test", domains: ["return.example"]))
        d.feed(
            Self.hello
                + "MAIL FROM:<a@b.example>\r\nRCPT TO:<jörg@return.example>\r\nRSET\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<jörg@return.example>\r\n"
        )
        #expect(d.codes == [250, 250, 553, 250, 250, 250])
    }

    @Test func dsnParametersAreRecorded() {
        var d = SessionDriver()
        d.feed(
            Self.hello
                + "MAIL FROM:<a@b.example> RET=HDRS ENVID=tok123\r\nRCPT TO:<x@return.example> NOTIFY=SUCCESS ORCPT=rfc822;x@return.example\r\nDATA\r\n.\r\n"
        )
        #expect(d.codes == [250, 250, 250, 354, 250])
        let env = d.messages[0].0
        #expect(env.mailParameters.envelopeID?.value == "tok123")
        #expect(env.mailParameters.ret == .headers)
        #expect(env.recipients[0].parameters.notify?.description == "SUCCESS")
    }
}
