import MailCore

/// A table describing one MTA family's non-delivery report.
///
/// The fingerprint decides whether the recogniser applies; the shared `LegacyExtractor` then cuts
/// the recipient section out of the text, finds the recipients and reads status, reply code,
/// diagnostic and remote host per recipient.
public struct LegacyRecognizer: Sendable {
    public enum Marker: Sendable, Hashable {
        /// `From:` (decoded, lower-cased) contains this.
        case from(String)
        /// `Subject:` (decoded, lower-cased) contains this.
        case subject(String)
        /// The human-readable text contains this (case-insensitive).
        case body(String)
        /// The report's header has this field.
        case header(String)
        /// The report's header field contains this value (lower-cased).
        case headerValue(String, String)

        var isBody: Bool {
            if case .body = self { return true }
            return false
        }
    }

    /// How recipients are written in the section.
    public enum RecipientStyle: Sendable, Hashable {
        /// Addresses at the start of a line (after blanks, `<`, quotes): Postfix, qmail, Exim, Sendmail.
        case lineStart
        /// Addresses after one of these labels (lower-case), e.g. `"original-recipient:"`.
        case afterLabels([String])
        /// Addresses right after one of these labels (lower-case; blanks, quotes and `<` between
        /// are allowed), e.g. `"\"emailaddress\":\""` in JSON notifications.
        case immediatelyAfter([String])
        /// Every address in the section.
        case anywhere
    }

    public var family: String
    /// All of these must hold.
    public var all: [Marker]
    /// At least one of these must hold (ignored when empty).
    public var any: [Marker]
    /// The recipient section starts after the first of these markers found (lower-case).
    public var start: [String]
    /// The section ends at the first of these markers after the start (lower-case), or at a
    /// common "copy of the message follows" marker.
    public var end: [String]
    /// This family's own phrases of a delay notice, added to `LegacyAction.stillTrying`.
    public var delayed: [String]
    /// This family's own phrases of a success notice, added to `LegacyAction.deliveredWords`.
    public var delivered: [String]
    /// This family's own phrases of a final failure, added to `LegacyAction.permanent`.
    public var failed: [String]
    public var recipients: RecipientStyle
    /// When true the report is accepted only if every recipient's text carries a written enhanced
    /// status code or a 4xx/5xx reply code (for shapes whose markers alone are weak evidence, such
    /// as auto-replies that carry a delivery failure).
    public var requiresCode: Bool

    public init(
        family: String, all: [Marker] = [], any: [Marker] = [], start: [String] = [], end: [String] = [],
        delayed: [String] = [], delivered: [String] = [], failed: [String] = [],
        recipients: RecipientStyle = .lineStart,
        requiresCode: Bool = false
    ) {
        self.family = family
        self.all = all
        self.any = any
        self.start = start
        self.end = end
        self.delayed = delayed
        self.delivered = delivered
        self.failed = failed
        self.recipients = recipients
        self.requiresCode = requiresCode
    }

    func matches(_ c: LegacyContext) -> Bool {
        for m in all where !LegacyRecognizer.holds(m, c) { return false }
        if any.isEmpty { return true }
        // Cheap header markers first, body searches last.
        for m in any where !m.isBody && LegacyRecognizer.holds(m, c) { return true }
        for m in any where m.isBody && LegacyRecognizer.holds(m, c) { return true }
        return false
    }

    static func holds(_ m: Marker, _ c: LegacyContext) -> Bool {
        switch m {
        case .from(let s): return c.from.hasSubstring(s)
        case .subject(let s): return c.subject.hasSubstring(s)
        case .body(let s):
            return c.index(of: s, from: 0, to: min(c.lower.count, LegacyContext.fingerprintWindow)) != nil
        case .header(let name): return c.message.header[name] != nil
        case .headerValue(let name, let v): return (c.message.header[name]?.value.asciiLowercased ?? "").hasSubstring(v)
        }
    }

    /// Recognises the report, or nil when the fingerprint does not match or no recipient is found.
    public func recognise(_ c: LegacyContext, humanTextOnly: Bool = false) -> DeliveryReport? {
        guard matches(c) else { return nil }
        return LegacyExtractor.extract(self, c, humanTextOnly: humanTextOnly)
    }
}

public enum LegacyNDR {
    /// Tries every registered recogniser in order (see `LegacyRegistry.swift`).
    /// - Parameter requireCode: accept a report only when every recipient's text carries a written
    ///   4.x.x/5.x.x code or 4xx/5xx reply (used for RFC 3834 auto-replies, which are reports only
    ///   when they carry a delivery failure).
    /// - Parameter humanTextOnly: read only the human-readable text, not the delivery-status
    ///   part's body (when the text only fills fields of a parsed delivery-status part).
    public static func recognise(_ c: LegacyContext, requireCode: Bool = false, humanTextOnly: Bool = false)
        -> DeliveryReport?
    {
        for var r in registry {
            if requireCode { r.requiresCode = true }
            if let report = r.recognise(c, humanTextOnly: humanTextOnly) { return report }
        }
        return nil
    }
}
