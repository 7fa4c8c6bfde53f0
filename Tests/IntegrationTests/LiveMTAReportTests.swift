import DeliveryReports
import Foundation
import TestSupport
import Testing

/// Real delivery reports from real MTAs: Exim 4.96 and OpenSMTPD 6.8, run on loopback by
/// `scripts/test-env-mtas.sh` (started by `scripts/test-env.sh start`). One probe through each MTA
/// to five recipients gives every outcome at once:
///
/// - `alice@local.rt.test`: delivered into a local Maildir (NOTIFY=SUCCESS → success DSN);
/// - `nouser@local.rt.test`: accepted, then fails in local delivery (Exim: a `:fail:` redirect;
///   OpenSMTPD: the delivery agent exits 67);
/// - `fail-1@hop.rt.test`: the next hop (our scripted server) answers 550;
/// - `later-1@hop.rt.test`: the next hop answers 451 (short retry settings → delay notice);
/// - `relay-1@hop.rt.test`: the next hop takes it but offers no DSN.
///
/// The reports come back to `roundtrip verify`'s own listener; the test asserts the verdicts and,
/// parsing the stored reports itself, exactly one record per recipient with the action, status,
/// Remote-MTA and diagnostic as the MTA wrote them. Loopback only.
@Suite(
    .enabled(if: TestEnv.enabled, "needs the MTAs of scripts/test-env-mtas.sh (ROUNDTRIP_INTEGRATION=1)"), .serialized)
struct LiveMTAReportTests {
    /// The variables `scripts/test-env-mtas.sh start` wrote to $ROUNDTRIP_TEST_DIR/env-mtas.sh.
    static func mtaEnvironment() -> [String: String] {
        let dir = ProcessInfo.processInfo.environment["ROUNDTRIP_TEST_DIR"] ?? "/tmp/roundtrip-test-env"
        guard let text = try? String(contentsOfFile: dir + "/env-mtas.sh", encoding: .utf8) else { return [:] }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let eq = assignment.firstIndex(of: "=") else { continue }
            var value = String(assignment[assignment.index(after: eq)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            out[String(assignment[..<eq])] = value
        }
        return out
    }

    static let recipients = [
        "alice@local.rt.test", "nouser@local.rt.test", "fail-1@hop.rt.test",
        "later-1@hop.rt.test", "relay-1@hop.rt.test",
    ]

    /// The next hop: 550 for `fail-`, 451 for `later-`, else accepted; no DSN in its EHLO.
    static func nextHop(_ line: String, _ tls: Bool) -> ScriptedSMTPServer.Step {
        let u = line.uppercased()
        if u.hasPrefix("EHLO") { return .send("250-hop.rt.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n") }
        if u.hasPrefix("HELO") { return .send("250 hop.rt.test\r\n") }
        if u.hasPrefix("MAIL") { return .send("250 2.1.0 Ok\r\n") }
        if u.hasPrefix("RCPT") {
            if u.contains("<FAIL-") { return .send("550 5.1.1 user unknown here\r\n") }
            if u.contains("<LATER-") { return .send("451 4.3.0 try again later\r\n") }
            return .send("250 2.1.5 Ok\r\n")
        }
        if u == "DATA" { return .send("354 go ahead\r\n") }
        if u == "." { return .send("250 2.0.0 Ok: queued\r\n") }
        if u == "RSET" || u == "NOOP" { return .send("250 2.0.0 Ok\r\n") }
        if u == "QUIT" { return .sendThenClose("221 2.0.0 Bye\r\n") }
        return .send("502 5.5.2 not implemented\r\n")
    }

    struct Outcome {
        /// `verify --format json`, by recipient.
        var verdicts: [String: [String: Any]]
        /// Every report this probe received (matched by its ENVID), parsed here.
        var reports: [DeliveryReport]
        var raw: String
    }

    /// Sends one probe through the MTA to the five recipients and collects the reports.
    func run(server: String, nextHopPort: Int, reportsPort: Int) async throws -> Outcome {
        let hop = try await ScriptedSMTPServer.start(
            greeting: "220 hop.rt.test ESMTP\r\n", port: nextHopPort, script: Self.nextHop)
        let dir = NSTemporaryDirectory() + "roundtrip-live-mta-\(getpid())-\(reportsPort)-\(UUID().uuidString)"
        let store = dir + "/store"
        var args = [
            "verify", "--server", server, "--from", "rt@return.rt.test",
            "--listen", "127.0.0.1:\(reportsPort)", "--listen-store", store, "--starttls", "never",
            "--deadline", "50s", "--ledger", dir + "/ledger.sqlite", "--format", "json",
        ]
        for r in Self.recipients { args += ["--to", r] }
        let r: RunResult
        do {
            r = try await roundtrip(args, timeout: 150)
        } catch {
            await hop.stop()
            throw error
        }
        await hop.stop()
        let doc = try #require(
            try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
            "not JSON: \(r.stdout) \(r.stderr)")
        var verdicts: [String: [String: Any]] = [:]
        for rec in doc["recipients"] as? [[String: Any]] ?? [] {
            if let a = rec["address"] as? String { verdicts[a] = rec }
        }
        let token = try #require((doc["messageID"] as? String)?.split(separator: "@").first.map(String.init))
        // This probe's reports (the token is in the VERP address they are sent to; OpenSMTPD does
        // not echo the ENVID). A report delivered twice (SMTP is at-least-once: the MTA retries
        // when it misses the 250) is one report: same Message-ID.
        var reports: [DeliveryReport] = []
        var seen = Set<String>()
        let fm = FileManager.default
        for sub in ["new", "cur"] {
            let folder = store + "/" + sub
            for name in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
                guard String(decoding: bytes, as: UTF8.self).contains(token) else { continue }
                let report = try DeliveryReportParser.parse(bytes)
                guard seen.insert(report.envelope.messageID ?? name).inserted else { continue }
                reports.append(report)
            }
        }
        try? fm.removeItem(atPath: dir)
        return Outcome(verdicts: verdicts, reports: reports, raw: r.stdout + r.stderr)
    }

    /// What one recipient's record must say.
    struct Expected {
        var address: String
        var action: DeliveryAction
        var status: String
        var remoteMTA: String?
        var diagnostic: String?
        var verdict: String
    }

    func check(_ o: Outcome, _ expected: [Expected], kind: DeliveryReport.Kind, mta: String) {
        // Exactly one record per recipient in every report, and each outcome reported once.
        for report in o.reports {
            #expect(report.kind == kind, "\(mta): report kind \(report.kind)")
            let addresses = report.recipients.map { $0.address.lowercased() }
            #expect(Set(addresses).count == addresses.count, "\(mta): a recipient twice in one report: \(addresses)")
        }
        for e in expected {
            let records = o.reports.flatMap(\.recipients).filter {
                $0.address.lowercased() == e.address && $0.action == e.action
            }
            #expect(
                records.count == 1,
                "\(mta) \(e.address): \(records.count) \(e.action) records; reports: \(o.reports.map { $0.recipients.map { "\($0.address) \($0.action)" } })"
            )
            guard let rr = records.first else { continue }
            #expect(rr.status?.description == e.status, "\(mta) \(e.address): status \(rr.status?.description ?? "-")")
            #expect(!rr.statusIsPseudo, "\(mta) \(e.address): the status is written in the report")
            #expect(rr.remoteMTA?.value == e.remoteMTA, "\(mta) \(e.address): Remote-MTA \(rr.remoteMTA?.value ?? "-")")
            #expect(rr.diagnostic == e.diagnostic, "\(mta) \(e.address): diagnostic \(rr.diagnostic ?? "-")")
            let verdict = o.verdicts[e.address]?["verdict"] as? String
            #expect(verdict == e.verdict, "\(mta) \(e.address): verdict \(verdict ?? "-")\n\(o.raw)")
        }
    }

    /// Exim 4.96 writes each group as Original-Recipient, Action, Final-Recipient, Status,
    /// Remote-MTA, Diagnostic-Code: one record each. A generic Status (5.0.0, 4.0.0) yields to the
    /// next hop's code in the Diagnostic-Code. The relay to the non-DSN hop is written
    /// `Action: delivered`, and the message itself says otherwise: its text entry for that
    /// recipient reads "(relayed to non-DSN-aware mailer)", so the record is `relayed` (the
    /// written Action stays in `actionRaw`) and the verdict is `relayed` (docs/parse-json.md).
    @Test func exim() async throws {
        let env = Self.mtaEnvironment()
        let server = try #require(
            env["ROUNDTRIP_TEST_EXIM"], "env-mtas.sh missing: scripts/test-env.sh start runs test-env-mtas.sh")
        let o = try await run(
            server: server, nextHopPort: Int(env["ROUNDTRIP_TEST_EXIM_NEXTHOP_PORT"] ?? "") ?? 2731,
            reportsPort: Int(env["ROUNDTRIP_TEST_EXIM_REPORTS_PORT"] ?? "") ?? 2732)
        check(
            o,
            [
                Expected(
                    address: "alice@local.rt.test", action: .delivered, status: "2.0.0", remoteMTA: nil,
                    diagnostic: "relayed via non SMTP router", verdict: "delivered"),
                Expected(
                    address: "nouser@local.rt.test", action: .failed, status: "5.0.0", remoteMTA: nil,
                    diagnostic: "mailbox unavailable for this test user", verdict: "failed"),
                Expected(
                    address: "fail-1@hop.rt.test", action: .failed, status: "5.1.1", remoteMTA: "127.0.0.1",
                    diagnostic: "550 5.1.1 user unknown here", verdict: "failed"),
                Expected(
                    address: "later-1@hop.rt.test", action: .delayed, status: "4.3.0", remoteMTA: "127.0.0.1",
                    diagnostic: "451 4.3.0 try again later", verdict: "delayed"),
                Expected(
                    address: "relay-1@hop.rt.test", action: .relayed, status: "2.0.0", remoteMTA: "127.0.0.1",
                    diagnostic: "250 Ok", verdict: "relayed"),
            ], kind: .rfc3464, mta: "exim")
        let relay = o.reports.flatMap(\.recipients).first { $0.address.lowercased() == "relay-1@hop.rt.test" }
        #expect(relay?.actionRaw?.lowercased() == "delivered", "Exim wrote Action: delivered")
        // ORCPT comes back as Original-Recipient, in the same record.
        for r in o.reports.flatMap(\.recipients) {
            #expect(r.originalRecipientDecoded?.lowercased() == r.address.lowercased(), "exim: \(r.address)")
        }
    }

    /// OpenSMTPD 6.8 puts its delivery-status part in a multipart/mixed, writes no Remote-MTA or
    /// Diagnostic-Code, and a generic Status for the next hop's failures: the reply in its text
    /// fills the diagnostic and refines the status. A relay to the non-DSN hop is `relayed`.
    @Test func openSMTPD() async throws {
        let env = Self.mtaEnvironment()
        let server = try #require(
            env["ROUNDTRIP_TEST_OPENSMTPD"], "env-mtas.sh missing: scripts/test-env.sh start runs test-env-mtas.sh")
        let o = try await run(
            server: server, nextHopPort: Int(env["ROUNDTRIP_TEST_OPENSMTPD_NEXTHOP_PORT"] ?? "") ?? 2751,
            reportsPort: Int(env["ROUNDTRIP_TEST_OPENSMTPD_REPORTS_PORT"] ?? "") ?? 2752)
        check(
            o,
            [
                Expected(
                    address: "alice@local.rt.test", action: .delivered, status: "2.0.0", remoteMTA: nil,
                    diagnostic: nil, verdict: "delivered"),
                Expected(
                    address: "nouser@local.rt.test", action: .failed, status: "5.3.0", remoteMTA: nil,
                    diagnostic: "exited abnormally", verdict: "failed"),
                Expected(
                    address: "fail-1@hop.rt.test", action: .failed, status: "5.1.1", remoteMTA: nil,
                    diagnostic: "550 5.1.1 user unknown here", verdict: "failed"),
                Expected(
                    address: "later-1@hop.rt.test", action: .delayed, status: "4.3.0", remoteMTA: nil,
                    diagnostic: "451 4.3.0 try again later", verdict: "delayed"),
                Expected(
                    address: "relay-1@hop.rt.test", action: .relayed, status: "2.0.0", remoteMTA: nil,
                    diagnostic: nil, verdict: "relayed"),
            ], kind: .dsnPartWithoutReport, mta: "opensmtpd")
    }
}
