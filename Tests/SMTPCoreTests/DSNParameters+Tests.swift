import Testing

@testable import SMTPCore

@Suite("DSN parameters (RFC 3461 §4, RFC 6533)")
struct DSNParametersTests {
    // MARK: RET

    @Test func returnRawValues() {
        #expect(DSNReturn.full.rawValue == "FULL")
        #expect(DSNReturn.headers.rawValue == "HDRS")
        #expect(DSNReturn.allCases.count == 2)
    }

    // MARK: NOTIFY

    @Test(arguments: [
        ("NEVER", "NEVER"), ("never", "NEVER"), ("Never", "NEVER"),
        ("SUCCESS", "SUCCESS"), ("failure", "FAILURE"), ("Delay", "DELAY"),
        ("SUCCESS,FAILURE,DELAY", "SUCCESS,FAILURE,DELAY"),
        ("delay,failure,success", "SUCCESS,FAILURE,DELAY"),
        ("DELAY,SUCCESS", "SUCCESS,DELAY"),
        ("failure,DELAY", "FAILURE,DELAY"),
        ("Failure,Success", "SUCCESS,FAILURE"),
    ])
    func notifyParsesCaseInsensitivelyAndPrintsCanonically(_ input: String, _ canonical: String) throws {
        let n = try DSNNotify(parsing: input)
        #expect(n.description == canonical)
        #expect(n.isNever == (canonical == "NEVER"))
        #expect(try DSNNotify(parsing: n.description) == n)
    }

    @Test(arguments: ["NEVER,SUCCESS", "SUCCESS,NEVER", "never,delay", "FAILURE,NEVER,DELAY", "NEVER,NEVER"])
    func notifyNeverStandsAlone(_ input: String) {
        #expect(syntaxErrorCode { try DSNNotify(parsing: input) } == .notifyNeverCombined)
    }

    @Test(arguments: ["SUCCESS,SUCCESS", "success,SUCCESS", "DELAY,FAILURE,delay"])
    func notifyRefusesDuplicates(_ input: String) {
        #expect(syntaxErrorCode { try DSNNotify(parsing: input) } == .duplicateParameter)
    }

    @Test(arguments: [
        "", ",", "SUCCESS,", ",SUCCESS", "SUCCESS,,FAILURE", "SUCCES", "ALL", "NONE",
        "SUCCESS;FAILURE", "SUCCESS FAILURE", "SUCCESS, FAILURE", " SUCCESS",
        "ſuccess", "faılure", "ＳＵＣＣＥＳＳ",
    ])
    func notifyRefusesInvalidValues(_ input: String) {
        let code = syntaxErrorCode { try DSNNotify(parsing: input) }
        #expect(
            code == .invalidParameter || code == .nonASCII, "\(input.debugDescription) gave \(String(describing: code))"
        )
    }

    @Test(arguments: [
        "SUCCESS\r\nRSET", "NEVER\r\n", "SUCCESS\n", "SUCCESS\r", "SUCCESS\0", "\u{7F}NEVER",
        "FAILURE,\r\nDELAY", "DELAY\t",
    ])
    func notifyRefusesControlCharacters(_ input: String) {
        #expect(syntaxErrorCode { try DSNNotify(parsing: input) } == .controlCharacter)
    }

    @Test func notifyFromSets() throws {
        #expect(syntaxErrorCode { try DSNNotify([]) } == .emptyValue)
        #expect(try DSNNotify([.delay, .success]).description == "SUCCESS,DELAY")
        #expect(try DSNNotify([.failure]).description == "FAILURE")
        #expect(DSNNotify.all.description == "SUCCESS,FAILURE,DELAY")
        #expect(DSNNotify.never.description == "NEVER")
        #expect(DSNNotify.never.isNever)
        #expect(!DSNNotify.all.isNever)
        #expect(try DSNNotify([.success, .failure, .delay]) == .all)
        // RFC 3461: 28 characters is the longest value an MTA must accept.
        #expect(DSNNotify.all.description.utf8.count <= 28)
    }

    @Test func notifyConditionOrder() {
        #expect(DSNNotify.Condition.success < .failure)
        #expect(DSNNotify.Condition.failure < .delay)
        #expect(!(DSNNotify.Condition.delay < .success))
        #expect([DSNNotify.Condition.delay, .success, .failure].sorted() == [.success, .failure, .delay])
    }

    // MARK: ENVID

    @Test(arguments: [
        ("k3v9x2q8m4tz7c1bh6n0wr5d", "k3v9x2q8m4tz7c1bh6n0wr5d"),
        ("a=b c", "a+3Db+20c"),
        ("id+1", "id+2B1"),
        (" ", "+20"),
    ])
    func envelopeIDEncodesAsXText(_ value: String, _ encoded: String) throws {
        let id = try EnvelopeID(value)
        #expect(id.value == value)
        #expect(id.description == value)
        #expect(id.encoded == encoded)
    }

    @Test func envelopeIDLimitIsOnTheEncodedForm() throws {
        #expect(try EnvelopeID(String(repeating: "a", count: 100)).encoded.utf8.count == 100)
        #expect(syntaxErrorCode { try EnvelopeID(String(repeating: "a", count: 101)) } == .tooLong(limit: 100))
        // 99 raw characters, 101 encoded.
        #expect(syntaxErrorCode { try EnvelopeID(String(repeating: "a", count: 98) + "=") } == .tooLong(limit: 100))
        #expect(try EnvelopeID(String(repeating: "a", count: 97) + "=").encoded.utf8.count == 100)
        #expect(try EnvelopeID(String(repeating: "+", count: 33)).encoded.utf8.count == 99)
        #expect(syntaxErrorCode { try EnvelopeID(String(repeating: "+", count: 34)) } == .tooLong(limit: 100))
    }

    @Test(arguments: controlBytes)
    func envelopeIDRefusesControlCharacters(_ byte: UInt8) {
        let value = "abc" + String(decoding: [byte], as: UTF8.self) + "def"
        #expect(syntaxErrorCode { try EnvelopeID(value) } == .controlCharacter)
    }

    @Test func envelopeIDRefusesEmptyAndNonASCII() {
        #expect(syntaxErrorCode { try EnvelopeID("") } == .emptyValue)
        #expect(syntaxErrorCode { try EnvelopeID("jöran") } == .nonASCII)
        #expect(syntaxErrorCode { try EnvelopeID("ö\r\n") } == .controlCharacter)
    }

    // MARK: ORCPT

    @Test(arguments: [
        ("alice@dest.example", "rfc822", "rfc822;alice@dest.example"),
        ("Bob+tag@example.com", "rfc822", "rfc822;Bob+2Btag@example.com"),
        ("\"john q\"@example.com", "rfc822", "rfc822;\"john+20q\"@example.com"),
        ("a=b@example.com", "rfc822", "rfc822;a+3Db@example.com"),
        ("jöran@example.org", "utf-8", "utf-8;j\\x{F6}ran@example.org"),
        ("😀@bücher.example", "utf-8", "utf-8;\\x{1F600}@b\\x{FC}cher.example"),
    ])
    func originalRecipientFromMailbox(_ address: String, _ type: String, _ encoded: String) throws {
        let orcpt = try OriginalRecipient(SMTPMailbox(address))
        #expect(orcpt.addressType == type)
        #expect(orcpt.address == address)
        #expect(orcpt.encodedValue == encoded)
        #expect(orcpt.encodedValue.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
    }

    @Test func originalRecipientUTF8FormEscapesNonQChars() throws {
        let orcpt = try OriginalRecipient(address: "a b+c=d\\e@x.example", addressType: "utf-8")
        #expect(orcpt.encodedValue == "utf-8;a\\x{20}b\\x{2B}c\\x{3D}d\\x{5C}e@x.example")
    }

    @Test func originalRecipientTypeRules() throws {
        #expect(
            syntaxErrorCode { try OriginalRecipient(address: "jöran@example.org", addressType: "rfc822") } == .nonASCII)
        #expect(
            syntaxErrorCode { try OriginalRecipient(address: "jöran@example.org", addressType: "RFC822") } == .nonASCII)
        #expect(
            try OriginalRecipient(address: "a@b.example", addressType: "x-custom").encodedValue
                == "x-custom;a@b.example")
        for bad in ["", "rfc 822", "rfc822;x", "rfc822\r\n", "rfc=822", "rfcö"] {
            #expect(
                syntaxErrorCode { try OriginalRecipient(address: "a@b.example", addressType: bad) }
                    == .invalidParameter,
                "\(bad.debugDescription)")
        }
    }

    @Test(arguments: controlBytes)
    func originalRecipientRefusesControlCharacters(_ byte: UInt8) {
        let address = "al" + String(decoding: [byte], as: UTF8.self) + "ice@example.org"
        #expect(syntaxErrorCode { try OriginalRecipient(address: address) } == .controlCharacter)
        #expect(syntaxErrorCode { try OriginalRecipient(address: address, addressType: "utf-8") } == .controlCharacter)
    }

    @Test func originalRecipientRefusesEmpty() {
        #expect(syntaxErrorCode { try OriginalRecipient(address: "") } == .emptyValue)
    }

    @Test func originalRecipientLimitIs500OctetsForTheWholeParameter() throws {
        // "ORCPT=rfc822;" is 13 octets.
        let ok = try OriginalRecipient(address: String(repeating: "a", count: 487))
        #expect(("ORCPT=" + ok.encodedValue).utf8.count == 500)
        #expect(
            syntaxErrorCode { try OriginalRecipient(address: String(repeating: "a", count: 488)) }
                == .tooLong(limit: 500))
        // Counted after xtext encoding: 162 "+" become 486 octets.
        #expect(try OriginalRecipient(address: String(repeating: "+", count: 162) + "a").encodedValue.utf8.count == 494)
        #expect(
            syntaxErrorCode { try OriginalRecipient(address: String(repeating: "+", count: 163)) }
                == .tooLong(limit: 500))
        // "ORCPT=utf-8;" is 12 octets; each "ö" becomes 6.
        let utf8OK = try OriginalRecipient(address: String(repeating: "ö", count: 81) + "ab")
        #expect(("ORCPT=" + utf8OK.encodedValue).utf8.count == 500)
        #expect(
            syntaxErrorCode { try OriginalRecipient(address: String(repeating: "ö", count: 81) + "abc") }
                == .tooLong(limit: 500))
    }

    // MARK: parameter lists

    @Test func mailParametersEncodeInFixedOrder() throws {
        #expect(MailParameters().encoded.isEmpty)
        #expect(!MailParameters().usesDSN)
        let all = MailParameters(
            size: 1234, body: .eightBitMIME, smtpUTF8: true, ret: .headers,
            envelopeID: try EnvelopeID("a b"))
        #expect(all.encoded == ["SIZE=1234", "BODY=8BITMIME", "SMTPUTF8", "RET=HDRS", "ENVID=a+20b"])
        #expect(all.usesDSN)
        #expect(MailParameters(body: .sevenBit).encoded == ["BODY=7BIT"])
        #expect(MailParameters(ret: .full).usesDSN)
        #expect(MailParameters(envelopeID: try EnvelopeID("x")).usesDSN)
        #expect(!MailParameters(size: 1, body: .eightBitMIME, smtpUTF8: true).usesDSN)
    }

    @Test func rcptParametersEncode() throws {
        #expect(RcptParameters().encoded.isEmpty)
        #expect(!RcptParameters().usesDSN)
        let p = RcptParameters(notify: .all, originalRecipient: try OriginalRecipient(address: "a@b.example"))
        #expect(p.encoded == ["NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;a@b.example"])
        #expect(p.usesDSN)
        #expect(RcptParameters(notify: .never).encoded == ["NOTIFY=NEVER"])
        #expect(RcptParameters(notify: .never).usesDSN)
    }
}
