import Crypto
import DeliveryReports

/// Which key tied a report to a probe, strongest first (docs/architecture.md §3, §4).
public enum CorrelationKey: String, Sendable, Hashable, Codable, CaseIterable {
    /// The report's envelope recipient (our listener) carried the VERP token.
    case envelopeRecipient = "envelope-rcpt"
    /// `Delivered-To`, `X-Original-To` or `To` of the report carried the VERP token.
    case deliveredTo = "delivered-to"
    /// `Original-Envelope-Id` is our token.
    case envelopeID = "envid"
    /// `Original-Recipient`/`Final-Recipient` of a single pending probe.
    case recipient = "recipient"
    /// `X-Roundtrip-Probe` or `Message-ID` in the returned headers.
    case returnedHeaders = "returned-headers"
    /// The token somewhere in the text.
    case text = "text"
    case none = "none"
}

public enum Confidence: String, Sendable, Hashable, Codable, Comparable {
    case high, medium, low

    public static func < (a: Self, b: Self) -> Bool {
        let order: [Confidence] = [.low, .medium, .high]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// A probe still waiting for reports, as the correlator needs to know it.
public struct PendingProbe: Sendable, Hashable {
    public var token: ProbeToken
    /// Recipient addresses as submitted.
    public var recipients: [String]

    public init(token: ProbeToken, recipients: [String]) {
        self.token = token
        self.recipients = recipients
    }
}

public struct Correlation: Sendable, Hashable {
    /// The probe the report belongs to; nil when nothing matched.
    public var token: ProbeToken?
    public var key: CorrelationKey
    public var confidence: Confidence?
    /// Token-shaped values whose HMAC did not verify: forged, or another installation's.
    public var forged: [String]

    public var isForged: Bool { token == nil && !forged.isEmpty }
}

/// Ties a parsed report to a probe. Pure: the caller supplies the key, the
/// pending probes and the envelope recipients (when the report came to our
/// listener).
public struct Correlator: Sendable {
    public let key: SymmetricKey
    /// The VERP local-part prefix before "+", e.g. "roundtrip"; nil accepts any.
    public let verpPrefix: String?

    public init(key: SymmetricKey, verpPrefix: String? = nil) {
        self.key = key
        self.verpPrefix = verpPrefix
    }

    public func correlate(
        _ report: DeliveryReport,
        envelopeRecipients: [String] = [],
        pending: [PendingProbe],
        text: String? = nil
    ) -> Correlation {
        var forged: [String] = []

        func check(_ candidates: [String]) -> ProbeToken? {
            for c in candidates {
                switch ProbeToken.validate(c, key: key) {
                case .valid(let t): return t
                case .forged: if !forged.contains(c.lowercased()) { forged.append(c.lowercased()) }
                case .malformed: break
                }
            }
            return nil
        }

        // 1. VERP: the envelope recipient, then the report's own headers.
        if let t = check(envelopeRecipients.compactMap(verpToken)) {
            return Correlation(token: t, key: .envelopeRecipient, confidence: .high, forged: forged)
        }
        let headerAddresses = report.envelope.deliveredTo + report.envelope.xOriginalTo + report.envelope.to
        if let t = check(headerAddresses.compactMap(verpToken)) {
            return Correlation(token: t, key: .deliveredTo, confidence: .high, forged: forged)
        }
        // 2. Original-Envelope-Id.
        if let envid = report.originalEnvelopeID, let t = check([envid.trimmingBlanks()]) {
            return Correlation(token: t, key: .envelopeID, confidence: .high, forged: forged)
        }
        // 3. Original-/Final-Recipient against pending probes: only a unique
        //    match counts, since the same address may be probed twice.
        let reported = Set(
            report.recipients.flatMap { r in
                [r.finalRecipient?.value, r.originalRecipientDecoded, r.originalRecipient?.value].compactMap {
                    $0?.lowercased()
                }
            })
        if forged.isEmpty, !reported.isEmpty {
            let matches = pending.filter { p in p.recipients.contains { reported.contains($0.lowercased()) } }
            if matches.count == 1 {
                return Correlation(token: matches[0].token, key: .recipient, confidence: .medium, forged: forged)
            }
            if matches.count > 1, let newest = matches.max(by: { $0.token.createdAt < $1.token.createdAt }) {
                return Correlation(token: newest.token, key: .recipient, confidence: .low, forged: forged)
            }
        }
        // 4. The returned headers.
        if let h = report.returnedHeaders {
            var candidates: [String] = []
            if let p = h.roundtripProbe { candidates.append(p.trimmingBlanks()) }
            if let id = h.messageID, let at = id.firstIndex(of: "@") { candidates.append(String(id[..<at])) }
            if let rp = h.returnPath, let t = verpToken(rp) { candidates.append(t) }
            if let t = check(candidates) {
                return Correlation(token: t, key: .returnedHeaders, confidence: .medium, forged: forged)
            }
        }
        // 5. Anywhere in the text.
        if let text, let t = check(ProbeToken.candidates(in: text)) {
            return Correlation(token: t, key: .text, confidence: .low, forged: forged)
        }
        return Correlation(token: nil, key: .none, confidence: nil, forged: forged)
    }

    /// `prefix+TOKEN@domain` → TOKEN.
    func verpToken(_ address: String) -> String? {
        var a = Substring(address.trimmingBlanks())
        if a.hasPrefix("<") { a = a.dropFirst() }
        if a.hasSuffix(">") { a = a.dropLast() }
        guard let at = a.lastIndex(of: "@") else { return nil }
        let local = a[..<at]
        guard let plus = local.firstIndex(of: "+") else { return nil }
        if let verpPrefix, local[..<plus].lowercased() != verpPrefix.lowercased() { return nil }
        return String(local[local.index(after: plus)...])
    }
}

extension String {
    func trimmingBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}
