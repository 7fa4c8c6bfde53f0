import Foundation
import MailboxCore
import NIOConcurrencyHelpers
import NIOCore

/// What SELECT reported.
public struct IMAPMailboxStatus: Sendable, Hashable {
    public var mailbox: String
    public var uidValidity: UInt32?
    public var uidNext: UInt32?
    public var exists: Int?
}

/// An IMAP session (RFC 9051/3501 subset) over implicit TLS or STARTTLS:
/// login, SELECT, UID SEARCH, UID FETCH with BODY.PEEK[], IDLE (re-issued
/// every 25 minutes, NOOP polling when IDLE is absent), and a cleanup that
/// touches only the named messages (UID MOVE, or UID STORE + UID EXPUNGE
/// with UIDPLUS, else nothing; never EXPUNGE or CLOSE).
///
/// Credentials go over TLS only, unless `allowPlaintextAuth`; they never
/// reach the transcript, a log or an error.
public actor IMAPClient {
    public let options: MailboxServerOptions
    private var machine: IMAPClientStateMachine
    private let channel: MailboxChannel<IMAPFramingParser>
    private var recorder = TranscriptRecorder()
    public private(set) var tlsReport: TLSReport?
    /// `[ALERT]` texts the server sent (show them to the user).
    public private(set) var alerts: [String] = []
    public private(set) var status: IMAPMailboxStatus?
    /// An EXISTS arrived outside IDLE: new mail may be waiting.
    private var existsSeen = false
    /// IDLE was refused although advertised: poll instead.
    private var idleBroken = false

    public var transcript: [TranscriptEntry] { recorder.entries }
    public var capabilities: Set<String> { machine.capabilities }
    public var tlsActive: Bool { machine.tlsActive }
    public var remoteAddress: String { channel.remoteAddress }

    private init(options: MailboxServerOptions, channel: MailboxChannel<IMAPFramingParser>) {
        self.options = options
        self.channel = channel
        self.machine = IMAPClientStateMachine(
            policy: .init(allowPlaintextAuth: options.allowPlaintextAuth),
            implicitTLS: options.url.scheme.implicitTLS
        )
    }

    /// Connects, reads the greeting, applies the TLS policy and logs in.
    public static func connect(_ options: MailboxServerOptions) async throws -> IMAPClient {
        guard options.url.scheme.isIMAP else {
            throw MailboxError(.configuration, step: .connect, message: "not an IMAP URL: \(options.url)")
        }
        return try await MailboxChannel.open(
            options, framer: IMAPFramingParser(), client: { IMAPClient(options: options, channel: $0) }
        ) { try await $0.open() }
    }

    /// Connects, runs `body`, logs out and closes, whatever happens.
    public static func withConnection<T: Sendable>(
        _ options: MailboxServerOptions, _ body: (IMAPClient) async throws -> T
    ) async throws -> T {
        let client = try await connect(options)
        do {
            let result = try await body(client)
            await client.logout()
            return result
        } catch {
            await client.logout()
            throw error
        }
    }

    // MARK: Opening

    private func open() async throws {
        let greeting = try await readResponse(step: .greeting)
        let kind: IMAPUntaggedResponse.ConditionKind
        do {
            kind = try machine.receivedGreeting(greeting)
        } catch {
            throw MailboxError(.greetingFailed, step: .greeting, message: "no IMAP greeting: \(error.description)")
        }
        if case .untagged(.condition(_, let code, let text)) = greeting {
            if code == .alert { alerts.append(text) }
            if kind == .bye {
                throw MailboxError(
                    .greetingFailed, step: .greeting, message: "the server refused the session", serverText: text)
            }
        }
        let policy = options.tlsPolicy
        if options.url.scheme.implicitTLS {
            let report = try await channel.verifiedTLS(options, discarded: 0)
            tlsReport = report
            note(.info, report.establishedNote)
        } else if kind == .preauth {
            if policy.starttls == .require {
                throw MailboxError(
                    .tlsFailed, step: .tls,
                    message:
                        "the server pre-authenticated the session in plaintext (PREAUTH), so STARTTLS is impossible")
            }
        } else if policy.starttls != .never {
            if machine.capabilities.isEmpty { try await refreshCapabilities(step: .greeting) }
            if machine.has("STARTTLS") {
                try await startTLS()
            } else if policy.starttls == .require {
                throw MailboxError(.tlsFailed, step: .tls, message: "the server does not offer STARTTLS")
            }
        }
        if kind != .preauth {
            if machine.capabilities.isEmpty { try await refreshCapabilities(step: .auth) }
            try await login()
        }
        if machine.capabilities.isEmpty { try await refreshCapabilities(step: .auth) }
    }

    private func refreshCapabilities(step: MailboxStep) async throws {
        _ = try await run(.capability, step: step)
    }

    private func startTLS() async throws {
        let encoded = try machineSend(.startTLS, step: .tls)
        let tag = encoded.tag
        let handshake = try await channel.armTLS(serverName: options.url.host) { frame in
            guard case .tagged(let t)? = try? IMAPResponseParser.parse(frame), t.tag == tag else { return .notYet }
            return t.status == .ok ? .upgrade : .refuse
        }
        note(.client, encoded.redacted)
        try await channel.write(encoded.parts[0])
        let outcome = try await collect(command: .startTLS, step: .tls)
        guard outcome.startTLS else {
            handshake.whenFailure { _ in }
            if options.tls.starttls == .require {
                throw MailboxError(
                    .tlsFailed, step: .tls, message: "the server refused STARTTLS", serverText: outcome.tagged.text)
            }
            note(.info, "STARTTLS refused; going on without TLS")
            return
        }
        let discarded = try await channel.wait(handshake, timeout: options.timeout, step: .tls, what: "TLS handshake")
        machine.tlsEstablished()
        if discarded > 0 {
            note(.info, "discarded \(discarded) plaintext octets that followed the STARTTLS OK (injection guard)")
        }
        let report = try await channel.verifiedTLS(options, discarded: discarded)
        tlsReport = report
        note(.info, report.establishedNote)
        try await refreshCapabilities(step: .tls)
    }

    private func login() async throws {
        guard let user = options.url.user else {
            throw MailboxError(.configuration, step: .auth, message: "the URL names no user (imaps://USER@host/INBOX)")
        }
        guard machine.tlsActive || options.allowPlaintextAuth else {
            throw MailboxError(
                .authFailed, step: .auth,
                message:
                    "refused to send credentials over a connection without TLS (use --allow-plaintext-auth for test servers)"
            )
        }
        let command: IMAPCommand
        if machine.has("AUTH=PLAIN") {
            command = .authenticatePlain(
                user: user, password: options.password,
                initialResponse: machine.has("SASL-IR") || machine.has("IMAP4rev2"))
        } else if !machine.has("LOGINDISABLED") {
            command = .login(user: user, password: options.password)
        } else {
            throw MailboxError(.authFailed, step: .auth, message: "the server forbids LOGIN and offers no AUTH=PLAIN")
        }
        let (tagged, _) = try await run(command, step: .auth, allowFailure: true)
        guard tagged.status == .ok else {
            let why =
                tagged.code == .authenticationFailed
                ? "bad user name or password"
                : tagged.code == .unavailable ? "the server cannot log in now" : "login refused"
            throw MailboxError(.authFailed, step: .auth, message: "\(why) for \(user)", serverText: tagged.text)
        }
    }

    // MARK: Commands

    private func machineSend(_ command: IMAPCommand, step: MailboxStep) throws -> IMAPEncodedCommand {
        do {
            return try machine.send(command)
        } catch {
            switch error.code {
            case .plaintextAuthRefused, .loginDisabled:
                throw MailboxError(.authFailed, step: step, message: error.description)
            case .capabilityMissing: throw MailboxError(.rejected, step: step, message: error.description)
            default: throw MailboxError(.protocolViolation, step: step, message: error.description)
            }
        }
    }

    /// Sends one command and reads to its completion. A NO/BAD throws unless `allowFailure`.
    @discardableResult
    private func run(_ command: IMAPCommand, step: MailboxStep, allowFailure: Bool = false) async throws -> (
        IMAPTaggedResponse, [IMAPUntaggedResponse]
    ) {
        let encoded = try machineSend(command, step: step)
        note(.client, encoded.redacted)
        try await channel.write(encoded.parts[0])
        let outcome = try await collect(command: command, step: step)
        if outcome.tagged.status != .ok && !allowFailure {
            throw MailboxError(
                .rejected, step: step, message: "\(Self.verb(command)) failed",
                serverText: "\(outcome.tagged.status.rawValue) \(outcome.tagged.text)")
        }
        return (outcome.tagged, outcome.untagged)
    }

    private struct Outcome {
        var tagged: IMAPTaggedResponse
        var untagged: [IMAPUntaggedResponse]
        var startTLS = false
    }

    private func collect(command: IMAPCommand, step: MailboxStep) async throws -> Outcome {
        var untagged: [IMAPUntaggedResponse] = []
        while true {
            let response = try await readResponse(step: step)
            let event: IMAPClientStateMachine.Event
            do { event = try machine.received(response) } catch {
                throw MailboxError(.protocolViolation, step: step, message: error.description)
            }
            switch event {
            case .untagged(let u):
                observe(u)
                untagged.append(u)
            case .sendContinuation(let bytes):
                note(.client, command.carriesCredentials ? "<redacted>" : "<\(bytes.count) octets>")
                try await channel.write(bytes)
            case .idleStarted:
                throw MailboxError(.protocolViolation, step: step, message: "IDLE started outside IDLE")
            case .completed(_, let t):
                return Outcome(tagged: t, untagged: untagged)
            case .startTLS:
                guard case .tagged(let t) = response else { continue }
                return Outcome(tagged: t, untagged: untagged, startTLS: true)
            case .bye(let text):
                if command == .logout { continue }
                throw MailboxError(
                    .connectionClosed, step: step, message: "the server ended the session (BYE)", serverText: text)
            }
        }
    }

    private func observe(_ u: IMAPUntaggedResponse) {
        switch u {
        case .condition(_, .alert?, let text): alerts.append(text)
        case .exists: existsSeen = true
        default: break
        }
    }

    private func readResponse(step: MailboxStep) async throws -> IMAPResponse {
        guard let frame = try await channel.nextFrame(timeout: options.timeout, step: step) else {
            await channel.close()
            throw MailboxError(
                .timeout, step: step, message: "no response within \(seconds(options.timeout)) (see --timeout)")
        }
        note(.server, Self.describe(frame))
        do {
            return try IMAPResponseParser.parse(frame)
        } catch {
            await channel.close()
            throw MailboxError(
                .protocolViolation, step: step, message: "the server's response is not valid IMAP: \(error)")
        }
    }

    static func verb(_ c: IMAPCommand) -> String {
        switch c {
        case .capability: return "CAPABILITY"
        case .noop: return "NOOP"
        case .logout: return "LOGOUT"
        case .startTLS: return "STARTTLS"
        case .login: return "LOGIN"
        case .authenticatePlain: return "AUTHENTICATE"
        case .select: return "SELECT"
        case .examine: return "EXAMINE"
        case .create: return "CREATE"
        case .uidSearch: return "UID SEARCH"
        case .uidFetch: return "UID FETCH"
        case .uidStoreAddFlags: return "UID STORE"
        case .uidExpunge: return "UID EXPUNGE"
        case .uidMove: return "UID MOVE"
        case .idle: return "IDLE"
        case .listAll: return "LIST"
        }
    }

    /// The first line of a response for the transcript; literal contents
    /// are summarised, not copied.
    static func describe(_ frame: [UInt8]) -> String {
        let lineEnd = frame.firstIndex(of: 0x0D) ?? frame.count
        let end = min(lineEnd, 300)
        var s = String(decoding: frame[..<end], as: UTF8.self)
        if end < lineEnd { s += " …" }
        if frame.count > lineEnd + 2 { s += " …(\(frame.count) octets in all)" }
        return s
    }

    private func note(_ d: TranscriptEntry.Direction, _ text: String) {
        recorder.note(d, text)
    }

    // MARK: Mailbox operations

    /// Opens a mailbox read-write (the URL's when nil).
    @discardableResult
    public func select(_ mailbox: String? = nil) async throws -> IMAPMailboxStatus {
        let name = mailbox ?? options.url.mailbox
        let (tagged, untagged) = try await run(.select(name), step: .select, allowFailure: true)
        guard tagged.status == .ok else {
            throw MailboxError(
                .mailboxUnavailable, step: .select, message: "cannot open mailbox \(name.debugDescription)",
                serverText: tagged.text)
        }
        var s = IMAPMailboxStatus(mailbox: name, uidValidity: machine.uidValidity)
        for u in untagged {
            switch u {
            case .exists(let n): s.exists = n
            case .condition(_, .uidNext(let n)?, _): s.uidNext = n
            default: break
            }
        }
        existsSeen = false
        status = s
        return s
    }

    private func ensureSelected() async throws -> IMAPMailboxStatus {
        if let status { return status }
        return try await select()
    }

    /// `UID SEARCH keys` → UIDs (from `* SEARCH` or `* ESEARCH ... ALL`).
    public func search(_ keys: [IMAPSearchKey]) async throws -> [UInt32] {
        _ = try await ensureSelected()
        let (_, untagged) = try await run(.uidSearch(keys), step: .search)
        var uids: [UInt32] = []
        for u in untagged {
            switch u {
            case .search(let list): uids += list
            case .esearch(let e):
                do { uids += try e.all?.expanded() ?? [] } catch {
                    throw MailboxError(.protocolViolation, step: .search, message: "ESEARCH: \(error)")
                }
            default: break
            }
        }
        return Array(Set(uids)).sorted()
    }

    /// The source string of a message in the selected mailbox.
    public func source(uid: UInt32) -> String {
        var u = options.url
        u.mailbox = status?.mailbox ?? u.mailbox
        return "\(u);UIDVALIDITY=\(machine.uidValidity ?? 0);UID=\(uid)"
    }

    /// `UID FETCH uids (UID RFC822.SIZE BODY.PEEK[])`, leaving \Seen alone.
    /// Messages that vanished (no FETCH, or `BODY[] NIL`) are skipped.
    public func fetch(uids: [UInt32]) async throws -> [FetchedMessage] {
        _ = try await ensureSelected()
        var out: [FetchedMessage] = []
        let sorted = Array(Set(uids)).sorted()
        var i = 0
        while i < sorted.count {
            // Keep command lines short (RFC 7162 §4 recommends at most 8192 octets).
            let chunk = Array(sorted[i..<min(i + 200, sorted.count)])
            i += chunk.count
            let (_, untagged) = try await run(
                .uidFetch(
                    IMAPSequenceSet(numbers: chunk), items: ["UID", "RFC822.SIZE", "INTERNALDATE", "BODY.PEEK[]"]),
                step: .fetch)
            var byUID: [UInt32: (body: [UInt8], date: String?)] = [:]
            for u in untagged {
                if case .fetch(_, let a) = u, let uid = a.uid, let body = a.body, chunk.contains(uid) {
                    byUID[uid] = (body, a.internalDate ?? byUID[uid]?.date)
                }
            }
            for uid in chunk {
                if let m = byUID[uid] {
                    out.append(FetchedMessage(source: source(uid: uid), bytes: m.body, internalDate: m.date))
                }
            }
        }
        return out
    }

    /// UIDs that match the query: by `HEADER X-Roundtrip-Probe` and (unless
    /// `searchText` is off) `TEXT` for a token (SINCE narrows both), else by
    /// SINCE, else all.
    public func matchingUIDs(_ query: MailboxQuery) async throws -> [UInt32] {
        let since = query.since.flatMap { IMAPDate($0.addingTimeInterval(-86400)) }  // a day early: SINCE ignores zones
        let sinceKeys: [IMAPSearchKey] = since.map { [.since($0)] } ?? []
        if let token = query.token {
            let byHeader = try await search(sinceKeys + [.header("X-Roundtrip-Probe", token)])
            let byText = query.searchText ? try await search(sinceKeys + [.text(token)]) : []
            return Array(Set(byHeader + byText)).sorted()
        }
        return try await search(sinceKeys.isEmpty ? [.all] : sinceKeys)
    }

    /// Finds and fetches the messages matching `query`. The server's SEARCH
    /// only narrows the fetch: a message is returned (and so may be cleaned
    /// up) only when its fetched bytes hold the token.
    public func poll(_ query: MailboxQuery) async throws -> [FetchedMessage] {
        let messages = try await fetch(uids: try await matchingUIDs(query))
        return messages.filter { query.matches($0.bytes) }
    }

    /// The mailboxes (`LIST "" "*"`) with their attributes.
    public func list() async throws -> [IMAPListEntry] {
        let (_, untagged) = try await run(.listAll, step: .select)
        return untagged.compactMap { u in
            if case .other(let keyword, let rest) = u, keyword.uppercased() == "LIST" {
                return IMAPListEntry(parsing: rest)
            }
            return nil
        }
    }

    /// The mailbox the server marks `\Junk` (RFC 6154), if any.
    public func junkMailbox() async throws -> String? {
        try await list().first { $0.has("\\Junk") }?.name
    }

    // MARK: Waiting for mail

    /// Whether IDLE will be used (advertised and not refused).
    public var usesIDLE: Bool { (machine.has("IDLE") || machine.has("IMAP4rev2")) && !idleBroken }

    /// Waits until the server reports new mail (EXISTS) or `maxWait`
    /// passes. With IDLE the wait is push and is ended (DONE) and re-issued
    /// by the caller's loop at the 25-minute mark at the latest; without it,
    /// one NOOP after `pollInterval`. Returns whether something may have
    /// arrived.
    public func waitForNewMail(maxWait: TimeAmount) async throws -> Bool {
        _ = try await ensureSelected()
        if existsSeen {
            existsSeen = false
            return true
        }
        guard usesIDLE else {
            let nap = min(maxWait, options.pollInterval)
            if nap > .zero { try await Task.sleep(nanoseconds: UInt64(nap.nanoseconds)) }
            try await run(.noop, step: .idle)
            existsSeen = false
            return true  // poll: the caller searches above its high-water mark anyway
        }
        let encoded = try machineSend(.idle, step: .idle)
        note(.client, encoded.redacted)
        try await channel.write(encoded.parts[0])
        // Wait for "+" (or a refusal).
        var changed = false
        while !machine.idleRunning {
            let response = try await readResponse(step: .idle)
            let event: IMAPClientStateMachine.Event
            do { event = try machine.received(response) } catch {
                throw MailboxError(.protocolViolation, step: .idle, message: error.description)
            }
            switch event {
            case .idleStarted: break
            case .untagged(let u):
                observe(u)
                if case .exists = u { changed = true }
            case .completed(_, let t):
                note(.info, "IDLE refused (\(t.status.rawValue) \(t.text)); polling instead")
                idleBroken = true
                return true
            case .bye(let text):
                throw MailboxError(
                    .connectionClosed, step: .idle, message: "the server ended the session (BYE)", serverText: text)
            case .sendContinuation, .startTLS:
                throw MailboxError(.protocolViolation, step: .idle, message: "unexpected response to IDLE")
            }
        }
        let limit = min(maxWait, options.idleReissue)
        let deadline = NIODeadline.now() + limit
        while !changed {
            let remaining = deadline - NIODeadline.now()
            if remaining <= .zero { break }
            guard let frame = try await channel.nextFrame(timeout: remaining, step: .idle) else { break }
            note(.server, Self.describe(frame))
            let response: IMAPResponse
            do { response = try IMAPResponseParser.parse(frame) } catch {
                throw MailboxError(
                    .protocolViolation, step: .idle, message: "the server's response is not valid IMAP: \(error)")
            }
            let event: IMAPClientStateMachine.Event
            do { event = try machine.received(response) } catch {
                throw MailboxError(.protocolViolation, step: .idle, message: error.description)
            }
            switch event {
            case .untagged(let u):
                observe(u)
                if case .exists = u { changed = true }
            case .bye(let text):
                throw MailboxError(
                    .connectionClosed, step: .idle, message: "the server ended the session during IDLE (BYE)",
                    serverText: text)
            case .completed(_, let t):
                // The server ended IDLE itself.
                note(.info, "the server ended IDLE: \(t.status.rawValue) \(t.text)")
                existsSeen = false
                return true
            default:
                throw MailboxError(.protocolViolation, step: .idle, message: "unexpected response during IDLE")
            }
        }
        let done: [UInt8]
        do { done = try machine.endIdle() } catch {
            throw MailboxError(.protocolViolation, step: .idle, message: error.description)
        }
        note(.client, "DONE")
        try await channel.write(done)
        let outcome = try await collect(command: .idle, step: .idle)
        if outcome.untagged.contains(where: { if case .exists = $0 { return true } else { return false } }) {
            changed = true
        }
        existsSeen = false
        return changed
    }

    /// Watches the mailbox: hands every message already matching `query`
    /// to `consumer`, then every new one as it arrives (IDLE, or polling),
    /// until `deadline` or until `consumer` returns false. With a token,
    /// new messages are filtered locally (server search indexes may lag).
    public func watch(
        _ query: MailboxQuery, until deadline: ContinuousClock.Instant?,
        consumer: @Sendable (FetchedMessage) async throws -> Bool
    ) async throws {
        let opened = try await ensureSelected()
        var validity = machine.uidValidity
        var highWater: UInt32 = (opened.uidNext ?? 1) &- 1
        for m in try await poll(query) {
            if let uid = Self.uid(of: m.source) { highWater = max(highWater, uid) }
            guard try await consumer(m) else { return }
        }
        while true {
            var wait = TimeAmount.hours(24)
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return }
                wait = .nanoseconds(
                    Int64(left.components.seconds) * 1_000_000_000 + left.components.attoseconds / 1_000_000_000)
            }
            let changed = try await waitForNewMail(maxWait: wait)
            guard changed else { continue }
            if machine.uidValidity != validity {
                note(.info, "UIDVALIDITY changed: rescanning")
                validity = machine.uidValidity
                highWater = 0
            }
            let fresh = try await search([.uid(.from(highWater &+ 1))]).filter { $0 > highWater }
            for m in try await fetch(uids: fresh) {
                if let uid = Self.uid(of: m.source) { highWater = max(highWater, uid) }
                guard query.matches(m.bytes) else { continue }
                guard try await consumer(m) else { return }
            }
            if let last = fresh.max() { highWater = max(highWater, last) }
        }
    }

    static func uid(of source: String) -> UInt32? {
        guard let r = source.range(of: ";UID=", options: .backwards) else { return nil }
        return UInt32(source[r.upperBound...])
    }

    // MARK: Cleanup

    /// Removes exactly the named messages from the selected mailbox: UID MOVE
    /// to `options.cleanupFolder` when MOVE is offered (the folder is created
    /// on [TRYCREATE]), else `UID STORE +FLAGS.SILENT (\Deleted)` and
    /// `UID EXPUNGE` when UIDPLUS is offered, else nothing (and says so).
    /// Sources from another mailbox or an older UIDVALIDITY are kept.
    public func cleanup(sources: [String]) async throws -> CleanupReport {
        let opened = try await ensureSelected()
        var report = CleanupReport(method: .none)
        var base = options.url
        base.mailbox = opened.mailbox
        let prefix = "\(base);UIDVALIDITY="
        var uids: [UInt32] = []
        var named: [UInt32: String] = [:]
        for s in sources {
            guard s.hasPrefix(prefix) else {
                report.kept[s] = "not a message of \(base)"
                continue
            }
            let rest = s.dropFirst(prefix.count)
            let parts = rest.split(separator: ";")
            guard parts.count == 2, let v = UInt32(parts[0]), parts[1].hasPrefix("UID="),
                let uid = UInt32(parts[1].dropFirst(4)), uid > 0
            else {
                report.kept[s] = "not a message source"
                continue
            }
            guard v == machine.uidValidity else {
                report.kept[s] = "UIDVALIDITY changed since it was fetched"
                continue
            }
            uids.append(uid)
            named[uid] = s
        }
        guard !uids.isEmpty else { return report }
        let set = IMAPSequenceSet(numbers: uids)
        let canMove = machine.has("MOVE") || machine.has("IMAP4rev2")
        let canUIDExpunge = machine.has("UIDPLUS") || machine.has("IMAP4rev2")
        if let folder = options.cleanupFolder, canMove {
            var (tagged, _) = try await run(.uidMove(set, mailbox: folder), step: .cleanup, allowFailure: true)
            if tagged.status == .no, tagged.code == .tryCreate {
                let (created, _) = try await run(.create(folder), step: .cleanup, allowFailure: true)
                if created.status == .ok {
                    (tagged, _) = try await run(.uidMove(set, mailbox: folder), step: .cleanup, allowFailure: true)
                }
            }
            guard tagged.status == .ok else {
                throw MailboxError(
                    .rejected, step: .cleanup, message: "UID MOVE to \(folder.debugDescription) failed",
                    serverText: tagged.text)
            }
            report.method = .moved
            report.note = "moved to \(folder)"
        } else if canUIDExpunge {
            try await run(.uidStoreAddFlags(set, flags: ["\\Deleted"]), step: .cleanup)
            try await run(.uidExpunge(set), step: .cleanup)
            report.method = .expunged
        } else {
            report.note =
                "the server offers neither MOVE nor UIDPLUS: the messages stay (a plain EXPUNGE would also remove other clients' deleted messages)"
            for s in named.values { report.kept[s] = "no MOVE or UIDPLUS" }
            return report
        }
        report.removed = uids.sorted().compactMap { named[$0] }
        return report
    }

    // MARK: Closing

    /// LOGOUT (the BYE is expected), then close. Never throws.
    public func logout() async {
        if machine.state != .loggedOut, !machine.isIdling, !machine.hasPendingCommand {
            _ = try? await run(.logout, step: .logout, allowFailure: true)
        }
        await channel.close()
    }

    func closeChannel() async {
        await channel.close()
    }
}

extension IMAPClient {
    /// Watches like `watch(_:until:consumer:)` but survives the server
    /// going away (`* BYE`, a dropped connection, a timeout): it reconnects
    /// with backoff (1 s doubling to 60 s) and goes on, handing each source
    /// to `consumer` once. Login, TLS and configuration failures end it.
    /// `onConnect` sees each new session (TLS facts, alerts); `onReconnect`
    /// hears about each reconnection (for logs).
    public static func watch(
        _ options: MailboxServerOptions, query: MailboxQuery, until deadline: ContinuousClock.Instant?,
        onConnect: @Sendable (IMAPClient) async -> Void = { _ in },
        onReconnect: @Sendable (MailboxError) -> Void = { _ in },
        consumer: @escaping @Sendable (FetchedMessage) async throws -> Bool
    ) async throws {
        let seen = SeenSources()
        var backoff: Duration = .seconds(1)
        while true {
            do {
                let finished = try await withConnection(options) { client -> Bool in
                    backoff = .seconds(1)
                    await onConnect(client)
                    let stopped = StopFlag()
                    try await client.watch(query, until: deadline) { m in
                        guard seen.insert(m.source) else { return true }
                        let goOn = try await consumer(m)
                        if !goOn { stopped.set() }
                        return goOn
                    }
                    return stopped.isSet || deadline.map { ContinuousClock.now >= $0 } ?? false
                }
                if finished { return }
            } catch let e as MailboxError where [.connectionClosed, .timeout, .connectFailed].contains(e.kind) {
                onReconnect(e)
                if let deadline, ContinuousClock.now + backoff >= deadline { return }
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(60))
            }
        }
    }
}

/// The sources already handed out by a reconnecting watcher.
final class SeenSources: Sendable {
    private let set = NIOLockedValueBox<Set<String>>([])
    /// True when `source` is new.
    func insert(_ source: String) -> Bool { set.withLockedValue { $0.insert(source).inserted } }
}

final class StopFlag: Sendable {
    private let value = NIOLockedValueBox(false)
    func set() { value.withLockedValue { $0 = true } }
    var isSet: Bool { value.withLockedValue { $0 } }
}
