import Foundation
import MailTransport

/// Watches a Maildir's `new/` and `cur/` (never `tmp/`): another reader, such
/// as Dovecot when a mail client opens the box, may move a report to `cur/`
/// before we see it. Only files written since the run began (less a margin)
/// are read, so a large mailbox costs one directory listing per scan.
public struct MaildirFeed: ReportFeed {
    public let path: String
    public let interval: Duration
    public let since: Date
    /// Mark correlated messages as seen (`new/X` → `cur/X:2,S`).
    public let markSeen: Bool

    public init(
        path: String, interval: Duration = .milliseconds(100), since: Date = Date().addingTimeInterval(-300),
        markSeen: Bool = true
    ) {
        self.path = path
        self.interval = interval
        self.since = since
        self.markSeen = markSeen
    }

    public var name: String { "Maildir \(path)" }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        let reader = MaildirReader(root: path, includeCur: true)
        do { try reader.validate() } catch { throw FeedError(description: "\(error)") }
        var seen = Set<String>()
        while !Task.isCancelled {
            for dir in reader.folders {
                for name in (try? MaildirReader.listFolder(dir)) ?? [] {
                    // The identity is the part before ":2," (the flags change when it moves).
                    let unique = name.components(separatedBy: ":2,").first ?? name
                    guard !seen.contains(unique) else { continue }
                    let file = dir + "/" + name
                    var st = stat()
                    guard lstat(file, &st) == 0 else { continue }
                    if Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)) < since {
                        seen.insert(unique)
                        continue
                    }
                    // The file may have been taken by another reader meanwhile; links and
                    // oversized files are never read.
                    guard let (bytes, _) = MaildirReader.readFile(file, limit: reader.maxMessageSize) else { continue }
                    seen.insert(unique)
                    await deliver(ReceivedMessage(source: file, bytes: bytes))
                }
            }
            try await Task.sleep(for: interval)
        }
    }

    public func markHandled(_ sources: [String]) async {
        guard markSeen else { return }
        _ = MaildirReader(root: path, includeCur: true).markHandled(
            sources: sources.filter { $0.hasPrefix(path + "/") })
    }
}

public struct FeedError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Watches an IMAP mailbox (IDLE when offered, else polling; reconnects with
/// backoff) and hands over every message that arrives.
public struct IMAPFeed: ReportFeed {
    public let options: MailboxServerOptions
    public let since: Date
    /// Remove correlated messages afterwards (UID MOVE, else UIDPLUS expunge).
    public let cleanup: Bool
    public let log: @Sendable (String) -> Void

    public init(
        options: MailboxServerOptions, since: Date = Date(), cleanup: Bool = false,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.options = options
        self.since = since
        self.cleanup = cleanup
        self.log = log
    }

    public var name: String { "IMAP \(options.url)" }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        try await IMAPClient.watch(
            options, query: MailboxQuery(since: since), until: nil,
            onReconnect: { [log] e in log("IMAP: reconnecting after \(e)") }
        ) { m in
            await deliver(ReceivedMessage(source: m.source, bytes: m.bytes))
            return true
        }
    }

    public func markHandled(_ sources: [String]) async {
        guard cleanup, !sources.isEmpty else { return }
        do {
            let report = try await IMAPClient.withConnection(options) { try await $0.cleanup(sources: sources) }
            for (s, why) in report.kept { log("IMAP cleanup kept \(s): \(why)") }
        } catch {
            log("IMAP cleanup failed: \(error)")
        }
    }
}

/// Polls a POP3 mailbox (one short session per round) for new messages.
public struct POP3Feed: ReportFeed {
    public let options: MailboxServerOptions
    public let interval: Duration
    /// DELE correlated messages afterwards.
    public let cleanup: Bool
    public let log: @Sendable (String) -> Void

    public init(
        options: MailboxServerOptions, interval: Duration = .seconds(2), cleanup: Bool = false,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.options = options
        self.interval = interval
        self.cleanup = cleanup
        self.log = log
    }

    public var name: String { "POP3 \(options.url)" }

    public func run(deliver: @escaping @Sendable (ReceivedMessage) async -> Void) async throws {
        try await POP3Client.watch(options, query: MailboxQuery(), until: nil, interval: interval) { m in
            await deliver(ReceivedMessage(source: m.source, bytes: m.bytes))
            return true
        }
    }

    public func markHandled(_ sources: [String]) async {
        guard cleanup, !sources.isEmpty else { return }
        do {
            _ = try await POP3Client.withConnection(options) { try await $0.cleanup(sources: sources) }
        } catch {
            log("POP3 cleanup failed: \(error)")
        }
    }
}
