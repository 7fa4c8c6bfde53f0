import Foundation
import MailTransport
import MailboxCore

/// The probe seen in a recipient's mailbox, before it is judged
/// (`ArrivalEvidence.from` checks the token and reads the headers).
public struct ArrivalSighting: Sendable {
    /// The mailbox URL as given (no password).
    public var mailbox: String
    public var mailboxUser: String?
    public var folder: String
    public var junk: Bool
    public var source: String
    public var bytes: [UInt8]
    public var internalDate: Date?
    public var seenAt: Date

    public init(
        mailbox: String, mailboxUser: String?, folder: String, junk: Bool, source: String, bytes: [UInt8],
        internalDate: Date?, seenAt: Date = Date()
    ) {
        self.mailbox = mailbox
        self.mailboxUser = mailboxUser
        self.folder = folder
        self.junk = junk
        self.source = source
        self.bytes = bytes
        self.internalDate = internalDate
        self.seenAt = seenAt
    }
}

/// `verify --arrival URL`: watches a recipient's IMAP mailbox and its Junk
/// folders (RFC 6154 `\Junk`, and the name given) for the probe, IDLE where
/// offered, one session per folder, reconnecting like the report feed.
public struct ArrivalWatch: Sendable {
    public let options: MailboxServerOptions
    /// `--arrival-junk`: a Junk folder to watch besides the one the server marks `\Junk`.
    public let junkName: String?
    /// Remove the arrived probe afterwards (named messages only, as for reports).
    public let cleanup: Bool
    public let log: @Sendable (String) -> Void

    public init(
        options: MailboxServerOptions, junkName: String? = nil, cleanup: Bool = false,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.options = options
        self.junkName = junkName
        self.cleanup = cleanup
        self.log = log
    }

    public var name: String { "arrival \(options.url)" }

    /// The folders to watch: the URL's mailbox, the server's `\Junk` special-use folder, and
    /// `--arrival-junk` (a filter may file spam elsewhere than the folder the server marks). A
    /// server without either is watched in the named mailbox only, and the log says so.
    public func folders() async throws -> [(name: String, junk: Bool)] {
        let special = try await IMAPClient.withConnection(options) { try await $0.junkMailbox() }
        let folders = Self.folders(main: options.url.mailbox, specialUse: special, named: junkName)
        if folders.count == 1 && !folders[0].junk {
            log(
                "\(name): the server marks no \\Junk folder and --arrival-junk is not given: watching \(folders[0].name) only"
            )
        }
        return folders
    }

    /// The main mailbox first, then each distinct Junk folder; a main mailbox that is itself a
    /// Junk folder counts as Junk.
    static func folders(main: String, specialUse: String?, named: String?) -> [(name: String, junk: Bool)] {
        let junk = [specialUse, named].compactMap { $0 }
        var out: [(name: String, junk: Bool)] = [(main, junk.contains(main))]
        for j in junk where !out.contains(where: { $0.name == j }) { out.append((j, true)) }
        return out
    }

    /// Watches every folder until cancelled, handing each message holding
    /// `token` (found by the server's search, confirmed in the bytes) to `deliver`.
    public func run(
        token: String, since: Date, deliver: @escaping @Sendable (ArrivalSighting) async -> Void
    ) async throws {
        let folders = try await folders()
        let mailbox = options.url.description
        let user = options.url.user
        try await withThrowingTaskGroup(of: Void.self) { group in
            for folder in folders {
                var o = options
                o.url.mailbox = folder.name
                group.addTask { [log, name] in
                    try await IMAPClient.watch(
                        o, query: MailboxQuery(token: token, since: since, searchText: false), until: nil,
                        onReconnect: { e in log("\(name) \(folder.name): reconnecting after \(e)") }
                    ) { m in
                        let date = m.internalDate.flatMap(IMAPDateTime.secondsSince1970).map {
                            Date(timeIntervalSince1970: Double($0))
                        }
                        await deliver(
                            ArrivalSighting(
                                mailbox: mailbox, mailboxUser: user, folder: folder.name, junk: folder.junk,
                                source: m.source, bytes: m.bytes, internalDate: date))
                        return true
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// `--cleanup`: removes the named arrived probes, folder by folder.
    public func remove(_ sources: [String]) async {
        guard cleanup, !sources.isEmpty else { return }
        let folders = Set(
            sources.compactMap { s in
                s.range(of: ";UIDVALIDITY=").flatMap { try? MailboxURL(parsing: String(s[..<$0.lowerBound])) }?.mailbox
            })
        for folder in folders.sorted() {
            var o = options
            o.url.mailbox = folder
            let prefix = "\(o.url);"
            let mine = sources.filter { $0.hasPrefix(prefix) }
            guard !mine.isEmpty else { continue }
            do {
                let report = try await IMAPClient.withConnection(o) { try await $0.cleanup(sources: mine) }
                for (s, why) in report.kept { log("arrival cleanup kept \(s): \(why)") }
            } catch {
                log("arrival cleanup in \(folder) failed: \(error)")
            }
        }
    }
}
