/// POP3 commands (RFC 1939, 2449, 2595, 5034).
public enum POP3Command: Hashable, Sendable {
    case capa
    case stls
    case user(String)
    case pass(String)
    /// `AUTH PLAIN <base64>` (RFC 5034, initial response).
    case authPlain(user: String, password: String)
    case stat
    case list
    case uidl
    case uidlOne(Int)
    case retr(Int)
    case top(Int, lines: Int)
    case dele(Int)
    case rset
    case noop
    case quit

    /// Whether an `+OK` to this command is followed by lines and a `.`.
    public var isMultiLine: Bool {
        switch self {
        case .capa, .list, .uidl, .retr, .top: return true
        default: return false
        }
    }

    public var carriesCredentials: Bool {
        switch self {
        case .pass, .authPlain: return true
        default: return false
        }
    }

    public func line() throws(POP3ClientStateMachine.MachineError) -> String {
        func arg(_ s: String) throws(POP3ClientStateMachine.MachineError) -> String {
            guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
                throw POP3ClientStateMachine.MachineError(.invalidArgument)
            }
            return s
        }
        switch self {
        case .capa: return "CAPA"
        case .stls: return "STLS"
        case .user(let u): return "USER \(try arg(u))"
        case .pass(let p): return "PASS \(try arg(p))"
        case .authPlain(let u, let p):
            _ = try arg(u)
            _ = try arg(p)
            return "AUTH PLAIN \(IMAPCommandEncoder.plainResponse(user: u, password: p))"
        case .stat: return "STAT"
        case .list: return "LIST"
        case .uidl: return "UIDL"
        case .uidlOne(let n): return "UIDL \(n)"
        case .retr(let n): return "RETR \(n)"
        case .top(let n, let k): return "TOP \(n) \(k)"
        case .dele(let n): return "DELE \(n)"
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        }
    }

    /// The line for transcripts: `PASS <redacted>`, `AUTH PLAIN <redacted>`.
    public var redactedLine: String {
        switch self {
        case .pass: return "PASS <redacted>"
        case .authPlain: return "AUTH PLAIN <redacted>"
        default: return (try? line()) ?? "<invalid>"
        }
    }
}

/// The client side of one POP3 session as a value type: AUTHORIZATION →
/// TRANSACTION → UPDATE (entered by QUIT, which alone commits deletions).
/// STLS is allowed once, before authentication; credentials need TLS unless
/// the policy allows plaintext. One command at a time.
public struct POP3ClientStateMachine: Sendable {
    public struct Policy: Hashable, Sendable {
        public var allowPlaintextAuth: Bool
        public init(allowPlaintextAuth: Bool = false) { self.allowPlaintextAuth = allowPlaintextAuth }
    }

    public enum State: Hashable, Sendable {
        case awaitingGreeting
        case authorization
        /// STLS answered +OK: nothing may be sent until the handshake is done.
        case awaitingTLSHandshake
        case transaction
        /// QUIT answered in the transaction state: deletions are committed.
        case update
        case closed
    }

    public enum Event: Hashable, Sendable {
        case greeting(POP3Reply)
        case completed(POP3Command, POP3Reply)
        /// +OK to STLS: start the handshake before reading on.
        case startTLS(POP3Reply)
    }

    public struct MachineError: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Code: Hashable, Sendable {
            case outOfOrder(String)
            case plaintextAuthRefused
            case busy
            case invalidArgument
            case unexpectedReply
        }
        public let code: Code
        public init(_ code: Code) { self.code = code }
        public var description: String {
            switch code {
            case .outOfOrder(let s): return "command out of order: \(s)"
            case .plaintextAuthRefused:
                return
                    "credentials are never sent over a connection without TLS (allowPlaintextAuth / --allow-plaintext-auth for test servers)"
            case .busy: return "a command is still running"
            case .invalidArgument: return "an argument is empty or holds control characters"
            case .unexpectedReply: return "a reply arrived while no command was waiting"
            }
        }
    }

    public let policy: Policy
    public private(set) var state: State = .awaitingGreeting
    public private(set) var tlsActive: Bool
    public private(set) var stlsUsed = false
    /// CAPA lines, upper-cased keyword first; nil when unknown.
    public private(set) var capabilities: [String]?
    /// Message numbers marked with DELE in this session.
    public private(set) var markedForDeletion: Set<Int> = []
    /// Deletions committed by QUIT.
    public private(set) var committedDeletions: Set<Int> = []
    private var pending: POP3Command?
    private var userSent = false

    public init(policy: Policy = Policy(), implicitTLS: Bool = false) {
        self.policy = policy
        self.tlsActive = implicitTLS
    }

    public func has(_ capability: String) -> Bool {
        let c = capability.uppercased()
        return capabilities?.contains { $0.uppercased() == c || $0.uppercased().hasPrefix(c + " ") } ?? false
    }

    public var saslMechanisms: [String] {
        guard let line = capabilities?.first(where: { $0.uppercased().hasPrefix("SASL ") }) else { return [] }
        return line.split(separator: " ").dropFirst().map { $0.uppercased() }
    }

    public mutating func send(_ command: POP3Command) throws(MachineError) -> [UInt8] {
        guard pending == nil else { throw MachineError(.busy) }
        switch state {
        case .awaitingGreeting: throw MachineError(.outOfOrder("nothing may be sent before the greeting"))
        case .awaitingTLSHandshake: throw MachineError(.outOfOrder("nothing may be sent before the TLS handshake"))
        case .update, .closed: throw MachineError(.outOfOrder("the session is over"))
        case .authorization:
            switch command {
            case .capa, .quit, .noop: break
            case .stls:
                guard !tlsActive, !stlsUsed else { throw MachineError(.outOfOrder("STLS only once, and not over TLS")) }
            case .user, .authPlain:
                guard tlsActive || policy.allowPlaintextAuth else { throw MachineError(.plaintextAuthRefused) }
            case .pass:
                guard tlsActive || policy.allowPlaintextAuth else { throw MachineError(.plaintextAuthRefused) }
                guard userSent else { throw MachineError(.outOfOrder("PASS must follow an accepted USER")) }
            default:
                throw MachineError(.outOfOrder("\(command.redactedLine) needs a logged-in session"))
            }
        case .transaction:
            switch command {
            case .stls, .user, .pass, .authPlain: throw MachineError(.outOfOrder("already logged in"))
            default: break
            }
        }
        let bytes = Array((try command.line() + "\r\n").utf8)
        pending = command
        return bytes
    }

    public mutating func received(_ reply: POP3Reply) throws(MachineError) -> Event {
        if state == .awaitingGreeting {
            guard reply.isOK else {
                state = .closed
                return .greeting(reply)
            }
            state = .authorization
            return .greeting(reply)
        }
        guard let command = pending else { throw MachineError(.unexpectedReply) }
        pending = nil
        switch command {
        case .capa:
            if reply.isOK { capabilities = reply.lines }
        case .stls:
            if reply.isOK {
                stlsUsed = true
                state = .awaitingTLSHandshake
                return .startTLS(reply)
            }
        case .user:
            userSent = reply.isOK
        case .pass, .authPlain:
            userSent = false
            if reply.isOK {
                state = .transaction
                capabilities = nil
            }
        case .dele(let n):
            if reply.isOK { markedForDeletion.insert(n) }
        case .rset:
            if reply.isOK { markedForDeletion = [] }
        case .quit:
            if state == .transaction, reply.isOK {
                committedDeletions = markedForDeletion
                state = .update
            } else {
                state = .closed
            }
        default:
            break
        }
        return .completed(command, reply)
    }

    /// The handshake after STLS finished: back to AUTHORIZATION, CAPA forgotten.
    public mutating func tlsEstablished() {
        guard state == .awaitingTLSHandshake else { return }
        state = .authorization
        tlsActive = true
        capabilities = nil
    }
}

extension POP3Command: CustomStringConvertible, CustomDebugStringConvertible {
    /// The command line with secrets replaced by `<redacted>`.
    public var description: String { redactedLine }
    public var debugDescription: String { "POP3Command(\(redactedLine))" }
}
