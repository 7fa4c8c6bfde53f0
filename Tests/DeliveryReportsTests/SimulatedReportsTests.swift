import DeliveryReports
import MailCore
import Testing

/// The simulator's decision table (protocol-notes §2.3), every local part ×
/// NOTIFY × RET × ORCPT × null sender, against an independent oracle.
@Suite("Simulated reports: who reports what")
struct SimulatedReportsTests {
    static let notifies: [SimulatedNotify] = {
        var out: [SimulatedNotify] = [.absent, .never]
        for s in [false, true] {
            for f in [false, true] {
                for d in [false, true] where s || f || d { out.append(.conditions(success: s, failure: f, delay: d)) }
            }
        }
        return out
    }()

    /// (event, timing, status) the oracle expects for one recipient.
    static func expected(_ b: SimulatedBehaviour, _ n: SimulatedNotify) -> [(
        PlannedReport.Event, PlannedReport.Timing, String
    )] {
        let success: Bool
        let failure: Bool
        let delay: Bool
        switch n {
        case .absent: (success, failure, delay) = (false, true, false)
        case .never: (success, failure, delay) = (false, false, false)
        case .conditions(let s, let f, let d): (success, failure, delay) = (s, f, d)
        }
        switch b {
        case .success, .slow: return success ? [(.delivered, .immediate, "2.0.0")] : []
        case .unknown: return failure ? [(.failed, .immediate, "5.1.1")] : []
        case .full: return failure ? [(.failed, .immediate, "5.2.2")] : []
        case .legacy: return failure ? [(.legacyBounce, .immediate, "5.1.1")] : []
        case .relay: return success ? [(.relayed, .immediate, "2.0.0")] : []
        case .reject, .nodsn: return []
        case .delay:
            return (delay ? [(.delayed, .immediate, "4.4.1")] : [])
                + (success ? [(.delivered, .afterDelay, "2.0.0")] : [])
        }
    }

    @Test("one recipient: every behaviour × NOTIFY × RET × ORCPT × sender", arguments: SimulatedBehaviour.allCases)
    func table(behaviour: SimulatedBehaviour) {
        for notify in Self.notifies {
            for retFull in [false, true] {
                for orcpt in [nil, "rfc822;Orig+2Bx@sim.test"] as [String?] {
                    for nullSender in [false, true] {
                        let r = SimulatedRecipient(
                            address: "\(behaviour.rawValue)+t@sim.test", behaviour: behaviour, notify: notify,
                            originalRecipient: orcpt)
                        let plans = SimulatedReports.plan(
                            nullSender: nullSender, retFull: retFull, recipients: [r], reportingMTA: "sim.example")
                        let want = nullSender ? [] : Self.expected(behaviour, notify)
                        #expect(plans.count == want.count, "\(behaviour) \(notify) ret=\(retFull) null=\(nullSender)")
                        for (plan, w) in zip(plans, want) {
                            #expect(plan.event == w.0)
                            #expect(plan.timing == w.1)
                            #expect(plan.recipients.count == 1)
                            #expect(plan.recipients.first?.status.description == w.2)
                            #expect(plan.recipients.first?.finalRecipient == r.address)
                            #expect(plan.recipients.first?.originalRecipientField == orcpt)
                            #expect(plan.returned == (retFull && plan.event == .failed ? .fullMessage : .headers))
                            if plan.event == .failed || plan.event == .legacyBounce {
                                #expect(
                                    plan.recipients.first?.diagnostic?.hasPrefix(
                                        w.2 == "5.2.2" ? "552 5.2.2" : "550 5.1.1") == true)
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("one report per event covers all recipients with that event")
    func grouping() {
        let all = SimulatedNotify.conditions(success: true, failure: true, delay: true)
        let rs = ["success", "unknown", "full", "delay", "relay", "nodsn", "legacy", "success+2", "Unknown+x"].map {
            SimulatedRecipient(address: "\($0)@sim.test", behaviour: .forLocalPart($0), notify: all)
        }
        let plans = SimulatedReports.plan(nullSender: false, retFull: false, recipients: rs, reportingMTA: "h")
        let summary = plans.map {
            "\($0.event.rawValue)/\($0.timing == .immediate ? "now" : "later"):\($0.recipients.map(\.finalRecipient).joined(separator: ","))"
        }
        #expect(
            summary == [
                "failed/now:unknown@sim.test,full@sim.test,Unknown+x@sim.test",
                "legacyBounce/now:legacy@sim.test",
                "delayed/now:delay@sim.test",
                "delivered/now:success@sim.test,success+2@sim.test",
                "relayed/now:relay@sim.test",
                "delivered/later:delay@sim.test",
            ])
    }

    @Test("behaviour by local part: before +tag, case-insensitive, unknown → success")
    func localParts() {
        #expect(SimulatedBehaviour.forLocalPart("UNKNOWN+abc") == .unknown)
        #expect(SimulatedBehaviour.forLocalPart("reject") == .reject)
        #expect(SimulatedBehaviour.forLocalPart("Delay+1+2") == .delay)
        #expect(SimulatedBehaviour.forLocalPart("alice") == .success)
        #expect(SimulatedBehaviour.forLocalPart("+unknown") == .success)
        #expect(SimulatedBehaviour.forLocalPart("legacy") == .legacy)
    }

    @Test("a failure report with RET=FULL parses: message/rfc822, ENVID, ORCPT")
    func buildFull() throws {
        let original = Array(
            "From: a@rt.test\r\nTo: unknown@sim.test\r\nMessage-ID: <m1@rt.test>\r\nSubject: probe\r\n\r\nbody line\r\n"
                .utf8)
        let r = SimulatedRecipient(
            address: "unknown@sim.test", behaviour: .unknown, notify: .absent,
            originalRecipient: "rfc822;unknown@sim.test")
        let plan = try #require(
            SimulatedReports.plan(nullSender: false, retFull: true, recipients: [r], reportingMTA: "sim.example").first)
        var b = RFC3464Builder(
            reportingMTA: "sim.example", from: "MAILER-DAEMON@sim.example", to: "a@rt.test", messageID: "x@sim.example",
            date: MessageDate(secondsSince1970: 1_700_000_000, zoneOffsetMinutes: 0), boundary: "b1",
            originalEnvelopeID: "env 1", recipients: plan.recipients, returnedHeader: original)
        b.returnedMessage = original
        let bytes = b.build()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("Content-Type: message/rfc822\r\n\r\nFrom: a@rt.test\r\n"))
        #expect(text.contains("body line\r\n"))
        #expect(text.contains("Original-Recipient: rfc822;unknown@sim.test\r\n"))
        let report = try DeliveryReportParser.parse(bytes)
        #expect(report.kind == .rfc3464)
        #expect(report.originalEnvelopeID == "env 1")
        #expect(report.recipients.first?.address == "unknown@sim.test")
        #expect(report.recipients.first?.action == .failed)
        #expect(report.recipients.first?.status?.description == "5.1.1")
        #expect(report.returnedHeaders?.source == .rfc822Message)
    }

    @Test("the legacy bounce is recognised as a Postfix legacy report")
    func legacy() throws {
        let r = SimulatedRecipient(address: "legacy+t9@sim.test", behaviour: .legacy, notify: .absent)
        let plan = try #require(
            SimulatedReports.plan(nullSender: false, retFull: false, recipients: [r], reportingMTA: "sim.example").first
        )
        let bytes = SimulatedReports.legacyBounce(
            reportingMTA: "sim.example", to: "a@rt.test", messageID: "y@sim.example",
            date: MessageDate(secondsSince1970: 1_700_000_000, zoneOffsetMinutes: 0),
            recipients: plan.recipients,
            returnedHeader: Array("From: a@rt.test\r\nMessage-ID: <m2@rt.test>\r\n\r\n".utf8)
        )
        let report = try DeliveryReportParser.parse(bytes)
        #expect(report.kind == .legacy(family: "postfix"))
        #expect(report.recipients.count == 1)
        #expect(report.recipients.first?.address == "legacy+t9@sim.test")
        #expect(report.recipients.first?.action == .failed)
        #expect(report.recipients.first?.status?.description == "5.1.1")
    }
}
