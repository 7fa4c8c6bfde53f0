import Foundation
import Testing

/// `roundtrip parse` as a user runs it: the binary wires `ParseRun`; the JSON array is written as
/// the records come, and an unreadable input is exit 1, not an internal error.
@Suite struct ParseCommandTests {
    static func dsn(_ recipient: String) -> [UInt8] {
        let text = """
            From: MAILER-DAEMON@dest.example\r
            To: rt@return.example\r
            Subject: Delivery Status Notification\r
            MIME-Version: 1.0\r
            Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r
            \r
            --b\r
            Content-Type: text/plain\r
            \r
            Your message could not be delivered.\r
            --b\r
            Content-Type: message/delivery-status\r
            \r
            Reporting-MTA: dns; mx.dest.example\r
            \r
            Final-Recipient: rfc822; \(recipient)\r
            Action: failed\r
            Status: 5.1.1\r
            --b--\r

            """
        return Array(text.utf8)
    }

    @Test func jsonArrayJsonlTextAndExitCodes() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parse-cmd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Self.dsn("a@dest.example")).write(to: URL(fileURLWithPath: dir + "/a.eml"))
        try Data(Self.dsn("b@dest.example")).write(to: URL(fileURLWithPath: dir + "/b.eml"))

        let json = try await roundtrip(["parse", "--format", "json", dir + "/a.eml", dir + "/b.eml", dir + "/missing"])
        #expect(json.status == 1, "\(json.stderr)")
        let records = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json.stdout)")
        #expect(records.map { $0["file"] as? String } == [dir + "/a.eml", dir + "/b.eml", dir + "/missing"])
        #expect(records[2]["error"] as? String == "no such file or directory")
        #expect(json.stdout.hasPrefix("[\n  {") && json.stdout.hasSuffix("}\n]\n"))

        let jsonl = try await roundtrip(["parse", "--format", "jsonl", dir])
        #expect(jsonl.status == 0, "\(jsonl.stderr)")
        #expect(jsonl.stdout.split(separator: "\n").count == 2)

        let text = try await roundtrip(["parse", dir + "/a.eml"])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("\(dir)/a.eml: rfc3464\n"))
        #expect(text.stdout.contains("  a@dest.example: failed 5.1.1"))

        // A folder of folders is a mistake in the command line: an error, not silent success. A
        // folder inside a folder of messages is skipped, and an empty folder is an empty mailbox.
        let top = dir + "/top"
        try FileManager.default.createDirectory(atPath: top + "/one/new", withIntermediateDirectories: true)
        let folders = try await roundtrip(["parse", "--format", "jsonl", top])
        #expect(folders.status == 1, "\(folders.stdout)")
        #expect(folders.stdout.contains("holds 1 folder(s) and no message file"), "\(folders.stdout)")
        #expect(try await roundtrip(["parse", "--format", "jsonl", dir]).status == 0)
        #expect(try await roundtrip(["parse", "--format", "jsonl", top + "/one"]).status == 0)

        let empty = try await roundtrip(["parse", "--format", "json", dir + "/nothing-here"])
        #expect(empty.status == 1)
        #expect(try await roundtrip(["parse"]).status == 64)
    }
}
