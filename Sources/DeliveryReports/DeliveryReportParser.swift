import MailCore

/// Reads a delivery report out of a message: RFC 3464/6522/6533 first (anywhere in the MIME tree),
/// then the legacy NDR recognisers, else "not a report" with a reason.
public enum DeliveryReportParser {
    /// Parses raw message bytes (CRLF, LF or CR line ends).
    /// - Throws: `MIMELimitError` when the message exceeds `limits.maxMessageSize`.
    public static func parse(_ bytes: [UInt8], limits: MIMELimits = MIMELimits()) throws(MIMELimitError)
        -> DeliveryReport
    {
        try parse(bytes[...], limits: limits)
    }

    /// Returned originals are parsed header-only first; only when no report is found and an
    /// encapsulated message could hold one (a forwarded report) is the message parsed in full.
    public static func parse(_ bytes: ArraySlice<UInt8>, limits: MIMELimits = MIMELimits()) throws(MIMELimitError)
        -> DeliveryReport
    {
        let shallow = try MIMEParser.parse(bytes, limits: limits, encapsulatedBodies: false)
        let report = parse(message: shallow)
        if report.kind.isReport || !hasStructuredEncapsulation(shallow) { return report }
        let full = try MIMEParser.parse(bytes, limits: limits, encapsulatedBodies: true)
        return parse(message: full)
    }

    /// True when some encapsulated message has a multipart or message body (could hold a report).
    static func hasStructuredEncapsulation(_ m: MIMEPart) -> Bool {
        var found = false
        m.visit { p in
            if let e = p.encapsulatedMessage, e.contentType.isMultipart || e.contentType.type == "message" {
                found = true
                return false
            }
            return true
        }
        return found
    }

    public static func parse(message: MIMEPart) -> DeliveryReport {
        let envelope = reportEnvelope(message.header)
        var scan = TreeScan()
        scan.walk(message, parentIsReport: false, parentReportType: nil, insideEmbedded: false)

        // 1. A machine-readable delivery-status part.
        var lazyContext: LegacyContext?
        func context() -> LegacyContext {
            if let c = lazyContext { return c }
            let c = LegacyContext(message: message)
            lazyContext = c
            return c
        }
        for candidate in scan.statusParts {
            var content = RFC3464Parser.parse(candidate.part.decodedBody)
            guard !content.recipients.isEmpty else { continue }
            for i in content.recipients.indices.prefix(100) where !isMailbox(content.recipients[i].address) {
                repairAddress(&content.recipients[i], context())
            }
            content.recipients = RecipientMerge.onePerRecipient(content.recipients)
            // The machine-readable part wins; the text may only fill a missing diagnostic or a
            // status that was only guessed, and say that a `delivered` was a relay (below).
            if content.recipients.contains(where: {
                $0.diagnostic == nil || $0.statusIsPseudo || $0.action == .delivered
            }),
                let text = LegacyNDR.recognise(context(), humanTextOnly: true)
            {
                var byKey: [String: RecipientReport] = [:]
                for t in text.recipients where byKey[RecipientMerge.key(t)] == nil { byKey[RecipientMerge.key(t)] = t }
                for i in content.recipients.indices {
                    if let t = byKey[RecipientMerge.key(content.recipients[i])] {
                        RecipientMerge.fillFromText(&content.recipients[i], from: t)
                    }
                }
            }
            let kind: DeliveryReport.Kind
            if candidate.part.contentType.subtype.hasPrefix("global") {
                kind = .rfc6533
            } else if candidate.parentIsReport {
                kind = .rfc3464
            } else {
                kind = .dsnPartWithoutReport
            }
            var report = DeliveryReport(
                kind: kind, originalEnvelopeID: content.originalEnvelopeID,
                reportingMTA: content.reportingMTA, dsnGateway: content.dsnGateway,
                receivedFromMTA: content.receivedFromMTA, arrivalDateText: content.arrivalDateText,
                extraFields: content.extraFields, recipients: content.recipients,
                envelope: envelope)
            report.returnedHeaders = scan.returnedHeaders(after: candidate.order) ?? scan.inlineReturnedHeaders(message)
            return report
        }

        // 1b. A delivery-status part without fields: read the text; failing that, the returned
        //     message's To (flagged in extraFields["x-recipient-source"]).
        if let empty = scan.statusParts.first, !scan.sawFeedbackReport {
            let returned = scan.returnedHeaders(after: empty.order) ?? scan.inlineReturnedHeaders(message)
            // The text's recipients, unless the text names none (only X-Failed-Recipients did).
            if var r = LegacyNDR.recognise(context()),
                r.recipients.contains(where: { $0.extraFields["x-recipient-source"] == nil })
            {
                r.kind = empty.parentIsReport ? .rfc3464 : .dsnPartWithoutReport
                r.envelope = envelope
                r.returnedHeaders = returned
                return r
            }
            // X-Failed-Recipients names failed recipients; the returned message's To are the
            // recipients of a message the report says was not delivered.
            let failedHeader = LegacyExtractor.failedRecipientsHeader(message.header)
            var to = failedHeader
            for f in returned?.header.all("to") ?? [] {
                for part in f.value.splitASCII(0x2C) {
                    guard let a = AddressParser.addrSpec(in: String(part)) else { continue }
                    let m = ReportAddress.mailbox(a)
                    if !to.contains(where: { $0.asciiLowercased == m.asciiLowercased }) { to.append(m) }
                }
            }
            if !to.isEmpty {
                let text = context().text
                let status = StatusCode.find(in: text[...])
                let recipients = to.map { address -> RecipientReport in
                    var rr = RecipientReport(
                        finalRecipient: TypedValue(type: "rfc822", value: address), action: .failed,
                        actionInferred: true, status: status ?? StatusCode(statusClass: 5, subject: 0, detail: 0),
                        statusIsPseudo: status == nil)
                    let fromHeader = failedHeader.contains { $0.asciiLowercased == address.asciiLowercased }
                    rr.extraFields["x-recipient-source"] = fromHeader ? "x-failed-recipients" : "returned-to"
                    return rr
                }
                return DeliveryReport(
                    kind: empty.parentIsReport ? .rfc3464 : .dsnPartWithoutReport, recipients: recipients,
                    returnedHeaders: returned, envelope: envelope)
            }
        }

        // 2. Other report types are not delivery reports.
        if scan.sawFeedbackReport {
            return notAReport(.feedbackReport, message: message, envelope: envelope, scan: scan)
        }
        if scan.sawDisposition {
            if let part = scan.dispositionPart, var r = SieveReject.report(part, text: context().text) {
                r.envelope = envelope
                r.returnedHeaders = scan.returnedHeaders(after: -1)
                return r
            }
            return notAReport(.dispositionNotification, message: message, envelope: envelope, scan: scan)
        }

        // 3. Legacy NDRs. DSN fields pasted into the text (forwarded reports, broken MIME) first.
        let legacy = context()
        if let inline = InlineDSN.parse(legacy) {
            var r = inline
            r.envelope = envelope
            r.returnedHeaders = scan.returnedHeaders(after: -1) ?? scan.inlineReturnedHeaders(message)
            return r
        }
        // RFC 3834 auto-replies are reports only when they carry a delivery failure: a recipient
        // with a written 4xx/5xx reply or x.y.z status.
        let autoReply = legacy.looksLikeAutoReply && !legacy.looksLikeBounceSender
        if let report = LegacyNDR.recognise(legacy, requireCode: autoReply) {
            var r = report
            r.envelope = envelope
            r.returnedHeaders = scan.returnedHeaders(after: -1) ?? scan.inlineReturnedHeaders(message)
            return r
        }
        if legacy.looksLikeComplaint {
            return notAReport(.feedbackReport, message: message, envelope: envelope, scan: scan)
        }
        return notAReport(
            legacy.looksLikeAutoReply ? .autoReply : .plainMail, message: message, envelope: envelope, scan: scan)
    }

    static func isMailbox(_ a: String) -> Bool {
        let u = a.utf8
        guard let at = u.lastIndex(of: 0x40) else { return false }
        return at != u.startIndex && u.index(after: at) != u.endIndex
    }

    /// A recipient field without a local part (`@mx.example.org`) or without a domain: take the
    /// first address in the human-readable text whose domain matches, and flag it.
    static func repairAddress(_ r: inout RecipientReport, _ c: LegacyContext) {
        let broken = r.address.asciiLowercased
        let brokenDomain = broken.splitASCII(0x40).last.map(String.init) ?? broken
        for range in AddressParser.findAddresses(in: c.text[...]) {
            let a = decodeUTF8OrLatin1(c.text[range])
            let domain = (a.splitASCII(0x40).last.map(String.init) ?? "").asciiLowercased
            guard !domain.isEmpty, !brokenDomain.isEmpty else { continue }
            if domain.hasSuffix(brokenDomain) || brokenDomain.hasSuffix(domain) || broken.hasPrefix(a.asciiLowercased) {
                r.extraFields["x-broken-final-recipient"] = r.finalRecipient?.value ?? ""
                r.finalRecipient = TypedValue(type: r.finalRecipient?.type ?? "rfc822", value: a)
                return
            }
        }
    }

    static func notAReport(
        _ reason: DeliveryReport.NotAReportReason, message: MIMEPart, envelope: ReportEnvelope,
        scan: TreeScan
    ) -> DeliveryReport {
        DeliveryReport(
            kind: .notAReport(reason: reason),
            returnedHeaders: scan.returnedHeaders(after: -1), envelope: envelope)
    }

    static func reportEnvelope(_ h: HeaderSection) -> ReportEnvelope { ReportEnvelope(header: h) }
}

/// One pass over the MIME tree collecting what the report parser needs.
struct TreeScan {
    struct StatusCandidate {
        var part: MIMEPart
        var parentIsReport: Bool
        var order: Int
    }
    struct HeaderCandidate {
        var headers: ReturnedHeaders
        var order: Int
    }

    var statusParts: [StatusCandidate] = []
    var headerCandidates: [HeaderCandidate] = []
    var sawFeedbackReport = false
    var sawDisposition = false
    /// The first disposition-notification part (RFC 8098), outside returned messages.
    var dispositionPart: MIMEPart?
    var order = 0

    mutating func walk(_ part: MIMEPart, parentIsReport: Bool, parentReportType: String?, insideEmbedded: Bool) {
        order += 1
        let ct = part.contentType
        if ct.type == "multipart" && ct.subtype == "report" {
            let rt = ct.parameters["report-type"]?.asciiLowercased ?? ""
            if rt.hasSubstring("feedback") { sawFeedbackReport = true }
            if rt.hasSubstring("disposition") { sawDisposition = true }
        }
        let sub = ct.subtype
        if !insideEmbedded {
            if (ct.type == "message" || ct.type == "text") && sub.hasSubstring("delivery-status") {
                statusParts.append(StatusCandidate(part: part, parentIsReport: parentIsReport, order: order))
            }
            if sub == "feedback-report" { sawFeedbackReport = true }
            if sub == "disposition-notification" || sub == "global-disposition-notification" {
                sawDisposition = true
                if dispositionPart == nil { dispositionPart = part }
            }
        }
        if sub.hasSubstring("rfc822-header") || sub == "global-headers" {
            let (h, _) = HeaderSection.parse(part.decodedBody)
            if !h.isEmpty {
                headerCandidates.append(
                    HeaderCandidate(
                        headers: ReturnedHeaders(
                            source: sub == "global-headers" ? .globalHeaders : .rfc822Headers, header: h),
                        order: order))
            }
        }
        if let inner = part.encapsulatedMessage, !inner.header.isEmpty {
            headerCandidates.append(
                HeaderCandidate(
                    headers: ReturnedHeaders(
                        source: sub == "global" ? .globalMessage : .rfc822Message, header: inner.header),
                    order: order))
        }
        let isReport = ct.type == "multipart" && ct.subtype == "report"
        for c in part.children {
            walk(c, parentIsReport: isReport, parentReportType: nil, insideEmbedded: insideEmbedded)
        }
        for e in part.embedded {
            // Reports forwarded as an attachment still count; the original inside a report does not.
            walk(
                e, parentIsReport: false, parentReportType: nil, insideEmbedded: insideEmbedded || !statusParts.isEmpty)
        }
    }

    func returnedHeaders(after order: Int) -> ReturnedHeaders? {
        headerCandidates.first(where: { $0.order > order })?.headers ?? headerCandidates.first?.headers
    }

    /// Headers quoted inline in a text body (legacy NDRs that paste the original below a marker).
    func inlineReturnedHeaders(_ message: MIMEPart) -> ReturnedHeaders? {
        var found: ReturnedHeaders?
        message.visit { p in
            guard p.contentType.type == "text" && p.contentType.subtype == "plain" || p.depth == 0 && p.children.isEmpty
            else {
                return true
            }
            if let h = InlineHeaders.find(in: p.decodedBody) {
                found = ReturnedHeaders(source: .inlineText, header: h)
                return false
            }
            return true
        }
        return found
    }
}

/// Finds an original message's header block quoted inside a text body.
enum InlineHeaders {
    static let starters: [[UInt8]] = [
        "return-path:", "received:", "message-id:", "from:", "date:", "subject:", "to:",
        "x-roundtrip-probe:", "mime-version:", "delivered-to:",
    ].map { Array($0.utf8) }

    static func find(in body: ArraySlice<UInt8>) -> HeaderSection? {
        var result: HeaderSection?
        body.withUnsafeBufferPointer { buf in
            let n = buf.count
            var i = 0
            while i < n {
                let line = ByteScan.line(in: buf, from: i, limit: n)
                var nextLine = line.next
                // Indentation is skipped; a quoting ">" prefix is not supported (it would change the bytes).
                var s = line.start
                while s < line.end && buf[s].isBlankByte { s += 1 }
                if line.end - s > 5 {
                    for st in starters where line.end - s >= st.count {
                        var k = 0
                        while k < st.count && buf[s + k].lowercasedASCIIByte == st[k] { k += 1 }
                        if k == st.count {
                            let slice = body[(body.startIndex + s)...]
                            let (h, bodyStart) = HeaderSection.parse(slice)
                            let keys = h.fields.filter {
                                $0.hasName("message-id") || $0.hasName("subject") || $0.hasName("x-roundtrip-probe")
                            }
                            if h.fields.count >= 2 && !keys.isEmpty {
                                result = h
                                return
                            }
                            // Skip the block just tried, so hostile input cannot make this quadratic.
                            nextLine = max(nextLine, bodyStart - body.startIndex)
                            break
                        }
                    }
                }
                i = nextLine
            }
        }
        return result
    }
}

extension UInt8 {
    @inlinable var lowercasedASCIIByte: UInt8 { (self >= 0x41 && self <= 0x5A) ? self | 0x20 : self }
}

/// Delivery-status fields written into a text body: a forwarded report, a report whose MIME
/// structure is broken, or an MTA that pastes the fields into its text.
enum InlineDSN {
    static let starts: [[UInt8]] = ["final-recipient:", "original-recipient:"].map { Array($0.utf8) }
    static let reportingMTA: [UInt8] = Array("reporting-mta:".utf8)

    static func parse(_ c: LegacyContext) -> DeliveryReport? {
        guard let first = lineStart(of: starts, in: c.lower) else { return nil }
        // Start at a Reporting-MTA line shortly before, if there is one.
        var start = first
        let windowStart = max(0, first - 2000)
        if let rm = ByteScan.firstIndex(of: reportingMTA, in: c.lower[windowStart..<first]),
            rm == 0 || c.lower[rm - 1] == 0x0A || c.lower[rm - 1] == 0x0D
        {
            start = rm
        }
        let content = RFC3464Parser.parse(c.text[start...])
        let recipients = content.recipients.filter { r in
            DeliveryReportParser.isMailbox(r.address) && !r.actionInferred
        }
        guard !recipients.isEmpty else { return nil }
        return DeliveryReport(
            kind: .legacy(family: "inline-dsn"), originalEnvelopeID: content.originalEnvelopeID,
            reportingMTA: content.reportingMTA, dsnGateway: content.dsnGateway,
            receivedFromMTA: content.receivedFromMTA, arrivalDateText: content.arrivalDateText,
            extraFields: content.extraFields, recipients: recipients)
    }

    /// The index of the first line that starts with one of the (lower-case) prefixes.
    static func lineStart(of prefixes: [[UInt8]], in lower: [UInt8]) -> Int? {
        var best: Int?
        for p in prefixes {
            var from = 0
            while from < lower.count, let i = ByteScan.firstIndex(of: p, in: lower[from...]) {
                if i == 0 || lower[i - 1] == 0x0A || lower[i - 1] == 0x0D {
                    if let b = best { best = min(b, i) } else { best = i }
                    break
                }
                from = i + 1
            }
        }
        return best
    }
}
