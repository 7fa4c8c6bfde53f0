import DeliveryReports
import Foundation
import Testing

@testable import RoundtripCore

/// JSONBytes must write strings exactly as JSONEncoder (with `.withoutEscapingSlashes`) does:
/// the parse output was JSONEncoder's before, and consumers may compare bytes.
@Suite struct JSONBytesTests {
    static func reference(_ s: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: try encoder.encode(s), as: UTF8.self)
    }

    static func ours(_ s: String) -> String {
        var out = JSONBytes()
        out.string(s)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func everyASCIICharacterEscapesAsJSONEncoderDoes() throws {
        for b in UInt8(0)...UInt8(0x7F) {
            let s = String(decoding: [b], as: UTF8.self)
            #expect(Self.ours(s) == (try Self.reference(s)), "octet \(b)")
            let embedded = "a\(s)b/\(s)"
            #expect(Self.ours(embedded) == (try Self.reference(embedded)), "octet \(b) inside")
        }
    }

    @Test func randomUnicodeStringsMatchJSONEncoder() throws {
        var rng = SystemRandomNumberGenerator()
        let pool: [Character] = [
            "a", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}", "é", "\u{2028}", "😀", "\t", " ",
        ]
        for _ in 0..<2000 {
            let s = String((0..<Int.random(in: 0...24, using: &rng)).map { _ in pool.randomElement(using: &rng)! })
            #expect(Self.ours(s) == (try Self.reference(s)))
        }
    }

    @Test func literalsAndLists() {
        var out = JSONBytes()
        out.raw("{")
        out.key("a")
        out.strings(["x", "y\"z"])
        out.raw(",")
        out.key("b")
        out.string(nil)
        out.raw(",")
        out.key("c")
        out.bool(true)
        out.raw("}")
        #expect(String(decoding: out.bytes, as: UTF8.self) == #"{"a":["x","y\"z"],"b":null,"c":true}"#)
    }

    /// Every record written for a report is valid JSON whose keys are sorted at every level, and
    /// the values are the report's.
    @Test func parseRecordsAreSortedValidJSON() throws {
        let dsn = Array(
            """
            From: MAILER-DAEMON@mx.example\r
            To: rt+tok@return.example\r
            Subject: Undelivered Mail\r
            MIME-Version: 1.0\r
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r
            \r
            --b\r
            Content-Type: text/plain\r
            \r
            "Quoted" \\ text\r
            --b\r
            Content-Type: message/delivery-status\r
            \r
            Reporting-MTA: dns; mx.example\r
            Original-Envelope-Id: env/1\r
            \r
            Final-Recipient: rfc822; a@dest.example\r
            Action: failed\r
            Status: 5.1.1\r
            Diagnostic-Code: smtp; 550 5.1.1 "no" \\ such user\u{1}\r
            \r
            --b\r
            Content-Type: text/rfc822-headers\r
            \r
            Message-ID: <tok@return.example>\r
            Subject: probe é\r
            \r
            --b--\r
            """.utf8)
        let record = ParseRecord(file: "dir/x \"1\".eml", report: try DeliveryReportParser.parse(dsn))
        let line = record.jsonLine()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["file"] as? String == "dir/x \"1\".eml")
        #expect(object["envelopeId"] as? String == "env/1")
        let recipient = try #require((object["recipients"] as? [[String: Any]])?.first)
        #expect(recipient["recipient"] as? String == "a@dest.example")
        #expect((recipient["diagnostic"] as? String)?.contains("\"no\" \\ such user") == true)
        #expect((object["returnedHeaders"] as? [String: Any])?["subject"] as? String == "probe é")
        // Re-encoded with sorted keys, the same bytes: our key order is sorted everywhere.
        let resorted = try JSONSerialization.data(
            withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        let reparsed = try JSONSerialization.jsonObject(with: resorted) as? NSDictionary
        #expect(reparsed == (object as NSDictionary))
        #expect(Self.keysInOrder(line))
    }

    /// True when the keys of every object in `json` appear in sorted order.
    static func keysInOrder(_ json: String) -> Bool {
        var stack: [[String]] = []
        var chars = Array(json.utf8)[...]
        var previousWasString: String? = nil
        while let c = chars.popFirst() {
            switch c {
            case UInt8(ascii: "{"): stack.append([])
            case UInt8(ascii: "}"):
                guard let keys = stack.popLast(), keys == keys.sorted() else { return false }
            case UInt8(ascii: "\""):
                var s: [UInt8] = []
                while let d = chars.popFirst(), d != UInt8(ascii: "\"") {
                    s.append(d)
                    if d == UInt8(ascii: "\\"), let e = chars.popFirst() { s.append(e) }
                }
                previousWasString = String(decoding: s, as: UTF8.self)
                continue
            case UInt8(ascii: ":"):
                if let k = previousWasString, !stack.isEmpty { stack[stack.count - 1].append(k) }
            default: break
            }
            previousWasString = nil
        }
        return stack.isEmpty
    }
}
