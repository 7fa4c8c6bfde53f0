import Crypto
import Foundation
import GRDB
import RoundtripCore
import SMTPCore
import Testing

@testable import Roundtrip

@Suite("Verdict rules")
struct VerdictRuleTests {
    static let reportVerdicts: [Verdict] = [.delivered, .relayed, .expanded, .delayed, .failed]

    @Test(arguments: Verdict.allCases)
    func delayedReplacesOnlyPending(old: Verdict) {
        #expect(VerdictRules.report(.delayed, replaces: old, key: .envelopeID) == (old == .pending))
    }

    @Test(arguments: [Verdict.delivered, .expanded, .failed], Verdict.allCases)
    func finalReportsReplaceOnlyWeakerVerdicts(new: Verdict, old: Verdict) {
        // `arrived` (the probe was seen in the mailbox, no report yet) gives way like `timeout`.
        let expected = [Verdict.pending, .delayed, .timeout, .dsnUnavailable, .relayed, .arrived].contains(old)
        #expect(VerdictRules.report(new, replaces: old, key: .envelopeID) == expected)
    }

    @Test(arguments: [Verdict.delivered, .expanded, .failed, .rejected], reportVerdicts)
    func settledVerdictsNeverChange(old: Verdict, new: Verdict) {
        #expect(!VerdictRules.report(new, replaces: old, key: .envelopeID))
    }

    @Test func relayedAndNonReportVerdicts() {
        #expect(VerdictRules.report(.relayed, replaces: .delayed, key: .envelopeID))
        #expect(VerdictRules.report(.relayed, replaces: .timeout, key: .envelopeID))
        #expect(!VerdictRules.report(.relayed, replaces: .relayed, key: .envelopeID))
        for v in [Verdict.rejected, .dsnUnavailable, .timeout, .pending] {
            #expect(!VerdictRules.reportVerdicts.contains(v))
            #expect(!VerdictRules.report(v, replaces: .pending, key: .envelopeID))
        }
        #expect(VerdictRules.submission(.rejected, replaces: .pending))
        #expect(VerdictRules.submission(.rejected, replaces: .dsnUnavailable))
        #expect(!VerdictRules.submission(.rejected, replaces: .delivered))
        #expect(VerdictRules.submission(.dsnUnavailable, replaces: .pending))
        #expect(!VerdictRules.submission(.dsnUnavailable, replaces: .rejected))
        #expect(VerdictRules.expiry(replaces: .pending))
        #expect(!VerdictRules.expiry(replaces: .delayed))
        #expect(!VerdictRules.expiry(replaces: .delivered))
    }
}
