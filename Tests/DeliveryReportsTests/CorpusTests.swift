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
    /// Key: "<path>|<recipient as in truth.json>".
    struct Erratum {
        var recipient: String? = nil
        var action: String? = nil
        var status: String? = nil
        var skip = false
        var note: String
    }

    static let gaveUp =
        "the reference analyser maps its reason 'expired' to action delayed, but the message says delivery was abandoned for good, so the action is failed"
    static let truthErrata: [String: Erratum] = [
        "lhost-domino-03.eml|kijitora@neko.example.com": Erratum(
            recipient: "kijitora@neko.example.org", note: "Final-Recipient says neko.example.org; .com appears nowhere"),
        "lhost-postfix-64.eml|xxxx@wanadoo.fr": Erratum(
            skip: true, note: "the address appears nowhere in the (anonymised) message"),
        "issue-15-01.eml|xxxx@wanadoo.fr": Erratum(
            skip: true, note: "the address appears nowhere in the (anonymised) message"),
        "lhost-dragonfly-29.eml|expired@libsisimai.net": Erratum(action: "failed", note: "\"Giving up.\" — " + gaveUp),
        "lhost-exim-06.eml|kijitora@example.com": Erratum(
            action: "failed", note: "\"This is a permanent error\", retry timeout exceeded — " + gaveUp),
        "lhost-exim-08.eml|kijitora@example.org": Erratum(
            action: "failed", note: "listed under \"address(es) failed\" — " + gaveUp),
        "lhost-gmail-10.eml|kijitora@6jo.example.co.jp": Erratum(
            action: "failed", note: "\"failed permanently\" — " + gaveUp),
        "lhost-gmail-11.eml|kijitora@example.com": Erratum(
            action: "failed", note: "\"failed permanently\" — " + gaveUp),
        "lhost-gmail-15.eml|mikeneko@libsisimai.org": Erratum(
            action: "failed", note: "\"failed permanently\" — " + gaveUp),
        "lhost-mailru-10.eml|neko@sijo.example.jp": Erratum(
            action: "failed", note: "\"This is a permanent error\" — " + gaveUp),
        "lhost-x2-03.eml|kijitora@example.org": Erratum(
            action: "failed", note: "\"I'm not going to try again\" — " + gaveUp),
        "lhost-x2-05.eml|kijitora@y.example.com": Erratum(
            action: "failed", note: "\"I'm not going to try again\" — " + gaveUp),
        "lhost-gmail-06.eml|kijitora@example.jp": Erratum(
            action: "delayed",
            note:
                "\"THIS IS A WARNING MESSAGE ONLY\", \"has been delayed\", \"will be retried\": a delay, not a failure"),
        "lhost-amazonworkmail-05.eml|sabatora@example.libsisimai.org": Erratum(
            status: "4.4.7",
            note: "the pasted Status field says 4.4.7; 4.4.2 is the remote's inner reply quoted in the diagnostic"),
        "lhost-apachejames-01.eml|00000000000@vtext.example.com": Erratum(
            recipient: "000000000000@vtext.example.com",
            note: "the message's RCPT TO has twelve zeros, truth.json eleven"),
    ]

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

    /// Parses a corpus file. Some files are mbox-style (a `From ` line, several messages): their
    /// recipients are merged.
    static func parse(_ path: String) throws -> DeliveryReport {
        let bytes = [UInt8](try Data(contentsOf: corpusRoot.appendingPathComponent(path)))
        if Mbox.looksLikeMbox(bytes[...]) {
            let messages = Mbox.split(bytes)
            if messages.count > 1 {
                var merged = try DeliveryReportParser.parse(messages[0])
                for m in messages.dropFirst() {
                    let r = try DeliveryReportParser.parse(m)
                    merged.recipients += r.recipients
                    if !merged.kind.isReport { merged.kind = r.kind }
                }
                return merged
            }
        }
        return try DeliveryReportParser.parse(bytes)
    }

    @Test("truth.json scores: RFC 3464 and legacy")
    func scores() throws {
        let truth = try Self.loadTruth()
        try #require(!truth.isEmpty, "corpus missing at \(Self.corpusRoot.path)")
        var dsn = Score()
        var legacy = Score()
        var errata: [String] = []
        for path in truth.keys.sorted() {
            guard let entry = truth[path] else { continue }
            let format = entry["format"] as? String ?? ""
            let expectedRecipients = entry["recipients"] as? [[String: Any]] ?? []
            let report = try Self.parse(path)
            let isDSN = format == "rfc3464" || format == "dsn-part-without-multipart-report"
            guard isDSN || format == "legacy" else { continue }
            let dsnFields = entry["dsn_per_recipient"] as? [[String: Any]] ?? []
            for exp in expectedRecipients {
                var action = exp["action"] as? String ?? ""
                guard !action.isEmpty else { continue }  // complaints and auto-replies carry no action
                var address = (exp["recipient"] as? String ?? "").lowercased()
                var statusOverride: String?
                if let e = Self.truthErrata["\(URL(fileURLWithPath: path).lastPathComponent)|\(address)"] {
                    errata.append("\(path) \(address): \(e.note)")
                    if e.skip { continue }
                    if let r = e.recipient { address = r.lowercased() }
                    if let a = e.action { action = a }
                    if let st = e.status { statusOverride = st }
                }
                // The DSN fields as written in the message (README: the message is the authority).
                let field = dsnFields.first { d in
                    ["final-recipient", "original-recipient"].contains { key in
                        let v = (d[key] as? String ?? "").lowercased()
                        return v.hasSuffix(address) || v.hasSuffix("<\(address)>")
                    }
                }
                let fieldStatus = (field?["status"] as? String).flatMap { StatusCode.find(in: $0)?.description }
                var s = isDSN ? dsn : legacy
                s.expected += 1
                let match =
                    report.recipients.first { $0.address.lowercased() == address }
                    ?? report.recipients.first { ($0.originalRecipientDecoded ?? "").lowercased() == address }
                if let m = match {
                    s.found += 1
                    if m.action.rawValue == action {
                        s.actionRight += 1
                    } else if let fa = field?["action"] as? String,
                        fa.lowercased().trimmingCharacters(in: .whitespaces) == m.action.rawValue
                    {
                        s.actionRight += 1
                        errata.append("\(path) \(address): Action field says \(fa), truth.json \(action)")
                    } else {
                        s.failures.append("\(path) \(address): action \(m.action.rawValue) != \(action)")
                    }
                } else {
                    s.failures.append(
                        "\(path) \(address): not found (kind \(report.kind.name), got \(report.recipients.map(\.address)))"
                    )
                }
                let literal = exp["status_literal"] as? Bool ?? false
                let pseudo = exp["status_pseudo"] as? Bool ?? false
                let status = statusOverride ?? exp["status"] as? String ?? ""
                if literal && !pseudo && !status.isEmpty {
                    s.statusExpected += 1
                    let ours = match?.status?.description
                    if ours == status {
                        s.statusRight += 1
                    } else if let fs = fieldStatus, fs != status, ours == fs {
                        s.statusRight += 1
                        errata.append(
                            "\(path) \(address): Status field says \(fs), truth.json \(status) (taken from the diagnostic)"
                        )
                    } else {
                        s.failures.append("\(path) \(address): status \(ours ?? "-") != \(status)")
                    }
                }
                if isDSN { dsn = s } else { legacy = s }
            }
        }
        let statusExpected = dsn.statusExpected + legacy.statusExpected
        let statusRight = dsn.statusRight + legacy.statusRight
        let statusRate = statusExpected == 0 ? 1 : Double(statusRight) / Double(statusExpected)
        func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        print(
            """
            corpus RFC 3464: \(dsn.actionRight)/\(dsn.expected) recipients found with the right action (\(pct(dsn.actionRate))), \
            found \(pct(dsn.foundRate)), literal status \(dsn.statusRight)/\(dsn.statusExpected) (\(pct(dsn.statusRate)))
            corpus legacy:   \(legacy.actionRight)/\(legacy.expected) recipients found with the right action (\(pct(legacy.actionRate))), \
            found \(pct(legacy.foundRate)), literal status \(legacy.statusRight)/\(legacy.statusExpected) (\(pct(legacy.statusRate)))
            corpus literal status overall: \(statusRight)/\(statusExpected) (\(pct(statusRate)))
            corpus truth.json errata applied (message is the authority): \(errata.count)
            """)
        if ProcessInfo.processInfo.environment["CORPUS_VERBOSE"] != nil {
            for f in dsn.failures + legacy.failures { print("  miss: \(f)") }
            for e in errata { print("  truth.json erratum: \(e)") }
        }
        #expect(dsn.actionRate >= Self.dsnActionThreshold)
        #expect(legacy.actionRate >= Self.legacyActionThreshold)
        #expect(statusRate >= Self.statusThreshold)
    }

    // Ratchet: raise these when the parser improves; never lower them.
    static let dsnActionThreshold = 0.995
    static let legacyActionThreshold = 0.985
    static let statusThreshold = 0.99

    /// Files filed under "not a report" that are, by their own text, bounces.
    static let notReportExceptions: [String: String] = [
        "rb-issue-368-bug.eml":
            "says \"an email you sent was rejected\", reject reason \"Mailbox full\", target address given: a legacy bounce (the message is the authority)"
    ]

    @Test("complaints, auto-replies and plain mail are not reports")
    func notReports() throws {
        let truth = try Self.loadTruth()
        var wrong: [String] = []
        var checked = 0
        for (path, entry) in truth {
            let family = entry["family"] as? String ?? ""
            let isNot =
                path.hasPrefix("maildir/not/") || family == "arf" || family == "rfc3834"
                || (entry["format"] as? String) == "arf"
            guard isNot else { continue }
            if let why = Self.notReportExceptions[(path as NSString).lastPathComponent] {
                print("corpus not-a-report exception: \(path): \(why)")
                continue
            }
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
        let e = try #require(
            fm.enumerator(at: Self.corpusRoot, includingPropertiesForKeys: [.isRegularFileKey]),
            "corpus missing at \(Self.corpusRoot.path)")
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
                for m in messages {
                    _ = try DeliveryReportParser.parse(m)
                    mboxMessages += 1
                }
            } else {
                _ = try DeliveryReportParser.parse(bytes)
            }
            count += 1
        }
        print("corpus files parsed: \(count), mbox messages: \(mboxMessages)")
        #expect(count > 400)
    }
}
