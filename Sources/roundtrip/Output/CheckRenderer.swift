import Foundation
import MailTransport

/// Renders check reports for people (text) and programs (JSON, schema in
/// docs/check-json.md).
enum CheckRenderer {
    static let schemaVersion = 1

    static var useColour: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    }

    static func paint(_ s: String, _ code: String) -> String {
        useColour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s
    }

    static func mark(_ status: CheckStepResult.Status) -> String {
        switch status {
        case .pass: return paint("ok  ", "32")
        case .warn: return paint("WARN", "33")
        case .fail: return paint("FAIL", "31")
        case .skip: return paint("skip", "2")
        }
    }

    static func prefix(_ direction: TranscriptEntry.Direction) -> String {
        switch direction {
        case .client: return "C:"
        case .server: return "S:"
        case .info: return "* "
        }
    }

    static func printNullMX(_ mx: MXSummary, format: CheckFormat) {
        switch format {
        case .text:
            print("\(mx.domain): null MX (RFC 7505): the domain accepts no mail; nothing to check")
        case .json:
            printJSON([], mx: mx, exitCode: .dns)
        }
    }

    static func printText(_ r: SMTPCheckReport, verbose: Bool, mx: MXSummary?) {
        var out = ""
        let target = r.host.contains(":") ? "[\(r.host)]:\(r.port)" : "\(r.host):\(r.port)"
        if let mx, !mx.exchangers.isEmpty,
            let rec = mx.exchangers.first(where: { $0.host.trimmingCharacters(in: ["."]) == r.host })
        {
            out += "MX \(rec.preference) \(r.host) for \(mx.domain)\n"
        } else if let mx, let host = mx.implicitHost {
            out += "\(mx.domain) has no MX; implicit MX \(host)\n"
        }
        out += "roundtrip check \(target)\n"
        if verbose {
            for e in r.transcript {
                out += String(format: "  %8.3f %@ %@\n", e.at, prefix(e.direction), e.text)
            }
            out += "\n"
        }
        for s in r.steps {
            var line = "  \(mark(s.status)) \(s.step.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))"
            line += String(format: "%9.1f ms  ", s.durationMs)
            if let c = s.command { line += "\(c) -> " }
            if let code = s.replyCode {
                line += "\(code)"
                if let e = s.enhancedCode { line += " \(e)" }
                if let t = s.text, !t.isEmpty { line += " \(t)" }
            }
            if let n = s.note { line += (s.replyCode == nil && s.command == nil ? "" : "  ") + "(\(n))" }
            out += line + "\n"
        }
        if !r.capabilities.isEmpty || r.usedHELO {
            let caps = r.capabilities.map { ([$0.keyword] + $0.parameters).joined(separator: " ") }
            out += "  extensions: \(r.usedHELO ? "none (HELO)" : caps.joined(separator: ", "))\n"
            out +=
                "  DSN: \(r.dsn ? "advertised" : paint("NOT advertised: delivery reports cannot be requested", "33"))\n"
        }
        if let t = r.tls {
            out += "  TLS: \(t.protocolVersion ?? "?") \(t.cipher ?? "?")\n"
            out += "    subject:    \(t.subject ?? "-")\n"
            out +=
                "    SANs:       \(t.subjectAlternativeNames.isEmpty ? "-" : t.subjectAlternativeNames.joined(separator: ", "))\n"
            out += "    issuer:     \(t.issuer ?? "-")\n"
            if let na = t.notAfter { out += "    not after:  \(iso(na))\n" }
            let chain = t.chainVerified.map { $0 ? "yes" : "no (\(t.chainError ?? "?"))" } ?? "not checked"
            let name = t.hostnameMatched.map { $0 ? "yes" : "no" } ?? "not checked"
            out +=
                "    chain verified against \(t.trustStore == "system" ? "the system trust store" : t.trustStore): \(chain)\n"
            out += "    host name \(t.verifiedName) matched: \(name)\n"
        }
        for w in r.warnings { out += "  \(paint("warning:", "33")) \(w)\n" }
        if let step = r.failedStep {
            out +=
                paint("FAIL", "31")
                + " at \(step.rawValue): \(r.error ?? "") (exit \(ExitStatus(step: step).rawValue))\n"
        } else {
            out +=
                paint("PASS", "32")
                + (r.warnings.isEmpty ? "" : " with \(r.warnings.count) warning\(r.warnings.count == 1 ? "" : "s")")
                + "\n"
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: d)
    }

    struct Document: Encodable {
        var schemaVersion: Int
        var tool: String
        var mx: MXSummary?
        var results: [SMTPCheckReport]
        var passed: Bool
        var exitCode: Int32
    }

    static func printJSON(_ reports: [SMTPCheckReport], mx: MXSummary?, exitCode: ExitStatus) {
        let doc = Document(
            schemaVersion: schemaVersion, tool: "roundtrip \(RoundtripVersion.current)", mx: mx, results: reports,
            passed: exitCode == .ok, exitCode: exitCode.rawValue)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .iso8601
        if let data = try? enc.encode(doc) {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }
}
