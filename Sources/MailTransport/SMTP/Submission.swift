import SMTPCore

/// Where a group of recipients is submitted, in the order to try.
public struct SubmissionRoute: Sendable, Hashable {
    public var target: HostPort
    public var mxPreference: Int?

    public init(target: HostPort, mxPreference: Int? = nil) {
        self.target = target
        self.mxPreference = mxPreference
    }
}

/// One group of recipients (one domain, or everyone with --server) and what
/// happened to it: each server tried, in order; the last one took it or failed.
public struct SubmissionAttempt: Sendable {
    public var route: SubmissionRoute
    public var report: SMTPCheckReport
}

public struct SubmissionGroup: Sendable {
    public var domain: String?
    public var recipients: [SubmissionEnvelope.Recipient]
    public var attempts: [SubmissionAttempt]
    /// Set when no route could be found (null MX, NXDOMAIN).
    public var routingError: TransportError?

    /// The attempt that took the transaction (reached MAIL), if any.
    public var final: SubmissionAttempt? {
        attempts.last.flatMap { a in
            let reachedMail = a.report.steps.contains { $0.step == .mail }
            return reachedMail || a.report.passed ? a : nil
        }
    }
}

/// Submits one envelope: to `--server`, or per recipient domain to its MX
/// hosts in preference order, going on to the next MX while one cannot be
/// reached (connect, greeting, TLS set-up), recipients of one domain in one
/// transaction (RFC 5321 §5.1).
public enum Submitter {
    public static func routes(for domain: String, resolver: any MXResolver, port: Int) async throws -> [SubmissionRoute]
    {
        switch try await resolver.mx(for: domain) {
        case .nullMX:
            throw TransportError(
                .resolutionFailed, step: .dns, message: "\(domain) has a null MX (RFC 7505): it accepts no mail")
        case .implicit(let host):
            return [SubmissionRoute(target: HostPort(host: host, port: port))]
        case .exchangers(let list):
            return list.map { rec in
                let host = rec.host.hasSuffix(".") ? String(rec.host.dropLast()) : rec.host
                return SubmissionRoute(target: HostPort(host: host, port: port), mxPreference: rec.preference)
            }
        }
    }

    /// Whether the next MX should be tried after this failure.
    static func tryNext(_ report: SMTPCheckReport) -> Bool {
        guard let step = report.failedStep else { return false }
        switch step {
        case .dns, .connect, .banner: return true
        case .ehlo, .tls: return !report.steps.contains { $0.step == .mail }
        default: return false
        }
    }

    /// - Parameters:
    ///   - base: the dialog options (TLS, AUTH, timeouts, EHLO name); host,
    ///     port and envelope are set per attempt.
    ///   - server: submit everything there instead of the recipients' MX.
    public static func submit(
        _ envelope: SubmissionEnvelope, base: SMTPCheckOptions, server: HostPort?, resolver: any MXResolver,
        mxPort: Int = 25
    ) async -> [SubmissionGroup] {
        var groups: [(domain: String?, recipients: [SubmissionEnvelope.Recipient])] = []
        if server != nil {
            groups = [(nil, envelope.recipients)]
        } else {
            for r in envelope.recipients {
                let d = r.mailbox.domain.lowercased()
                if let i = groups.firstIndex(where: { $0.domain == d }) {
                    groups[i].recipients.append(r)
                } else {
                    groups.append((d, [r]))
                }
            }
        }
        var results: [SubmissionGroup] = []
        for g in groups {
            var group = SubmissionGroup(domain: g.domain, recipients: g.recipients, attempts: [])
            let routes: [SubmissionRoute]
            if let server {
                routes = [SubmissionRoute(target: server)]
            } else {
                do {
                    routes = try await Self.routes(for: g.domain ?? "", resolver: resolver, port: mxPort)
                } catch let e as TransportError {
                    group.routingError = e
                    results.append(group)
                    continue
                } catch {
                    group.routingError = TransportError(.resolutionFailed, step: .dns, message: "\(error)")
                    results.append(group)
                    continue
                }
            }
            var env = envelope
            env.recipients = g.recipients
            for route in routes {
                var options = base
                options.host = route.target.host
                options.port = route.target.port
                // MX host names resolve through the same resolver as the MX records.
                if options.resolver == nil && server == nil { options.resolver = resolver }
                let report = await ProbeSubmission.submit(env, options: options)
                group.attempts.append(SubmissionAttempt(route: route, report: report))
                if !tryNext(report) { break }
            }
            results.append(group)
        }
        return results
    }
}
