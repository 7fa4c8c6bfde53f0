import MailboxCore
import Testing

@Suite struct POP3ReplyParserTests {
    func replies(_ input: String, expect: [POP3ReplyParser.Expectation], chunk: Int) throws -> [POP3Reply] {
        var p = POP3ReplyParser()
        for e in expect { p.expect(e) }
        var out: [POP3Reply] = []
        let b = bytes(input)
        var i = 0
        while i < b.count {
            p.append(b[i..<min(i + chunk, b.count)])
            i += chunk
            while let r = try p.next() { out.append(r) }
        }
        #expect(p.bufferedByteCount == 0)
        return out
    }

    static let dialog =
        "+OK Dovecot ready.\r\n"
        + "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\nSASL PLAIN LOGIN\r\n.\r\n"
        + "-ERR [IN-USE] Mailbox locked\r\n"
        + "+OK 120 octets\r\nSubject: x\r\n\r\n..leading dot\r\n...two\r\n.\r\n"
        + "+OK 2 messages\r\n1 000001\r\n2 abc-def\r\n.\r\n"

    @Test(arguments: [1, 2, 3, 7, 100])
    func multiLineRepliesAndDotUnstuffing(chunk: Int) throws {
        let r = try replies(
            Self.dialog, expect: [.singleLine, .multiLine, .multiLine, .multiLine, .multiLine], chunk: chunk)
        #expect(r.count == 5)
        #expect(r[0] == POP3Reply(isOK: true, text: "Dovecot ready."))
        #expect(r[1].lines == ["TOP", "UIDL", "STLS", "SASL PLAIN LOGIN"])
        #expect(r[2] == POP3Reply(isOK: false, code: "IN-USE", text: "Mailbox locked"))
        #expect(r[2].body == nil)  // -ERR is one line even where a list was expected
        #expect(r[3].body == bytes("Subject: x\r\n\r\n.leading dot\r\n..two\r\n"))
        #expect(r[4].lines == ["1 000001", "2 abc-def"])
    }

    @Test func emptyMultiLine() throws {
        let r = try replies("+OK\r\n.\r\n", expect: [.multiLine], chunk: 1)
        #expect(r == [POP3Reply(isOK: true, text: "", body: [])])
    }

    @Test func statusLines() throws {
        #expect(try POP3ReplyParser.parseStatus(bytes("+OK")) == POP3Reply(isOK: true, text: ""))
        #expect(
            try POP3ReplyParser.parseStatus(bytes("-ERR [SYS/TEMP] try later"))
                == POP3Reply(isOK: false, code: "SYS/TEMP", text: "try later"))
        #expect(try POP3ReplyParser.parseStatus(bytes("-ERR [AUTH] Authentication failed.")).code == "AUTH")
        #expect(throws: POP3ParseError.self) { try POP3ReplyParser.parseStatus(bytes("OK fine")) }
        #expect(throws: POP3ParseError.self) { try POP3ReplyParser.parseStatus(bytes("+OKAY")) }
        #expect(try POP3ReplyParser.parseStatus(bytes("+OK [IN-USE]")).statusLine == "+OK [IN-USE]")
    }

    @Test func limits() throws {
        var p = POP3ReplyParser(limits: .init(statusLineLength: 10, bodyLineLength: 20, bodySize: 30))
        p.append(bytes(String(repeating: "x", count: 11)))
        #expect(throws: POP3ParseError.lineTooLong(limit: 10)) { try p.next() }
        var q = POP3ReplyParser(limits: .init(statusLineLength: 10, bodyLineLength: 20, bodySize: 30))
        q.expect(.multiLine)
        q.append(bytes("+OK\r\n0123456789\r\n0123456789\r\n0123456789\r\n.\r\n"))
        #expect(throws: POP3ParseError.bodyTooLarge(limit: 30)) { try q.next() }
        var r = POP3ReplyParser()
        r.append(bytes("+OK\n"))
        #expect(throws: POP3ParseError.bareLineFeed) { try r.next() }
    }

    @Test func randomBytesNeverCrash() {
        let alphabet = bytes("+OK-ERR[]. \r\n\r\nx")
        for i in 0..<2000 {
            var p = POP3ReplyParser()
            if i % 2 == 0 { p.expect(.multiLine) }
            p.append((0..<Int.random(in: 0..<80)).map { _ in alphabet.randomElement() ?? 0 })
            while let r = try? p.next() { _ = r }
        }
    }

    @Test func drainKeepsExpectations() throws {
        var p = POP3ReplyParser()
        p.expect(.singleLine)
        p.append(bytes("+OK Begin TLS\r\n+OK injected\r\n"))
        #expect(try p.next()?.text == "Begin TLS")
        #expect(p.drainUnprocessed() == bytes("+OK injected\r\n"))
        #expect(try p.next() == nil)
    }
}

@Suite struct POP3ClientStateMachineTests {
    func greeted(tls: Bool = false, allowPlain: Bool = false) throws -> POP3ClientStateMachine {
        var m = POP3ClientStateMachine(policy: .init(allowPlaintextAuth: allowPlain), implicitTLS: tls)
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.capa) }
        _ = try m.received(POP3Reply(isOK: true, text: "ready"))
        #expect(m.state == .authorization)
        return m
    }

    @Test func stlsOnceBeforeAuthThenCapaForgotten() throws {
        var m = try greeted()
        #expect(try m.send(.capa) == bytes("CAPA\r\n"))
        _ = try m.received(POP3Reply(isOK: true, text: "", body: bytes("STLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n")))
        #expect(m.has("STLS") && m.saslMechanisms == ["PLAIN", "LOGIN"])
        #expect(throws: POP3ClientStateMachine.MachineError(.plaintextAuthRefused)) { try m.send(.user("alice")) }
        _ = try m.send(.stls)
        #expect(
            try m.received(POP3Reply(isOK: true, text: "Begin TLS"))
                == .startTLS(POP3Reply(isOK: true, text: "Begin TLS")))
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.capa) }
        m.tlsEstablished()
        #expect(m.capabilities == nil && m.tlsActive)
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.stls) }
        _ = try m.send(.user("alice"))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        #expect(try m.send(.pass("s3cret")) == bytes("PASS s3cret\r\n"))
        _ = try m.received(POP3Reply(isOK: true, text: "Logged in."))
        #expect(m.state == .transaction)
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.user("x")) }
    }

    @Test func passNeedsAnAcceptedUser() throws {
        var m = try greeted(tls: true)
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.pass("x")) }
        _ = try m.send(.user("alice"))
        _ = try m.received(POP3Reply(isOK: false, text: "no"))
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.pass("x")) }
    }

    @Test func transactionCommandsNeedLogin() throws {
        var m = try greeted(tls: true)
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.retr(1)) }
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.dele(1)) }
    }

    @Test func quitCommitsOnlyMarkedDeletions() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.authPlain(user: "alice", password: "s3cret"))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        _ = try m.send(.dele(2))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        _ = try m.send(.dele(9))
        _ = try m.received(POP3Reply(isOK: false, text: "no such message"))
        #expect(m.markedForDeletion == [2])
        _ = try m.send(.quit)
        _ = try m.received(POP3Reply(isOK: true, text: "bye"))
        #expect(m.state == .update)
        #expect(m.committedDeletions == [2])
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try m.send(.noop) }
    }

    @Test func quitBeforeLoginCommitsNothing() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.quit)
        _ = try m.received(POP3Reply(isOK: true, text: "bye"))
        #expect(m.state == .closed && m.committedDeletions.isEmpty)
    }

    @Test func rsetUnmarks() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.user("a"))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        _ = try m.send(.pass("b"))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        _ = try m.send(.dele(1))
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        _ = try m.send(.rset)
        _ = try m.received(POP3Reply(isOK: true, text: ""))
        #expect(m.markedForDeletion.isEmpty)
    }

    @Test func redactionAndArguments() throws {
        #expect(POP3Command.pass("s3cret").redactedLine == "PASS <redacted>")
        #expect(POP3Command.authPlain(user: "a", password: "s3cret").redactedLine == "AUTH PLAIN <redacted>")
        #expect(
            try POP3Command.authPlain(user: "alice", password: "s3cret").line() == "AUTH PLAIN AGFsaWNlAHMzY3JldA==")
        #expect(POP3Command.retr(3).redactedLine == "RETR 3")
        #expect(throws: POP3ClientStateMachine.MachineError.self) { try POP3Command.user("a\r\nDELE 1").line() }
        #expect(
            POP3Command.uidl.isMultiLine && POP3Command.retr(1).isMultiLine && !POP3Command.uidlOne(1).isMultiLine
                && !POP3Command.dele(1).isMultiLine)
    }

    @Test func plaintextAllowedByPolicy() throws {
        var m = try greeted(allowPlain: true)
        _ = try m.send(.user("alice"))
    }

    @Test func badGreetingCloses() throws {
        var m = POP3ClientStateMachine()
        _ = try m.received(POP3Reply(isOK: false, text: "go away"))
        #expect(m.state == .closed)
    }
}

@Suite struct MailboxURLTests {
    @Test func forms() throws {
        let a = try MailboxURL(parsing: "imaps://reports%40example.org@imap.example.org/INBOX")
        #expect(
            a.scheme == .imaps && a.user == "reports@example.org" && a.host == "imap.example.org" && a.port == 993
                && a.mailbox == "INBOX")
        let b = try MailboxURL(parsing: "imap://user@127.0.0.1:143/Reports%20DSN")
        #expect(b.port == 143 && b.mailbox == "Reports DSN" && !b.scheme.implicitTLS)
        let c = try MailboxURL(parsing: "pop3s://user@pop.example.org")
        #expect(c.port == 995 && c.scheme.implicitTLS)
        let d = try MailboxURL(parsing: "imap://[::1]:2143")
        #expect(d.host == "::1" && d.port == 2143 && d.user == nil && d.mailbox == "INBOX")
        let e = try MailboxURL(parsing: "IMAP://u;AUTH=PLAIN@h/INBOX;UIDVALIDITY=5")
        #expect(e.user == "u" && e.mailbox == "INBOX")
        #expect(a.description == "imaps://reports%40example.org@imap.example.org:993/INBOX")
        #expect(d.description == "imap://[::1]:2143/INBOX")
    }

    @Test(arguments: [
        "imap:/host", "http://h", "imap://u:pw@h/INBOX", "imap://h:0", "imap://h:99999", "pop3://h/INBOX", "imap://",
        "imap://u@h:x", "imap://%zz@h",
    ])
    func rejected(url: String) {
        #expect(throws: MailboxURL.ParseError.self) { try MailboxURL(parsing: url) }
    }
}

@Suite struct MessageSummaryTests {
    @Test func headerScan() {
        let m = bytes(
            "Return-Path: <>\r\nFrom: MAILER-DAEMON@rt.test (Mail Delivery System)\r\nSubject: Successful\r\n Mail Delivery Report\r\nMessage-ID: <abc@rt.test>\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"x\"\r\n\r\nSubject: not a header\r\n"
        )
        let s = MessageSummary(m)
        #expect(s.from == "MAILER-DAEMON@rt.test (Mail Delivery System)")
        #expect(s.subject == "Successful Mail Delivery Report")
        #expect(s.messageID == "<abc@rt.test>")
        #expect(s.isMultipartReport)
        let plain = MessageSummary(bytes("From: a@b\nX-Roundtrip-Probe: tok\nContent-Type: text/plain\n\nbody"))
        #expect(!plain.isMultipartReport && plain.probeToken == "tok" && plain.subject == nil)
        #expect(!MessageSummary([]).isMultipartReport)
    }
}
