import MailCore

/// Whether a legacy (text-only) report is a delay notice or a final failure, decided by the
/// report's own words by their RFC 3464 §2.3.3 meaning: `delayed` means the reporting MTA "has so
/// far been unable to deliver or relay the message, but it will continue to try"; `failed` means
/// it gave up (the message is returned), including the give-up after the retry period (status
/// 4.4.7, RFC 3463 "delivery time expired", when the report writes no other code).
///
/// The rule, first match wins; only the report's text before the returned message is read:
/// 1. The text says the MTA gave up after retrying (`expired`): "giving up", "I'm not going to
///    try again", "retry timeout exceeded", "could not be delivered for 5 days", "message
///    expired" → `failed`, with 4.4.7 when the report writes no status.
/// 2. The text says the failure is permanent (`permanent`, plus the family's own `failed`
///    phrases): "permanent error", "failed permanently" → `failed`.
/// 3. The text says delivery is still being tried (`stillTrying`, plus the family's own
///    `delayed` phrases): "THIS IS A WARNING MESSAGE ONLY", "has been delayed", "will retry",
///    "will be retried", "has not yet been delivered", "temporary failure report", "message is
///    kept in the queue", "No action is required on your part" → `delayed`.
/// 4. The text says the message was delivered (`deliveredWords`, plus the family's own
///    `delivered` phrases) → `delivered`, or `relayed` for a recipient whose entry says "relayed
///    to non-DSN-aware mailer" and for relay notices (`successAction`). Before rule 5 because
///    Courier's relay notice says "Unless your message is eventually returned as undeliverable".
/// 5. The text says the message was returned undelivered (`returned`): "Undeliverable",
///    "returned mail", "could not be delivered", "delivery has failed" → `failed`.
/// 6. The Subject, by the same lists in the same order, plus "Warning:"/"Delay…" at its head
///    (Exim's "Warning: message … delayed") → `delayed`, "(Success)"/"Delivered:" → `delivered`.
/// 7. Otherwise `failed`: a non-delivery report that does not say it will try again is final.
///
/// Sources: the notice templates of Exim 4.96 (`exim4-config` `warn_message_file` text, "has not
/// yet been delivered … No action is required on your part", "retry timeout exceeded"), Sendmail
/// 8.17 (`Warning: could not send message for past %s`, "THIS IS A WARNING MESSAGE ONLY",
/// "Message could not be delivered for %s"), Postfix 3.7 bounce templates ("Delayed Mail (still
/// being retried)", "It will be retried until it is %d day(s) old", "THIS IS A WARNING ONLY"),
/// qmail ("I'm not going to try again"), Courier ("has not been delivered yet … will continue
/// attempting"), Exchange ("Delivery is delayed to these recipients or groups").
public enum LegacyAction {
    public enum Decision: Equatable, Sendable {
        case failed(expired: Bool)
        case delayed
        case delivered
    }

    /// Phrases of a final give-up after retrying (expiry).
    static let expired: [String] = [
        "giving up", "gave up", "not going to try again", "retry timeout exceeded",
        "retry time not reached for any host after a long failure period", "message expired", "has expired",
        "delivery time expired", "maximum time", "too long in the queue", "too long in queue", "will not be retried",
        "no further attempts", "could not be delivered within", "delivery attempts will stop",
    ]
    /// Phrases of a final failure that are not about expiry.
    static let permanent: [String] = [
        "permanent error", "permanent fatal error", "failed permanently", "permanent failure", "permanently failed",
        "this is a permanent",
    ]
    /// Phrases of a notice that delivery is still being tried.
    static let stillTrying: [String] = [
        "warning message only", "this is a warning", "warning only", "you do not need to resend",
        "do not need to resend", "no action is required", "has been delayed", "have been delayed", "is delayed",
        "delivery is delayed", "delayed mail", "delay notification", "will retry", "will be retried",
        "will keep trying", "will continue to try", "will continue trying", "will continue attempting",
        "will try again", "will attempt", "still trying", "still being retried", "has not yet been delivered",
        "have not yet been delivered", "not yet been delivered", "has not been delivered yet",
        "temporary failure report", "message is kept in the queue", "kept in the queue", "still in the queue",
        "remains in the queue", "technical details of temporary failure", "this is an informational message only",
        "could not send message for past", "retry until",
    ]
    /// Phrases of a returned, undelivered message.
    static let returned: [String] = [
        "undeliverable", "undelivered", "returned mail", "returned to sender", "could not be delivered",
        "couldn't be delivered", "wasn't delivered", "was not delivered", "delivery has failed", "delivery failed",
        "failed to deliver", "unable to deliver", "delivery failure", "failure notice", "not be delivered",
    ]
    /// Phrases of a success notice (RFC 3464 `delivered`): Sendmail's "successful delivery
    /// notifications" section, Exchange's "Delivery to these recipients or groups is complete",
    /// Amazon SES `"notificationType":"Delivery"`.
    static let deliveredWords: [String] = [
        "successful delivery notifications", "delivery to these recipients or groups is complete",
        "delivery to the following recipients succeeded", "delivery to the following recipient succeeded",
        "your message has been delivered", "was successfully delivered", "has been successfully delivered",
        "\"notificationtype\":\"delivery\"",
    ]
    /// Phrases, in one recipient's entry of a success notice, of a relay into an environment that
    /// sends no further notices (RFC 3464 §2.3.3 `relayed`): Sendmail's and Exim's "(relayed to
    /// non-DSN-aware mailer)".
    static let relayedEntryWords: [String] = ["relayed to non-dsn-aware mailer"]
    /// Headings of whole relay notices: Courier's "MESSAGE DELIVERED TO A MAIL GATEWAY",
    /// OpenSMTPD's "Your message was relayed to these recipients", Exchange's "Delivery to these
    /// recipients or groups is complete, but no delivery notification was sent by the destination
    /// server".
    static let relayedNoticeWords: [String] = [
        "delivered to a mail gateway", "your message was relayed to these recipients",
        "but no delivery notification was sent by the destination server",
    ]

    /// Whether a success notice as a whole is a relay notice that names no successful delivery
    /// (read once per notice, not once per recipient: a notice may list thousands).
    static func isRelayNotice(_ c: LegacyContext, textEnd: Int) -> Bool {
        let end = min(textEnd, c.lower.count)
        let relayNotice = relayedNoticeWords.contains { c.index(of: $0, from: 0, to: end) != nil }
        let deliveredNotice = ["message delivered successfully", "successfully delivered to these recipients"]
            .contains { c.index(of: $0, from: 0, to: end) != nil }
        return relayNotice && !deliveredNotice
    }

    /// `delivered` or `relayed` for one recipient of a success notice: relayed when its own entry
    /// (`block`) says so, or when the notice is a relay notice (`isRelayNotice`).
    static func successAction(_ c: LegacyContext, block: Range<Int>, relayNotice: Bool) -> DeliveryAction {
        for w in relayedEntryWords
        where c.index(of: w, from: block.lowerBound, to: min(block.upperBound, c.lower.count)) != nil {
            return .relayed
        }
        return relayNotice ? .relayed : .delivered
    }

    /// Subject heads of delay notices (Exim "Warning: message … delayed", "Delivery delayed").
    static let subjectDelayHeads: [String] = ["warning:", "delay", "delivery delayed", "(delay)", "delayed"]

    /// Decides the action from the text `c.lower[0..<end]` and the Subject.
    public static func decide(
        _ c: LegacyContext, textEnd end: Int, familyDelayed: [String] = [],
        familyDelivered: [String] = [], familyFailed: [String] = []
    ) -> Decision {
        let end = min(end, c.lower.count)
        func inText(_ words: [String]) -> Bool { words.contains { c.index(of: $0, from: 0, to: end) != nil } }
        func inSubject(_ words: [String]) -> Bool { words.contains { c.subject.hasSubstring($0) } }
        if inText(expired) || gaveUpAfterDays(c, end) { return .failed(expired: true) }
        if inText(permanent) || inText(familyFailed) { return .failed(expired: false) }
        if inText(stillTrying) || inText(familyDelayed) { return .delayed }
        if inText(deliveredWords) || inText(familyDelivered) || inText(relayedNoticeWords) { return .delivered }
        if inText(returned) { return .failed(expired: false) }
        if inSubject(expired) { return .failed(expired: true) }
        if inSubject(permanent) { return .failed(expired: false) }
        if inSubject(stillTrying) || inSubject(familyDelayed) { return .delayed }
        if subjectDelayHeads.contains(where: { c.subject.hasPrefix($0) }) || c.subject.hasSubstring(" delayed") {
            return .delayed
        }
        if inSubject(returned) { return .failed(expired: false) }
        if inSubject(["(success)", "delivered:", "successful delivery", "delivery success"]) { return .delivered }
        return .failed(expired: false)
    }

    /// "could not be delivered for 5 days", "undeliverable for 3 days": a retry period measured
    /// in days has run out (Sendmail's final notice); hours mean a warning (Postfix, Sendmail).
    static func gaveUpAfterDays(_ c: LegacyContext, _ end: Int) -> Bool {
        for lead in ["could not be delivered for ", "undeliverable for ", "could not be delivered in "] {
            var from = 0
            while let i = c.index(of: lead, from: from, to: end) {
                var k = i + lead.utf8.count
                let limit = min(end, k + 24)
                // Optional "more than", "the last", then a number and "day".
                while k < limit && !c.lower[k].isASCIIDigit { k += 1 }
                var digits = 0
                while k < limit && c.lower[k].isASCIIDigit {
                    k += 1
                    digits += 1
                }
                while k < limit && c.lower[k] == 0x20 { k += 1 }
                if digits > 0 && k + 3 <= c.lower.count && c.lower[k..<(k + 3)].elementsEqual("day".utf8) {
                    return true
                }
                from = i + 1
            }
        }
        return false
    }
}
