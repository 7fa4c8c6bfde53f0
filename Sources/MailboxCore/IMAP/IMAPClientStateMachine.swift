/// The client side of one IMAP session as a value type. It checks that each
/// command is allowed now (state, capabilities, TLS before credentials, one
/// command at a time, nothing while IDLE runs), hands out tags, splits
/// synchronising literals, tracks capabilities (forgotten after STARTTLS and
/// after login) and the selected mailbox, and turns responses into events.
/// It performs no I/O.
public struct IMAPClientStateMachine: Sendable {
    public struct Policy: Hashable, Sendable {
        /// Send LOGIN/AUTHENTICATE over a connection without TLS (loopback test servers).
        public var allowPlaintextAuth: Bool
        /// IDLE is ended and re-issued after this long (RFC 2177 asks for < 29 min; we use 25).
        public var idleReissueSeconds: Int
        public init(allowPlaintextAuth: Bool = false, idleReissueSeconds: Int = 25 * 60) {
            self.allowPlaintextAuth = allowPlaintextAuth
            self.idleReissueSeconds = idleReissueSeconds
        }
    }

    public enum State: Hashable, Sendable {
        case awaitingGreeting
        case notAuthenticated
        /// STARTTLS answered OK: nothing may be sent until the handshake is done.
        case awaitingTLSHandshake
        case authenticated
        case selected(String)
        case loggedOut
    }

    /// What a response meant, for the driver.
    public enum Event: Hashable, Sendable {
        /// Untagged data (EXISTS, SEARCH, FETCH, ...), also during IDLE.
        case untagged(IMAPUntaggedResponse)
        /// Send these octets now (the next part after a synchronising literal,
        /// or the AUTHENTICATE PLAIN response).
        case sendContinuation([UInt8])
        /// IDLE is running (the server's `+`).
        case idleStarted
        /// The command finished.
        case completed(IMAPCommand, IMAPTaggedResponse)
        /// STARTTLS was accepted: start the handshake before reading on.
        case startTLS
        /// `* BYE`: the server is closing (expected after LOGOUT).
        case bye(String)
    }

    public struct MachineError: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Code: Hashable, Sendable {
            case outOfOrder(String)
            case capabilityMissing(String)
            case plaintextAuthRefused
            case loginDisabled
            case commandWhileIdle
            case busy
            case unexpectedResponse(String)
            case encoding(IMAPEncodingError)
        }
        public let code: Code
        public init(_ code: Code) { self.code = code }

        public var description: String {
            switch code {
            case .outOfOrder(let s): return "command out of order: \(s)"
            case .capabilityMissing(let c): return "the server does not advertise \(c)"
            case .plaintextAuthRefused:
                return
                    "credentials are never sent over a connection without TLS (allowPlaintextAuth / --allow-plaintext-auth for test servers)"
            case .loginDisabled: return "the server forbids LOGIN here (LOGINDISABLED)"
            case .commandWhileIdle: return "no command may be sent while IDLE runs; send DONE first"
            case .busy: return "a command is still running"
            case .unexpectedResponse(let s): return "unexpected response: \(s)"
            case .encoding(let e): return e.description
            }
        }
    }

    private enum Idle: Hashable, Sendable {
        case off
        /// IDLE sent, waiting for `+`.
        case requested
        case running(since: ContinuousClock.Instant)
        /// DONE sent, waiting for the tagged OK.
        case ending
    }

    private struct Pending: Hashable, Sendable {
        var tag: String
        var command: IMAPCommand
        var remainingParts: [[UInt8]]
        var saslResponse: [UInt8]?
    }

    public let policy: Policy
    public private(set) var state: State = .awaitingGreeting
    /// Upper-cased capability atoms; empty when unknown (re-ask with CAPABILITY).
    public private(set) var capabilities: Set<String> = []
    public private(set) var tlsActive: Bool
    public private(set) var uidValidity: UInt32?
    private var tags = IMAPTagGenerator()
    private var pending: Pending?
    private var idle: Idle = .off

    public init(policy: Policy = Policy(), implicitTLS: Bool = false) {
        self.policy = policy
        self.tlsActive = implicitTLS
    }

    /// IDLE was sent and has not completed yet (requested, running or ending).
    public var isIdling: Bool { idle != .off }

    /// The server confirmed IDLE with `+` and DONE was not sent yet.
    public var idleRunning: Bool {
        if case .running = idle { return true }
        return false
    }
    public var hasPendingCommand: Bool { pending != nil }
    public func has(_ capability: String) -> Bool { capabilities.contains(capability.uppercased()) }

    /// Whether IDLE has run long enough to be ended and re-issued.
    public func idleNeedsReissue(now: ContinuousClock.Instant) -> Bool {
        if case .running(let since) = idle { return now - since >= .seconds(policy.idleReissueSeconds) }
        return false
    }

    /// When the running IDLE must be re-issued.
    public var idleDeadline: ContinuousClock.Instant? {
        if case .running(let since) = idle { return since + .seconds(policy.idleReissueSeconds) }
        return nil
    }

    /// The greeting: `* OK`, `* PREAUTH` or `* BYE`.
    public mutating func receivedGreeting(_ response: IMAPResponse) throws(MachineError)
        -> IMAPUntaggedResponse.ConditionKind
    {
        guard state == .awaitingGreeting else { throw MachineError(.unexpectedResponse("a second greeting")) }
        guard case .untagged(.condition(let kind, let code, _)) = response else {
            throw MachineError(.unexpectedResponse("the greeting is not * OK, * PREAUTH or * BYE"))
        }
        if case .capability(let caps)? = code { setCapabilities(caps) }
        switch kind {
        case .ok: state = .notAuthenticated
        case .preauth: state = .authenticated
        case .bye: state = .loggedOut
        case .no, .bad: throw MachineError(.unexpectedResponse("the greeting is * \(kind.rawValue)"))
        }
        return kind
    }

    /// Validates and encodes a command. Returns the first part to send.
    public mutating func send(_ command: IMAPCommand) throws(MachineError) -> IMAPEncodedCommand {
        guard idle == .off else { throw MachineError(.commandWhileIdle) }
        guard pending == nil else { throw MachineError(.busy) }
        try check(command)
        let tag = tags.next()
        let encoder = IMAPCommandEncoder(literalPlus: has("LITERAL+"))
        let encoded: IMAPEncodedCommand
        do { encoded = try encoder.encode(command, tag: tag) } catch { throw MachineError(.encoding(error)) }
        var p = Pending(tag: tag, command: command, remainingParts: Array(encoded.parts.dropFirst()))
        if case .authenticatePlain(let user, let password, false) = command {
            p.saslResponse = Array((IMAPCommandEncoder.plainResponse(user: user, password: password) + "\r\n").utf8)
        }
        switch command {
        case .idle: idle = .requested
        case .select, .examine: uidValidity = nil
        default: break
        }
        pending = p
        return encoded
    }

    private func check(_ command: IMAPCommand) throws(MachineError) {
        switch state {
        case .awaitingGreeting: throw MachineError(.outOfOrder("nothing may be sent before the greeting"))
        case .awaitingTLSHandshake: throw MachineError(.outOfOrder("nothing may be sent before the TLS handshake"))
        case .loggedOut: throw MachineError(.outOfOrder("the session is over"))
        default: break
        }
        if let needed = command.requiredCapability, !has(needed) {
            // IMAP4rev2 builds in IDLE, MOVE, UIDPLUS and SASL-IR.
            let inRev2: Set<String> = ["IDLE", "MOVE", "UIDPLUS", "SASL-IR"]
            if !(has("IMAP4rev2") && inRev2.contains(needed)) { throw MachineError(.capabilityMissing(needed)) }
        }
        switch command {
        case .capability, .noop, .logout:
            return
        case .startTLS:
            guard state == .notAuthenticated else { throw MachineError(.outOfOrder("STARTTLS only before login")) }
            guard !tlsActive else { throw MachineError(.outOfOrder("TLS is already active")) }
        case .login, .authenticatePlain:
            guard state == .notAuthenticated else { throw MachineError(.outOfOrder("already authenticated")) }
            guard tlsActive || policy.allowPlaintextAuth else { throw MachineError(.plaintextAuthRefused) }
            if case .login = command, has("LOGINDISABLED") { throw MachineError(.loginDisabled) }
            if case .authenticatePlain = command, !has("AUTH=PLAIN") {
                throw MachineError(.capabilityMissing("AUTH=PLAIN"))
            }
        case .select, .examine, .create, .listAll:
            guard state == .authenticated || isSelected else { throw MachineError(.outOfOrder("log in first")) }
        case .uidSearch, .uidFetch, .uidStoreAddFlags, .uidExpunge, .uidMove:
            guard isSelected else { throw MachineError(.outOfOrder("select a mailbox first")) }
        case .idle:
            guard state == .authenticated || isSelected else { throw MachineError(.outOfOrder("log in first")) }
        }
    }

    private var isSelected: Bool {
        if case .selected = state { return true }
        return false
    }

    /// Ends a running IDLE: returns `DONE` CRLF (untagged).
    public mutating func endIdle() throws(MachineError) -> [UInt8] {
        switch idle {
        case .running:
            idle = .ending
            return Array("DONE\r\n".utf8)
        case .requested: throw MachineError(.outOfOrder("IDLE is not running yet (no + from the server)"))
        case .ending: throw MachineError(.outOfOrder("DONE was already sent"))
        case .off: throw MachineError(.outOfOrder("IDLE is not running"))
        }
    }

    /// The TLS handshake after STARTTLS finished: the old capabilities are
    /// forgotten (RFC 9051 §6.2.1).
    public mutating func tlsEstablished() {
        guard state == .awaitingTLSHandshake else { return }
        state = .notAuthenticated
        capabilities = []
        tlsActive = true
    }

    /// One response from the server.
    public mutating func received(_ response: IMAPResponse, now: ContinuousClock.Instant = .now) throws(MachineError)
        -> Event
    {
        switch response {
        case .continuation:
            guard var p = pending else { throw MachineError(.unexpectedResponse("+ with no command waiting")) }
            if p.command == .idle, idle == .requested {
                idle = .running(since: now)
                return .idleStarted
            }
            if !p.remainingParts.isEmpty {
                let next = p.remainingParts.removeFirst()
                pending = p
                return .sendContinuation(next)
            }
            if let sasl = p.saslResponse {
                p.saslResponse = nil
                pending = p
                return .sendContinuation(sasl)
            }
            if case .authenticatePlain = p.command {
                // A second challenge for PLAIN: abort the exchange.
                return .sendContinuation(Array("*\r\n".utf8))
            }
            throw MachineError(.unexpectedResponse("+ while nothing more is to be sent"))
        case .untagged(let u):
            switch u {
            case .capability(let caps): setCapabilities(caps)
            case .condition(.bye, _, let text):
                state = .loggedOut
                return .bye(text)
            case .condition(_, .capability(let caps)?, _): setCapabilities(caps)
            case .condition(_, .uidValidity(let v)?, _): uidValidity = v
            default: break
            }
            return .untagged(u)
        case .tagged(let t):
            guard let p = pending, p.tag == t.tag else {
                throw MachineError(.unexpectedResponse("tagged response \(t.tag) matches no command"))
            }
            pending = nil
            if case .capability(let caps)? = t.code { setCapabilities(caps) }
            switch p.command {
            case .idle:
                idle = .off
            case .startTLS where t.status == .ok:
                state = .awaitingTLSHandshake
                return .startTLS
            case .login, .authenticatePlain:
                if t.status == .ok {
                    state = .authenticated
                    // The capability list changes at login: keep it only if the OK carried it.
                    if case .capability? = t.code {} else { capabilities = [] }
                }
            case .select(let m), .examine(let m):
                if t.status == .ok {
                    state = .selected(m)
                } else {
                    state = .authenticated
                    uidValidity = nil
                }
            case .logout:
                state = .loggedOut
            default:
                break
            }
            return .completed(p.command, t)
        }
    }

    private mutating func setCapabilities(_ caps: [String]) {
        capabilities = Set(caps.map { $0.uppercased() })
    }
}
