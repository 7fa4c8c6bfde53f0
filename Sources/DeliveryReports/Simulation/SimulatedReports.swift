import MailCore

/// What the simulator (`roundtrip simulate`) does for a recipient, chosen by
/// the local part before an optional `+tag`, case-insensitive.
public enum SimulatedBehaviour: String, Sendable, Hashable, CaseIterable {
    case success, unknown, reject, full, delay, relay, nodsn, slow, legacy

    /// `Unknown+t1` → `.unknown`; anything not in the table → `.success`.
    public static func forLocalPart(_ localPart: String) -> SimulatedBehaviour {
        let base =
            localPart.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
            ?? localPart
        return SimulatedBehaviour(rawValue: base.lowercased()) ?? .success
    }
}

/// The NOTIFY parameter as given: absent, NEVER, or a set of conditions.
public enum SimulatedNotify: Sendable, Hashable {
    /// No NOTIFY: the MTA reports failures (and may report delays).
    case absent
    case never
    case conditions(success: Bool, failure: Bool, delay: Bool)

    public var success: Bool { if case .conditions(let s, _, _) = self { return s } else { return false } }
    /// Failures are reported for FAILURE and when NOTIFY is absent.
    public var failure: Bool {
        switch self {
        case .absent: return true
        case .never: return false
        case .conditions(_, let f, _): return f
        }
    }
    /// Delays only when DELAY was asked for (RFC 3461 §4.1: "may" otherwise; we do not).
    public var delay: Bool { if case .conditions(_, _, let d) = self { return d } else { return false } }
}

/// One accepted recipient as the simulator saw it.
public struct SimulatedRecipient: Sendable, Hashable {
    public var address: String
    public var behaviour: SimulatedBehaviour
    public var notify: SimulatedNotify
    /// The ORCPT parameter as `type;value` (value xtext-decoded), if given.
    public var originalRecipient: String?

    public init(
        address: String, behaviour: SimulatedBehaviour, notify: SimulatedNotify, originalRecipient: String? = nil
    ) {
        self.address = address
        self.behaviour = behaviour
        self.notify = notify
        self.originalRecipient = originalRecipient
    }
}

/// One report the simulator sends for one message and one event.
public struct PlannedReport: Sendable, Hashable {
    public enum Event: String, Sendable, Hashable {
        case delivered, relayed, failed, delayed
        /// A non-RFC-3464 bounce (Postfix text style) for `legacy` recipients.
        case legacyBounce
    }

    public enum Timing: Sendable, Hashable {
        /// Right after the message was accepted (plus `--latency`).
        case immediate
        /// After `--delay-seconds` (the final report of a `delay` recipient).
        case afterDelay
    }

    public enum Returned: Sendable, Hashable {
        case headers
        /// The whole message as `message/rfc822` (RET=FULL, failures only).
        case fullMessage
    }

    public var event: Event
    public var timing: Timing
    public var returned: Returned
    /// Per-recipient fields, in envelope order.
    public var recipients: [RFC3464Builder.Recipient]

    public init(event: Event, timing: Timing, returned: Returned, recipients: [RFC3464Builder.Recipient]) {
        self.event = event
        self.timing = timing
        self.returned = returned
        self.recipients = recipients
    }
}

/// The simulator's pure decision: which reports one accepted message gets,
/// per RFC 3461 (protocol-notes §2.3). No I/O.
public enum SimulatedReports {
    /// - Parameters:
    ///   - nullSender: the message came with `MAIL FROM:<>`: never a report.
    ///   - retFull: RET=FULL was given (only failure reports return the whole message).
    ///   - reportingMTA: our host name (for Remote-MTA of `relay`).
    public static func plan(nullSender: Bool, retFull: Bool, recipients: [SimulatedRecipient], reportingMTA: String)
        -> [PlannedReport]
    {
        guard !nullSender else { return [] }
        var delivered: [RFC3464Builder.Recipient] = []
        var relayed: [RFC3464Builder.Recipient] = []
        var failed: [RFC3464Builder.Recipient] = []
        var delayed: [RFC3464Builder.Recipient] = []
        var deliveredLater: [RFC3464Builder.Recipient] = []
        var legacy: [RFC3464Builder.Recipient] = []
        for r in recipients {
            func entry(
                _ action: DeliveryAction, _ status: StatusCode, diagnostic: String? = nil, remoteMTA: String? = nil
            ) -> RFC3464Builder.Recipient {
                var e = RFC3464Builder.Recipient(
                    finalRecipient: r.address, action: action, status: status, remoteMTA: remoteMTA,
                    diagnostic: diagnostic)
                e.originalRecipientField = r.originalRecipient
                return e
            }
            switch r.behaviour {
            case .success, .slow:
                if r.notify.success { delivered.append(entry(.delivered, status(2, 0, 0))) }
            case .unknown:
                if r.notify.failure {
                    failed.append(
                        entry(
                            .failed, status(5, 1, 1),
                            diagnostic:
                                "550 5.1.1 <\(r.address)>: Recipient address rejected: User unknown in local recipient table"
                        ))
                }
            case .full:
                if r.notify.failure {
                    failed.append(entry(.failed, status(5, 2, 2), diagnostic: "552 5.2.2 <\(r.address)>: Mailbox full"))
                }
            case .delay:
                if r.notify.delay {
                    delayed.append(
                        entry(
                            .delayed, status(4, 4, 1),
                            diagnostic: "451 4.4.1 <\(r.address)>: Connection timed out, will retry"))
                }
                if r.notify.success { deliveredLater.append(entry(.delivered, status(2, 0, 0))) }
            case .relay:
                // The next hop (simulated) has no DSN: we report `relayed` for SUCCESS.
                if r.notify.success {
                    relayed.append(entry(.relayed, status(2, 0, 0), remoteMTA: "nodsn.\(reportingMTA)"))
                }
            case .nodsn:
                break
            case .reject:
                // Refused at RCPT: never accepted, the client reports it.
                break
            case .legacy:
                if r.notify.failure {
                    legacy.append(
                        entry(
                            .failed, status(5, 1, 1),
                            diagnostic:
                                "550 5.1.1 <\(r.address)>: Recipient address rejected: User unknown in local recipient table"
                        ))
                }
            }
        }
        var out: [PlannedReport] = []
        if !failed.isEmpty {
            out.append(
                PlannedReport(
                    event: .failed, timing: .immediate, returned: retFull ? .fullMessage : .headers, recipients: failed)
            )
        }
        if !legacy.isEmpty {
            out.append(PlannedReport(event: .legacyBounce, timing: .immediate, returned: .headers, recipients: legacy))
        }
        if !delayed.isEmpty {
            out.append(PlannedReport(event: .delayed, timing: .immediate, returned: .headers, recipients: delayed))
        }
        if !delivered.isEmpty {
            out.append(PlannedReport(event: .delivered, timing: .immediate, returned: .headers, recipients: delivered))
        }
        if !relayed.isEmpty {
            out.append(PlannedReport(event: .relayed, timing: .immediate, returned: .headers, recipients: relayed))
        }
        if !deliveredLater.isEmpty {
            out.append(
                PlannedReport(event: .delivered, timing: .afterDelay, returned: .headers, recipients: deliveredLater))
        }
        return out
    }

    private static func status(_ c: Int, _ s: Int, _ d: Int) -> StatusCode {
        StatusCode(statusClass: c, subject: s, detail: d)
    }

    /// A Postfix-style bounce without a delivery-status part ("Undelivered
    /// Mail Returned to Sender"), the returned header section quoted inline.
    public static func legacyBounce(
        reportingMTA: String, to: String, messageID: String, date: MessageDate,
        recipients: [RFC3464Builder.Recipient], returnedHeader: [UInt8]
    ) -> [UInt8] {
        var text = """
            From: MAILER-DAEMON@\(reportingMTA) (Mail Delivery System)
            To: \(to)
            Subject: Undelivered Mail Returned to Sender
            Date: \(date.rfc5322)
            Message-ID: <\(messageID)>
            Auto-Submitted: auto-replied
            MIME-Version: 1.0
            Content-Type: text/plain; charset=us-ascii

            This is the mail system at host \(reportingMTA).

            I'm sorry to have to inform you that your message could not
            be delivered to one or more recipients. It's attached below.

            For further assistance, please send mail to postmaster.

            If you do so, please include this problem report. You can
            delete your own text from the attached returned message.

                               The mail system


            """
        for r in recipients {
            text +=
                "<\(r.finalRecipient)>: host \(reportingMTA)[127.0.0.1] said: \(r.diagnostic ?? "550 \(r.status)") (in reply to RCPT TO command)\n\n"
        }
        text += "-- Original message headers follow --\n\n"
        var out = RFC3464Builder.crlf(Array(text.utf8).map { $0 == 0x0D ? 0x20 : $0 })
        let (section, _) = HeaderSection.parse(returnedHeader[...])
        for f in section.fields {
            out.append(contentsOf: f.name.utf8)
            out.append(0x3A)
            out.append(contentsOf: RFC3464Builder.crlf(f.rawValue.map { $0 }))
            if out.last != 0x0A { out.append(contentsOf: [0x0D, 0x0A]) }
        }
        return out
    }
}
