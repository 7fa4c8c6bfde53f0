import DeliveryReports

/// What one correlated report says about one of the probe's recipients: the
/// unit both the in-memory run and the ledger apply with `VerdictRules`.
public struct ReportEvidence: Sendable, Hashable {
    /// The probe's recipient, as submitted.
    public var address: String
    public var verdict: Verdict
    /// The `Action:` as written.
    public var action: String
    public var status: String?
    public var statusPseudo: Bool?
    public var diagnostic: String?
    public var remoteMTA: String?
    public var reportingMTA: String?
    public var reportKind: String
    public var key: CorrelationKey
    public var confidence: Confidence?
    public var source: String

    public init(
        address: String, verdict: Verdict, action: String, status: String? = nil, statusPseudo: Bool? = nil,
        diagnostic: String? = nil,
        remoteMTA: String? = nil, reportingMTA: String? = nil, reportKind: String = "rfc3464", key: CorrelationKey,
        confidence: Confidence? = nil, source: String
    ) {
        self.address = address
        self.verdict = verdict
        self.action = action
        self.status = status
        self.statusPseudo = statusPseudo
        self.diagnostic = diagnostic
        self.remoteMTA = remoteMTA
        self.reportingMTA = reportingMTA
        self.reportKind = reportKind
        self.key = key
        self.confidence = confidence
        self.source = source
    }

    /// Whether this evidence may decide a verdict (token-authenticated).
    public var isAuthenticated: Bool { key.isAuthenticated }

    /// The outbound sentence this evidence gives once it decided the verdict.
    public var outbound: String {
        VerdictWording.outbound(verdict, reporter: reportingMTA, status: status, diagnostic: diagnostic)
    }

    public var inbound: String {
        VerdictWording.inbound(source: source, key: key, confidence: confidence)
    }

    /// The evidence in `report` for the probe's `recipients`. A report
    /// recipient is tied to a probe recipient by `Final-Recipient` or
    /// `Original-Recipient`; a single-recipient report for the single
    /// recipient still waiting (no final verdict) is tied to it even when the
    /// address differs (forwarding rewrote it). Report recipients that name
    /// none of ours are left out.
    public static func from(
        _ report: DeliveryReport, correlation: Correlation, source: String,
        recipients: [(address: String, verdict: Verdict)]
    ) -> [ReportEvidence] {
        var byAddress: [String: String] = [:]
        for r in recipients where byAddress[r.address.lowercased()] == nil {
            byAddress[r.address.lowercased()] = r.address
        }
        return from(
            report, correlation: correlation, source: source, recipient: { byAddress[$0.lowercased()] },
            soleWaiting: {
                let waiting = recipients.filter { !$0.verdict.isFinal }
                return waiting.count == 1 ? waiting[0].address : nil
            })
    }

    /// The same, for a caller that can look recipients up itself (a probe with thousands of
    /// recipients and a report for one): `recipient` gives the probe's spelling of an address
    /// (any case), `soleWaiting` the one recipient without a final verdict, if exactly one.
    public static func from(
        _ report: DeliveryReport, correlation: Correlation, source: String, recipient: (String) -> String?,
        soleWaiting: () -> String?
    ) -> [ReportEvidence] {
        guard report.kind.isReport else { return [] }
        var out: [ReportEvidence] = []
        for r in report.recipients {
            let candidates = [r.finalRecipient?.value, r.originalRecipientDecoded, r.originalRecipient?.value]
                .compactMap { $0 }
            var target = candidates.lazy.compactMap(recipient).first
            if target == nil, report.recipients.count == 1 { target = soleWaiting() }
            guard let address = target else { continue }
            out.append(
                ReportEvidence(
                    address: address, verdict: VerdictRules.verdict(for: r.action),
                    action: r.actionRaw ?? r.action.rawValue,
                    status: r.status?.description, statusPseudo: r.status == nil ? nil : r.statusIsPseudo,
                    diagnostic: r.diagnostic,
                    remoteMTA: r.remoteMTA?.value, reportingMTA: report.reportingMTA?.value,
                    reportKind: report.kind.name,
                    key: correlation.key, confidence: correlation.confidence, source: source
                ))
        }
        return out
    }
}
