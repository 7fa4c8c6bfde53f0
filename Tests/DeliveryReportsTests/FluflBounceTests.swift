import DeliveryReports
import Foundation
import MailCore
import Testing

/// A second, independent corpus: the ~115 bounce samples that Debian's `python3-flufl.bounce`
/// ships in its tests/data folder (LGPL-3; read in place from the installed package, never copied
/// into this repository). The parser reads every sample (no crash, no hang) and is compared with
/// the addresses flufl.bounce itself finds (`all_failures` and `scan_message`, run through
/// Debian's /usr/bin/python3 by `scripts/flufl-bounce-scan.py`).
///
/// The package is installed by `scripts/test-env.sh start`. Without it the test is skipped with
/// a printed reason, except under `ROUNDTRIP_INTEGRATION=1`, where a missing package fails.
@Suite("flufl.bounce samples")
struct FluflBounceTests {
    static let projectRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let python = "/usr/bin/python3"
    static var integration: Bool { ProcessInfo.processInfo.environment["ROUNDTRIP_INTEGRATION"] == "1" }

    struct Sample {
        var name: String
        var addresses: Set<String>
    }

    /// flufl.bounce's findings, or the reason they are unavailable.
    static func fluflFindings() -> Result<(dataDir: URL, samples: [Sample]), SkipReason> {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return .failure(SkipReason(text: "\(python) not found (Debian's python3)"))
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [projectRoot.appendingPathComponent("scripts/flufl-bounce-scan.py").path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return .failure(SkipReason(text: "cannot run \(python): \(error)")) }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 3 {
            return .failure(
                SkipReason(text: "python3-flufl.bounce is not installed (scripts/test-env.sh start installs it)"))
        }
        guard p.terminationStatus == 0,
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let dir = json["data_dir"] as? String, let samples = json["samples"] as? [String: [String: Any]]
        else {
            return .failure(SkipReason(text: "flufl-bounce-scan.py failed (exit \(p.terminationStatus))"))
        }
        let list = samples.keys.sorted().map { name -> Sample in
            let e = samples[name] ?? [:]
            let all = ["permanent", "temporary", "scan"].flatMap { e[$0] as? [String] ?? [] }
            return Sample(name: name, addresses: Set(all.map { $0.lowercased() }))
        }
        return .success((URL(fileURLWithPath: dir), list))
    }

    struct SkipReason: Error { var text: String }

    @Test("every sample parses; the addresses flufl.bounce finds are found")
    func agreement() throws {
        let findings: (dataDir: URL, samples: [Sample])
        switch Self.fluflFindings() {
        case .success(let f): findings = f
        case .failure(let reason):
            if Self.integration {
                Issue.record("ROUNDTRIP_INTEGRATION=1 but \(reason.text)")
            } else {
                print("flufl.bounce samples: skipped: \(reason.text)")
            }
            return
        }
        #expect(findings.samples.count >= 100, "expected the ~115 flufl.bounce samples, got \(findings.samples.count)")
        var fluflMailboxes = 0
        var agreed = 0
        var notMailboxes: [String] = []
        var missed: [String] = []
        var onlyOurs = 0
        var slowest: Duration = .zero
        let clock = ContinuousClock()
        for sample in findings.samples {
            let bytes = [UInt8](try Data(contentsOf: findings.dataDir.appendingPathComponent(sample.name)))
            var report: DeliveryReport?
            let took = try clock.measure { report = try DeliveryReportParser.parse(bytes) }
            slowest = max(slowest, took)
            #expect(took < .seconds(2), "\(sample.name) took \(took)")
            let records = report?.recipients ?? []
            var ours = Set<String>()
            for r in records {
                ours.insert(r.address.lowercased())
                if let o = r.originalRecipientDecoded { ours.insert(o.lowercased()) }
            }
            for a in sample.addresses.sorted() {
                // flufl.bounce also returns fragments that are no mailbox (X.400 pieces, bare
                // local parts it completes by a provider's domain): listed, not scored.
                guard a.contains("@"), !a.hasPrefix("@"), !a.hasSuffix("@") else {
                    notMailboxes.append("\(sample.name): \(a)")
                    continue
                }
                fluflMailboxes += 1
                if ours.contains(a) {
                    agreed += 1
                } else {
                    missed.append(
                        "\(sample.name): \(a) (we: \(records.map(\.address)), kind \(report?.kind.name ?? "-"))")
                }
            }
            if records.contains(where: { r in
                !sample.addresses.contains(r.address.lowercased())
                    && !sample.addresses.contains((r.originalRecipientDecoded ?? "").lowercased())
            }) {
                onlyOurs += 1
            }
        }
        let rate = fluflMailboxes == 0 ? 1 : Double(agreed) / Double(fluflMailboxes)
        print(
            """
            flufl.bounce samples: \(findings.samples.count) parsed, slowest \(slowest)
            flufl.bounce agreement: \(agreed)/\(fluflMailboxes) of the mailboxes flufl.bounce finds are found \
            (\(String(format: "%.1f%%", rate * 100))); \(notMailboxes.count) flufl results are no mailbox; \
            \(onlyOurs) samples where we also name an address flufl.bounce does not
            """)
        for m in missed { print("  flufl.bounce found, we did not: \(m)") }
        for n in notMailboxes { print("  flufl.bounce result that is no mailbox: \(n)") }
        #expect(rate >= Self.agreementThreshold)
    }

    // Ratchet: raise when the parser improves; never lower.
    static let agreementThreshold = 0.975
}
