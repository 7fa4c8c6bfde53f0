import Foundation
import MailboxCore
import Testing

@testable import MailTransport

/// The one Maildir scanner (poll, verify's Maildir feed and parse list and read through it):
/// new/ and cur/ only, dot-files skipped, never through a link, sizes capped.
@Suite struct MaildirScannerTests {
    func makeMaildir() throws -> String {
        let root = NSTemporaryDirectory() + "roundtrip-maildir-\(UUID().uuidString)"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        return root
    }

    /// The one filter IMAP, POP3 and Maildir apply to fetched bytes: the token in any ASCII case.
    @Test func aQueryMatchesTheTokenInAnyASCIICase() {
        let q = MailboxQuery(token: "nmjAbc123")
        #expect(q.matches(Array("Message-ID: <NMJABC123@x>\r\n".utf8)))
        #expect(q.matches(Array("...nmjabc123".utf8)))
        #expect(!q.matches(Array("nmjabc12".utf8)))
        #expect(!q.matches([]))
        #expect(!q.matches(Array("nmjab\u{e9}c123".utf8)))
        #expect(MailboxQuery().matches(Array("anything".utf8)))
        #expect(MailboxQuery(token: "").matches([]))
    }

    @Test("links, dot-files, tmp/ and oversized files are never read; the rest is, oldest first")
    func onlyRegularFilesInNewAndCur() throws {
        let root = try makeMaildir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let secret = root + "/secret.txt"
        try "X-Roundtrip-Probe: tok\r\n\r\nnot a message of this Maildir".write(
            toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/new/1.link", withDestinationPath: secret)
        try "X-Roundtrip-Probe: tok\r\n\r\nhidden".write(
            toFile: root + "/new/.hidden", atomically: true, encoding: .utf8)
        try "X-Roundtrip-Probe: tok\r\n\r\nin tmp".write(toFile: root + "/tmp/2.tmp", atomically: true, encoding: .utf8)
        try "X-Roundtrip-Probe: tok\r\n\r\n".appending(String(repeating: "x", count: 2000)).write(
            toFile: root + "/new/3.big", atomically: true, encoding: .utf8)
        try "X-Roundtrip-Probe: tok\r\n\r\nok".write(toFile: root + "/cur/4.ok:2,S", atomically: true, encoding: .utf8)
        let reader = MaildirReader(root: root, includeCur: true, maxMessageSize: 1000)
        let found = try reader.scan(MailboxQuery(token: "tok"))
        #expect(found.map { ($0.source as NSString).lastPathComponent } == ["4.ok:2,S"])
        #expect(MaildirReader.readFile(root + "/new/1.link", limit: 1 << 20) == nil)
        #expect(try MaildirReader.listFolder(root + "/new") == ["1.link", "3.big"])
    }
}
