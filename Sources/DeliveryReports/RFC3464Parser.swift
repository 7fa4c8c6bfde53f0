import MailCore

/// Parses the body of a `message/delivery-status` or `message/global-delivery-status` part.
///
///     delivery-status-content = per-message-fields 1*( CRLF per-recipient-fields )
///
/// Field groups are delimited by blank lines only (RFC 3464 §2.1); the order of fields inside a
/// group is free (Exim 4.96 writes `Original-Recipient`, `Action`, `Final-Recipient`, `Status`,
/// `Remote-MTA`, `Diagnostic-Code`), and one group is one recipient (§2.3). The one repair: a
/// per-recipient field that appears a second time in the same group cannot belong to the same
/// recipient (each is at most once per recipient, §2.3), so it starts the next recipient of a
/// group that lost its blank line. Two groups naming the same recipient are merged into one
/// record (the first group's fields win; the later one only fills what is missing).
/// Continuation lines are unfolded; names are case-insensitive. Comments are stripped from
/// Status and Action; Diagnostic-Code is kept raw. Unknown Actions are mapped by the status class
/// and flagged.
/// - SeeAlso: RFC 3464 §2, RFC 6533 §6, protocol-notes §3.
public enum RFC3464Parser {
    struct Fields {
        var perMessagePairs: [Pair]
        var recipients: [[Pair]]
    }

    struct Pair: Sendable, Hashable {
        var name: String
        var value: String
        /// Which RFC 3464 field this is, decided once from the name's bytes.
        var id: FieldID
        init(_ name: String, _ value: String, id: FieldID) {
            self.name = name
            self.value = value
            self.id = id
        }
    }

    /// The fields the parser knows, so that names are compared once, as bytes, not as Strings.
    enum FieldID: UInt8, Sendable, Hashable {
        case other
        // Per-message fields (RFC 3464 §2.2).
        case originalEnvelopeID, reportingMTA, dsnGateway, receivedFromMTA, arrivalDate
        // Per-recipient fields (RFC 3464 §2.3) and X-Actual-Recipient.
        case originalRecipient, finalRecipient, action, status, remoteMTA, diagnosticCode,
            lastAttemptDate, finalLogID, willRetryUntil, xActualRecipient

        var isPerMessage: Bool {
            rawValue >= FieldID.originalEnvelopeID.rawValue && rawValue <= FieldID.arrivalDate.rawValue
        }
        var isPerRecipient: Bool { rawValue >= FieldID.originalRecipient.rawValue }
        var isAddress: Bool { self == .originalRecipient || self == .finalRecipient }

        /// `lower` is a lower-cased field name.
        static func of(_ lower: UnsafeBufferPointer<UInt8>) -> FieldID {
            @inline(__always) func eq(_ name: StaticString) -> Bool {
                guard name.utf8CodeUnitCount == lower.count else { return false }
                let p = name.utf8Start
                for k in 0..<lower.count where p[k] != lower[k] { return false }
                return true
            }
            if eq("action") { return .action }
            if eq("status") { return .status }
            if eq("final-recipient") { return .finalRecipient }
            if eq("original-recipient") { return .originalRecipient }
            if eq("remote-mta") { return .remoteMTA }
            if eq("diagnostic-code") { return .diagnosticCode }
            if eq("last-attempt-date") { return .lastAttemptDate }
            if eq("reporting-mta") { return .reportingMTA }
            if eq("arrival-date") { return .arrivalDate }
            if eq("received-from-mta") { return .receivedFromMTA }
            if eq("original-envelope-id") { return .originalEnvelopeID }
            if eq("dsn-gateway") { return .dsnGateway }
            if eq("final-log-id") { return .finalLogID }
            if eq("will-retry-until") { return .willRetryUntil }
            if eq("x-actual-recipient") { return .xActualRecipient }
            return .other
        }
    }

    /// At most this many fields are read from one delivery-status part: room for a report on
    /// 10,000 recipients (a server that took them in one transaction) at 10 fields each, and a
    /// bound on what a hostile part can make us hold (the parse is linear in the fields).
    static let maxFields = 100_000

    static let perMessageNames: Set<String> = [
        "original-envelope-id", "reporting-mta", "dsn-gateway", "received-from-mta", "arrival-date",
    ]
    static let perRecipientNames: Set<String> = [
        "original-recipient", "final-recipient", "action", "status", "remote-mta", "diagnostic-code",
        "last-attempt-date", "final-log-id", "will-retry-until", "x-actual-recipient",
    ]

    /// Collects unfolded fields into blank-line separated groups (phase 1 of `fields`).
    struct GroupBuilder {
        var groups: [[Pair]] = []
        var group: [Pair] = []
        var name: String?
        var nameID = FieldID.other
        /// The value while it is one line: a range of the input, no copy.
        var valueStart = 0
        var valueEnd = 0
        /// The value once a continuation line has been added (`folded`).
        var value: [UInt8] = []
        var folded = false

        mutating func flushField(_ buf: UnsafeBufferPointer<UInt8>) {
            if let n = name {
                let v: String
                if folded {
                    v = decodeUTF8OrLatin1(ByteScan.trim(value[...]))
                    value.removeAll(keepingCapacity: true)
                    folded = false
                } else {
                    var s = valueStart
                    var e = valueEnd
                    while s < e && buf[s].isWhitespaceByte { s += 1 }
                    while e > s && buf[e - 1].isWhitespaceByte { e -= 1 }
                    v = decodeUTF8OrLatin1Buffer(UnsafeBufferPointer(rebasing: buf[s..<e]))
                }
                if group.capacity == 0 { group.reserveCapacity(8) }
                group.append(Pair(n, v, id: nameID))
                name = nil
            }
        }

        /// Switches the value to the copy buffer before a continuation is appended.
        mutating func fold(_ buf: UnsafeBufferPointer<UInt8>) {
            if !folded {
                value.append(contentsOf: UnsafeBufferPointer(rebasing: buf[valueStart..<valueEnd]))
                folded = true
            }
        }

        mutating func flushGroup(_ buf: UnsafeBufferPointer<UInt8>) {
            flushField(buf)
            if !group.isEmpty {
                groups.append(group)
                group = []
            }
        }

        mutating func scan(_ buf: UnsafeBufferPointer<UInt8>) {
            var i = 0
            let n = buf.count
            while i < n {
                let line = ByteScan.line(in: buf, from: i, limit: n)
                i = line.next
                var blank = true
                var k = line.start
                while k < line.end {
                    if !buf[k].isBlankByte {
                        blank = false
                        break
                    }
                    k += 1
                }
                if blank {
                    flushGroup(buf)
                    continue
                }
                let first = buf[line.start]
                if first == 0x20 || first == 0x09 {
                    if name != nil {
                        fold(buf)
                        value.append(0x20)
                        value.append(contentsOf: UnsafeBufferPointer(rebasing: buf[k..<line.end]))
                    }
                    continue
                }
                var colon = line.start
                while colon < line.end && buf[colon] != 0x3A { colon += 1 }
                var nameEnd = colon
                while nameEnd > line.start && buf[nameEnd - 1].isBlankByte { nameEnd -= 1 }
                var validName = colon < line.end && nameEnd > line.start
                if validName {
                    for j in line.start..<nameEnd where buf[j] <= 0x20 || buf[j] > 0x7E {
                        validName = false
                        break
                    }
                }
                if !validName {
                    // A colon-less line: continue a Diagnostic-Code that lost its indentation.
                    if name != nil && nameID == .diagnosticCode {
                        fold(buf)
                        value.append(0x20)
                        value.append(contentsOf: UnsafeBufferPointer(rebasing: buf[line.start..<line.end]))
                    }
                    continue
                }
                flushField(buf)
                // The name is printable ASCII: lower-case it while making the String.
                let nameBytes = UnsafeBufferPointer(rebasing: buf[line.start..<nameEnd])
                var id = FieldID.other
                name = String(unsafeUninitializedCapacity: nameBytes.count) { out in
                    for j in 0..<nameBytes.count { out[j] = nameBytes[j].lowercasedASCIIByte }
                    id = FieldID.of(UnsafeBufferPointer(rebasing: out[0..<nameBytes.count]))
                    return nameBytes.count
                }
                nameID = id
                valueStart = colon + 1
                valueEnd = line.end
            }
            flushGroup(buf)
        }
    }

    /// Splits the content into per-message and per-recipient field lists.
    static func fields(_ content: ArraySlice<UInt8>) -> Fields {
        // 1. Lines → groups of (name, value), unfolded.
        var builder = GroupBuilder()
        content.withUnsafeBufferPointer { builder.scan($0) }
        let groups = builder.groups

        // 2. Groups → per-message fields and recipients.
        var perMessage: [Pair] = []
        var recipients: [[Pair]] = []
        var current: [Pair]? = nil
        var budget = maxFields
        for g in groups {
            for f in g {
                // Hostile input: a delivery-status part with absurdly many fields is cut short.
                budget -= 1
                if budget < 0 { break }
                if f.id.isPerMessage {
                    if current != nil && current?.contains(where: { $0.id == f.id }) == false
                        && perMessage.contains(where: { $0.id == f.id })
                    {
                        current?.append(f)  // repeated per-message field inside a recipient: keep as extra
                    } else {
                        perMessage.append(f)
                    }
                    continue
                }
                if f.id.isPerRecipient {
                    // One group is one recipient; only a repeated field starts another (see above).
                    if let c = current, c.contains(where: { $0.id == f.id }) {
                        recipients.append(c)
                        current = []
                    }
                    if current == nil { current = [] }
                    current?.append(f)
                    continue
                }
                if current != nil { current?.append(f) } else { perMessage.append(f) }
            }
            if let c = current {
                recipients.append(c)
                current = nil
            }
        }
        if let c = current { recipients.append(c) }
        return Fields(perMessagePairs: perMessage, recipients: recipients)
    }

    /// The parsed content of one delivery-status part.
    public struct Content: Sendable, Hashable {
        public var originalEnvelopeID: String?
        public var reportingMTA: TypedValue?
        public var dsnGateway: TypedValue?
        public var receivedFromMTA: TypedValue?
        public var arrivalDateText: String?
        public var extraFields: [String: String]
        public var recipients: [RecipientReport]
    }

    public static func parse(_ content: ArraySlice<UInt8>) -> Content {
        let f = fields(content)
        var out = Content(extraFields: [:], recipients: [])
        for p in f.perMessagePairs {
            switch p.id {
            case .originalEnvelopeID:
                if out.originalEnvelopeID == nil { out.originalEnvelopeID = stripComments(p.value) }
            case .reportingMTA: if out.reportingMTA == nil { out.reportingMTA = typed(p.value, mta: true) }
            case .dsnGateway: if out.dsnGateway == nil { out.dsnGateway = typed(p.value, mta: true) }
            case .receivedFromMTA: if out.receivedFromMTA == nil { out.receivedFromMTA = typed(p.value, mta: true) }
            case .arrivalDate: if out.arrivalDateText == nil { out.arrivalDateText = p.value }
            default: if out.extraFields[p.name] == nil { out.extraFields[p.name] = p.value }
            }
        }
        for group in f.recipients {
            if let r = recipient(group) { out.recipients.append(r) }
        }
        out.recipients = RecipientMerge.onePerRecipient(out.recipients)
        return out
    }

    static func recipient(_ group: [Pair]) -> RecipientReport? {
        var r = RecipientReport(action: .failed)
        var actionText: String?
        var statusText: String?
        var actual: String?
        for p in group {
            switch p.id {
            case .finalRecipient: if r.finalRecipient == nil { r.finalRecipient = addressTyped(p.value) }
            case .originalRecipient:
                if r.originalRecipient == nil {
                    var t = ReportAddress.typed(p.value)
                    if t.type == "utf8" { t.type = "utf-8" }
                    r.originalRecipient = t
                    let v = stripAngles(t.value)
                    r.originalRecipientDecoded = ReportAddress.mailbox(
                        t.type == "utf-8" ? XText.decodeUnitext(v) : XText.decode(v))
                }
            case .action: if actionText == nil { actionText = p.value }
            case .status: if statusText == nil { statusText = p.value }
            case .remoteMTA: if r.remoteMTA == nil { r.remoteMTA = typed(p.value, mta: true) }
            case .diagnosticCode:
                if r.diagnostic == nil {
                    if let semi = p.value.utf8.firstIndex(of: 0x3B), isTypeKeyword(p.value[..<semi]) {
                        r.diagnosticType = String(p.value[..<semi]).trimmedBlanks
                        r.diagnostic = String(p.value[p.value.index(after: semi)...]).trimmedBlanks
                    } else {
                        r.diagnosticType = "unknown"
                        r.diagnostic = p.value
                    }
                }
            case .lastAttemptDate: r.lastAttemptDateText = p.value
            case .willRetryUntil: r.willRetryUntilText = p.value
            case .finalLogID: r.finalLogID = stripComments(p.value)
            default:
                if p.id == .xActualRecipient { actual = p.value }
                if r.extraFields[p.name] == nil { r.extraFields[p.name] = p.value }
            }
        }
        if r.finalRecipient == nil || r.finalRecipient?.value.isEmpty == true {
            if let a = actual { r.finalRecipient = addressTyped(a) }
        }
        // Status: the field, else a code in the Diagnostic-Code, else the reply code (pseudo).
        // A generic field (x.0.0) yields to a more specific code of the same class in the diagnostic.
        let diagnosticCode = r.diagnostic.flatMap { StatusCode.findInDiagnostic($0) }
        r.diagnosticStatus = diagnosticCode
        if let s = statusText, let code = StatusCode.find(in: stripComments(s)) {
            r.status = code
            if code.subject == 0 && code.detail == 0, let d = diagnosticCode, d.statusClass == code.statusClass,
                d.subject != 0 || d.detail != 0
            {
                r.status = d
            }
        } else if let code = diagnosticCode {
            r.status = code
        } else if let d = r.diagnostic, let reply = ReplyCode.find(in: d) {
            r.status = StatusCode.pseudo(replyCode: reply, text: d)
            r.statusIsPseudo = true
        }
        // Action: registered values, else mapped by the status class and flagged.
        let word = actionText.map { firstWord(stripComments($0)).asciiLowercased } ?? ""
        if let a = DeliveryAction(rawValue: word) {
            r.action = a
        } else {
            r.actionRaw = actionText
            r.actionInferred = true
            switch word {
            case "expired", "failure", "fail", "bounced", "undeliverable", "rejected": r.action = .failed
            case "deliverable", "success", "sent": r.action = .delivered
            case "delay", "deferred", "retrying", "transient": r.action = .delayed
            default:
                switch r.status?.statusClass {
                case 2: r.action = .delivered
                case 4: r.action = .delayed
                default: r.action = .failed
                }
            }
        }
        if r.status == nil {
            // RFC 3461's own default by class.
            switch r.action {
            case .delivered, .relayed, .expanded: r.status = StatusCode(statusClass: 2, subject: 0, detail: 0)
            case .delayed: r.status = StatusCode(statusClass: 4, subject: 0, detail: 0)
            case .failed: r.status = StatusCode(statusClass: 5, subject: 0, detail: 0)
            }
            r.statusIsPseudo = true
        }
        if r.finalRecipient == nil && r.originalRecipient == nil && actionText == nil && statusText == nil {
            return nil
        }
        return r
    }

    // MARK: - Field value helpers

    static func isTypeKeyword(_ s: Substring) -> Bool {
        var s = s
        return s.withUTF8 { typeKeyword($0, 0, $0.count) != nil }
    }

    /// The trimmed range of `b[from..<to]` when it is a type keyword (1–32 letters, digits, `-._`).
    static func typeKeyword(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Range<Int>? {
        var s = from
        var e = to
        while s < e && b[s].isWhitespaceByte { s += 1 }
        while e > s && b[e - 1].isWhitespaceByte { e -= 1 }
        guard e > s, e - s <= 32 else { return nil }
        for i in s..<e {
            let c = b[i]
            guard c.isASCIILetter || c.isASCIIDigit || c == 0x2D || c == 0x2E || c == 0x5F else { return nil }
        }
        return s..<e
    }

    /// `type ; value` with blanks around the `;`. Values without a type get the type `unknown`.
    /// Works on the UTF-8 bytes; every cut is at an ASCII byte, so the pieces stay valid UTF-8.
    static func typed(_ raw: String, mta: Bool) -> TypedValue {
        var raw = raw
        return raw.withUTF8 { b -> TypedValue in
            let n = b.count
            var semi = 0
            while semi < n && b[semi] != 0x3B { semi += 1 }
            var type = "unknown"
            var s = 0
            if semi < n, let t = typeKeyword(b, 0, semi) {
                type = String(decoding: UnsafeBufferPointer(rebasing: b[t]), as: UTF8.self).asciiLowercased
                s = semi + 1
            }
            var e = n
            while s < e && b[s].isWhitespaceByte { s += 1 }
            while e > s && b[e - 1].isWhitespaceByte { e -= 1 }
            if !mta {
                return TypedValue(
                    type: type, value: String(decoding: UnsafeBufferPointer(rebasing: b[s..<e]), as: UTF8.self))
            }
            var hasComment = false
            for i in s..<e where b[i] == 0x28 {
                hasComment = true
                break
            }
            if hasComment {
                var v = stripComments(String(decoding: UnsafeBufferPointer(rebasing: b[s..<e]), as: UTF8.self))
                return v.withUTF8 { vb in
                    TypedValue(type: type, value: firstHostToken(vb, 0, vb.count))
                }
            }
            return TypedValue(type: type, value: firstHostToken(b, s, e))
        }
    }

    /// `b[s..<e]` (already trimmed) up to its first blank, without trailing dots.
    static func firstHostToken(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> String {
        var end = s
        while end < e && b[end] != 0x20 && b[end] != 0x09 { end += 1 }
        while end > s && b[end - 1] == 0x2E { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: b[s..<end]), as: UTF8.self)
    }

    /// An address field reduced to the plain mailbox (`ReportAddress`); the `utf-8` type keeps its
    /// name (RFC 6533) and its value is `\x{…}`-decoded.
    static func addressTyped(_ raw: String) -> TypedValue {
        var t = ReportAddress.typed(raw)
        if t.type == "utf8" { t.type = "utf-8" }
        var v = t.value
        if t.type == "utf-8" { v = XText.decodeUnitext(v) }
        t.value = ReportAddress.mailbox(v)
        return t
    }

    static func stripAngles(_ s: String) -> String {
        var t = s.trimmedBlanks
        if t.hasPrefix("<") && t.hasSuffix(">") && t.count >= 2 { t = String(t.dropFirst().dropLast()).trimmedBlanks }
        return t
    }

    /// Removes `( … )` comments (nesting and `\` quoting respected) and trims.
    static func stripComments(_ s: String) -> String {
        guard s.hasSubstring("(") else { return s.trimmedBlanks }
        var out: [UInt8] = []
        var depth = 0
        var escaped = false
        for c in s.utf8 {
            if escaped {
                escaped = false
                if depth == 0 { out.append(c) }
                continue
            }
            if c == 0x5C {
                escaped = true
                if depth == 0 { out.append(c) }
                continue
            }
            if c == 0x28 {
                depth += 1
                continue
            }
            if c == 0x29 {
                if depth > 0 {
                    depth -= 1
                    continue
                }
            }
            if depth == 0 { out.append(c) }
        }
        return String(decoding: out, as: UTF8.self).trimmedBlanks
    }

    static func firstWord(_ s: String) -> String {
        let t = s.trimmedBlanks
        if let end = t.utf8.firstIndex(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x3B || $0 == 0x2C }) {
            return String(t[..<end])
        }
        return t
    }
}

extension UInt8 {
    @inlinable var isBlankByte: Bool { self == 0x20 || self == 0x09 }
    @inlinable var isWhitespaceByte: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}

extension Substring {
    var trimmingBlanks: String { String(self).trimmedBlanks }
}
