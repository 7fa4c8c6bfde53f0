import Testing

@testable import SMTPCore

@Suite("EHLOCapabilities")
struct EHLOCapabilitiesTests {
    static func caps(_ lines: [String]) -> EHLOCapabilities {
        EHLOCapabilities(reply: SMTPReply(code: 250, lines: lines))
    }

    @Test func fullReply() throws {
        let c = EHLOCapabilities(reply: try wireReply(SMTPReplyParserTests.ehloWire))
        #expect(c.serverName == "mx.dest.example")
        #expect(c.greeting == "Hello client.example [192.0.2.7]")
        #expect(
            c.keywords == [
                "SIZE", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "AUTH", "DSN", "SMTPUTF8", "STARTTLS",
            ])
        #expect(c.sizeLimit == 52_428_800)
        #expect(c.eightBitMIME && c.pipelining && c.enhancedStatusCodes && c.dsn && c.smtpUTF8 && c.startTLS)
        #expect(!c.chunking)
        #expect(c.authMechanisms == ["PLAIN", "LOGIN"])
    }

    @Test func singleLineReplyHasNoExtensions() {
        let c = Self.caps(["mx.example"])
        #expect(c.serverName == "mx.example")
        #expect(c.greeting == "")
        #expect(c.extensions.isEmpty)
        #expect(!c.dsn && !c.pipelining && !c.startTLS)
        #expect(c.sizeLimit == nil)
        #expect(c.authMechanisms.isEmpty)
    }

    @Test(arguments: ["dsn", "Dsn", "DSN"])
    func keywordsAreCaseInsensitive(_ advertised: String) {
        let c = Self.caps(["mx", advertised, "pipelining", "StartTLS"])
        #expect(c.dsn)
        #expect(c.supports("dsn") && c.supports("DSN") && c.supports("DsN"))
        #expect(c.pipelining && c.startTLS)
        #expect(c.keywords == ["DSN", "PIPELINING", "STARTTLS"])
        #expect(!c.supports("CHUNKING"))
    }

    @Test(
        arguments: [
            ("SIZE 1000", 1000 as Int?), ("SIZE", 0), ("SIZE 0", 0), ("size 35882577", 35_882_577),
            ("SIZE abc", 0), ("SIZE -5", 0), ("SIZE +5", 0), ("SIZE 99999999999999999999999", 0),
        ] as [(String, Int?)])
    func sizeLimit(_ line: String, _ expected: Int?) {
        #expect(Self.caps(["mx", line]).sizeLimit == expected)
    }

    @Test func sizeAbsent() {
        #expect(Self.caps(["mx", "DSN"]).sizeLimit == nil)
    }

    @Test func legacyAuthLineIsMergedWithTheStandardOne() {
        #expect(Self.caps(["mx", "AUTH=LOGIN PLAIN"]).authMechanisms == ["LOGIN", "PLAIN"])
        #expect(Self.caps(["mx", "AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN"]).authMechanisms == ["LOGIN", "PLAIN"])
        #expect(
            Self.caps(["mx", "AUTH=LOGIN", "AUTH PLAIN CRAM-MD5"]).authMechanisms == ["LOGIN", "PLAIN", "CRAM-MD5"])
        #expect(Self.caps(["mx", "auth plain login"]).authMechanisms == ["PLAIN", "LOGIN"])
        #expect(Self.caps(["mx", "AUTH=LOGIN PLAIN"]).keywords == ["AUTH"])
        #expect(Self.caps(["mx", "AUTH"]).authMechanisms.isEmpty)
        #expect(Self.caps(["mx", "AUTH="]).authMechanisms.isEmpty)
    }

    @Test func duplicatesAreMerged() {
        let c = Self.caps(["mx", "SIZE 1000", "DSN", "dsn", "AUTH PLAIN", "AUTH plain LOGIN", "SIZE 2000"])
        #expect(c.keywords == ["SIZE", "DSN", "AUTH"])
        #expect(c.parameters(of: "auth") == ["PLAIN", "LOGIN"])
        #expect(c.parameters(of: "SIZE") == ["1000", "2000"])
        #expect(c.sizeLimit == 1000)
    }

    @Test func parametersAndOddSpacing() {
        let c = Self.caps(["mx.example", "X-EXPS  GSSAPI\tNTLM", "", "   ", "DELIVERBY 300"])
        #expect(c.parameters(of: "x-exps") == ["GSSAPI", "NTLM"])
        #expect(c.parameters(of: "DELIVERBY") == ["300"])
        #expect(c.parameters(of: "ETRN") == nil)
        #expect(c.keywords == ["X-EXPS", "DELIVERBY"])
    }

    @Test func heloHasNoExtensions() {
        let c = EHLOCapabilities(heloReply: SMTPReply(code: 250, lines: ["mx.example Hello client", "DSN"]))
        #expect(c.serverName == "mx.example")
        #expect(c.greeting == "")
        #expect(c.extensions.isEmpty)
        #expect(!c.dsn && !c.pipelining && !c.startTLS && !c.smtpUTF8 && !c.eightBitMIME)
        #expect(c.sizeLimit == nil)
    }
}
