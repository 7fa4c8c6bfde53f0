import Foundation
import MailTransport
import MailboxCore
import NIOConcurrencyHelpers

/// One listed message (docs/poll.md, "JSON fields").
public struct PollMessage: Codable, Sendable, Hashable {
    public var source: String
    public var size: Int
    public var from: String?
    public var subject: String?
    public var messageId: String?
    public var probeToken: String?
    /// Content-Type is multipart/report (a plain header scan).
    public var multipartReport: Bool

    public init(_ m: FetchedMessage) {
        let s = MessageSummary(m.bytes)
        source = m.source
        size = m.bytes.count
        from = s.from
        subject = s.subject
        messageId = s.messageID
        probeToken = s.probeToken
        multipartReport = s.isMultipartReport
    }
}

/// `roundtrip poll --format json`: one document at the end (docs/poll.md).
public struct PollDocument: Codable, Sendable {
    public var mailbox: String
    public var kind: String
    public var messages: [PollMessage]
    public var tls: TLSReport?
    public var alerts: [String]
    public var cleanup: CleanupReport?
    public var error: String?
    public var exitCode: Int32

    public init(
        mailbox: String, kind: String, messages: [PollMessage], tls: TLSReport?, alerts: [String],
        cleanup: CleanupReport?,
        error: String?, exitCode: Int32
    ) {
        self.mailbox = mailbox
        self.kind = kind
        self.messages = messages
        self.tls = tls
        self.alerts = alerts
        self.cleanup = cleanup
        self.error = error
        self.exitCode = exitCode
    }
}

/// What a poll run tells as it goes. Called from the readers' tasks, hence Sendable.
public protocol PollObserver: Sendable {
    /// A session is up (TLS facts; nil without TLS and for Maildir).
    func connected(tls: TLSReport?)
    /// A watched IMAP session went away; the run reconnects.
    func reconnecting(after error: MailboxError)
    /// A message, as it arrives.
    func received(_ message: PollMessage)
    /// IMAP `[ALERT]` texts of the session.
    func alerts(_ alerts: [String])
    /// What `--cleanup` did.
    func cleanedUp(_ report: CleanupReport)
    /// The protocol transcript of a single (non-watch) session, also when it failed.
    func transcript(_ entries: [TranscriptEntry])
}

/// `roundtrip poll`: read a mailbox once, or watch it, and hand each message to an observer;
/// optionally clean up the messages listed. Errors are `MailboxError`s (or the Maildir
/// reader's), thrown after the observer heard what came before.
public struct PollRun: Sendable {
    public enum Mailbox: Sendable {
        case imap(MailboxServerOptions)
        case pop3(MailboxServerOptions)
        case maildir(path: String, includeCur: Bool)
    }

    public var mailbox: Mailbox
    public var query: MailboxQuery
    /// Keep watching (IMAP IDLE, else polling every `interval`).
    public var watch: Bool
    /// With `watch`: stop at this instant, or after `count` messages.
    public var until: ContinuousClock.Instant?
    public var count: Int?
    public var interval: Duration
    /// Remove the listed messages afterwards (the readers remove only messages whose bytes hold
    /// the query's token).
    public var cleanup: Bool

    public init(
        mailbox: Mailbox, query: MailboxQuery = MailboxQuery(), watch: Bool = false,
        until: ContinuousClock.Instant? = nil,
        count: Int? = nil, interval: Duration = .seconds(5), cleanup: Bool = false
    ) {
        self.mailbox = mailbox
        self.query = query
        self.watch = watch
        self.until = until
        self.count = count
        self.interval = interval
        self.cleanup = cleanup
    }

    public func run(_ observer: some PollObserver) async throws {
        let listed = Listed(observer: observer, limit: count)
        switch mailbox {
        case .imap(let options): try await imap(options, observer, listed)
        case .pop3(let options): try await pop3(options, observer, listed)
        case .maildir(let path, let includeCur):
            try await maildir(MaildirReader(root: path, includeCur: includeCur), observer, listed)
        }
    }

    /// The messages handed on so far; `take` says whether to go on (the `count` limit).
    private final class Listed: Sendable {
        let observer: any PollObserver
        let limit: Int?
        private let box = NIOLockedValueBox<[String]>([])

        init(observer: any PollObserver, limit: Int?) {
            self.observer = observer
            self.limit = limit
        }

        func take(_ m: FetchedMessage) -> Bool {
            let n = box.withLockedValue { sources in
                sources.append(m.source)
                return sources.count
            }
            observer.received(PollMessage(m))
            return limit.map { n < $0 } ?? true
        }

        var sources: [String] { box.withLockedValue { $0 } }
    }

    private func imap(_ options: MailboxServerOptions, _ observer: some PollObserver, _ listed: Listed) async throws {
        if watch {
            try await IMAPClient.watch(
                options, query: query, until: until,
                onConnect: { client in
                    observer.connected(tls: await client.tlsReport)
                },
                onReconnect: { e in
                    observer.reconnecting(after: e)
                }
            ) { message in
                listed.take(message)
            }
            let sources = listed.sources
            if cleanup, !sources.isEmpty {
                observer.cleanedUp(
                    try await IMAPClient.withConnection(options) { client in try await client.cleanup(sources: sources)
                    })
            }
            return
        }
        let client = try await IMAPClient.connect(options)
        do {
            observer.connected(tls: await client.tlsReport)
            try await client.select()
            for m in try await client.poll(query) { _ = listed.take(m) }
            if cleanup { observer.cleanedUp(try await client.cleanup(sources: listed.sources)) }
            observer.alerts(await client.alerts)
            await client.logout()
            observer.transcript(await client.transcript)
        } catch {
            observer.transcript(await client.transcript)
            await client.logout()
            throw error
        }
    }

    private func pop3(_ options: MailboxServerOptions, _ observer: some PollObserver, _ listed: Listed) async throws {
        if watch {
            try await POP3Client.watch(
                options, query: query, until: until, interval: interval,
                onConnect: { client in
                    observer.connected(tls: await client.tlsReport)
                }
            ) { message in
                listed.take(message)
            }
            // UIDLs are stable across sessions: clean up in a fresh one.
            let sources = listed.sources
            if cleanup, !sources.isEmpty {
                observer.cleanedUp(
                    try await POP3Client.withConnection(options) { client in try await client.cleanup(sources: sources)
                    })
            }
            return
        }
        let client = try await POP3Client.connect(options)
        do {
            observer.connected(tls: await client.tlsReport)
            for m in try await client.poll(query) { _ = listed.take(m) }
            if cleanup, !listed.sources.isEmpty {
                observer.cleanedUp(try await client.cleanup(sources: listed.sources))
            }
            try await client.quit()
            observer.transcript(await client.transcript)
        } catch {
            observer.transcript(await client.transcript)
            await client.closeChannel()
            throw error
        }
    }

    private func maildir(_ reader: MaildirReader, _ observer: some PollObserver, _ listed: Listed) async throws {
        if watch {
            try await reader.watch(query, until: until, interval: interval) { message in
                listed.take(message)
            }
        } else {
            for m in try reader.scan(query) { _ = listed.take(m) }
        }
        if cleanup { observer.cleanedUp(reader.markHandled(sources: listed.sources)) }
    }
}
