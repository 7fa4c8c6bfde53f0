import Testing

@testable import SMTPCore

@Suite("SMTPSyntaxError")
struct SMTPSyntaxErrorTests {
    static let codes: [SMTPSyntaxError.Code] = [
        .controlCharacter, .emptyValue, .tooLong(limit: 512), .invalidAddress, .invalidParameter, .notifyNeverCombined,
        .duplicateParameter, .invalidReplyCode, .mismatchedReplyCodes, .replyLineTooLong, .replyTooLong,
        .bareLineEnding,
        .invalidEnhancedStatusCode, .nonASCII,
    ]

    @Test(arguments: codes)
    func descriptionStartsWithTheContext(_ code: SMTPSyntaxError.Code) {
        let e = SMTPSyntaxError(code, "ENVID")
        #expect(e.description.hasPrefix("ENVID: "))
        #expect(e.description.count > "ENVID: ".count + 5)
    }

    @Test func descriptionsAreDistinct() {
        let all = Self.codes.map { SMTPSyntaxError($0, "x").description }
        #expect(Set(all).count == all.count)
        #expect(SMTPSyntaxError(.tooLong(limit: 100), "ENVID").description.contains("100"))
    }

    /// Errors about AUTH payloads never repeat the payload.
    @Test(arguments: [
        SMTPCommand.auth(mechanism: "PLAIN", initialResponse: "s3cret canary"),
        .auth(mechanism: "PLAIN", initialResponse: "s3cret\r\ncanary"),
        .authResponse("s3cret canary"),
        .authResponse("s3cret\0canary"),
        .authResponse(String(repeating: "s3cret", count: 3000)),
    ])
    func authErrorsDoNotEchoTheSecret(_ command: SMTPCommand) {
        do {
            _ = try command.encode()
            Issue.record("no error")
        } catch {
            #expect(!String(describing: error).contains("s3cret"))
            #expect(!"\(error)".contains("canary"))
        }
    }

    @Test func sessionErrorsDoNotEchoTheSecret() throws {
        var s = SMTPClientSession(implicitTLS: true)
        _ = try s.receive(SMTPReply(code: 220, lines: ["mx"]))
        _ = try s.send(.ehlo("client.example"))
        _ = try s.receive(SMTPReply(code: 250, lines: ["mx", "AUTH LOGIN"]))
        _ = try s.send(.auth(mechanism: "LOGIN", initialResponse: nil))
        _ = try s.receive(SMTPReply(code: 334, lines: ["UGFzc3dvcmQ6"]))
        do {
            _ = try s.send(.authResponse("s3cret canary"))
            Issue.record("no error")
        } catch {
            #expect(!"\(error)".contains("s3cret"))
        }
    }
}
