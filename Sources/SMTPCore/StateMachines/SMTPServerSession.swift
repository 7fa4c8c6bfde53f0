/// What the listener learned about one accepted message: the envelope.
public struct SMTPEnvelope: Hashable, Sendable {
    public struct Recipient: Hashable, Sendable {
        public var path: ForwardPath
        public var parameters: RcptParameters
        public init(path: ForwardPath, parameters: RcptParameters) {
            self.path = path
            self.parameters = parameters
        }
    }

    public var reversePath: ReversePath
    public var mailParameters: MailParameters
    public var recipients: [Recipient]
    /// The EHLO/HELO argument as the client gave it.
    public var heloName: String
    /// `SMTP`, `ESMTP` or `ESMTPS` (RFC 3848), for the `Received:` header.
    public var protocolName: String

    public init(
        reversePath: ReversePath, mailParameters: MailParameters, recipients: [Recipient], heloName: String,
        protocolName: String
    ) {
        self.reversePath = reversePath
        self.mailParameters = mailParameters
        self.recipients = recipients
        self.heloName = heloName
        self.protocolName = protocolName
    }
}

/// The listener's SMTP session as a value type: bytes in, actions out.
///
/// The caller feeds every received octet to `receive(_:)`, then calls
/// `next()` until it returns nil, executing each action in order (replies are
/// collected and flushed when the input runs dry: PIPELINING, RFC 2920).
/// After `.acceptMessage` the session waits: nothing more is processed until
/// the caller has stored the message durably and called `messageStored(id:)`
/// (or `messageNotStored()`), whose action is the `250` (or `451`).
///
/// Enforced here: command order (503), command line length (longer than
/// `maxLineLength` octets → `500 5.5.2`, resync at the next CRLF without
/// acting on the line), lone CR/LF in commands, message size (SIZE and the
/// real data, 552 5.3.4), recipients per message (452 4.5.3), recipients only
/// in the configured domains or `<Postmaster>` (else 550 5.7.1), the
/// smuggling-safe end of data, and the STARTTLS plaintext-injection rule
/// (buffered input is discarded when STARTTLS is accepted).
///
/// - SeeAlso: RFC 5321 §3, §4.1, §4.3.2; RFC 3207; RFC 2920
public struct SMTPServerSession: Sendable {
    /// What the session does with one recipient in an accepted domain
    /// (the recipient policy; the default accepts everyone).
    public enum RecipientDisposition: Hashable, Sendable {
        /// `250 2.1.5`.
        case accept
        /// `250 2.1.5`, and every later reply of this connection is to be
        /// delayed by the caller (`repliesDelayed` becomes true).
        case acceptWithSlowReplies
        /// Refused with this reply (e.g. `550 5.1.1`).
        case refuse(SMTPReply)

        /// `550 5.1.1 <addr>: Recipient address rejected: User unknown`.
        public static func unknownUser(_ mailbox: SMTPMailbox) -> RecipientDisposition {
            .refuse(SMTPReply(code: 550, lines: ["5.1.1 <\(mailbox)>: Recipient address rejected: User unknown"]))
        }
    }

    /// A recipient policy by local part: the key is the local part before
    /// an optional `+tag`, lower-cased (`Reject+x@d` → `reject`).
    public struct RecipientPolicy: Hashable, Sendable {
        public enum Rule: Hashable, Sendable {
            case accept
            case acceptWithSlowReplies
            /// `550 5.1.1 ... User unknown`.
            case refuseUnknownUser
        }

        public var rules: [String: Rule]

        public init(_ rules: [String: Rule] = [:]) {
            self.rules = Dictionary(rules.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, b in b })
        }

        /// The local part before `+`, lower-cased.
        public static func key(of mailbox: SMTPMailbox) -> String {
            let local = mailbox.unquotedLocalPart
            let base =
                local.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
                ?? local
            return base.lowercased()
        }

        public func disposition(for mailbox: SMTPMailbox) -> RecipientDisposition {
            switch rules[Self.key(of: mailbox)] ?? .accept {
            case .accept: return .accept
            case .acceptWithSlowReplies: return .acceptWithSlowReplies
            case .refuseUnknownUser: return .unknownUser(mailbox)
            }
        }
    }

    public struct Configuration: Hashable, Sendable {
        /// Our name in the greeting, EHLO reply and `Received:`.
        public var hostname: String
        /// Domains we accept mail for (case-insensitive, exact match).
        public var domains: Set<String>
        public var maxMessageSize: Int
        public var maxRecipients: Int
        /// Longest command line accepted, CRLF not counted (at least 2048).
        public var maxLineLength: Int
        /// Whether STARTTLS can be offered (a certificate is configured).
        public var startTLSAvailable: Bool
        /// Bad commands tolerated before `421 4.7.0` and close.
        public var maxErrors: Int
        /// Advertise `DSN` (RFC 3461) in the EHLO reply. Off by default: the
        /// report listener records DSN parameters but makes no reports.
        public var advertiseDSN: Bool = false
        /// Per-recipient answers for addresses in `domains` (default: accept all).
        public var recipientPolicy = RecipientPolicy()
        /// Commands that move no mail (EHLO, HELO, NOOP, RSET, VRFY, unknown)
        /// allowed between two accepted messages before `421 4.7.0` and close,
        /// as Postfix's `smtpd_junk_command_limit`.
        public var maxJunkCommands = 100

        public init(
            hostname: String, domains: [String], maxMessageSize: Int = 10 * 1024 * 1024, maxRecipients: Int = 100,
            maxLineLength: Int = 2048, startTLSAvailable: Bool = true, maxErrors: Int = 20
        ) {
            self.hostname = hostname
            self.domains = Set(domains.map { $0.lowercased() })
            self.maxMessageSize = maxMessageSize
            self.maxRecipients = maxRecipients
            self.maxLineLength = max(maxLineLength, 2048)
            self.startTLSAvailable = startTLSAvailable
            self.maxErrors = maxErrors
        }
    }

    public enum Action: Hashable, Sendable {
        /// Write this reply.
        case reply(SMTPReply)
        /// Write this reply (220), then insert TLS at the front of the
        /// pipeline at once. Buffered plaintext has already been dropped.
        case replyThenStartTLS(SMTPReply)
        /// Store the message durably, then call `messageStored(id:)`.
        case acceptMessage(SMTPEnvelope, [UInt8])
        /// Write this reply, then close the connection.
        case replyThenClose(SMTPReply)
    }

    /// What the session waits for, so the caller can pick the timeout.
    public enum Phase: Hashable, Sendable {
        case command
        case data
        case storing
        case tlsHandshake
        case closed
    }

    private struct Greeting: Hashable, Sendable {
        var name: String
        var esmtp: Bool
    }

    private struct Transaction: Hashable, Sendable {
        var reversePath: ReversePath
        var parameters: MailParameters
        var recipients: [SMTPEnvelope.Recipient] = []
        var rejectedRecipients = 0
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .command
    public private(set) var tlsActive = false
    /// Plaintext octets dropped when STARTTLS was accepted (CVE-2011-0411).
    public private(set) var discardedPlaintextOctets = 0
    /// Messages accepted on this connection.
    public private(set) var messagesAccepted = 0
    /// A recipient with `.acceptWithSlowReplies` was accepted: the caller
    /// delays every reply from now on (the simulator's `slow`).
    public private(set) var repliesDelayed = false

    private var greeting: Greeting?
    private var transaction: Transaction?
    private var decoder = EndOfDataDecoder()
    private var input: [UInt8] = []
    private var readIndex = 0
    private var scanIndex = 0
    private var discardingLongLine = false
    private var errors = 0

    /// Refuses recipients that cannot be reports for us (nil: accept every
    /// recipient in `domains`).
    public var recipientGate: RecipientGate?
    /// Set by the caller before input is processed: false while the store
    /// lacks free space, so DATA is answered `452 4.3.1` instead of `354`.
    public var storageAvailable = true
    private var junkCommands = 0

    public init(configuration: Configuration, recipientGate: RecipientGate? = nil) {
        self.configuration = configuration
        self.recipientGate = recipientGate
    }

    // MARK: events

    /// The 220 greeting, sent when the connection opens.
    public func greetingReply() -> SMTPReply {
        SMTPReply(code: 220, lines: ["\(configuration.hostname) ESMTP roundtrip report listener"])
    }

    /// Octets received from the client (after TLS decryption, if any).
    public mutating func receive<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard phase != .closed else { return }
        input.append(contentsOf: bytes)
    }

    /// Octets received and not yet processed.
    public var bufferedByteCount: Int { input.count - readIndex }

    /// The next thing to do, or nil when more input (or a storage result,
    /// or the TLS handshake) is needed.
    public mutating func next() -> Action? {
        switch phase {
        case .closed, .tlsHandshake, .storing:
            return nil
        case .data:
            return nextInData()
        case .command:
            return nextCommand()
        }
    }

    /// The message from `.acceptMessage` is on disk: answer 250.
    public mutating func messageStored(id: String) -> Action {
        guard phase == .storing else { return .reply(Self.reply(503, "5.5.1 No message pending")) }
        phase = .command
        transaction = nil
        messagesAccepted += 1
        junkCommands = 0
        return .reply(Self.reply(250, "2.0.0 Ok: queued as \(id)"))
    }

    /// Storing failed: answer 451, the client will retry later.
    public mutating func messageNotStored() -> Action {
        guard phase == .storing else { return .reply(Self.reply(503, "5.5.1 No message pending")) }
        phase = .command
        transaction = nil
        return .reply(Self.reply(451, "4.3.0 Local error in processing: message not stored, try again later"))
    }

    /// The TLS handshake after STARTTLS completed: back to the greeted state
    /// without a name (RFC 3207 §4.2), STARTTLS no longer offered.
    public mutating func tlsHandshakeCompleted() {
        guard phase == .tlsHandshake else { return }
        tlsActive = true
        greeting = nil
        transaction = nil
        phase = .command
    }

    /// The timeout of the current phase fired.
    public mutating func timedOut() -> Action {
        phase = .closed
        return .replyThenClose(Self.reply(421, "4.4.2 \(configuration.hostname) Error: timeout exceeded"))
    }

    /// The session lived longer than the listener allows.
    public mutating func lifetimeExceeded() -> Action {
        phase = .closed
        return .replyThenClose(Self.reply(421, "4.4.2 \(configuration.hostname) Error: session lasted too long"))
    }

    /// The listener shuts down and this session is between transactions.
    public mutating func shutdown() -> Action {
        phase = .closed
        return .replyThenClose(
            Self.reply(421, "4.3.2 \(configuration.hostname) Service shutting down, closing connection"))
    }

    /// Whether a transaction is open (MAIL given, message not finished).
    public var isInTransaction: Bool { transaction != nil || phase == .data || phase == .storing }

    // MARK: data

    private mutating func nextInData() -> Action? {
        let result = decoder.decode(input[readIndex...])
        switch result {
        case .needMoreData:
            readIndex = input.count
            compact()
            return nil
        case .finished(let consumed):
            readIndex += consumed
            compact()
            guard let txn = transaction else {
                phase = .command
                return .reply(Self.reply(503, "5.5.1 No transaction"))
            }
            if decoder.hasBareLineEnding {
                phase = .command
                transaction = nil
                decoder = EndOfDataDecoder()
                return .reply(Self.reply(550, "5.5.2 Message refused: bare CR or LF in data (only CRLF ends a line)"))
            }
            if decoder.exceededSizeLimit {
                phase = .command
                transaction = nil
                decoder = EndOfDataDecoder()
                return .reply(
                    Self.reply(552, "5.3.4 Message size exceeds fixed limit of \(configuration.maxMessageSize) octets"))
            }
            let message = decoder.message
            decoder = EndOfDataDecoder()
            phase = .storing
            let envelope = SMTPEnvelope(
                reversePath: txn.reversePath, mailParameters: txn.parameters, recipients: txn.recipients,
                heloName: greeting?.name ?? "",
                protocolName: (greeting?.esmtp ?? false ? "ESMTP" : "SMTP") + (tlsActive ? "S" : "")
            )
            return .acceptMessage(envelope, message)
        }
    }

    // MARK: commands

    private mutating func nextCommand() -> Action? {
        while true {
            guard let crlf = findCRLF() else {
                // No complete line. Past the limit: drop what we have and
                // resynchronise at the next CRLF (keep a trailing CR).
                let pending = input.count - readIndex
                if pending > configuration.maxLineLength + 1 {
                    discardingLongLine = true
                    let keepCR = input.last == 0x0D
                    readIndex = keepCR ? input.count - 1 : input.count
                    scanIndex = readIndex
                    compact()
                }
                return nil
            }
            let line = Array(input[readIndex..<crlf])
            readIndex = crlf + 2
            scanIndex = readIndex
            compact()
            if discardingLongLine || line.count > configuration.maxLineLength {
                discardingLongLine = false
                return error(Self.reply(500, "5.5.2 Line too long (more than \(configuration.maxLineLength) octets)"))
            }
            return handle(line)
        }
    }

    private mutating func findCRLF() -> Int? {
        let start = max(scanIndex, readIndex)
        guard input.count >= 2, start < input.count - 1 else { return nil }
        var i = start
        let end = input.count - 1
        while i < end {
            if input[i] == 0x0D && input[i + 1] == 0x0A { return i }
            i += 1
        }
        scanIndex = end
        return nil
    }

    private mutating func compact() {
        if readIndex == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 65536)
            readIndex = 0
            scanIndex = 0
        } else if readIndex > 16384 {
            input.removeFirst(readIndex)
            scanIndex -= readIndex
            readIndex = 0
        }
    }

    private mutating func error(_ reply: SMTPReply) -> Action {
        errors += 1
        if errors > configuration.maxErrors {
            phase = .closed
            return .replyThenClose(Self.reply(421, "4.7.0 \(configuration.hostname) Error: too many errors"))
        }
        return .reply(reply)
    }

    private mutating func handle(_ line: [UInt8]) -> Action {
        let command: SMTPServerCommand
        switch ServerCommandParser.parse(line) {
        case .failure(let e): return error(e.reply)
        case .success(let c): command = c
        }
        switch command {
        case .ehlo, .helo, .noop, .rset, .vrfy, .notImplemented:
            junkCommands += 1
            if junkCommands > configuration.maxJunkCommands {
                phase = .closed
                return .replyThenClose(
                    Self.reply(421, "4.7.0 \(configuration.hostname) Error: too many commands without mail"))
            }
        default: break
        }
        switch command {
        case .ehlo(let name):
            greeting = Greeting(name: name, esmtp: true)
            transaction = nil
            return .reply(ehloReply(name))
        case .helo(let name):
            greeting = Greeting(name: name, esmtp: false)
            transaction = nil
            return .reply(SMTPReply(code: 250, lines: [configuration.hostname]))
        case .mail(let path, let params):
            guard let greeting else { return error(Self.reply(503, "5.5.1 Send EHLO or HELO first")) }
            guard transaction == nil else { return error(Self.reply(503, "5.5.1 Nested MAIL command")) }
            if !greeting.esmtp && params != MailParameters() {
                return error(Self.reply(555, "5.5.4 MAIL parameters need EHLO"))
            }
            if let size = params.size, size > configuration.maxMessageSize {
                return .reply(
                    Self.reply(552, "5.3.4 Message size exceeds fixed limit of \(configuration.maxMessageSize) octets"))
            }
            transaction = Transaction(reversePath: path, parameters: params)
            return .reply(Self.reply(250, "2.1.0 Ok"))
        case .rcpt(let path, let params):
            guard var txn = transaction else { return error(Self.reply(503, "5.5.1 Need MAIL before RCPT")) }
            if greeting?.esmtp == false && params != RcptParameters() {
                return error(Self.reply(555, "5.5.4 RCPT parameters need EHLO"))
            }
            if case .mailbox(let m) = path {
                if m.requiresSMTPUTF8 && !txn.parameters.smtpUTF8 {
                    txn.rejectedRecipients += 1
                    transaction = txn
                    return .reply(Self.reply(553, "5.6.7 Non-ASCII recipient address needs SMTPUTF8"))
                }
                guard configuration.domains.contains(m.domain.lowercased()) else {
                    txn.rejectedRecipients += 1
                    transaction = txn
                    return .reply(Self.reply(550, "5.7.1 <\(m)>: Relay access denied"))
                }
            }
            guard txn.recipients.count < configuration.maxRecipients else {
                return .reply(Self.reply(452, "4.5.3 Too many recipients"))
            }
            if case .mailbox(let m) = path, let recipientGate, !recipientGate.accepts(m) {
                txn.rejectedRecipients += 1
                transaction = txn
                return .reply(RecipientGate.refusal(m))
            }
            if case .mailbox(let m) = path {
                switch configuration.recipientPolicy.disposition(for: m) {
                case .accept: break
                case .acceptWithSlowReplies: repliesDelayed = true
                case .refuse(let reply):
                    txn.rejectedRecipients += 1
                    transaction = txn
                    return .reply(reply)
                }
            }
            txn.recipients.append(SMTPEnvelope.Recipient(path: path, parameters: params))
            transaction = txn
            return .reply(Self.reply(250, "2.1.5 Ok"))
        case .data:
            guard let txn = transaction else { return error(Self.reply(503, "5.5.1 Need MAIL command")) }
            guard !txn.recipients.isEmpty else {
                if txn.rejectedRecipients > 0 { return error(Self.reply(554, "5.5.1 No valid recipients")) }
                return error(Self.reply(503, "5.5.1 Need RCPT command"))
            }
            guard storageAvailable else {
                return .reply(Self.reply(452, "4.3.1 Insufficient system storage"))
            }
            phase = .data
            decoder = EndOfDataDecoder(sizeLimit: configuration.maxMessageSize)
            return .reply(SMTPReply(code: 354, lines: ["End data with <CR><LF>.<CR><LF>"]))
        case .rset:
            transaction = nil
            return .reply(Self.reply(250, "2.0.0 Ok"))
        case .noop:
            return .reply(Self.reply(250, "2.0.0 Ok"))
        case .quit:
            phase = .closed
            return .replyThenClose(Self.reply(221, "2.0.0 Bye"))
        case .vrfy:
            return .reply(Self.reply(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery"))
        case .startTLS:
            guard configuration.startTLSAvailable else { return error(Self.reply(454, "4.7.0 TLS not available")) }
            guard !tlsActive else { return error(Self.reply(503, "5.5.1 TLS already active")) }
            guard transaction == nil else {
                return error(Self.reply(503, "5.5.1 STARTTLS not allowed inside a mail transaction"))
            }
            // Anything the client sent after STARTTLS arrived in plaintext:
            // drop it so it is never read as if it came over TLS.
            discardedPlaintextOctets += input.count - readIndex
            input.removeAll()
            readIndex = 0
            scanIndex = 0
            discardingLongLine = false
            greeting = nil
            phase = .tlsHandshake
            return .replyThenStartTLS(SMTPReply(code: 220, lines: ["2.0.0 Ready to start TLS"]))
        case .notImplemented:
            return error(Self.reply(502, "5.5.1 Command not implemented"))
        }
    }

    private func ehloReply(_ name: String) -> SMTPReply {
        var lines = [
            "\(configuration.hostname) greets \(name)", "PIPELINING", "SIZE \(configuration.maxMessageSize)",
            "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
        ]
        if configuration.advertiseDSN { lines.append("DSN") }
        if configuration.startTLSAvailable && !tlsActive { lines.append("STARTTLS") }
        return SMTPReply(code: 250, lines: lines)
    }

    static func reply(_ code: Int, _ text: String) -> SMTPReply {
        SMTPReply(code: code, lines: [text])
    }
}

extension SMTPReply {
    /// The wire bytes of the reply, CRLF after every line.
    public var wireBytes: [UInt8] {
        var out: [UInt8] = []
        for line in wireLines {
            out.append(contentsOf: line.utf8)
            out.append(0x0D)
            out.append(0x0A)
        }
        return out
    }
}
