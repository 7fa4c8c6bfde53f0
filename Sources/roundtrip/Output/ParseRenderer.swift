import DeliveryReports
import Roundtrip

/// `roundtrip parse --format text`: a short summary per record.
enum ParseRenderer {
    static func text(_ record: ParseRecord) -> String {
        guard let r = record.report else { return "\(record.file): error: \(record.error ?? "unknown")\n" }
        var s = "\(record.file): \(r.kind.name)"
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
