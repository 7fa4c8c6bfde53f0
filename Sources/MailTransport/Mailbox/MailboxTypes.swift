import Foundation
import MailCore
import MailboxCore
import NIOCore

/// The steps of a mailbox session; the CLI maps the failed one to an exit code.
public enum MailboxStep: String, Sendable, Hashable, Codable, CaseIterable {
    case connect
    case greeting
    case tls
    case auth
    case select
    case search
    case fetch
    case idle
    case cleanup
    case logout
}

/// One error type for the mailbox readers. Its description never contains
/// a password or an AUTH payload.
public struct MailboxError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case connectFailed
        /// No `* OK`/`+OK` greeting (or a `* BYE`).
        case greetingFailed
        case tlsFailed
        case certificateRejected
        case authFailed
        /// The mailbox (folder, Maildir) does not exist or cannot be opened.
        case mailboxUnavailable
        /// The server refused a command (NO/BAD/-ERR) outside login.
        case rejected
        case protocolViolation
        case timeout
        case connectionClosed
        case configuration
    }

    public var kind: Kind
    public var step: MailboxStep
    public var message: String
    /// The server's text (never an echo of our credentials: those lines are not recorded).
    public var serverText: String?

    public init(_ kind: Kind, step: MailboxStep, message: String, serverText: String? = nil) {
        self.kind = kind
        self.step = step
        self.message = message
        self.serverText = serverText
    }

    public var description: String {
        var s = "\(step.rawValue): \(message)"
        if let serverText, !serverText.isEmpty { s += " [\(serverText)]" }
        return s
    }
}

/// One message read from a mailbox, whichever kind.
public struct FetchedMessage: Sendable, Hashable {
    /// Where it came from, enough to clean it up later:
    /// `imaps://user@host:993/INBOX;UIDVALIDITY=v;UID=42`,
    /// `pop3s://user@host:995;UIDL=x`, or a Maildir file path.
    public var source: String
    public var bytes: [UInt8]
    /// IMAP INTERNALDATE as the server wrote it (nil elsewhere).
    public var internalDate: String?

    public init(source: String, bytes: [UInt8], internalDate: String? = nil) {
        self.source = source
        self.bytes = bytes
        self.internalDate = internalDate
    }
}

/// What to look for. Server-side searches may match words or lag behind,
/// so IMAP also lists every UID above the high-water mark and the caller
/// correlates locally (RFC 1939 has no search).
public struct MailboxQuery: Sendable, Hashable {
    /// A probe token: IMAP `HEADER X-Roundtrip-Probe` or `TEXT`; POP3 and
    /// Maildir filter locally on the raw bytes.
    public var token: String?
    /// Only messages that arrived on or after this day (IMAP SINCE, by day;
    /// Maildir file time; POP3 ignores it).
    public var since: Date?

    /// IMAP: also `SEARCH TEXT` for the token (a full-text scan, seconds on a
    /// large mailbox without an index). Off for the probe itself, which always
    /// carries `X-Roundtrip-Probe`; reports may quote the token only in the text.
    public var searchText: Bool

    public init(token: String? = nil, since: Date? = nil, searchText: Bool = true) {
        self.token = token
        self.since = since
        self.searchText = searchText
    }

    /// Whether `bytes` hold the token, in any ASCII case (servers and the local filters of POP3
    /// and Maildir alike decide on the bytes); true without a token.
    public func matches(_ bytes: [UInt8]) -> Bool {
        guard let token, !token.isEmpty else { return true }
        return ByteScan.firstIndex(ofLowercased: Array(token.lowercased().utf8), in: bytes[...]) != nil
    }
}

/// What a cleanup did, message by message.
public struct CleanupReport: Sendable, Hashable, Codable {
    public enum Method: String, Sendable, Hashable, Codable {
        /// IMAP UID MOVE to a folder.
        case moved
        /// IMAP UID STORE \Deleted + UID EXPUNGE (UIDPLUS).
        case expunged
        /// POP3 DELE + QUIT.
        case deleted
        /// Maildir new/X → cur/X:2,S.
        case markedSeen
        /// Nothing was done.
        case none
    }

    public var method: Method
    public var removed: [String] = []
    /// Sources left alone, with the reason.
    public var kept: [String: String] = [:]
    /// A note for the user (e.g. "the server offers neither MOVE nor UIDPLUS").
    public var note: String?

    public init(method: Method) {
        self.method = method
    }
}

/// How to reach a mailbox server.
public struct MailboxServerOptions: Sendable {
    public var url: MailboxURL
    public var password: String
    /// `starttls` mode for imap:// and pop3:// (auto, require, never), the
    /// verification mode and the CA file. imaps:// and pop3s:// always use
    /// implicit TLS.
    public var tls: TLSPolicy
    public var allowPlaintextAuth: Bool
    public var timeout: TimeAmount
    public var connectTimeout: TimeAmount
    /// IMAP: the folder for cleaned-up messages when MOVE is offered; nil
    /// deletes them instead (UIDPLUS).
    public var cleanupFolder: String?
    /// IMAP without IDLE: how often to poll while watching.
    public var pollInterval: TimeAmount
    /// IMAP: IDLE is re-issued after this long (25 minutes).
    public var idleReissue: TimeAmount

    public init(
        url: MailboxURL, password: String, tls: TLSPolicy = TLSPolicy(), allowPlaintextAuth: Bool = false,
        timeout: TimeAmount = .seconds(30), connectTimeout: TimeAmount = .seconds(30),
        cleanupFolder: String? = "Roundtrip-Processed", pollInterval: TimeAmount = .seconds(5),
        idleReissue: TimeAmount = .minutes(25)
    ) {
        self.url = url
        self.password = password
        self.tls = tls
        self.allowPlaintextAuth = allowPlaintextAuth
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.cleanupFolder = cleanupFolder
        self.pollInterval = pollInterval
        self.idleReissue = idleReissue
    }

    var tlsPolicy: TLSPolicy {
        var p = tls
        p.transport = url.scheme.implicitTLS ? .implicit : .starttls
        return p
    }
}

extension MailboxServerOptions: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Never shows the password.
    public var description: String {
        "MailboxServerOptions(url: \(url), password: <redacted>, starttls: \(tls.starttls.rawValue), verify: \(tls.verify.rawValue), allowPlaintextAuth: \(allowPlaintextAuth))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["url": url, "password": "<redacted>", "tls": tls, "allowPlaintextAuth": allowPlaintextAuth],
            displayStyle: .struct)
    }
}

/// A transcript that records what was said, with credentials redacted
/// where the entry is made.
struct TranscriptRecorder: Sendable {
    private(set) var entries: [TranscriptEntry] = []
    private let start = ContinuousClock.now

    mutating func note(_ direction: TranscriptEntry.Direction, _ text: String) {
        let d = ContinuousClock.now - start
        let at = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        entries.append(TranscriptEntry(at: (at * 1000).rounded() / 1000, direction: direction, text: text))
        if entries.count > 10_000 { entries.removeFirst(entries.count - 10_000) }
    }
}

extension IMAPDate {
    /// The day of `date` in UTC.
    init?(_ date: Date) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC") ?? cal.timeZone
        let c = cal.dateComponents([.year, .month, .day], from: date)
        guard let y = c.year, let m = c.month, let d = c.day else { return nil }
        self.init(year: y, month: m, day: d)
    }
}

/// Verifies the TLS report against the policy: mailbox sessions always log
/// in, so a failed verification is fatal unless verification is off.
func enforce(_ report: TLSReport, policy: TLSPolicy, port: Int) throws {
    if let problem = report.problem, policy.verificationIsFatal(port: port, usesAuth: true) {
        throw MailboxError(.certificateRejected, step: .tls, message: "certificate verification failed: \(problem)")
    }
}

/// What every mailbox reader offers: find messages, and clean up exactly
/// the ones named by their sources. `verify` polls or watches, correlates
/// each message, then cleans up only the correlated ones.
public protocol MailboxReader: Sendable {
    /// The messages matching `query` now.
    func poll(_ query: MailboxQuery) async throws -> [FetchedMessage]
    /// Removes (IMAP, POP3) or marks as handled (Maildir) exactly these messages.
    func cleanup(sources: [String]) async throws -> CleanupReport
}

extension IMAPClient: MailboxReader {}

extension POP3Client: MailboxReader {
    public func poll(_ query: MailboxQuery) async throws -> [FetchedMessage] {
        try await poll(query, skipping: [])
    }
}

extension MaildirReader: MailboxReader {
    public func poll(_ query: MailboxQuery) async throws -> [FetchedMessage] {
        try scan(query)
    }

    public func cleanup(sources: [String]) async throws -> CleanupReport {
        markHandled(sources: sources)
    }
}

/// Runs `round` every `interval` until `deadline` (or forever) and hands
/// each message not seen before to `consumer`; stops when it returns false.
func pollingWatch(
    until deadline: ContinuousClock.Instant?, interval: Duration,
    round: (Set<String>) async throws -> [FetchedMessage],
    consumer: @Sendable (FetchedMessage) async throws -> Bool
) async throws {
    var seen: Set<String> = []
    while true {
        for m in try await round(seen) where !seen.contains(m.source) {
            seen.insert(m.source)
            guard try await consumer(m) else { return }
        }
        var nap = interval
        if let deadline {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return }
            nap = min(nap, left)
        }
        try await Task.sleep(for: nap)
        if let deadline, ContinuousClock.now >= deadline { return }
    }
}

extension MaildirReader {
    /// Hands every message matching `query` to `consumer`, then each new
    /// one, scanning every `interval`, until `deadline` or until `consumer`
    /// returns false.
    public func watch(
        _ query: MailboxQuery, until deadline: ContinuousClock.Instant?, interval: Duration = .seconds(1),
        consumer: @Sendable (FetchedMessage) async throws -> Bool
    ) async throws {
        try await pollingWatch(until: deadline, interval: interval, round: { _ in try scan(query) }, consumer: consumer)
    }
}

extension POP3Client {
    /// Like `IMAPClient.watch`, for POP3: one short session per round (the
    /// server's idle timeout makes long sessions fragile), messages told
    /// apart by UIDL, each retrieved once.
    public static func watch(
        _ options: MailboxServerOptions, query: MailboxQuery, until deadline: ContinuousClock.Instant?,
        interval: Duration = .seconds(5), onConnect: @Sendable (POP3Client) async -> Void = { _ in },
        consumer: @Sendable (FetchedMessage) async throws -> Bool
    ) async throws {
        let prefix = "\(options.url);UIDL="
        try await pollingWatch(
            until: deadline, interval: interval,
            round: { seen in
                let skip = Set(
                    seen.compactMap { s in
                        s.hasPrefix(prefix) ? MailboxURL.percentDecodeComponent(String(s.dropFirst(prefix.count))) : nil
                    })
                return try await withConnection(options) { client in
                    await onConnect(client)
                    return try await client.poll(query, skipping: skip)
                }
            }, consumer: consumer)
    }
}
