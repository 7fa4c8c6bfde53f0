import TestRandom
import Testing

@testable import SMTPCore

@Suite("SMTPCommand")
struct SMTPCommandTests {
    static let probeSender = "roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example"

    struct Fixture: Sendable, CustomTestStringConvertible {
        let command: SMTPCommand
        let line: String
        var testDescription: String { line }
    }

    static func fixtures() throws -> [Fixture] {
        let alice = try SMTPMailbox("alice@dest.example")
        return [
            Fixture(command: .ehlo("client.example"), line: "EHLO client.example"),
            Fixture(command: .ehlo("[192.0.2.7]"), line: "EHLO [192.0.2.7]"),
            Fixture(command: .helo("client.example"), line: "HELO client.example"),
            Fixture(command: .mail(.null, MailParameters()), line: "MAIL FROM:<>"),
            Fixture(command: .mail(.mailbox(alice), MailParameters()), line: "MAIL FROM:<alice@dest.example>"),
            Fixture(
                command: .mail(.mailbox(alice), MailParameters(size: 4096, body: .eightBitMIME, smtpUTF8: true)),
                line: "MAIL FROM:<alice@dest.example> SIZE=4096 BODY=8BITMIME SMTPUTF8"),
            Fixture(
                command: .mail(.mailbox(try SMTPMailbox("john q@x.example")), MailParameters(ret: .full)),
                line: "MAIL FROM:<\"john q\"@x.example> RET=FULL"),
            Fixture(command: .rcpt(alice, RcptParameters()), line: "RCPT TO:<alice@dest.example>"),
            Fixture(
                command: .rcpt(alice, RcptParameters(notify: .never)), line: "RCPT TO:<alice@dest.example> NOTIFY=NEVER"
            ),
            Fixture(
                command: .rcpt(
                    try SMTPMailbox("jöran@example.org"),
                    RcptParameters(
                        notify: try DSNNotify(parsing: "failure,success"),
                        originalRecipient: try OriginalRecipient(SMTPMailbox("jöran@example.org")))),
                line: "RCPT TO:<jöran@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=utf-8;j\\x{F6}ran@example.org"),
            Fixture(command: .data, line: "DATA"),
            Fixture(command: .rset, line: "RSET"),
            Fixture(command: .noop, line: "NOOP"),
            Fixture(command: .quit, line: "QUIT"),
            Fixture(command: .vrfy("alice"), line: "VRFY alice"),
            Fixture(command: .vrfy("John Smith"), line: "VRFY John Smith"),
            Fixture(command: .startTLS, line: "STARTTLS"),
            Fixture(command: .auth(mechanism: "LOGIN", initialResponse: nil), line: "AUTH LOGIN"),
            Fixture(
                command: .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHMzY3JldA=="),
                line: "AUTH PLAIN AGFsaWNlAHMzY3JldA=="),
            Fixture(command: .auth(mechanism: "PLAIN", initialResponse: "="), line: "AUTH PLAIN ="),
            Fixture(command: .authResponse("YWxpY2U="), line: "YWxpY2U="),
            Fixture(command: .authResponse("*"), line: "*"),
            Fixture(command: .authResponse(""), line: ""),
        ]
    }

    @Test(arguments: try fixtures())
    func exactWireLines(_ f: Fixture) throws {
        #expect(try f.command.line() == f.line)
        #expect(try f.command.encode() == Array((f.line + "\r\n").utf8))
    }

    /// RFC 3461 §4: the probe envelope, byte for byte.
    @Test func probeEnvelopeWireLines() throws {
        let mail = SMTPCommand.mail(
            .mailbox(try SMTPMailbox(Self.probeSender)),
            MailParameters(ret: .headers, envelopeID: try EnvelopeID("k3v9x2q8m4tz7c1bh6n0wr5d")))
        #expect(
            try mail.encode()
                == Array(
                    "MAIL FROM:<roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example> RET=HDRS ENVID=k3v9x2q8m4tz7c1bh6n0wr5d\r\n"
                        .utf8))
        let alice = try SMTPMailbox("alice@dest.example")
        let rcpt = SMTPCommand.rcpt(
            alice, RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(alice)))
        #expect(
            try rcpt.encode()
                == Array(
                    "RCPT TO:<alice@dest.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;alice@dest.example\r\n".utf8
                ))
    }

    @Test func verbs() throws {
        let pairs: [(SMTPCommand, SMTPCommand.Verb, String)] = [
            (.ehlo("a"), .ehlo, "EHLO"), (.helo("a"), .helo, "HELO"),
            (.mail(.null, MailParameters()), .mail, "MAIL"),
            (.rcpt(try SMTPMailbox("a@b"), RcptParameters()), .rcpt, "RCPT"),
            (.data, .data, "DATA"), (.rset, .rset, "RSET"), (.noop, .noop, "NOOP"), (.quit, .quit, "QUIT"),
            (.vrfy("a"), .vrfy, "VRFY"), (.startTLS, .startTLS, "STARTTLS"),
            (.auth(mechanism: "PLAIN", initialResponse: nil), .auth, "AUTH"),
            (.authResponse("x"), .authResponse, "AUTH-RESPONSE"),
        ]
        for (command, verb, raw) in pairs {
            #expect(command.verb == verb)
            #expect(verb.rawValue == raw)
        }
    }

    @Test func onlyMailRcptAndRsetMayStandMidBatch() throws {
        #expect(SMTPCommand.mail(.null, MailParameters()).mayBePipelinedMidBatch)
        #expect(SMTPCommand.rcpt(try SMTPMailbox("a@b"), RcptParameters()).mayBePipelinedMidBatch)
        #expect(SMTPCommand.rset.mayBePipelinedMidBatch)
        let enders: [SMTPCommand] = [
            .ehlo("a"), .helo("a"), .data, .noop, .quit, .vrfy("a"), .startTLS,
            .auth(mechanism: "PLAIN", initialResponse: "AA=="), .authResponse("x"),
        ]
        for c in enders {
            #expect(!c.mayBePipelinedMidBatch, "\(c.verb)")
        }
    }

    // MARK: injection

    /// Every free-text field of every command, with every control character.
    static func injectionCommands(_ c: String) -> [SMTPCommand] {
        [
            .ehlo("client\(c).example"), .ehlo("client.example\(c)"), .ehlo("\(c)"),
            .helo("client\(c).example"),
            .vrfy("alice\(c)"), .vrfy("\(c)QUIT"),
            .auth(mechanism: "PL\(c)AIN", initialResponse: nil),
            .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNl\(c)AHMzY3JldA=="),
            .authResponse("YWxp\(c)Y2U="), .authResponse("\(c)"),
        ]
    }

    @Test(arguments: controlBytes)
    func everyFieldRefusesControlCharacters(_ byte: UInt8) {
        let c = String(decoding: [byte], as: UTF8.self)
        for command in Self.injectionCommands(c) {
            #expect(syntaxErrorCode { try command.line() } == .controlCharacter, "\(command.verb) with \(byte)")
            #expect(syntaxErrorCode { try command.encode() } == .controlCharacter, "\(command.verb) with \(byte)")
        }
    }

    @Test(arguments: [
        "client.example\r\nMAIL FROM:<mallory@evil.example>",
        "client.example\nRSET",
        "client.example\r",
        "\r\n",
    ])
    func ehloRefusesSmuggledCommands(_ name: String) {
        #expect(syntaxErrorCode { try SMTPCommand.ehlo(name).encode() } == .controlCharacter)
        #expect(syntaxErrorCode { try SMTPCommand.helo(name).encode() } == .controlCharacter)
    }

    @Test func tokensRefuseSpacesAndEmptiness() {
        #expect(syntaxErrorCode { try SMTPCommand.ehlo("").line() } == .emptyValue)
        #expect(syntaxErrorCode { try SMTPCommand.helo("").line() } == .emptyValue)
        #expect(syntaxErrorCode { try SMTPCommand.ehlo("client example").line() } == .invalidParameter)
        #expect(syntaxErrorCode { try SMTPCommand.ehlo("client.example QUIT").line() } == .invalidParameter)
        #expect(syntaxErrorCode { try SMTPCommand.vrfy("").line() } == .emptyValue)
        #expect(syntaxErrorCode { try SMTPCommand.auth(mechanism: "", initialResponse: nil).line() } == .emptyValue)
        #expect(
            syntaxErrorCode { try SMTPCommand.auth(mechanism: "PLAIN X", initialResponse: nil).line() }
                == .invalidParameter)
        #expect(syntaxErrorCode { try SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "").line() } == .emptyValue)
        #expect(
            syntaxErrorCode { try SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "a b").line() }
                == .invalidParameter)
        #expect(syntaxErrorCode { try SMTPCommand.authResponse("a b").line() } == .invalidParameter)
    }

    /// RFC 6531 §3.7.1: EHLO and HELO names are ASCII (A-labels), even with SMTPUTF8.
    @Test func ehloNameMustBeASCII() throws {
        #expect(syntaxErrorCode { try SMTPCommand.ehlo("bücher.example").line() } == .nonASCII)
        #expect(syntaxErrorCode { try SMTPCommand.helo("bücher.example").line() } == .nonASCII)
        #expect(try SMTPCommand.ehlo("xn--bcher-kva.example").line() == "EHLO xn--bcher-kva.example")
    }

    // MARK: line limits

    @Test func commandLineLimitIs512OctetsWithCRLF() throws {
        let name = String(repeating: "a", count: 505)
        #expect(try SMTPCommand.ehlo(name).encode().count == 512)
        #expect(syntaxErrorCode { try SMTPCommand.ehlo(name + "a").encode() } == .tooLong(limit: 512))
        #expect(try SMTPCommand.vrfy(name).encode().count == 512)
        #expect(syntaxErrorCode { try SMTPCommand.vrfy(name + "a").encode() } == .tooLong(limit: 512))
    }

    @Test func authLinesMayReach12288Octets() throws {
        let initial = String(repeating: "A", count: 12288 - "AUTH PLAIN ".utf8.count - 2)
        #expect(try SMTPCommand.auth(mechanism: "PLAIN", initialResponse: initial).encode().count == 12288)
        #expect(
            syntaxErrorCode { try SMTPCommand.auth(mechanism: "PLAIN", initialResponse: initial + "A").encode() }
                == .tooLong(limit: 12288))
        let response = String(repeating: "A", count: 12286)
        #expect(try SMTPCommand.authResponse(response).encode().count == 12288)
        #expect(syntaxErrorCode { try SMTPCommand.authResponse(response + "A").encode() } == .tooLong(limit: 12288))
    }

    @Test func longestDSNLinesFitTheirLimit() throws {
        // The longest path, NOTIFY and ORCPT all at once stay under 1036 (RFC 3461 §5).
        let local = String(repeating: "a", count: 64)
        let box = try SMTPMailbox("\(local)@\(makeDomain(length: 189))")
        let orcpt = try OriginalRecipient(address: String(repeating: "b", count: 487))
        let line = try SMTPCommand.rcpt(box, RcptParameters(notify: .all, originalRecipient: orcpt)).encode()
        #expect(line.count > 512)
        #expect(line.count <= 1036)
        let mail = try SMTPCommand.mail(
            .mailbox(box),
            MailParameters(
                size: Int.max, body: .eightBitMIME, smtpUTF8: true, ret: .headers,
                envelopeID: try EnvelopeID(String(repeating: "e", count: 100)))
        ).encode()
        #expect(mail.count <= 1036)
        #expect(mail.suffix(2) == [0x0D, 0x0A])
    }

    // MARK: redaction

    @Test func redactedLineNeverShowsAuthSecrets() throws {
        let canary = "AGFsaWNlAHMzY3JldC1jYW5hcnk="  // "\0alice\0s3cret-canary"
        let commands: [SMTPCommand] = [
            .auth(mechanism: "PLAIN", initialResponse: canary),
            .authResponse(canary),
            .authResponse("s3cret-canary"),
            .authResponse("s3cret-canary\r\nQUIT"),
            .auth(mechanism: "PLAIN", initialResponse: canary + "\r\n"),
        ]
        for c in commands {
            #expect(!c.redactedLine.contains(canary))
            #expect(!c.redactedLine.contains("s3cret"))
        }
        #expect(SMTPCommand.auth(mechanism: "PLAIN", initialResponse: canary).redactedLine == "AUTH PLAIN <redacted>")
        #expect(SMTPCommand.authResponse(canary).redactedLine == "<redacted>")
        #expect(SMTPCommand.auth(mechanism: "LOGIN", initialResponse: nil).redactedLine == "AUTH LOGIN")
    }

    @Test func redactedLineOfOtherCommands() throws {
        #expect(SMTPCommand.ehlo("client.example").redactedLine == "EHLO client.example")
        #expect(
            SMTPCommand.rcpt(try SMTPMailbox("a@b.example"), RcptParameters(notify: .never)).redactedLine
                == "RCPT TO:<a@b.example> NOTIFY=NEVER")
        #expect(SMTPCommand.vrfy("a\r\nb").redactedLine == "VRFY <invalid>")
        #expect(SMTPCommand.ehlo("").redactedLine == "EHLO <invalid>")
    }

    /// A transcript line never carries a line break, even for invalid input.
    @Test(arguments: controlBytes)
    func redactedLineHasNoControlCharacters(_ byte: UInt8) {
        let c = String(decoding: [byte], as: UTF8.self)
        for command in Self.injectionCommands(c) {
            #expect(!command.redactedLine.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "\(command.verb) with \(byte)")
        }
    }

    // MARK: property: nothing but the final CRLF ever ends a line

    static let alphabet: [String] =
        [
            "\r", "\n", "\r\n", "\0", "\u{7F}", "\t", "\u{1B}", "\u{0B}", "\u{0C}", " ", "<", ">", "@", "@", "\"", "\\",
            "+", "=", ",", ":", ";", ".", "[", "]", "é", "\u{85}", "\u{2028}", "😀",
        ] + Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_").map(String.init)

    static func randomText(_ rng: inout SeededGenerator, maxLength: Int = 24) -> String {
        let n = Int.random(in: 0...maxLength, using: &rng)
        var s = ""
        for _ in 0..<n {
            // Mostly letters, so that a fair share of inputs are valid.
            if Int.random(in: 0..<4, using: &rng) == 0 {
                s += alphabet.randomElement(using: &rng)!
            } else {
                s += alphabet[(alphabet.count - 64)...].randomElement(using: &rng)!
            }
        }
        return s
    }

    static func randomCommand(_ rng: inout SeededGenerator) throws -> SMTPCommand {
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return .ehlo(randomText(&rng))
        case 1: return .helo(randomText(&rng))
        case 2: return .vrfy(randomText(&rng))
        case 3:
            return .auth(
                mechanism: randomText(&rng, maxLength: 8),
                initialResponse: Bool.random(using: &rng) ? randomText(&rng) : nil)
        case 4: return .authResponse(randomText(&rng))
        case 5:
            let mailbox = try SMTPMailbox(randomText(&rng) + "@" + randomText(&rng))
            let envid = Bool.random(using: &rng) ? try EnvelopeID(randomText(&rng)) : nil
            return .mail(.mailbox(mailbox), MailParameters(ret: .headers, envelopeID: envid))
        default:
            let mailbox = try SMTPMailbox(randomText(&rng) + "@" + randomText(&rng))
            let notify =
                Bool.random(using: &rng) ? try DSNNotify(parsing: randomText(&rng, maxLength: 8)) : DSNNotify.all
            let orcpt = try OriginalRecipient(
                address: randomText(&rng), addressType: Bool.random(using: &rng) ? "utf-8" : nil)
            return .rcpt(mailbox, RcptParameters(notify: notify, originalRecipient: orcpt))
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func encodeNeverEmitsALineBreakExceptTheFinalCRLF(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var accepted = 0
        var refused = 0
        for _ in 0..<3000 {
            do {
                let command = try Self.randomCommand(&rng)
                let bytes = try command.encode()
                accepted += 1
                #expect(bytes.suffix(2) == [0x0D, 0x0A])
                let body = bytes.dropLast(2)
                #expect(
                    !body.contains { $0 < 0x20 || $0 == 0x7F },
                    "\(String(decoding: bytes, as: UTF8.self).debugDescription)")
                #expect(!command.redactedLine.utf8.contains { $0 == 0x0D || $0 == 0x0A })
            } catch is SMTPSyntaxError {
                refused += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        // Both outcomes must really occur, or the property proves nothing.
        #expect(accepted > 300)
        #expect(refused > 300)
    }
}
