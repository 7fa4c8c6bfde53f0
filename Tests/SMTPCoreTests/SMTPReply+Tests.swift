import Testing

@testable import SMTPCore

@Suite("SMTPReply")
struct SMTPReplyTests {
    @Test(arguments: [
        (250, SMTPReply.Class.positiveCompletion), (354, .positiveIntermediate),
        (421, .transientNegative), (554, .permanentNegative),
    ])
    func replyClass(_ code: Int, _ expected: SMTPReply.Class) {
        let r = SMTPReply(code: code, lines: ["x"])
        #expect(r.replyClass == expected)
        #expect(r.isPositive == (code / 100 == 2))
        #expect(r.isIntermediate == (code / 100 == 3))
        #expect(r.isTransient == (code / 100 == 4))
        #expect(r.isPermanent == (code / 100 == 5))
    }

    @Test func emptyLinesBecomeOneEmptyLine() {
        #expect(SMTPReply(code: 250, lines: []).lines == [""])
        #expect(SMTPReply(code: 250, lines: []).wireLines == ["250"])
    }

    @Test(
        arguments: [
            (550, "5.1.1 User unknown", "5.1.1"),
            (250, "2.1.5 Ok", "2.1.5"),
            (451, "4.7.1 Greylisted", "4.7.1"),
            // Class mismatch: the basic code wins, so no enhanced code.
            (550, "2.1.5 odd", nil),
            (250, "5.0.0 odd", nil),
            (421, "5.0.0 odd", nil),
            (550, "User unknown", nil),
            (550, "5.1.1x", nil),
            (550, "", nil),
        ] as [(Int, String, String?)])
    func enhancedCodeFromFirstLine(_ code: Int, _ line: String, _ expected: String?) {
        let r = SMTPReply(code: code, lines: [line, "5.1.1 second line is ignored"])
        #expect(r.enhancedCode?.description == expected)
    }

    @Test func textStripsEnhancedCodesAndJoinsLines() {
        let r = SMTPReply(
            code: 550, lines: ["5.1.1 The email account that you tried to reach", "5.1.1 does not exist."])
        #expect(r.text == "The email account that you tried to reach does not exist.")
        #expect(SMTPReply(code: 250, lines: ["mx.example Hello"]).text == "mx.example Hello")
    }

    @Test func wireLines() {
        let r = SMTPReply(code: 250, lines: ["mx.example", "PIPELINING", "DSN"])
        #expect(r.wireLines == ["250-mx.example", "250-PIPELINING", "250 DSN"])
        #expect(r.description == "250-mx.example\n250-PIPELINING\n250 DSN")
        #expect(SMTPReply(code: 220, lines: ["a", ""]).wireLines == ["220-a", "220"])
        #expect(SMTPReply(code: 220, lines: ["", "b"]).wireLines == ["220-", "220 b"])
    }
}
