import Testing

@testable import SMTPCore

@Suite struct ServerCommandParserTests {
    func parse(_ s: String) -> Result<SMTPServerCommand, ServerCommandError> {
        ServerCommandParser.parse(Array(s.utf8))
    }

    func command(_ s: String) throws -> SMTPServerCommand {
        try parse(s).get()
    }

    func code(_ s: String) -> Int? {
        if case .failure(let e) = parse(s) { return e.reply.code }
        return nil
    }

    @Test(arguments: ["EHLO client.example", "ehlo client.example", "EhLo client.example", "EHLO  client.example "])
    func verbsAreCaseInsensitive(_ line: String) throws {
        #expect(try command(line) == .ehlo("client.example"))
    }

    @Test func simpleVerbs() throws {
        #expect(try command("HELO a.example") == .helo("a.example"))
        #expect(try command("data") == .data)
        #expect(try command("RSET") == .rset)
        #expect(try command("QUIT") == .quit)
        #expect(try command("NOOP") == .noop)
        #expect(try command("NOOP anything at all") == .noop)
        #expect(try command("STARTTLS") == .startTLS)
        #expect(try command("VRFY postmaster") == .vrfy("postmaster"))
        #expect(try command("EXPN list") == .notImplemented(verb: "EXPN"))
        #expect(try command("AUTH PLAIN AGZvbwBiYXI=") == .notImplemented(verb: "AUTH"))
        #expect(try command("XYZZY") == .notImplemented(verb: "XYZZY"))
    }

    @Test(arguments: ["DATA x", "RSET now", "QUIT please", "STARTTLS tls", "EHLO", "HELO", "EHLO ", "VRFY"])
    func argumentErrorsAre501(_ line: String) {
        #expect(code(line) == 501)
    }

    @Test(arguments: ["", " ", "123", "MAIL\u{7}FROM", "ÄHLO x", "EHLO\ta"])
    func garbageIs500(_ line: String) {
        #expect(code(line) == 500)
    }

    @Test(arguments: ["NOOP\n", "NOOP\rRSET", "MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>", "NO\0OP"])
    func bareLineEndingsInCommandsAreRefused(_ line: String) {
        #expect(code(line) == 500)
    }

    @Test func mailFromPlain() throws {
        guard case .mail(.mailbox(let m), let p) = try command("MAIL FROM:<roundtrip+tok@return.example>") else {
            Issue.record("not MAIL")
            return
        }
        #expect(m.localPart == "roundtrip+tok")
        #expect(m.domain == "return.example")
        #expect(p == MailParameters())
    }

    @Test(arguments: ["mail from:<a@b.example>", "MAIL FROM: <a@b.example>", "Mail From:<a@b.example>"])
    func mailFromSpellings(_ line: String) throws {
        guard case .mail(.mailbox(let m), _) = try command(line) else {
            Issue.record("not MAIL")
            return
        }
        #expect(m.description == "a@b.example")
    }

    @Test(arguments: [
        "MAIL FROM:  <a@b.example>", "MAIL FROM <a@b.example>", "MAIL FROM:a@b.example", "MAIL TO:<a@b.example>",
        "MAIL FROM:<a@b.example", "MAIL FROM:<a@b.example>x", "MAIL", "MAIL FROM:<a b@c.example>", "MAIL FROM:<@>",
        "MAIL FROM:<a@>", "MAIL FROM:<@b.example>", "MAIL FROM:<a@b..example>",
    ])
    func badMailSyntaxIs501(_ line: String) {
        #expect(code(line) == 501, "\(line)")
    }

    @Test func nullSender() throws {
        #expect(try command("MAIL FROM:<>") == .mail(.null, MailParameters()))
        #expect(try command("MAIL FROM: <> BODY=8BITMIME") == .mail(.null, MailParameters(body: .eightBitMIME)))
    }

    @Test func sourceRouteIsAcceptedAndDropped() throws {
        guard case .mail(.mailbox(let m), _) = try command("MAIL FROM:<@a.example,@b.example:u@c.example>") else {
            Issue.record("not MAIL")
            return
        }
        #expect(m.description == "u@c.example")
        guard case .rcpt(.mailbox(let r), _) = try command("RCPT TO:<@relay.example:bob@return.example>") else {
            Issue.record("not RCPT")
            return
        }
        #expect(r.description == "bob@return.example")
        #expect(code("MAIL FROM:<@a.example u@c.example>") == 501)
        #expect(code("MAIL FROM:<@a.example,b.example:u@c.example>") == 501)
        #expect(code("MAIL FROM:<@a.example:>") == 501)
    }

    @Test func quotedLocalParts() throws {
        guard case .mail(.mailbox(let m), _) = try command("MAIL FROM:<\"john q\"@b.example> SIZE=10") else {
            Issue.record("not MAIL")
            return
        }
        #expect(m.unquotedLocalPart == "john q")
        guard case .rcpt(.mailbox(let r), _) = try command("RCPT TO:<\"a>b\"@return.example>") else {
            Issue.record("not RCPT")
            return
        }
        #expect(r.unquotedLocalPart == "a>b")
    }

    @Test func postmaster() throws {
        #expect(try command("RCPT TO:<Postmaster>") == .rcpt(.postmaster, RcptParameters()))
        #expect(try command("RCPT TO:<postmaster>") == .rcpt(.postmaster, RcptParameters()))
        #expect(try command("rcpt to:<POSTMASTER> NOTIFY=NEVER") == .rcpt(.postmaster, RcptParameters(notify: .never)))
        #expect(code("RCPT TO:<>") == 501)
    }

    @Test func verpLocalPart() throws {
        guard
            case .rcpt(.mailbox(let r), _) = try command("RCPT TO:<roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example>")
        else {
            Issue.record("not RCPT")
            return
        }
        #expect(r.localPart == "roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d")
    }

    @Test func mailParameters() throws {
        let c = try command("MAIL FROM:<a@b.example> size=1000 body=8bitmime SMTPUTF8 ret=hdrs ENVID=tok+2B1")
        guard case .mail(_, let p) = c else {
            Issue.record("not MAIL")
            return
        }
        #expect(p.size == 1000)
        #expect(p.body == .eightBitMIME)
        #expect(p.smtpUTF8)
        #expect(p.ret == .headers)
        #expect(p.envelopeID?.value == "tok+1")
    }

    @Test(arguments: [
        "SIZE=", "SIZE=abc", "SIZE=-1", "SIZE=99999999999999999999", "BODY=BINARYMIME", "BODY", "SMTPUTF8=yes",
        "RET=ALL", "RET",
        "ENVID=a+2", "ENVID=a+ZZb", "ENVID=", "ENVID=" + String(repeating: "x", count: 101), "ENVID=+00",
        "SIZE=1 SIZE=2",
        "ENVID=a ENVID=b", "=x", "SIZE=1=2",
    ])
    func badMailParametersAre501(_ params: String) {
        #expect(code("MAIL FROM:<a@b.example> \(params)") == 501, "\(params)")
    }

    @Test(arguments: ["AUTH=<>", "FOO", "XVERP", "MT-PRIORITY=3", "NOTIFY=SUCCESS", "BY=100;R"])
    func unknownMailParametersAre555(_ params: String) {
        #expect(code("MAIL FROM:<a@b.example> \(params)") == 555, "\(params)")
    }

    @Test func rcptParameters() throws {
        let c = try command("RCPT TO:<alice@return.example> NOTIFY=success,FAILURE ORCPT=rfc822;alice+2Bx@dest.example")
        guard case .rcpt(_, let p) = c else {
            Issue.record("not RCPT")
            return
        }
        #expect(p.notify == (try DSNNotify([.success, .failure])))
        #expect(p.originalRecipient?.addressType == "rfc822")
        #expect(p.originalRecipient?.address == "alice+x@dest.example")
        let utf8 = try command("RCPT TO:<a@return.example> ORCPT=utf-8;j\\x{E4}rg@dest.example")
        guard case .rcpt(_, let q) = utf8 else { return }
        #expect(q.originalRecipient?.addressType == "utf-8")
    }

    @Test(arguments: [
        "NOTIFY=NEVER,SUCCESS", "NOTIFY=", "NOTIFY=ALWAYS", "NOTIFY=SUCCESS,SUCCESS", "ORCPT=alice@x", "ORCPT=rfc822;",
        "ORCPT=;a@b", "ORCPT=rfc822;a+4", "NOTIFY=NEVER NOTIFY=NEVER",
        "ORCPT=rfc822;" + String(repeating: "a", count: 495),
    ])
    func badRcptParametersAre501(_ params: String) {
        #expect(code("RCPT TO:<a@return.example> \(params)") == 501, "\(params)")
    }

    @Test(arguments: ["SIZE=1", "RET=FULL", "FOO=bar"])
    func unknownRcptParametersAre555(_ params: String) {
        #expect(code("RCPT TO:<a@return.example> \(params)") == 555)
    }

    @Test func nonASCIISenderNeedsSMTPUTF8() throws {
        #expect(code("MAIL FROM:<jörg@b.example>") == 550)
        guard case .mail(.mailbox(let m), let p) = try command("MAIL FROM:<jörg@b.example> SMTPUTF8") else {
            Issue.record("not MAIL")
            return
        }
        #expect(m.requiresSMTPUTF8 && p.smtpUTF8)
    }

    @Test func errorRepliesCarryEnhancedCodes() {
        if case .failure(let e) = parse("MAIL FROM:<a@b.example> FOO") {
            #expect(e.reply.enhancedCode?.description == "5.5.4")
            #expect(e.kind == .unknownParameter)
        } else {
            Issue.record("accepted")
        }
    }
}
