import MailCore

/// A command as the listener receives it (the server-side view of
/// `SMTPCommand`): paths already validated, ESMTP parameters checked.
///
/// - SeeAlso: RFC 5321 §4.1.1, RFC 3461 §4, RFC 1870, RFC 6152, RFC 6531
public enum SMTPServerCommand: Hashable, Sendable {
    case ehlo(String)
    case helo(String)
    case mail(ReversePath, MailParameters)
    case rcpt(ForwardPath, RcptParameters)
    case data
    case rset
    case noop
    case quit
    case vrfy(String)
    case startTLS
    /// A recognised SMTP verb that the listener does not implement
    /// (EXPN, HELP, AUTH, BDAT, ETRN, TURN, ...): answered with 502.
    case notImplemented(verb: String)
}

/// `Forward-path`, plus the special `<Postmaster>` without a domain that a
/// server must accept. RFC 5321 §4.1.1.3.
public enum ForwardPath: Hashable, Sendable, CustomStringConvertible {
    case postmaster
    case mailbox(SMTPMailbox)

    public var description: String {
        switch self {
        case .postmaster: return "<Postmaster>"
        case .mailbox(let m): return "<\(m)>"
        }
    }

    /// The address without angle brackets (`Postmaster` for the bare form).
    public var address: String {
        switch self {
        case .postmaster: return "Postmaster"
        case .mailbox(let m): return m.description
        }
    }
}

/// Why a command line was refused, with the reply the listener sends.
public struct ServerCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// 500 5.5.2: not a command at all.
        case unrecognized
        /// 501 5.5.4 (5.1.7 / 5.1.3 for addresses): bad arguments.
        case syntax
        /// 555 5.5.4: a MAIL/RCPT parameter we do not know.
        case unknownParameter
    }

    public var kind: Kind
    public var reply: SMTPReply

    public init(_ kind: Kind, _ code: Int, _ text: String) {
        self.kind = kind
        self.reply = SMTPReply(code: code, lines: [text])
    }

    public var description: String { reply.description }
}

/// Parses one command line (without its CRLF) received by the listener.
///
/// - Verbs and `FROM:`/`TO:` are case-insensitive; one stray SP after the
///   colon is tolerated (as Postfix does; RFC 5321 §4.1.2 has none).
/// - Source routes are accepted and dropped; `<>` is the null sender;
///   `<Postmaster>` is accepted for RCPT.
/// - ESMTP parameters: SIZE, BODY, SMTPUTF8, RET, ENVID on MAIL; NOTIFY and
///   ORCPT on RCPT. An unknown keyword gets 555, a bad or repeated value 501.
public enum ServerCommandParser {
    static let notImplementedVerbs: Set<String> = [
        "EXPN", "HELP", "AUTH", "BDAT", "ETRN", "TURN", "ATRN", "SEND", "SOML", "SAML", "XCLIENT", "XFORWARD", "VERB",
        "ONEX", "BURL",
    ]

    public static func parse(_ line: [UInt8]) -> Result<SMTPServerCommand, ServerCommandError> {
        do {
            return .success(try parseThrowing(line[...]))
        } catch let e as ServerCommandError {
            return .failure(e)
        } catch {
            return .failure(ServerCommandError(.syntax, 501, "5.5.4 Syntax error"))
        }
    }

    static func parseThrowing(_ line: ArraySlice<UInt8>) throws -> SMTPServerCommand {
        if line.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw ServerCommandError(.syntax, 500, "5.5.2 Bare CR, LF or NUL in command line refused")
        }
        let verbEnd = line.firstIndex(of: 0x20) ?? line.endIndex
        let verbBytes = line[line.startIndex..<verbEnd]
        guard !verbBytes.isEmpty, verbBytes.count <= 16, verbBytes.allSatisfy({ Self.isAlpha($0) }) else {
            throw ServerCommandError(.unrecognized, 500, "5.5.2 Syntax error, command unrecognized")
        }
        let verb = String(decoding: verbBytes, as: UTF8.self).uppercased()
        let argument: ArraySlice<UInt8> = verbEnd < line.endIndex ? line[(verbEnd + 1)...] : line[line.endIndex...]
        let hasArgument = verbEnd < line.endIndex
        switch verb {
        case "EHLO", "HELO":
            let name = trimmed(argument)
            guard !name.isEmpty, name.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
                throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(verb) hostname")
            }
            let s = String(decoding: name, as: UTF8.self)
            return verb == "EHLO" ? .ehlo(s) : .helo(s)
        case "MAIL":
            return try parseMail(argument)
        case "RCPT":
            return try parseRcpt(argument)
        case "DATA", "RSET", "QUIT", "STARTTLS":
            guard !hasArgument || trimmed(argument).isEmpty else {
                throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(verb) takes no argument")
            }
            switch verb {
            case "DATA": return .data
            case "RSET": return .rset
            case "QUIT": return .quit
            default: return .startTLS
            }
        case "NOOP":
            return .noop
        case "VRFY":
            let arg = trimmed(argument)
            guard !arg.isEmpty else { throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: VRFY address") }
            return .vrfy(String(decoding: arg, as: UTF8.self))
        default:
            if notImplementedVerbs.contains(verb) { return .notImplemented(verb: verb) }
            // Any other word: a polite "not implemented".
            return .notImplemented(verb: verb)
        }
    }

    // mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
    static func parseMail(_ argument: ArraySlice<UInt8>) throws -> SMTPServerCommand {
        let rest = try expectPrefix("FROM:", in: argument, usage: "MAIL FROM:<address>")
        let (pathBytes, paramsBytes) = try splitPath(rest, usage: "MAIL FROM:<address>")
        let path: ReversePath
        if pathBytes.isEmpty {
            path = .null
        } else {
            path = .mailbox(try mailbox(pathBytes, context: "sender", code: "5.1.7"))
        }
        var params = MailParameters()
        var seen = Set<String>()
        for (keyword, value) in try parameters(paramsBytes) {
            guard seen.insert(keyword).inserted else {
                throw ServerCommandError(.syntax, 501, "5.5.4 Duplicate parameter \(keyword)")
            }
            switch keyword {
            case "SIZE":
                guard let value, !value.isEmpty, value.count <= 18, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                    let n = Int(value)
                else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad SIZE parameter")
                }
                params.size = n
            case "BODY":
                guard let value, let body = MailBody(rawValue: value.uppercased()) else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad BODY parameter (7BIT or 8BITMIME)")
                }
                params.body = body
            case "SMTPUTF8":
                guard value == nil else { throw ServerCommandError(.syntax, 501, "5.5.4 SMTPUTF8 takes no value") }
                params.smtpUTF8 = true
            case "RET":
                guard let value, let ret = DSNReturn(rawValue: value.uppercased()) else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad RET parameter (FULL or HDRS)")
                }
                params.ret = ret
            case "ENVID":
                guard let value, let decoded = XText.decodeStrict(value), !decoded.isEmpty,
                    decoded.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }),
                    let envid = try? EnvelopeID(String(decoding: decoded, as: UTF8.self))
                else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad ENVID parameter (xtext, at most 100 characters)")
                }
                params.envelopeID = envid
            default:
                throw ServerCommandError(.unknownParameter, 555, "5.5.4 Unsupported MAIL parameter \(keyword)")
            }
        }
        if case .mailbox(let m) = path, m.requiresSMTPUTF8, !params.smtpUTF8 {
            throw ServerCommandError(.syntax, 550, "5.6.7 Non-ASCII sender address needs SMTPUTF8")
        }
        return .mail(path, params)
    }

    // rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters] CRLF
    static func parseRcpt(_ argument: ArraySlice<UInt8>) throws -> SMTPServerCommand {
        let rest = try expectPrefix("TO:", in: argument, usage: "RCPT TO:<address>")
        let (pathBytes, paramsBytes) = try splitPath(rest, usage: "RCPT TO:<address>")
        let path: ForwardPath
        if pathBytes.isEmpty {
            throw ServerCommandError(.syntax, 501, "5.1.3 The null path is not a recipient")
        } else if String(decoding: pathBytes, as: UTF8.self).lowercased() == "postmaster" {
            path = .postmaster
        } else {
            path = .mailbox(try mailbox(pathBytes, context: "recipient", code: "5.1.3"))
        }
        var params = RcptParameters()
        var seen = Set<String>()
        for (keyword, value) in try parameters(paramsBytes) {
            guard seen.insert(keyword).inserted else {
                throw ServerCommandError(.syntax, 501, "5.5.4 Duplicate parameter \(keyword)")
            }
            switch keyword {
            case "NOTIFY":
                guard let value, value.utf8.count <= 28, let notify = try? DSNNotify(parsing: value) else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad NOTIFY parameter")
                }
                params.notify = notify
            case "ORCPT":
                guard let value, let orcpt = originalRecipient(value) else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad ORCPT parameter")
                }
                params.originalRecipient = orcpt
            default:
                throw ServerCommandError(.unknownParameter, 555, "5.5.4 Unsupported RCPT parameter \(keyword)")
            }
        }
        return .rcpt(path, params)
    }

    /// `ORCPT=addr-type ";" xtext`, at most 500 characters in all.
    static func originalRecipient(_ value: String) -> OriginalRecipient? {
        guard ("ORCPT=" + value).utf8.count <= OriginalRecipient.maxParameterLength,
            let semicolon = value.firstIndex(of: ";")
        else { return nil }
        let type = String(value[..<semicolon])
        let encoded = String(value[value.index(after: semicolon)...])
        guard !type.isEmpty, !encoded.isEmpty else { return nil }
        let address: String
        if type.lowercased() == "utf-8" {
            // utf-8-addr-xtext / unitext: keep the escapes as they are.
            guard encoded.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "=") }) else { return nil }
            address = encoded
        } else {
            guard let decoded = XText.decodeStrict(encoded), !decoded.isEmpty else { return nil }
            address = String(decoding: decoded, as: UTF8.self)
        }
        return try? OriginalRecipient(address: address, addressType: type)
    }

    /// Matches `FROM:` / `TO:` case-insensitively and skips one stray SP.
    static func expectPrefix(_ prefix: String, in argument: ArraySlice<UInt8>, usage: String) throws -> ArraySlice<
        UInt8
    > {
        let p = Array(prefix.utf8)
        guard argument.count >= p.count else { throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(usage)") }
        for (i, b) in p.enumerated() where Self.upper(argument[argument.startIndex + i]) != b {
            throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(usage)")
        }
        var rest = argument.dropFirst(p.count)
        if rest.first == 0x20 { rest = rest.dropFirst() }
        return rest
    }

    /// Splits `<path> params` at the closing `>` (quotes respected). Returns
    /// the path content without brackets and without a source route.
    static func splitPath(_ rest: ArraySlice<UInt8>, usage: String) throws -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        guard rest.first == UInt8(ascii: "<") else { throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(usage)") }
        var i = rest.startIndex + 1
        var quoted = false
        var close: Int?
        while i < rest.endIndex {
            let b = rest[i]
            if quoted {
                if b == UInt8(ascii: "\\") {
                    i += 2
                    continue
                }
                if b == UInt8(ascii: "\"") { quoted = false }
            } else if b == UInt8(ascii: "\"") {
                quoted = true
            } else if b == UInt8(ascii: ">") {
                close = i
                break
            } else if b == 0x20 {
                break
            }
            i += 1
        }
        guard let close else { throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(usage)") }
        var path = rest[(rest.startIndex + 1)..<close]
        let after = rest[(close + 1)...]
        guard after.isEmpty || after.first == 0x20 else {
            throw ServerCommandError(.syntax, 501, "5.5.4 Syntax: \(usage)")
        }
        guard path.count <= SMTPMailbox.maxPath else { throw ServerCommandError(.syntax, 501, "5.1.3 Path too long") }
        // A-d-l ":" Mailbox — accept the route syntax, then drop it.
        if path.first == UInt8(ascii: "@") {
            guard let colon = path.firstIndex(of: UInt8(ascii: ":")) else {
                throw ServerCommandError(.syntax, 501, "5.1.3 Bad source route")
            }
            let route = path[path.startIndex..<colon]
            for hop in route.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                guard hop.first == UInt8(ascii: "@"), SMTPMailbox.isValidDomain(Array(hop.dropFirst())) else {
                    throw ServerCommandError(.syntax, 501, "5.1.3 Bad source route")
                }
            }
            path = path[(colon + 1)...]
            guard !path.isEmpty else { throw ServerCommandError(.syntax, 501, "5.1.3 Bad source route") }
        }
        return (path, after)
    }

    static func mailbox(_ bytes: ArraySlice<UInt8>, context: String, code: String) throws -> SMTPMailbox {
        let text = String(decoding: bytes, as: UTF8.self)
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }), String(text.utf8).utf8.count == bytes.count else {
            throw ServerCommandError(.syntax, 501, "\(code) Bad \(context) address syntax")
        }
        do {
            return try SMTPMailbox(text, context: context)
        } catch {
            throw ServerCommandError(.syntax, 501, "\(code) Bad \(context) address syntax")
        }
    }

    /// `esmtp-param *(SP esmtp-param)`, keywords upper-cased.
    static func parameters(_ bytes: ArraySlice<UInt8>) throws -> [(String, String?)] {
        var out: [(String, String?)] = []
        for token in bytes.split(separator: 0x20) {
            let eq = token.firstIndex(of: UInt8(ascii: "="))
            let keyword = token[token.startIndex..<(eq ?? token.endIndex)]
            guard let first = keyword.first, isAlpha(first) || isDigit(first),
                keyword.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") })
            else {
                throw ServerCommandError(.syntax, 501, "5.5.4 Bad parameter syntax")
            }
            var value: String?
            if let eq {
                let v = token[(eq + 1)...]
                // esmtp-value = 1*(%d33-60 / %d62-126)
                guard !v.isEmpty, v.allSatisfy({ ($0 >= 33 && $0 <= 60) || ($0 >= 62 && $0 <= 126) }) else {
                    throw ServerCommandError(.syntax, 501, "5.5.4 Bad parameter value")
                }
                value = String(decoding: v, as: UTF8.self)
            }
            out.append((String(decoding: keyword, as: UTF8.self).uppercased(), value))
        }
        return out
    }

    static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = s
        while s.first == 0x20 || s.first == 0x09 { s = s.dropFirst() }
        while s.last == 0x20 || s.last == 0x09 { s = s.dropLast() }
        return s
    }

    static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func upper(_ b: UInt8) -> UInt8 { (b >= 0x61 && b <= 0x7A) ? b - 0x20 : b }
}
