import DeliveryReports
import Foundation
import MailCore
import MailTransport
import NIOConcurrencyHelpers
import RoundtripCore
import Testing

@testable import Roundtrip

/// `ParseRun` and `PollRun`: what `roundtrip parse` and `roundtrip poll` only wire.
@Suite struct RunsTests {
    static func dsn(_ recipient: String, action: DeliveryAction = .failed, status: String = "5.1.1") -> [UInt8] {
        RFC3464Builder(
            reportingMTA: "mx.dest.example", from: "MAILER-DAEMON@dest.example", to: "rt+tok@return.example",
            messageID: "\(UUID().uuidString)@dest.example",
            date: MessageDate(secondsSince1970: 1_800_000_000, zoneOffsetMinutes: 0),
            boundary: "b", originalEnvelopeID: nil,
            recipients: [.init(finalRecipient: recipient, action: action, status: StatusCode(status)!)]
        )
        .build()
    }

    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func mbox(_ messages: [[UInt8]]) -> [UInt8] {
        messages.flatMap { Array("From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n".utf8) + $0 + Array("\n".utf8) }
    }

    /// `verify --arrival`: the mailbox, the server's `\Junk` folder and `--arrival-junk`, each once.
    @Test func arrivalWatchesTheMailboxAndEveryJunkFolder() {
        func names(_ f: [(name: String, junk: Bool)]) -> [String] { f.map { "\($0.name)\($0.junk ? "*" : "")" } }
        #expect(names(ArrivalWatch.folders(main: "INBOX", specialUse: nil, named: nil)) == ["INBOX"])
        #expect(names(ArrivalWatch.folders(main: "INBOX", specialUse: "Junk", named: nil)) == ["INBOX", "Junk*"])
        #expect(names(ArrivalWatch.folders(main: "INBOX", specialUse: nil, named: "Spam")) == ["INBOX", "Spam*"])
        #expect(
            names(ArrivalWatch.folders(main: "INBOX", specialUse: "Junk", named: "Spam")) == [
                "INBOX", "Junk*", "Spam*",
            ])
        #expect(names(ArrivalWatch.folders(main: "INBOX", specialUse: "Junk", named: "Junk")) == ["INBOX", "Junk*"])
        // Watching the Junk folder itself: arrivals there are Junk.
        #expect(names(ArrivalWatch.folders(main: "Junk", specialUse: "Junk", named: nil)) == ["Junk*"])
    }

    @Test func filesMboxesMaildirsAndStandardInput() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Self.dsn("a@dest.example")).write(to: URL(fileURLWithPath: dir + "/one.eml"))
        try Data(Self.mbox([Self.dsn("b@dest.example")])).write(to: URL(fileURLWithPath: dir + "/single.mbox"))
        try Data(
            Self.mbox([Self.dsn("c@dest.example"), Self.dsn("d@dest.example", action: .delivered, status: "2.0.0")])
        )
        .write(to: URL(fileURLWithPath: dir + "/double.mbox"))
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/md/\(sub)", withIntermediateDirectories: true)
        }
        try Data(Self.dsn("e@dest.example")).write(to: URL(fileURLWithPath: dir + "/md/new/1.x"))
        try Data(Self.dsn("f@dest.example")).write(to: URL(fileURLWithPath: dir + "/md/cur/2.x:2,S"))
        try Data(Self.dsn("never@dest.example")).write(to: URL(fileURLWithPath: dir + "/md/tmp/3.x"))
        try Data(Self.dsn("hidden@dest.example")).write(to: URL(fileURLWithPath: dir + "/md/new/.hidden"))

        let run = ParseRun(
            inputs: [dir + "/one.eml", dir + "/single.mbox", dir + "/double.mbox", dir + "/md", dir + "/missing", "-"],
            standardInput: { Self.dsn("g@dest.example") })
        let records = Array(run)
        // A file that holds one message is named by its path alone; #N only when it holds several.
        #expect(
            records.map(\.file) == [
                dir + "/one.eml", dir + "/single.mbox", dir + "/double.mbox#1", dir + "/double.mbox#2",
                dir + "/md/new/1.x", dir + "/md/cur/2.x:2,S", dir + "/missing", "-",
            ])
        #expect(
            records.compactMap { $0.report?.recipients.first?.address } == [
                "a@dest.example", "b@dest.example", "c@dest.example",
                "d@dest.example", "e@dest.example", "f@dest.example", "g@dest.example",
            ])
        #expect(records[6].error == "no such file or directory")
    }

    /// Records are made as they are taken: a file written after the first record was taken is
    /// still read.
    @Test func streamsOneFileAtATime() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Self.dsn("a@dest.example")).write(to: URL(fileURLWithPath: dir + "/1.eml"))
        try Data(Self.dsn("b@dest.example")).write(to: URL(fileURLWithPath: dir + "/2.eml"))
        var iterator = ParseRun(inputs: [dir]).makeIterator()
        #expect(iterator.next()?.file == dir + "/1.eml")
        try Data(Self.dsn("changed@dest.example")).write(to: URL(fileURLWithPath: dir + "/2.eml"))
        let second = iterator.next()
        #expect(second?.file == dir + "/2.eml")
        #expect(second?.report?.recipients.first?.address == "changed@dest.example")
        #expect(iterator.next() == nil)
    }

    /// docs/parse-json.md: keys sorted, absent values null (never omitted), error records hold
    /// only `file` and `error`.
    @Test func jsonKeepsNullsAndSortsKeys() throws {
        let record = ParseRecord(
            file: "x/bounce.eml", report: try DeliveryReportParser.parse(Self.dsn("a@dest.example")))
        let line = record.jsonLine()
        #expect(
            line.hasPrefix(
                #"{"envelope":{"deliveredTo":[],"returnPath":null,"to":["rt+tok@return.example"],"xOriginalTo":[]},"envelopeId":null,"file":"x/bounce.eml","kind":"rfc3464","#
            ))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "envelope", "envelopeId", "file", "kind", "recipients", "reportingMTA", "returnedHeaders",
            ])
        let recipient = try #require((object["recipients"] as? [[String: Any]])?.first)
        #expect(
            Set(recipient.keys) == [
                "action", "actionInferred", "diagnostic", "originalRecipient", "recipient", "remoteMTA", "status",
                "statusLiteral",
            ])
        #expect(recipient["remoteMTA"] is NSNull)
        #expect(recipient["status"] as? String == "5.1.1")
        #expect(
            ParseRecord(file: "gone", error: "no such file or directory").jsonLine()
                == #"{"error":"no such file or directory","file":"gone"}"#)
    }

    final class Collector: PollObserver {
        let messages = NIOLockedValueBox<[PollMessage]>([])
        let cleanups = NIOLockedValueBox<[CleanupReport]>([])
        func connected(tls: TLSReport?) {}
        func reconnecting(after error: MailboxError) {}
        func received(_ message: PollMessage) { messages.withLockedValue { $0.append(message) } }
        func alerts(_ alerts: [String]) {}
        func cleanedUp(_ report: CleanupReport) { cleanups.withLockedValue { $0.append(report) } }
        func transcript(_ entries: [TranscriptEntry]) {}
    }

    @Test func pollListsAMaildirAndCleansUpOnlyTheTokensMessages() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        let token = "abcdefghijklmnopqrstuvwx"
        try Data(
            "From: a@example.org\r\nSubject: probe \(token)\r\nX-Roundtrip-Probe: \(token)\r\n\r\nbody \(token)\r\n"
                .utf8
        )
        .write(to: URL(fileURLWithPath: dir + "/new/1.x"))
        try Data("From: b@example.org\r\nSubject: other\r\n\r\nbody\r\n".utf8).write(
            to: URL(fileURLWithPath: dir + "/new/2.x"))

        let all = Collector()
        try await PollRun(mailbox: .maildir(path: dir, includeCur: false)).run(all)
        #expect(
            all.messages.withLockedValue { $0.map(\.from) }.sorted { ($0 ?? "") < ($1 ?? "") } == [
                "a@example.org", "b@example.org",
            ])
        #expect(all.cleanups.withLockedValue { $0 }.isEmpty)

        let mine = Collector()
        try await PollRun(
            mailbox: .maildir(path: dir, includeCur: false), query: MailboxQuery(token: token), cleanup: true
        ).run(mine)
        #expect(mine.messages.withLockedValue { $0.map(\.probeToken) } == [token])
        let cleanup = try #require(mine.cleanups.withLockedValue { $0 }.first)
        #expect(cleanup.removed.count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/new") == ["2.x"])
    }

    @Test func pollWatchStopsAfterCount() async throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
        }
        for i in 1...3 {
            try Data("Subject: \(i)\r\n\r\nx\r\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/new/\(i).x"))
        }
        let seen = Collector()
        try await PollRun(
            mailbox: .maildir(path: dir, includeCur: false), watch: true, until: .now + .seconds(20), count: 2,
            interval: .milliseconds(50)
        ).run(seen)
        #expect(seen.messages.withLockedValue { $0.count } == 2)
    }

    @Test func pollOfAMissingMaildirIsAMailboxError() async {
        await #expect(throws: MailboxError.self) {
            try await PollRun(mailbox: .maildir(path: "/nonexistent/roundtrip-\(UUID().uuidString)", includeCur: false))
                .run(Collector())
        }
    }
}
