import MailboxCore
import Testing

func text(_ e: IMAPEncodedCommand) -> String { String(decoding: e.parts.joined(), as: UTF8.self) }

@Suite struct IMAPCommandEncoderTests {
    let enc = IMAPCommandEncoder()

    @Test func atomQuotedOrLiteral() throws {
        #expect(IMAPCommandEncoder.form(of: "INBOX", astring: true) == .atom)
        #expect(IMAPCommandEncoder.form(of: "NIL", astring: true) == .quoted)
        #expect(IMAPCommandEncoder.form(of: "", astring: true) == .quoted)
        #expect(IMAPCommandEncoder.form(of: "Roundtrip/Processed", astring: true) == .atom)
        #expect(IMAPCommandEncoder.form(of: "with space", astring: true) == .quoted)
        #expect(IMAPCommandEncoder.form(of: "a\"b\\c", astring: true) == .quoted)
        #expect(IMAPCommandEncoder.form(of: "Grüße", astring: true) == .literal)
        #expect(IMAPCommandEncoder.form(of: "line\r\nbreak", astring: true) == .literal)
        #expect(IMAPCommandEncoder.form(of: "token", astring: false) == .quoted)
    }

    @Test func commandsOnTheWire() throws {
        #expect(text(try enc.encode(.select("INBOX"), tag: "a3")) == "a3 SELECT INBOX\r\n")
        #expect(text(try enc.encode(.select("My Reports"), tag: "a3")) == "a3 SELECT \"My Reports\"\r\n")
        #expect(
            text(try enc.encode(.uidSearch([.header("X-Roundtrip-Probe", "k3v9")]), tag: "a4"))
                == "a4 UID SEARCH HEADER X-Roundtrip-Probe \"k3v9\"\r\n")
        let since = try #require(IMAPDate(year: 2025, month: 3, day: 3))
        #expect(
            text(try enc.encode(.uidSearch([.since(since), .text("tok")]), tag: "a5"))
                == "a5 UID SEARCH SINCE 3-Mar-2025 TEXT \"tok\"\r\n")
        #expect(text(try enc.encode(.uidSearch([.uid(.from(4100))]), tag: "a7")) == "a7 UID SEARCH UID 4100:*\r\n")
        #expect(text(try enc.encode(.uidSearch([]), tag: "a7")) == "a7 UID SEARCH ALL\r\n")
        #expect(
            text(
                try enc.encode(
                    .uidFetch(IMAPSequenceSet(numbers: [4101]), items: ["UID", "RFC822.SIZE", "BODY.PEEK[]"]), tag: "a8"
                )) == "a8 UID FETCH 4101 (UID RFC822.SIZE BODY.PEEK[])\r\n")
        #expect(
            text(
                try enc.encode(
                    .uidStoreAddFlags(IMAPSequenceSet(numbers: [4107, 4108, 4110]), flags: ["\\Deleted"]), tag: "a11"))
                == "a11 UID STORE 4107:4108,4110 +FLAGS.SILENT (\\Deleted)\r\n")
        #expect(
            text(try enc.encode(.uidExpunge(IMAPSequenceSet(numbers: [4107])), tag: "a12"))
                == "a12 UID EXPUNGE 4107\r\n")
        #expect(
            text(try enc.encode(.uidMove(IMAPSequenceSet(numbers: [4101]), mailbox: "Roundtrip/Processed"), tag: "a10"))
                == "a10 UID MOVE 4101 Roundtrip/Processed\r\n")
        #expect(text(try enc.encode(.idle, tag: "a13")) == "a13 IDLE\r\n")
        #expect(throws: IMAPEncodingError.emptySet) { try enc.encode(.uidExpunge(IMAPSequenceSet([])), tag: "a1") }
        #expect(throws: IMAPEncodingError.self) {
            try enc.encode(.uidStoreAddFlags(IMAPSequenceSet(numbers: [1]), flags: ["a)b"]), tag: "a1")
        }
    }

    @Test func quotedEscapesOnlyQuoteAndBackslash() throws {
        #expect(
            text(try enc.encode(.login(user: "u", password: "p\"q\\r"), tag: "a1")) == "a1 LOGIN u \"p\\\"q\\\\r\"\r\n")
    }

    @Test func synchronisingLiteralSplitsTheCommand() throws {
        let e = try enc.encode(.login(user: "alice", password: "pässword"), tag: "a2")
        #expect(e.parts.count == 2)
        #expect(String(decoding: e.parts[0], as: UTF8.self) == "a2 LOGIN alice {9}\r\n")
        #expect(String(decoding: e.parts[1], as: UTF8.self) == "pässword\r\n")
        #expect(e.redacted == "a2 LOGIN <redacted>")
        let plus = try IMAPCommandEncoder(literalPlus: true).encode(
            .login(user: "alice", password: "pässword"), tag: "a2")
        #expect(plus.parts.count == 1)
        #expect(text(plus) == "a2 LOGIN alice {9+}\r\npässword\r\n")
    }

    @Test func authenticatePlain() throws {
        let e = try enc.encode(.authenticatePlain(user: "alice", password: "s3cret", initialResponse: true), tag: "a2")
        #expect(text(e) == "a2 AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldA==\r\n")
        #expect(e.redacted == "a2 AUTHENTICATE PLAIN <redacted>")
        #expect(!e.redacted.contains("AGFsaWNl"))
    }

    @Test func descriptionsRedactSecrets() {
        #expect(IMAPCommand.select("INBOX").description == "SELECT INBOX")
        #expect(IMAPCommand.login(user: "alice", password: "s3cret").description == "LOGIN <redacted>")
        #expect(
            IMAPCommand.authenticatePlain(user: "alice", password: "s3cret", initialResponse: true).description
                == "AUTHENTICATE PLAIN <redacted>")
        #expect(!String(reflecting: IMAPCommand.login(user: "alice", password: "s3cret")).contains("s3cret"))
        #expect("\(POP3Command.pass("s3cret"))" == "PASS <redacted>")
    }

    @Test func tags() {
        var g = IMAPTagGenerator()
        #expect([g.next(), g.next(), g.next()] == ["a1", "a2", "a3"])
    }

    @Test func sequenceSets() {
        #expect(IMAPSequenceSet(numbers: [5, 1, 2, 3, 9, 3]).description == "1:3,5,9")
        #expect(IMAPSequenceSet.from(7).description == "7:*")
    }
}

@Suite struct IMAPClientStateMachineTests {
    func greeted(
        _ caps: String = "IMAP4rev1 STARTTLS AUTH=PLAIN SASL-IR IDLE", tls: Bool = false, allowPlain: Bool = false
    ) throws -> IMAPClientStateMachine {
        var m = IMAPClientStateMachine(policy: .init(allowPlaintextAuth: allowPlain), implicitTLS: tls)
        #expect(try m.receivedGreeting(try parse("* OK [CAPABILITY \(caps)] ready\r\n")) == .ok)
        return m
    }

    func complete(_ m: inout IMAPClientStateMachine, _ line: String) throws -> IMAPClientStateMachine.Event {
        try m.received(try parse(line))
    }

    func loggedInAndSelected(caps: String) throws -> IMAPClientStateMachine {
        var m = try greeted("IMAP4rev1 AUTH=PLAIN", tls: true)
        _ = try m.send(.login(user: "u", password: "p"))
        _ = try complete(&m, "a1 OK [CAPABILITY \(caps)] Logged in\r\n")
        _ = try m.send(.select("INBOX"))
        _ = try complete(&m, "* OK [UIDVALIDITY 42] ok\r\n")
        _ = try complete(&m, "a2 OK [READ-WRITE] selected\r\n")
        return m
    }

    @Test func greetingForms() throws {
        var pre = IMAPClientStateMachine()
        #expect(try pre.receivedGreeting(try parse("* PREAUTH ok\r\n")) == .preauth)
        #expect(pre.state == .authenticated)
        var bye = IMAPClientStateMachine()
        #expect(try bye.receivedGreeting(try parse("* BYE go away\r\n")) == .bye)
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try bye.send(.noop) }
        var none = IMAPClientStateMachine()
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try none.send(.capability) }
        #expect(throws: IMAPClientStateMachine.MachineError.self) {
            try none.receivedGreeting(try parse("a1 OK hi\r\n"))
        }
    }

    @Test func starttlsForgetsCapabilitiesAndBlocksUntilHandshake() throws {
        var m = try greeted()
        #expect(m.has("STARTTLS"))
        let e = try m.send(.startTLS)
        #expect(text(e) == "a1 STARTTLS\r\n")
        #expect(try complete(&m, "a1 OK Begin TLS negotiation now\r\n") == .startTLS)
        #expect(m.state == .awaitingTLSHandshake)
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.send(.capability) }
        m.tlsEstablished()
        #expect(m.tlsActive)
        #expect(m.capabilities.isEmpty)
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.send(.startTLS) }
        _ = try m.send(.capability)
        #expect(
            try complete(&m, "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE\r\n")
                == .untagged(.capability(["IMAP4rev1", "AUTH=PLAIN", "IDLE"])))
        _ = try complete(&m, "a2 OK done\r\n")
        #expect(m.has("auth=plain"))
    }

    @Test func credentialsNeedTLS() throws {
        var m = try greeted()
        #expect(throws: IMAPClientStateMachine.MachineError(.plaintextAuthRefused)) {
            try m.send(.login(user: "u", password: "p"))
        }
        #expect(throws: IMAPClientStateMachine.MachineError(.plaintextAuthRefused)) {
            try m.send(.authenticatePlain(user: "u", password: "p", initialResponse: true))
        }
        var allowed = try greeted(allowPlain: true)
        _ = try allowed.send(.login(user: "u", password: "p"))
        var disabled = try greeted("IMAP4rev1 LOGINDISABLED", tls: true)
        #expect(throws: IMAPClientStateMachine.MachineError(.loginDisabled)) {
            try disabled.send(.login(user: "u", password: "p"))
        }
    }

    @Test func loginForgetsCapabilitiesUnlessTheOKCarriesThem() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.login(user: "u", password: "p"))
        _ = try complete(&m, "a1 OK Logged in\r\n")
        #expect(m.state == .authenticated)
        #expect(m.capabilities.isEmpty)
        var n = try greeted(tls: true)
        _ = try n.send(.login(user: "u", password: "p"))
        _ = try complete(&n, "a1 OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] Logged in\r\n")
        #expect(n.has("MOVE") && n.has("UIDPLUS"))
    }

    @Test func failedLoginStaysUnauthenticated() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.login(user: "u", password: "p"))
        let e = try complete(&m, "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        #expect(
            e
                == .completed(
                    .login(user: "u", password: "p"),
                    .init(tag: "a1", status: .no, code: .authenticationFailed, text: "Authentication failed.")))
        #expect(m.state == .notAuthenticated)
    }

    @Test func authenticatePlainWithoutSASLIRWaitsForContinuation() throws {
        var m = try greeted("IMAP4rev1 AUTH=PLAIN", tls: true)
        #expect(throws: IMAPClientStateMachine.MachineError(.capabilityMissing("SASL-IR"))) {
            try m.send(.authenticatePlain(user: "alice", password: "s3cret", initialResponse: true))
        }
        let e = try m.send(.authenticatePlain(user: "alice", password: "s3cret", initialResponse: false))
        #expect(text(e) == "a1 AUTHENTICATE PLAIN\r\n")
        #expect(try complete(&m, "+ \r\n") == .sendContinuation(bytes("AGFsaWNlAHMzY3JldA==\r\n")))
        #expect(try complete(&m, "+ again?\r\n") == .sendContinuation(bytes("*\r\n")))
        _ = try complete(&m, "a1 BAD aborted\r\n")
        #expect(m.state == .notAuthenticated)
    }

    @Test func synchronisingLiteralContinues() throws {
        var m = try greeted(tls: true)
        let e = try m.send(.login(user: "alice", password: "pässword"))
        #expect(e.parts.count == 2)
        #expect(try complete(&m, "+ Ready for literal data\r\n") == .sendContinuation(bytes("pässword\r\n")))
        _ = try complete(&m, "a1 OK in\r\n")
        #expect(m.state == .authenticated)
    }

    @Test func literalCancelledByNo() throws {
        var m = try greeted(tls: true)
        _ = try m.send(.login(user: "alice", password: "pässword"))
        _ = try complete(&m, "a1 NO too long\r\n")
        #expect(!m.hasPendingCommand)
        #expect(m.state == .notAuthenticated)
    }

    @Test func oneCommandAtATimeAndTagsMustMatch() throws {
        var m = try greeted()
        _ = try m.send(.noop)
        #expect(throws: IMAPClientStateMachine.MachineError(.busy)) { try m.send(.noop) }
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try complete(&m, "a9 OK no\r\n") }
    }

    @Test func selectTracksUIDValidityAndState() throws {
        var m = try greeted(tls: true)
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.send(.select("INBOX")) }
        _ = try m.send(.login(user: "u", password: "p"))
        _ = try complete(&m, "a1 OK in\r\n")
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.send(.uidSearch([.all])) }
        _ = try m.send(.select("INBOX"))
        _ = try complete(&m, "* 3 EXISTS\r\n")
        _ = try complete(&m, "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n")
        _ = try complete(&m, "a2 OK [READ-WRITE] Select completed\r\n")
        #expect(m.state == .selected("INBOX"))
        #expect(m.uidValidity == 1_700_000_000)
        _ = try m.send(.select("Nope"))
        #expect(m.uidValidity == nil)
        _ = try complete(&m, "a3 NO Mailbox doesn't exist\r\n")
        #expect(m.state == .authenticated)
    }

    @Test func untaggedExistsDuringACommandIsPassedOn() throws {
        var m = try loggedInAndSelected(caps: "IMAP4rev1")
        _ = try m.send(.uidSearch([.all]))
        #expect(try complete(&m, "* 4 EXISTS\r\n") == .untagged(.exists(4)))
        #expect(try complete(&m, "* SEARCH 1 2\r\n") == .untagged(.search([1, 2])))
        guard case .completed(.uidSearch, _) = try complete(&m, "a3 OK done\r\n") else {
            Issue.record("not completed")
            return
        }
    }

    @Test func cleanupCommandsNeedTheirCapabilities() throws {
        var plain = try loggedInAndSelected(caps: "IMAP4rev1")
        #expect(throws: IMAPClientStateMachine.MachineError(.capabilityMissing("MOVE"))) {
            try plain.send(.uidMove(IMAPSequenceSet(numbers: [1]), mailbox: "X"))
        }
        #expect(throws: IMAPClientStateMachine.MachineError(.capabilityMissing("UIDPLUS"))) {
            try plain.send(.uidExpunge(IMAPSequenceSet(numbers: [1])))
        }
        _ = try plain.send(.uidStoreAddFlags(IMAPSequenceSet(numbers: [1]), flags: ["\\Seen"]))
        var rev2 = try loggedInAndSelected(caps: "IMAP4rev2")
        _ = try rev2.send(.uidMove(IMAPSequenceSet(numbers: [1]), mailbox: "X"))
    }

    @Test func idleLifecycle() throws {
        var m = try loggedInAndSelected(caps: "IMAP4rev1 IDLE")
        let t0 = ContinuousClock.now
        let e = try m.send(.idle)
        #expect(text(e) == "a3 IDLE\r\n")
        #expect(throws: IMAPClientStateMachine.MachineError(.commandWhileIdle)) { try m.send(.noop) }
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.endIdle() }
        #expect(m.isIdling && !m.idleRunning)
        #expect(try m.received(try parse("+ idling\r\n"), now: t0) == .idleStarted)
        #expect(m.idleRunning)
        #expect(m.isIdling)
        #expect(m.idleDeadline == t0 + .seconds(25 * 60))
        #expect(!m.idleNeedsReissue(now: t0 + .seconds(24 * 60)))
        #expect(m.idleNeedsReissue(now: t0 + .seconds(25 * 60)))
        #expect(try complete(&m, "* 5 EXISTS\r\n") == .untagged(.exists(5)))
        #expect(throws: IMAPClientStateMachine.MachineError(.commandWhileIdle)) { try m.send(.noop) }
        #expect(try m.endIdle() == bytes("DONE\r\n"))
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.endIdle() }
        #expect(throws: IMAPClientStateMachine.MachineError(.commandWhileIdle)) { try m.send(.noop) }
        #expect(
            try complete(&m, "a3 OK Idle completed\r\n")
                == .completed(.idle, .init(tag: "a3", status: .ok, text: "Idle completed")))
        #expect(!m.isIdling)
        _ = try m.send(.noop)
    }

    @Test func idleNeedsTheCapability() throws {
        var m = try loggedInAndSelected(caps: "IMAP4rev1")
        #expect(throws: IMAPClientStateMachine.MachineError(.capabilityMissing("IDLE"))) { try m.send(.idle) }
    }

    @Test func idleRefusedByServer() throws {
        var m = try loggedInAndSelected(caps: "IMAP4rev1 IDLE")
        _ = try m.send(.idle)
        _ = try complete(&m, "a3 BAD no idle for you\r\n")
        #expect(!m.isIdling)
        _ = try m.send(.noop)
    }

    @Test func byeEndsTheSession() throws {
        var m = try loggedInAndSelected(caps: "IMAP4rev1 IDLE")
        _ = try m.send(.logout)
        #expect(try complete(&m, "* BYE Logging out\r\n") == .bye("Logging out"))
        _ = try complete(&m, "a3 OK Logout completed.\r\n")
        #expect(m.state == .loggedOut)
        #expect(throws: IMAPClientStateMachine.MachineError.self) { try m.send(.noop) }
    }
}
