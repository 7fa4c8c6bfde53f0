import DeliveryReports

/// One record of `roundtrip parse` (docs/parse-json.md): a message's report, or why an input
/// could not be read. Rendered straight to bytes (the command prints one per message, in bulk).
public struct ParseRecord: Sendable {
    public var file: String
    public var report: DeliveryReport?
    public var error: String?

    public init(file: String, report: DeliveryReport) {
        self.file = file
        self.report = report
    }

    public init(file: String, error: String) {
        self.file = file
        self.error = error
    }

    /// One JSON object, keys sorted, absent values `null` (never omitted) except `error`,
    /// `family` and `reason`; an error record holds only `error` and `file`.
    public func json(into out: inout JSONBytes) {
        guard let r = report else {
            out.raw("{")
            out.member("error", error ?? "unknown error")
            out.member("file", file, last: true)
            out.raw("}")
            return
        }
        out.raw("{")
        out.key("envelope")
        out.raw("{")
        out.member("deliveredTo", r.envelope.deliveredTo)
        out.member("returnPath", r.envelope.returnPath)
        out.member("to", r.envelope.to)
        out.member("xOriginalTo", r.envelope.xOriginalTo, last: true)
        out.raw("},")
        out.member("envelopeId", r.originalEnvelopeID)
        if case .legacy(let family) = r.kind {
            out.member("family", family)
        }
        out.member("file", file)
        out.member("kind", r.kind.name)
        if case .notAReport(let reason) = r.kind {
            out.member("reason", reason.rawValue)
        }
        out.key("recipients")
        out.raw("[")
        for (i, rr) in r.recipients.enumerated() {
            if i > 0 { out.raw(",") }
            out.raw("{")
            out.member("action", rr.action.rawValue)
            out.member("actionInferred", rr.actionInferred)
            out.member("diagnostic", rr.diagnostic)
            out.member("originalRecipient", rr.originalRecipientDecoded ?? rr.originalRecipient?.value)
            out.member("recipient", rr.address)
            out.member("remoteMTA", rr.remoteMTA?.value)
            out.member("status", rr.status?.description)
            out.member("statusLiteral", !rr.statusIsPseudo, last: true)
            out.raw("}")
        }
        out.raw("],")
        out.member("reportingMTA", r.reportingMTA?.value)
        out.key("returnedHeaders")
        if let h = r.returnedHeaders {
            out.raw("{")
            out.member("date", h.date)
            out.member("from", h.from)
            out.member("messageId", h.messageID)
            out.member("source", h.source.rawValue)
            out.member("subject", h.subject)
            out.member("to", h.to)
            out.member("xRoundtripProbe", h.roundtripProbe, last: true)
            out.raw("}")
        } else {
            out.raw("null")
        }
        out.raw("}")
    }

    /// The record as one line of JSON (`jsonl`).
    public func jsonLine() -> String {
        var out = JSONBytes()
        json(into: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// `--format text`: a short summary.
    public func text() -> String {
        guard let r = report else { return "\(file): error: \(error ?? "unknown")\n" }
        var s = "\(file): \(r.kind.name)"
        switch r.kind {
        case .legacy(let family): s += " (\(family))"
        case .notAReport(let reason): s += " (\(reason.rawValue))"
        default: break
        }
        s += "\n"
        if let id = r.originalEnvelopeID { s += "  envelope-id: \(id)\n" }
        if let mta = r.reportingMTA { s += "  reporting-mta: \(mta.value)\n" }
        for rr in r.recipients {
            s +=
                "  \(rr.address): \(rr.action.rawValue) \(rr.status?.description ?? "-")\(rr.statusIsPseudo ? " (guessed)" : "")"
            if let m = rr.remoteMTA { s += " via \(m.value)" }
            s += "\n"
            if let d = rr.diagnostic { s += "    \(d.prefix(200))\n" }
        }
        if let h = r.returnedHeaders {
            if let id = h.messageID { s += "  returned message-id: \(id)\n" }
            if let p = h.roundtripProbe { s += "  returned x-roundtrip-probe: \(p)\n" }
            if let sub = h.subject { s += "  returned subject: \(sub)\n" }
        }
        return s
    }
}
