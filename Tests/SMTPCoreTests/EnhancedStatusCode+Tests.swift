import Foundation
import Testing

@testable import SMTPCore

@Suite("EnhancedStatusCode (RFC 3463)")
struct EnhancedStatusCodeTests {
    @Test(arguments: [
        ("2.0.0", 2, 0, 0), ("5.1.1", 5, 1, 1), ("4.7.1", 4, 7, 1), ("5.1.10", 5, 1, 10),
        ("5.7.26", 5, 7, 26), ("4.999.999", 4, 999, 999), ("2.6.0", 2, 6, 0),
    ])
    func parses(_ text: String, _ c: Int, _ s: Int, _ d: Int) throws {
        let code = try #require(EnhancedStatusCode(text))
        #expect(code.statusClass == c)
        #expect(code.subject == s)
        #expect(code.detail == d)
        #expect(code.description == text)
    }

    @Test(arguments: [
        "", "5", "5.1", "5.1.", "5..1", ".1.1", "1.1.1", "3.1.1", "6.1.1", "0.0.0", "55.1.1",
        "5.1000.1", "5.1.1000", "5.1.1.", "5.1.1 ", "5.1.1x", " 5.1.1", "5.a.1", "5.1.a", "5,1,1", "5.-1.1",
    ])
    func rejects(_ text: String) {
        #expect(EnhancedStatusCode(text) == nil)
    }

    @Test(arguments: [
        ("5.1.1 User unknown", 5),
        ("2.0.0\tok", 5),
        ("4.4.2", 5),
    ])
    func parsesPrefixFollowedBySpaceTabOrEnd(_ text: String, _ consumed: Int) throws {
        let (_, n) = try #require(EnhancedStatusCode.parsePrefix(Array(text.utf8)[...]))
        #expect(n == consumed)
    }

    @Test(arguments: ["5.1.1x", "5.1.1.", "5.1.1-", "5.1", "5.1.", "User unknown", "x5.1.1"])
    func parsePrefixRefusesTrailingGarbage(_ text: String) {
        #expect(EnhancedStatusCode.parsePrefix(Array(text.utf8)[...]) == nil)
    }

    @Test func parsePrefixHonoursSliceIndices() throws {
        let bytes = Array("250 5.1.1 x".utf8)
        let (code, n) = try #require(EnhancedStatusCode.parsePrefix(bytes[4...]))
        #expect(code.description == "5.1.1")
        #expect(n == 5)
    }

    @Test func memberwiseInitValidates() {
        #expect(EnhancedStatusCode(statusClass: 2, subject: 0, detail: 0) != nil)
        #expect(EnhancedStatusCode(statusClass: 3, subject: 0, detail: 0) == nil)
        #expect(EnhancedStatusCode(statusClass: 5, subject: 1000, detail: 0) == nil)
        #expect(EnhancedStatusCode(statusClass: 5, subject: 0, detail: -1) == nil)
    }

    @Test func ordering() throws {
        let sorted = ["5.1.10", "2.0.0", "5.1.2", "4.7.1"].compactMap(EnhancedStatusCode.init).sorted().map(
            \.description)
        #expect(sorted == ["2.0.0", "4.7.1", "5.1.2", "5.1.10"])
    }

    @Test func codableAsString() throws {
        let code = try #require(EnhancedStatusCode("5.7.26"))
        let data = try JSONEncoder().encode([code])
        #expect(String(decoding: data, as: UTF8.self) == "[\"5.7.26\"]")
        #expect(try JSONDecoder().decode([EnhancedStatusCode].self, from: data) == [code])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([EnhancedStatusCode].self, from: Data("[\"3.0.0\"]".utf8))
        }
    }
}
