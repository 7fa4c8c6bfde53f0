import Foundation
import Testing

@testable import MailCore

/// The byte-level fast paths give the same answers as the String-level code they replaced.
@Suite("Byte-level fast paths")
struct FastPathTests {
    @Test(
        "splitASCII matches split(separator:)",
        arguments: [
            "", ",", "a", "a,b", ",a,,b,", "Ärger <a@b.example>, \"x, y\" <c@d.example>", "no separators here",
        ])
    func splitASCII(_ s: String) {
        #expect(s.splitASCII(0x2C) == s.split(separator: ","))
    }

    @Test("trimmedBlanks trims ASCII blanks and line breaks only")
    func trimmed() {
        #expect(" \t a b \r\n".trimmedBlanks == "a b")
        #expect("\u{A0}x\u{A0}".trimmedBlanks == "\u{A0}x\u{A0}")
        #expect("".trimmedBlanks == "")
        #expect("   ".trimmedBlanks == "")
    }

    @Test("header lookups are case-insensitive for short and long names, and exact in length")
    func headerLookups() {
        let raw = Array(
            """
            To: a@x.example\r
            X-Roundtrip-Probe: token1\r
            X-Roundtrip-ProbeX: token2\r
            Content-Transfer-Encoding:  Base64 \r
            Received: one\r
            RECEIVED: two\r
            \r
            body
            """.utf8)
        let (h, _) = HeaderSection.parse(raw[...])
        #expect(h.value("to") == "a@x.example")
        #expect(h.value("TO") == "a@x.example")
        #expect(h.value("x-roundtrip-probe") == "token1")
        #expect(h.value("X-ROUNDTRIP-PROBEX") == "token2")
        #expect(h.value("x-roundtrip-prob") == nil)
        #expect(h.value("x-roundtrip-probe-") == nil)
        #expect(h.value("t") == nil)
        #expect(h.all("received").map(\.value) == ["one", "two"])
        #expect(h["content-transfer-encoding"]?.hasName("Content-Transfer-Encoding") == true)
    }

    @Test(
        "Content-Transfer-Encoding from the field equals the value-based reading",
        arguments: [
            " 7bit", " 8BIT", " Base64 ", " quoted-printable", " binary", " base64; x=y", " x-uuencode", " QP",
            "\r\n base64", "",
        ])
    func transferEncoding(_ value: String) {
        let field = HeaderField(name: "Content-Transfer-Encoding", rawValue: Array(value.utf8)[...])
        #expect(TransferEncoding(field: field) == TransferEncoding(headerValue: field.value))
    }

    @Test(
        "direct charset conversion equals Foundation's",
        arguments: [
            ("iso-2022-jp", [0x1B, 0x24, 0x42, 0x24, 0x22, 0x24, 0x24, 0x1B, 0x28, 0x42, 0x20, 0x6F, 0x6B] as [UInt8]),
            ("iso-8859-15", [0x41, 0xA4, 0xE9] as [UInt8]),
            ("windows-1252", [0x80, 0x20, 0x93, 0x94] as [UInt8]),
            ("shift_jis", [0x82, 0xA0, 0x82, 0xA2] as [UInt8]),
        ])
    func charsets(_ name: String, _ bytes: [UInt8]) throws {
        let direct = try #require(Charset.convertDirectly(bytes, name))
        let encoding = try #require(Charset.foundationEncoding(name))
        #expect(direct == String(data: Data(bytes), encoding: encoding))
        #expect(Charset.decode(bytes, charset: name) == Charset.Decoded(string: direct, exact: true))
    }

    @Test("Unicode charsets keep the general path")
    func unicodeCharsets() {
        #expect(Charset.convertDirectly([0x00, 0x41], "utf-16be") == nil)
        #expect(Charset.convertDirectly([0x2B, 0x41], "unicode-1-1-utf-7") == nil)
    }

    @Test("substring search finds matches in every SIMD lane and the tail")
    func find() {
        let hay =
            Array(String(repeating: "-", count: 40).utf8) + Array("--b0undary--".utf8) + Array("xx--b0undary".utf8)
        let needle = Array("--b0undary".utf8)
        hay.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                #expect(ByteScan.find(n, in: h, from: 0, to: h.count) == 40)
                #expect(ByteScan.find(n, in: h, from: 41, to: h.count) == 54)
                #expect(ByteScan.find(n, in: h, from: 55, to: h.count) == nil)
            }
        }
        for k in 0..<40 {
            var b = [UInt8](repeating: 0x61, count: 40)
            b[k] = 0x0A
            let line = b.withUnsafeBufferPointer { ByteScan.nextLineBreak(in: $0, from: 0, limit: $0.count) }
            #expect(line == k)
        }
    }
}
