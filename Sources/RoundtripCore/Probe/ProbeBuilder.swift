import SMTPCore

/// A probe ready to submit: the VERP envelope with DSN parameters and the
/// message carrying the token in every place a report may echo.
public struct Probe: Sendable, Hashable {
    public let token: ProbeToken
    /// `localpart+TOKEN@return.domain`.
    public let returnPath: SMTPMailbox
    public let mailParameters: MailParameters
    public let recipients: [ProbeRecipient]
    /// CRLF message bytes (not yet dot-stuffed).
    public let message: [UInt8]
    /// Without angle brackets.
    public let messageID: String
    public let subject: String
}

public struct ProbeRecipient: Sendable, Hashable {
    public let mailbox: SMTPMailbox
    public let parameters: RcptParameters
}

/// Builds probes (docs/architecture.md §3): the token goes into the VERP return path,
/// ENVID, ORCPT on every recipient, Message-ID, X-Roundtrip-Probe, Subject
/// and body.
public struct ProbeBuilder: Sendable {
    public var from: SMTPMailbox
    public var recipients: [SMTPMailbox]
    public var notify: DSNNotify
    public var ret: DSNReturn
    public var subject: String?
    public var body: [UInt8]?
    /// Extra header fields, already validated.
    public var headers: [(name: String, value: String)]
    /// Pad the message to at least this many octets.
    public var size: Int?
    /// Sign the probe with DKIM (`--dkim-key`).
    public var dkim: DKIMSigner?

    public init(
        from: SMTPMailbox, recipients: [SMTPMailbox], notify: DSNNotify = .all, ret: DSNReturn = .headers,
        subject: String? = nil, body: [UInt8]? = nil, headers: [(name: String, value: String)] = [], size: Int? = nil
    ) {
        self.from = from
        self.recipients = recipients
        self.notify = notify
        self.ret = ret
        self.subject = subject
        self.body = body
        self.headers = headers
        self.size = size
    }

    public struct BuildError: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Validates a user-supplied header (`--header "Name: value"`).
    /// A subject must stay one header line: CR, LF and NUL would let it add
    /// header fields (or end the header section) of the probe.
    public static func checkSubject(_ text: String) throws {
        guard !text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
            throw BuildError(description: "--subject: control characters (CR, LF, NUL) are not allowed")
        }
    }

    public static func parseHeader(_ text: String) throws -> (name: String, value: String) {
        guard !text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
            throw BuildError(description: "--header: control characters (CR, LF, NUL) are not allowed")
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw BuildError(description: "--header must be \"Name: value\"")
        }
        let name = String(text[..<colon])
        let value = String(text[text.index(after: colon)...]).trimmingLeadingSpaces()
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) else {
            throw BuildError(description: "--header name \(name.debugDescription) is not a valid field name")
        }
        let reserved = [
            "message-id", "x-roundtrip-probe", "from", "to", "date", "mime-version", "content-type",
            "content-transfer-encoding",
        ]
        guard !reserved.contains(name.lowercased()) else {
            throw BuildError(description: "--header cannot replace \(name): the probe sets it")
        }
        return (name, value)
    }

    /// `date` is the Date field; `time` (seconds since 1970) the DKIM signature's `t=`.
    public func build(token: ProbeToken, date: String, time: Int64 = 0) throws -> Probe {
        guard !recipients.isEmpty else { throw BuildError(description: "no recipient") }
        if let subject { try Self.checkSubject(subject) }
        for h in headers { _ = try Self.parseHeader("\(h.name): \(h.value)") }
        let local = from.unquotedLocalPart + "+" + token.value
        let returnPath: SMTPMailbox
        do {
            returnPath = try SMTPMailbox("\(local)@\(from.domain)", context: "return path")
        } catch {
            throw BuildError(
                description:
                    "the VERP return path \(local)@\(from.domain) is not valid (\(error)); use a shorter --from local part"
            )
        }
        let utf8 = returnPath.requiresSMTPUTF8 || recipients.contains { $0.requiresSMTPUTF8 }
        let envid: EnvelopeID
        do { envid = try EnvelopeID(token.value) } catch { throw BuildError(description: "\(error)") }
        let messageID = "\(token.value)@\(from.domain)"
        let subject = (self.subject.map { "\($0) " } ?? "roundtrip probe ") + token.value
        var lines: [String] = []
        lines.append("From: <\(from)>")
        // Folded (RFC 5322 §2.2.3) so that many recipients never make a line over 998 octets.
        lines.append("To: " + recipients.map { "<\($0)>" }.joined(separator: ",\r\n "))
        lines.append("Subject: \(subject)")
        lines.append("Date: \(date)")
        lines.append("Message-ID: <\(messageID)>")
        lines.append("X-Roundtrip-Probe: \(token.value)")
        lines.append("Auto-Submitted: auto-generated")
        for h in headers { lines.append("\(h.name): \(h.value)") }
        lines.append("MIME-Version: 1.0")
        let bodyBytes: [UInt8]
        if let body {
            let normalized = DataEncoder.normalizeLineEndings(body)
            let eightBit = normalized.contains { $0 >= 0x80 }
            lines.append("Content-Type: text/plain; charset=\(eightBit ? "utf-8" : "us-ascii")")
            lines.append("Content-Transfer-Encoding: \(eightBit ? "8bit" : "7bit")")
            var b = normalized
            if !(b.count >= 2 && b[b.count - 2] == 0x0D && b[b.count - 1] == 0x0A) { b += [0x0D, 0x0A] }
            b += Array("\r\nroundtrip probe token: \(token.value)\r\n".utf8)
            bodyBytes = b
        } else {
            lines.append("Content-Type: text/plain; charset=us-ascii")
            lines.append("Content-Transfer-Encoding: 7bit")
            bodyBytes = Array(
                """
                This is a delivery probe sent by roundtrip to prove that mail flows both ways.\r
                It asks for a delivery status notification; no reply is needed.\r
                \r
                roundtrip probe token: \(token.value)\r

                """.utf8)
        }
        var message = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + bodyBytes
        if let size, message.count < size {
            let line = Array(String(repeating: "x", count: 76).utf8) + [0x0D, 0x0A]
            message += Array("\r\n-- padding to \(size) octets (--size) --\r\n".utf8)
            while message.count + line.count <= size { message += line }
            let rest = size - message.count
            if rest > 2 { message += Array(repeating: UInt8(ascii: "x"), count: rest - 2) + [0x0D, 0x0A] }
        }
        if message.split(separator: 0x0A, omittingEmptySubsequences: false).contains(where: {
            $0.count > DataEncoder.maxLineLength + 1
        }) {
            throw BuildError(description: "a body line is longer than 998 octets; wrap the --body-file text")
        }
        if let dkim {
            do { message = try dkim.sign(message, time: time) } catch {
                throw BuildError(description: "DKIM signing failed: \(error)")
            }
        }
        let bodyIs8Bit = message.contains { $0 >= 0x80 }
        let mail = MailParameters(
            size: nil, body: bodyIs8Bit ? .eightBitMIME : nil, smtpUTF8: utf8, ret: notify.isNever ? nil : ret,
            envelopeID: envid
        )
        var rcpts: [ProbeRecipient] = []
        for r in recipients {
            let orcpt: OriginalRecipient
            do { orcpt = try OriginalRecipient(r) } catch { throw BuildError(description: "\(error)") }
            rcpts.append(
                ProbeRecipient(mailbox: r, parameters: RcptParameters(notify: notify, originalRecipient: orcpt)))
        }
        return Probe(
            token: token, returnPath: returnPath, mailParameters: mail, recipients: rcpts, message: message,
            messageID: messageID, subject: subject)
    }
}

extension String {
    func trimmingLeadingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }))
    }
}
