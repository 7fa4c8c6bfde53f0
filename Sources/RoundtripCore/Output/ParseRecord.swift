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
            out.key("error")
            out.string(error ?? "unknown error")
            out.raw(",")
            out.key("file")
            out.string(file)
            out.raw("}")
            return
        }
        out.raw("{")
        out.key("envelope")
        out.raw("{")
        out.key("deliveredTo")
        out.strings(r.envelope.deliveredTo)
        out.raw(",")
        out.key("returnPath")
        out.string(r.envelope.returnPath)
        out.raw(",")
        out.key("to")
        out.strings(r.envelope.to)
        out.raw(",")
        out.key("xOriginalTo")
        out.strings(r.envelope.xOriginalTo)
        out.raw("},")
        out.key("envelopeId")
        out.string(r.originalEnvelopeID)
        out.raw(",")
        if case .legacy(let family) = r.kind {
            out.key("family")
            out.string(family)
            out.raw(",")
        }
        out.key("file")
        out.string(file)
        out.raw(",")
        out.key("kind")
        out.string(r.kind.name)
        out.raw(",")
        if case .notAReport(let reason) = r.kind {
            out.key("reason")
            out.string(reason.rawValue)
            out.raw(",")
        }
        out.key("recipients")
        out.raw("[")
        for (i, rr) in r.recipients.enumerated() {
            if i > 0 { out.raw(",") }
            out.raw("{")
            out.key("action")
            out.string(rr.action.rawValue)
            out.raw(",")
            out.key("actionInferred")
            out.bool(rr.actionInferred)
            out.raw(",")
            out.key("diagnostic")
            out.string(rr.diagnostic)
            out.raw(",")
            out.key("originalRecipient")
            out.string(rr.originalRecipientDecoded ?? rr.originalRecipient?.value)
            out.raw(",")
            out.key("recipient")
            out.string(rr.address)
            out.raw(",")
            out.key("remoteMTA")
            out.string(rr.remoteMTA?.value)
            out.raw(",")
            out.key("status")
            out.string(rr.status?.description)
            out.raw(",")
            out.key("statusLiteral")
            out.bool(!rr.statusIsPseudo)
            out.raw("}")
        }
        out.raw("],")
        out.key("reportingMTA")
        out.string(r.reportingMTA?.value)
        out.raw(",")
        out.key("returnedHeaders")
        if let h = r.returnedHeaders {
            out.raw("{")
            out.key("date")
            out.string(h.date)
            out.raw(",")
            out.key("from")
            out.string(h.from)
            out.raw(",")
            out.key("messageId")
            out.string(h.messageID)
            out.raw(",")
            out.key("source")
            out.string(h.source.rawValue)
            out.raw(",")
            out.key("subject")
            out.string(h.subject)
            out.raw(",")
            out.key("to")
            out.string(h.to)
            out.raw(",")
            out.key("xRoundtripProbe")
            out.string(h.roundtripProbe)
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
