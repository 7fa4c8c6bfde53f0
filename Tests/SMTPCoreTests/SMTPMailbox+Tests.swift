import Testing

@testable import SMTPCore

/// A syntactically valid domain of exactly `length` octets (labels ≤ 63).
func makeDomain(length: Int, label: Character = "d") -> String {
    precondition(length >= 1)
    var parts: [String] = []
    var remaining = length
    while remaining > 63 {
        let l = min(62, remaining - 2)
        parts.append(String(repeating: label, count: l))
        remaining -= l + 1
    }
    parts.append(String(repeating: label, count: remaining))
    return parts.joined(separator: ".")
}

@Suite("SMTPMailbox and ReversePath")
struct SMTPMailboxTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let input: String
        let localPart: String
        let domain: String
        var testDescription: String { input }
    }

    @Test(arguments: [
        Valid(input: "alice@example.org", localPart: "alice", domain: "example.org"),
        Valid(input: "<alice@example.org>", localPart: "alice", domain: "example.org"),
        Valid(input: "Alice.Smith+tag@Example.ORG", localPart: "Alice.Smith+tag", domain: "Example.ORG"),
        Valid(
            input: "roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d@return.example",
            localPart: "roundtrip+k3v9x2q8m4tz7c1bh6n0wr5d", domain: "return.example"),
        Valid(input: "!#$%&'*+-/=?^_`{|}~@x.example", localPart: "!#$%&'*+-/=?^_`{|}~", domain: "x.example"),
        Valid(input: "a@localhost", localPart: "a", domain: "localhost"),
        Valid(input: "a@my-host_1.example", localPart: "a", domain: "my-host_1.example"),
        // Address literals.
        Valid(input: "a@[192.0.2.7]", localPart: "a", domain: "[192.0.2.7]"),
        Valid(input: "a@[IPv6:2001:db8::7]", localPart: "a", domain: "[IPv6:2001:db8::7]"),
        Valid(input: "a@[tag:content]", localPart: "a", domain: "[tag:content]"),
        // Quoted local parts: kept when needed, dropped when the content is a dot-atom.
        Valid(input: "\"john q\"@example.com", localPart: "\"john q\"", domain: "example.com"),
        Valid(input: "\"john\"@example.com", localPart: "john", domain: "example.com"),
        Valid(input: "\"j.q\"@example.com", localPart: "j.q", domain: "example.com"),
        Valid(input: "\"a\\\"b\"@example.com", localPart: "\"a\\\"b\"", domain: "example.com"),
        Valid(input: "\"a\\\\b\"@example.com", localPart: "\"a\\\\b\"", domain: "example.com"),
        Valid(input: "\"a@b\"@example.com", localPart: "\"a@b\"", domain: "example.com"),
        Valid(input: "\"\"@example.com", localPart: "\"\"", domain: "example.com"),
        // Minimal quoting: a needless quoted-pair is dropped.
        Valid(input: "\"a\\b c\"@example.com", localPart: "\"ab c\"", domain: "example.com"),
        Valid(input: "\"\\j\\o\\e\"@example.com", localPart: "joe", domain: "example.com"),
        // Unquoted input that is not a dot-atom gets quoted minimally.
        Valid(input: "john q@example.com", localPart: "\"john q\"", domain: "example.com"),
        Valid(input: "a..b@example.com", localPart: "\"a..b\"", domain: "example.com"),
        Valid(input: ".a@example.com", localPart: "\".a\"", domain: "example.com"),
        Valid(input: "a.@example.com", localPart: "\"a.\"", domain: "example.com"),
        Valid(input: "a\"b@example.com", localPart: "\"a\\\"b\"", domain: "example.com"),
        Valid(input: "a\\b@example.com", localPart: "\"a\\\\b\"", domain: "example.com"),
        Valid(input: "a@b@example.com", localPart: "\"a@b\"", domain: "example.com"),
        Valid(input: "a(b)@example.com", localPart: "\"a(b)\"", domain: "example.com"),
        // UTF-8 (SMTPUTF8) local parts and domains.
        Valid(input: "jöran@example.org", localPart: "jöran", domain: "example.org"),
        Valid(input: "a@bücher.example", localPart: "a", domain: "bücher.example"),
    ])
    func parsesValidMailboxes(_ v: Valid) throws {
        let m = try SMTPMailbox(v.input)
        #expect(m.localPart == v.localPart)
        #expect(m.domain == v.domain)
        #expect(m.description == "\(v.localPart)@\(v.domain)")
        // Re-parsing the wire form is stable.
        #expect(try SMTPMailbox(m.description) == m)
    }

    @Test(arguments: [
        ("\"john q\"@example.com", "john q"),
        ("\"a\\\"b\"@example.com", "a\"b"),
        ("\"a\\\\b\"@example.com", "a\\b"),
        ("alice@example.com", "alice"),
        ("a\"b@example.com", "a\"b"),
    ])
    func unquotedLocalPart(input: String, expected: String) throws {
        #expect(try SMTPMailbox(input).unquotedLocalPart == expected)
    }

    @Test func spellingsThatDifferOnlyInQuotingAreEqual() throws {
        #expect(try SMTPMailbox("\"john\"@example.com") == SMTPMailbox("john@example.com"))
        #expect(try SMTPMailbox("john q@example.com") == SMTPMailbox("\"john q\"@example.com"))
        #expect(try SMTPMailbox("\"jo\\hn q\"@example.com") == SMTPMailbox("\"john q\"@example.com"))
        #expect(try SMTPMailbox("john@example.com") != SMTPMailbox("John@example.com"))
    }

    /// RFC 5321 §2.4: the local part is case-sensitive, the domain is not.
    @Test func domainsCompareCaseInsensitively() throws {
        let lower = try SMTPMailbox("Alice@dest.example")
        let upper = try SMTPMailbox("Alice@DEST.Example")
        #expect(lower == upper)
        #expect(Set([lower, upper]).count == 1)
        #expect(upper.domain == "DEST.Example")  // the spelling is kept for the wire
        #expect(try SMTPMailbox("alice@dest.example") != lower)
        #expect(try SMTPMailbox("a@[IPv6:2001:DB8::1]") == SMTPMailbox("a@[ipv6:2001:db8::1]"))
        #expect(try SMTPMailbox("a@dest.example") != SMTPMailbox("a@dest.example.org"))
    }

    @Test(arguments: [
        "a", "a@", "@example.com", "alice.example.com",
        "a@.example", "a@example.", "a@ex..ample", "a@exa mple", "a@exa<mple", "a@exa>mple",
        "a@exa\"mple", "a@exa(mple)", "a@exa,mple", "a@exa@", "a@[]", "a@[192.0.2.1",
        "a@192.0.2.1]", "a@[a b]", "a@[a[b]", "a@[a]b]", "a@[a\\b]",
        "a@" + String(repeating: "l", count: 64) + ".example",
    ])
    func rejectsInvalidAddresses(_ input: String) {
        #expect(syntaxErrorCode { try SMTPMailbox(input) } == .invalidAddress)
    }

    @Test func acceptsA63OctetLabel() throws {
        let label = String(repeating: "l", count: 63)
        #expect(try SMTPMailbox("a@\(label).example").domain == "\(label).example")
    }

    @Test(arguments: ["", "<>"])
    func rejectsEmpty(_ input: String) {
        #expect(syntaxErrorCode { try SMTPMailbox(input) } == .emptyValue)
    }

    /// Every C0 control and DEL, at every interesting position, is an injection attempt.
    @Test(arguments: controlBytes, ["local", "domain", "quoted", "literal", "angle", "end"])
    func refusesControlCharacters(_ byte: UInt8, _ position: String) {
        let c = String(decoding: [byte], as: UTF8.self)
        let input: String
        switch position {
        case "local": input = "al\(c)ice@example.org"
        case "domain": input = "alice@exa\(c)mple.org"
        case "quoted": input = "\"al\(c)ice\"@example.org"
        case "literal": input = "alice@[192.0.2.\(c)1]"
        case "angle": input = "<alice@example.org\(c)>"
        default: input = "alice@example.org\(c)"
        }
        #expect(syntaxErrorCode { try SMTPMailbox(input) } == .controlCharacter)
    }

    @Test(arguments: [
        "alice@example.org\r\nRCPT TO:<mallory@evil.example>",
        "alice@example.org>\r\nDATA",
        "alice\n@example.org",
        "alice@example.org\r",
        "\0alice@example.org",
    ])
    func refusesCommandInjection(_ input: String) {
        #expect(syntaxErrorCode { try SMTPMailbox(input) } == .controlCharacter)
    }

    @Test func errorCarriesContextButNotTheValue() {
        do {
            _ = try SMTPMailbox("secret\r\n@example.org", context: "MAIL FROM address")
            Issue.record("no error")
        } catch let e as SMTPSyntaxError {
            #expect(e.code == .controlCharacter)
            #expect(e.context == "MAIL FROM address")
            #expect(!e.description.contains("secret"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    // MARK: limits (RFC 5321 §4.5.3.1)

    @Test func localPartLimitIs64Octets() throws {
        let ok = String(repeating: "a", count: 64)
        #expect(try SMTPMailbox("\(ok)@example.org").localPart == ok)
        #expect(syntaxErrorCode { try SMTPMailbox("\(ok)a@example.org") } == .tooLong(limit: 64))
    }

    @Test func localPartLimitCountsOctetsNotCharacters() throws {
        let ok = String(repeating: "ö", count: 32)  // 64 octets
        #expect(try SMTPMailbox("\(ok)@example.org").localPart.utf8.count == 64)
        #expect(syntaxErrorCode { try SMTPMailbox("\(ok)a@example.org") } == .tooLong(limit: 64))
    }

    @Test func localPartLimitCountsTheQuotes() throws {
        let ok = "a b" + String(repeating: "c", count: 59)  // quoted: 62 + 2 = 64
        #expect(try SMTPMailbox("\(ok)@example.org").localPart.utf8.count == 64)
        #expect(syntaxErrorCode { try SMTPMailbox("\(ok)c@example.org") } == .tooLong(limit: 64))
        // The escape added for '"' counts too: 1 + 2*1 + 60 + 1 = 64.
        let escaped = "\"" + String(repeating: "c", count: 60)
        #expect(try SMTPMailbox("\(escaped)@example.org").localPart.utf8.count == 64)
        #expect(syntaxErrorCode { try SMTPMailbox("\(escaped)c@example.org") } == .tooLong(limit: 64))
    }

    @Test func domainLimitIs255Octets() {
        #expect(makeDomain(length: 255).utf8.count == 255)
        // 255 octets pass the domain check and then fail the path limit.
        #expect(syntaxErrorCode { try SMTPMailbox("a@\(makeDomain(length: 255))") } == .tooLong(limit: 256))
        #expect(syntaxErrorCode { try SMTPMailbox("a@\(makeDomain(length: 256))") } == .tooLong(limit: 255))
    }

    @Test func pathLimitIs256OctetsIncludingAngleBrackets() throws {
        let local = String(repeating: "a", count: 64)
        let fits = try SMTPMailbox("\(local)@\(makeDomain(length: 189))")
        #expect(ReversePath.mailbox(fits).description.utf8.count == 256)
        #expect(syntaxErrorCode { try SMTPMailbox("\(local)@\(makeDomain(length: 190))") } == .tooLong(limit: 256))
        let shortLocal = try SMTPMailbox("a@\(makeDomain(length: 252))")
        #expect(ReversePath.mailbox(shortLocal).description.utf8.count == 256)
        #expect(syntaxErrorCode { try SMTPMailbox("a@\(makeDomain(length: 253))") } == .tooLong(limit: 256))
    }

    @Test func angleBracketsDoNotCountTwice() throws {
        let local = String(repeating: "a", count: 64)
        #expect(try SMTPMailbox("<\(local)@\(makeDomain(length: 189))>").domain.utf8.count == 189)
    }

    @Test(arguments: [
        ("alice@example.org", false),
        ("\"john q\"@example.org", false),
        ("a@[192.0.2.1]", false),
        ("jöran@example.org", true),
        ("a@bücher.example", true),
        ("\"jö ran\"@example.org", true),
    ])
    func requiresSMTPUTF8(input: String, expected: Bool) throws {
        #expect(try SMTPMailbox(input).requiresSMTPUTF8 == expected)
    }

    @Test func reversePathWireForms() throws {
        #expect(ReversePath.null.description == "<>")
        #expect(ReversePath.mailbox(try SMTPMailbox("a@b.example")).description == "<a@b.example>")
        #expect(ReversePath.mailbox(try SMTPMailbox("john q@b.example")).description == "<\"john q\"@b.example>")
    }
}
