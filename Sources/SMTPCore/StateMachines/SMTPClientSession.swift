/// The client side of one SMTP session as a value type: it checks that each
/// command is allowed now (order, advertised extensions, TLS before AUTH,
/// PIPELINING batch rules), encodes it, pairs replies with commands by count
/// (RFC 2920 §3.1), and tracks capabilities, TLS and the open transaction.
/// It performs no I/O.
public struct SMTPClientSession: Sendable {
    public struct Policy: Hashable, Sendable {
        /// Send AUTH over a connection without TLS (loopback test servers).
        public var allowPlaintextAuth: Bool
        public init(allowPlaintextAuth: Bool = false) { self.allowPlaintextAuth = allowPlaintextAuth }
    }

    public enum State: Hashable, Sendable {
        /// Connected; nothing may be sent before the final greeting line.
        case awaitingGreeting
        /// Greeted (or back here after TLS); EHLO/HELO next.
        case greeted
        /// EHLO/HELO answered with 250.
        case ready
        /// STARTTLS answered 220: nothing may be sent until the handshake is done.
        case awaitingTLSHandshake
        /// DATA answered 354: the message goes next.
        case awaitingMessage
        case closed
    }

    /// What a reply meant, for the driver.
    public enum Outcome: Hashable, Sendable {
        case greeting(SMTPReply)
        case reply(SMTPCommand, SMTPReply)
        /// The final reply after the message content.
        case endOfData(SMTPReply)
        /// 220 to STARTTLS: start the handshake now, before reading anything else.
        case startTLS(SMTPReply)
        /// 421, or 221 to QUIT: the server closes.
        case closing(SMTPReply)
    }

    public struct SessionError: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Code: Hashable, Sendable {
            case outOfOrder(String)
            case extensionNotOffered(String)
            case plaintextAuthRefused
            case pipeliningNotOffered
            case unexpectedReply
            case syntax(SMTPSyntaxError)
        }
        public let code: Code
        public init(_ code: Code) { self.code = code }

        public var description: String {
            switch code {
            case .outOfOrder(let what): return "command out of order: \(what)"
            case .extensionNotOffered(let k): return "the server does not advertise \(k)"
            case .plaintextAuthRefused:
                return "AUTH refused over a connection without TLS (use --allow-plaintext-auth for test servers)"
            case .pipeliningNotOffered: return "several commands in one batch need PIPELINING"
            case .unexpectedReply: return "reply received while no command was waiting for one"
            case .syntax(let e): return e.description
            }
        }
    }

    private enum Expectation: Hashable, Sendable {
        case command(SMTPCommand)
        case endOfData
    }

    public let policy: Policy
    public private(set) var state: State = .awaitingGreeting
    public private(set) var capabilities: EHLOCapabilities?
    /// True when the server only took HELO: no extensions.
    public private(set) var usedHELO = false
    public private(set) var tlsActive: Bool
    public private(set) var authenticated = false
    /// MAIL was sent in the open transaction.
    public private(set) var mailSent = false
    public private(set) var mailAccepted = false
    public private(set) var acceptedRecipients = 0
    private var smtpUTF8Transaction = false
    private var pending: [Expectation] = []
    /// The greeting was not 2xx (554 "no service"): only QUIT may follow.
    private var serviceRefused = false
    /// A 334 challenge waits for exactly one AUTH response line.
    private var authChallengePending = false

    public init(policy: Policy = Policy(), implicitTLS: Bool = false) {
        self.policy = policy
        self.tlsActive = implicitTLS
    }

    /// Replies still owed by the server.
    public var outstandingReplies: Int { pending.count }

    /// Validates and encodes a batch of commands (one command, or a pipelined batch).
    public mutating func send(_ commands: [SMTPCommand]) throws -> [UInt8] {
        guard !commands.isEmpty else { return [] }
        switch state {
        case .awaitingGreeting: throw SessionError(.outOfOrder("nothing may be sent before the 220 greeting"))
        case .awaitingTLSHandshake: throw SessionError(.outOfOrder("nothing may be sent before the TLS handshake"))
        case .awaitingMessage: throw SessionError(.outOfOrder("the message content must follow 354"))
        case .closed: throw SessionError(.outOfOrder("the session is closed"))
        case .greeted, .ready: break
        }
        if serviceRefused, commands.contains(where: { $0 != .quit }) {
            throw SessionError(.outOfOrder("the server refused service in its greeting: only QUIT may follow"))
        }
        if authChallengePending, commands.count != 1 || commands[0].verb != .authResponse {
            throw SessionError(.outOfOrder("a 334 challenge must be answered first (\"*\" aborts)"))
        }
        let batch =
            pending.compactMap { e -> SMTPCommand? in if case .command(let c) = e { return c } else { return nil } }
            + commands
        if batch.count > 1 || pending.contains(.endOfData) {
            guard capabilities?.pipelining == true else { throw SessionError(.pipeliningNotOffered) }
            for c in batch.dropLast() where !c.mayBePipelinedMidBatch {
                throw SessionError(.outOfOrder("\(c.verb.rawValue) may only end a pipelined batch"))
            }
        }
        var out: [UInt8] = []
        var copy = self
        for command in commands {
            try copy.check(command)
            do {
                out += try command.encode()
            } catch let e as SMTPSyntaxError {
                throw SessionError(.syntax(e))
            }
            copy.pending.append(.command(command))
        }
        self = copy
        return out
    }

    public mutating func send(_ command: SMTPCommand) throws -> [UInt8] {
        try send([command])
    }

    /// Encodes the message after 354 (dot-stuffed, with the final dot).
    public mutating func sendMessage(_ message: [UInt8]) throws -> [UInt8] {
        guard state == .awaitingMessage else {
            throw SessionError(.outOfOrder("message content without a 354 reply to DATA"))
        }
        let bytes: [UInt8]
        do { bytes = try DataEncoder.encode(message) } catch let e as SMTPSyntaxError { throw SessionError(.syntax(e)) }
        state = .ready
        pending.append(.endOfData)
        // The final dot ends the transaction on our side: no RCPT or DATA may
        // join it, and a new MAIL may follow in the same batch (RFC 2920 §3.1).
        resetTransaction()
        return bytes
    }

    /// The TLS handshake after STARTTLS finished: back to the greeted state,
    /// with the old EHLO reply forgotten (RFC 3207 §4.2).
    public mutating func tlsEstablished() {
        guard state == .awaitingTLSHandshake else { return }
        state = .greeted
        capabilities = nil
        usedHELO = false
        tlsActive = true
        authenticated = false
        authChallengePending = false
        resetTransaction()
    }

    /// The server's reply to the oldest outstanding command.
    public mutating func receive(_ reply: SMTPReply) throws -> Outcome {
        if state == .awaitingGreeting {
            if reply.code == 421 {
                state = .closed
                return .closing(reply)
            }
            // 220 opens the session; 554 means "no service" but QUIT is still expected.
            state = .greeted
            serviceRefused = !reply.isPositive
            return .greeting(reply)
        }
        guard !pending.isEmpty else {
            if reply.code == 421 {
                state = .closed
                return .closing(reply)
            }
            throw SessionError(.unexpectedReply)
        }
        let expectation = pending.removeFirst()
        if reply.code == 421 {
            state = .closed
            pending.removeAll()
            return .closing(reply)
        }
        guard case .command(let command) = expectation else {
            // The transaction was closed when the dot went out; a new one may
            // already be pipelined behind it.
            return .endOfData(reply)
        }
        switch command {
        case .ehlo:
            if reply.code == 250 {
                capabilities = EHLOCapabilities(reply: reply)
                usedHELO = false
                state = .ready
                resetTransaction()
            }
        case .helo:
            if reply.code == 250 {
                capabilities = EHLOCapabilities(heloReply: reply)
                usedHELO = true
                state = .ready
                resetTransaction()
            }
        case .startTLS:
            if reply.code == 220 {
                state = .awaitingTLSHandshake
                pending.removeAll()
                return .startTLS(reply)
            }
        case .auth, .authResponse:
            if reply.code == 235 { authenticated = true }
            authChallengePending = reply.code == 334
        case .mail:
            // Replies to an old transaction must not touch the one pipelined behind it.
            if laterTransactionStarted { break }
            if reply.isPositive {
                mailAccepted = true
            } else if !pending.contains(where: { if case .command(.rcpt) = $0 { return true } else { return false } }) {
                resetTransaction()
            }
        case .rcpt:
            if reply.isPositive && !laterTransactionStarted { acceptedRecipients += 1 }
        case .data:
            if reply.code == 354 {
                state = .awaitingMessage
            }
        case .rset:
            // Already reset when RSET was sent; commands pipelined behind it
            // belong to a new transaction that this reply must not wipe.
            break
        case .quit:
            state = .closed
            return .closing(reply)
        case .noop, .vrfy:
            break
        }
        return .reply(command, reply)
    }

    /// A RSET, MAIL, EHLO or HELO still owed a reply: it ended the transaction
    /// the current reply belongs to when it was sent.
    private var laterTransactionStarted: Bool {
        pending.contains { e in
            guard case .command(let c) = e else { return false }
            return [.rset, .mail, .ehlo, .helo].contains(c.verb)
        }
    }

    private mutating func resetTransaction() {
        mailSent = false
        mailAccepted = false
        acceptedRecipients = 0
        smtpUTF8Transaction = false
    }

    private mutating func check(_ command: SMTPCommand) throws {
        let caps = capabilities
        switch command {
        case .ehlo, .helo:
            resetTransaction()
        case .startTLS:
            guard state == .ready, !mailSent else {
                throw SessionError(.outOfOrder("STARTTLS needs a completed EHLO and no open transaction"))
            }
            guard !tlsActive else { throw SessionError(.outOfOrder("TLS is already active")) }
            guard caps?.startTLS == true else { throw SessionError(.extensionNotOffered("STARTTLS")) }
        case .auth(let mechanism, _):
            guard state == .ready, !mailSent else {
                throw SessionError(.outOfOrder("AUTH needs a completed EHLO and no open transaction"))
            }
            guard !authenticated else { throw SessionError(.outOfOrder("already authenticated")) }
            guard let caps, caps.authMechanisms.contains(mechanism.uppercased()) else {
                throw SessionError(.extensionNotOffered("AUTH \(mechanism.uppercased())"))
            }
            guard tlsActive || policy.allowPlaintextAuth else { throw SessionError(.plaintextAuthRefused) }
        case .authResponse:
            guard authChallengePending else { throw SessionError(.outOfOrder("AUTH response without a 334 challenge")) }
            guard tlsActive || policy.allowPlaintextAuth else { throw SessionError(.plaintextAuthRefused) }
            authChallengePending = false
        case .mail(_, let p):
            guard state == .ready, let caps else {
                throw SessionError(.outOfOrder("MAIL needs a completed EHLO or HELO"))
            }
            guard !mailSent else {
                throw SessionError(.outOfOrder("MAIL inside an open transaction (send RSET first)"))
            }
            if p.usesDSN && !caps.dsn { throw SessionError(.extensionNotOffered("DSN")) }
            if p.size != nil && caps.sizeLimit == nil { throw SessionError(.extensionNotOffered("SIZE")) }
            if p.body == .eightBitMIME && !caps.eightBitMIME { throw SessionError(.extensionNotOffered("8BITMIME")) }
            if p.body == .sevenBit && !caps.eightBitMIME { throw SessionError(.extensionNotOffered("8BITMIME")) }
            if p.smtpUTF8 && !caps.smtpUTF8 { throw SessionError(.extensionNotOffered("SMTPUTF8")) }
            if case .mailbox(let m) = command.mailPath, m.requiresSMTPUTF8, !p.smtpUTF8 {
                throw SessionError(.extensionNotOffered("SMTPUTF8 (non-ASCII sender)"))
            }
            mailSent = true
            smtpUTF8Transaction = p.smtpUTF8
        case .rcpt(let mailbox, let p):
            guard mailSent, let caps else { throw SessionError(.outOfOrder("RCPT before MAIL")) }
            if p.usesDSN && !caps.dsn { throw SessionError(.extensionNotOffered("DSN")) }
            if mailbox.requiresSMTPUTF8 && !smtpUTF8Transaction {
                throw SessionError(.extensionNotOffered("SMTPUTF8 (non-ASCII recipient)"))
            }
        case .data:
            guard mailSent else { throw SessionError(.outOfOrder("DATA before MAIL")) }
        case .rset:
            resetTransaction()
        case .noop, .quit, .vrfy:
            break
        }
    }
}

extension SMTPCommand {
    var mailPath: ReversePath? {
        if case .mail(let p, _) = self { return p }
        return nil
    }
}
