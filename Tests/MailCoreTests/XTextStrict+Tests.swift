import MailCore
import TestRandom
import Testing

@Suite("XText (RFC 3461 §4)")
struct XTextStrictTests {
    @Test(arguments: [
        ("Bob+tag@example.com", "Bob+2Btag@example.com"),
        ("a=b c", "a+3Db+20c"),
        ("", ""),
        ("k3v9x2q8m4tz7c1bh6n0wr5d", "k3v9x2q8m4tz7c1bh6n0wr5d"),
        ("!~", "!~"),
        ("\r\n", "+0D+0A"),
        ("\0", "+00"),
        ("\u{7F}", "+7F"),
        ("\t", "+09"),
        ("é", "+C3+A9"),
        ("++", "+2B+2B"),
    ])
    func encodes(_ input: String, _ expected: String) {
        #expect(XText.encode(input) == expected)
    }

    @Test func everyOctetEncodesToXchar() {
        for b in UInt8.min...UInt8.max {
            let encoded = XText.encode([b])
            let passes = b >= 0x21 && b <= 0x7E && b != UInt8(ascii: "+") && b != UInt8(ascii: "=")
            if passes {
                #expect(encoded == String(UnicodeScalar(b)), "octet \(b)")
            } else {
                let hex = String(b, radix: 16, uppercase: true)
                #expect(encoded == "+" + (hex.count == 1 ? "0" + hex : hex), "octet \(b)")
            }
            // Encoded output is always in xtext: printable ASCII, no "=" and no SP.
            #expect(encoded.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: "=") })
            #expect(XText.decodeStrict(encoded) == [b])
        }
    }

    @Test func roundTripsRandomOctets() {
        var rng = SeededGenerator(seed: 3461)
        for _ in 0..<2000 {
            let count = Int.random(in: 0...40, using: &rng)
            let octets = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(XText.decodeStrict(XText.encode(octets)) == octets)
        }
    }

    @Test(arguments: [
        ("Bob+2Btag@example.com", "Bob+tag@example.com"),
        ("a+3Db+20c", "a=b c"),
        ("a+3db+20c", "a=b c"),  // lower-case hex is accepted
        ("+c3+a9", "é"),
        ("", ""),
    ])
    func decodesStrictly(_ input: String, _ expected: String) {
        #expect(XText.decodeStrict(input) == Array(expected.utf8))
    }

    @Test(arguments: [
        "+4", "a+4", "+", "a+", "+GG", "+4G", "+G4", "a b", "a=b", "=", " ",
        "a\rb", "a\nb", "a\0b", "a\u{7F}b", "é", "a\tb", "+ 41",
    ])
    func decodeRejectsMalformedXText(_ input: String) {
        #expect(XText.decodeStrict(input) == nil)
    }
}
