import Foundation

/// Renders a run: values in, text out (text, JSON, JUnit XML, Nagios).
public enum RunRenderer {
    /// `expected`: the verdicts are the ones the caller meant to provoke (the demo's failing
    /// recipients); the last line then says so instead of "NOT PROVEN".
    public static func text(_ r: RunReport, colour: Bool = false, expected: Bool = false) -> String {
        func paint(_ s: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var out = "probe \(r.token)\n"
        out += "  return path \(r.returnPath)\n"
        for s in r.submissions {
            var line = "  submitted to \(s.target)"
            if let a = s.address, a != s.target { line += " (\(a))" }
            if let p = s.mxPreference { line += " MX \(p)" }
            if let e = s.error {
                line += ": " + paint("not taken: \(e)", "31")
            } else {
                line +=
                    s.dsnRequested ? ", DSN requested" : (s.dsnAdvertised ? "" : ", " + paint("no DSN offered", "33"))
                if let t = s.tls { line += ", \(t)" }
            }
            out += line + "\n"
        }
        for rec in r.recipients {
            let colourCode: String
            switch rec.verdict {
            case .delivered, .expanded: colourCode = "32"
            case .relayed, .delayed, .dsnUnavailable, .pending, .arrived: colourCode = "33"
            case .failed, .rejected, .timeout: colourCode = "31"
            }
            var line =
                "  " + paint(rec.verdict.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0), colourCode)
                + " \(rec.address)"
            if let s = rec.status { line += "  \(s)" }
            if let rtt = rec.roundTripSeconds { line += String(format: "  round trip %.2f s", rtt) }
            if let e2e = rec.endToEndSeconds { line += String(format: "  end to end %.2f s", e2e) }
            if let p = rec.proof { line += "  (proof: \(p))" }
            out += line + "\n"
            out += "      out: \(rec.outbound)\n"
            out += "      in:  \(rec.inbound)\n"
            if let a = rec.arrival {
                out += "      arrival: " + arrivalLine(a) + "\n"
                for c in a.concerns { out += "      " + paint("warning:", "33") + " \(c)\n" }
            }
            if let d = rec.diagnostic, rec.verdict == .failed || rec.verdict == .delayed {
                out += "      diagnostic: \(d)\n"
            }
            if rec.unconfirmedReports > 0 {
                out +=
                    "      " + paint("unconfirmed:", "33") + " \(VerdictWording.unconfirmed(rec.unconfirmedReports))\n"
            }
        }
        for w in r.warnings { out += "  " + paint("warning:", "33") + " \(w)\n" }
        if r.forgedReports > 0 {
            out +=
                "  " + paint("warning:", "33")
                + " \(r.forgedReports) report(s) carried a forged token and were ignored\n"
        }
        if r.exitCode != 0 && expected {
            out += String(
                format: "%@ (verify exits %d for these verdicts, %.1f s)\n", paint("AS EXPECTED", "32"), r.exitCode,
                r.elapsedSeconds)
        } else {
            let status = r.exitCode == 0 ? paint("PROVEN", "32") : paint("NOT PROVEN", "31")
            out += String(format: "%@ (exit %d, %.1f s)\n", status, r.exitCode, r.elapsedSeconds)
        }
        return out
    }

    /// `INBOX at 2026-12-04T10:00:00Z; spf=pass dkim=pass (rt.test) dmarc=pass by mx.rt.test; 2 hops, TLS on 1`.
    static func arrivalLine(_ a: ArrivalEvidence) -> String {
        let iso = ISO8601DateFormatter()
        var s = "\(a.folder)\(a.junk ? " (Junk)" : "") at \(iso.string(from: a.arrivedAt))"
        if let auth = a.authentication {
            var parts: [String] = []
            if let spf = auth.spf { parts.append("spf=\(spf)") }
            for d in auth.dkim {
                var p = "dkim=\(d.result)"
                if let domain = d.domain {
                    let selector: String = d.selector.map { ", s=\($0)" } ?? ""
                    p += " (\(domain)\(selector))"
                }
                parts.append(p)
            }
            if let dmarc = auth.dmarc { parts.append("dmarc=\(dmarc)") }
            if let arc = auth.arc { parts.append("arc=\(arc)") }
            s += "; " + (parts.isEmpty ? "no results" : parts.joined(separator: " ")) + " by \(auth.authservID)"
        } else {
            s += "; no Authentication-Results"
        }
        s += "; \(a.hops.count) hop(s), TLS on \(a.hops.filter(\.tls).count)"
        return s
    }

    public static func json(_ r: RunReport) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.dateEncodingStrategy = .iso8601
        guard let data = try? enc.encode(r) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func xml(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 forbids most control characters.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" && scalar != "\r" {
                    out += "?"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// One test case per recipient: failures for failed/rejected/timeout (and
    /// partial verdicts under --strict), skipped for partial ones otherwise.
    public static func junit(_ r: RunReport) -> String {
        var failures = 0
        var skipped = 0
        var cases = ""
        for rec in r.recipients {
            let time = String(format: "%.3f", rec.roundTripSeconds ?? 0)
            cases += "    <testcase classname=\"roundtrip.verify\" name=\"\(xml(rec.address))\" time=\"\(time)\">\n"
            let message = xml("\(rec.verdict.rawValue): \(rec.verdict.meaning)")
            let body = xml(
                "out: \(rec.outbound)\nin: \(rec.inbound)" + (rec.diagnostic.map { "\ndiagnostic: \($0)" } ?? "")
                    + (rec.arrival.map { "\narrival: " + arrivalLine($0) } ?? ""))
            let concerns = rec.arrival?.concerns ?? []
            switch rec.verdict {
            case .delivered where concerns.isEmpty, .expanded where concerns.isEmpty:
                break
            case .failed, .rejected, .timeout, .pending:
                failures += 1
                cases += "      <failure type=\"\(rec.verdict.rawValue)\" message=\"\(message)\">\(body)</failure>\n"
            case .delivered, .expanded:
                let m = xml("\(rec.verdict.rawValue): " + concerns.joined(separator: "; "))
                if r.strict {
                    failures += 1
                    cases += "      <failure type=\"arrival\" message=\"\(m)\">\(body)</failure>\n"
                } else {
                    skipped += 1
                    cases += "      <skipped message=\"\(m)\"/>\n"
                }
            case .relayed, .delayed, .dsnUnavailable, .arrived:
                if r.strict {
                    failures += 1
                    cases +=
                        "      <failure type=\"\(rec.verdict.rawValue)\" message=\"\(message)\">\(body)</failure>\n"
                } else {
                    skipped += 1
                    cases += "      <skipped message=\"\(message)\"/>\n"
                }
            }
            cases += "      <system-out>\(body)</system-out>\n"
            cases += "    </testcase>\n"
        }
        let time = String(format: "%.3f", r.elapsedSeconds)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out +=
            "<testsuites name=\"roundtrip\" tests=\"\(r.recipients.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        out +=
            "  <testsuite name=\"roundtrip verify \(xml(r.token))\" tests=\"\(r.recipients.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(time)\">\n"
        out +=
            "    <properties>\n      <property name=\"token\" value=\"\(xml(r.token))\"/>\n      <property name=\"returnPath\" value=\"\(xml(r.returnPath))\"/>\n    </properties>\n"
        out += cases
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    /// Nagios plugin output: one status line with perfdata; the exit code is
    /// `RunExitStatus.nagios`.
    public static func nagios(_ r: RunReport) -> String {
        let status = RunExitStatus(rawValue: r.exitCode) ?? .failed
        let word = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][Int(status.nagios)]
        var counts: [Verdict: Int] = [:]
        for rec in r.recipients { counts[rec.verdict, default: 0] += 1 }
        let summary = Verdict.allCases.compactMap { v in counts[v].map { "\($0) \(v.rawValue)" } }.joined(
            separator: ", ")
        let rtts = r.recipients.compactMap(\.roundTripSeconds)
        var perf = [String]()
        if let maxRTT = rtts.max() { perf.append(String(format: "rtt_max=%.3fs;;;0;", maxRTT)) }
        for (i, rec) in r.recipients.enumerated() {
            if let rtt = rec.roundTripSeconds { perf.append(String(format: "'rtt_%d'=%.3fs;;;0;", i + 1, rtt)) }
        }
        if let e2e = r.recipients.compactMap(\.endToEndSeconds).max() {
            perf.append(String(format: "e2e_max=%.3fs;;;0;", e2e))
        }
        for (i, rec) in r.recipients.enumerated() {
            if let e2e = rec.endToEndSeconds { perf.append(String(format: "'e2e_%d'=%.3fs;;;0;", i + 1, e2e)) }
        }
        let concerns = r.recipients.flatMap { $0.arrival?.concerns ?? [] }
        for v in [Verdict.delivered, .failed, .timeout] {
            perf.append("\(v.rawValue)=\(counts[v] ?? 0);;;0;\(r.recipients.count)")
        }
        perf.append(String(format: "elapsed=%.3fs;;;0;", r.elapsedSeconds))
        let warn = concerns.isEmpty ? "" : "; " + concerns.joined(separator: "; ")
        return
            "ROUNDTRIP \(word) - \(summary.isEmpty ? "no recipients" : summary)\(warn) (probe \(r.token)) | \(perf.joined(separator: " "))\n"
    }
}
