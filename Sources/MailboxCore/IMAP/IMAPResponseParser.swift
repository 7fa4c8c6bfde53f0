/// Parses one framed response (from `IMAPFramingParser`) into an
/// `IMAPResponse`. Hand-written recursive descent over the octets; literals
/// are read by count wherever a string may stand.
///
/// ```
/// response-data = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data
///                 / message-data / capability-data) CRLF
/// continue-req  = "+" [SP (resp-text / base64)] CRLF
/// response-tagged = tag SP resp-cond-state CRLF
/// ```
/// - SeeAlso: RFC 9051 §9 (formal syntax), RFC 3501 §9.
public enum IMAPResponseParser {
    /// Nesting limit for parenthesised values (BODYSTRUCTURE, ENVELOPE).
    static let maxDepth = 100

    public static func parse(_ frame: [UInt8]) throws(IMAPParseError) -> IMAPResponse {
        var r = Reader(bytes: frame)
        try r.stripCRLF()
        if r.peek() == UInt8(ascii: "+") {
            r.advance()
            if r.peek() == UInt8(ascii: " ") { r.advance() }
            return .continuation(r.restAsText())
        }
        if r.peek() == UInt8(ascii: "*") {
            r.advance()
            try r.expect(UInt8(ascii: " "))
            return .untagged(try parseUntagged(&r))
        }
        let tag = try r.tag()
        try r.expect(UInt8(ascii: " "))
        let word = try r.atom().uppercased()
        guard let status = IMAPStatus(rawValue: word) else {
            throw IMAPParseError("tagged response with status \(word)", offset: r.position)
        }
        let (code, text) = try parseRespText(&r)
        return .tagged(IMAPTaggedResponse(tag: tag, status: status, code: code, text: text))
    }

    // resp-text = ["[" resp-text-code "]" SP] [text]
    static func parseRespText(_ r: inout Reader) throws(IMAPParseError) -> (IMAPResponseCode?, String) {
        if r.peek() == UInt8(ascii: " ") { r.advance() }
        var code: IMAPResponseCode?
        if r.peek() == UInt8(ascii: "[") {
            r.advance()
            guard let close = r.firstIndex(of: UInt8(ascii: "]")) else {
                throw IMAPParseError("response code without ]", offset: r.position)
            }
            let inner = r.take(upTo: close)
            r.advance()  // ]
            code = try parseCode(inner)
            if r.peek() == UInt8(ascii: " ") { r.advance() }
        }
        return (code, r.restAsText())
    }

    static func parseCode(_ inner: [UInt8]) throws(IMAPParseError) -> IMAPResponseCode {
        let text = String(decoding: inner, as: UTF8.self)
        let name: String
        let rest: String?
        if let sp = text.firstIndex(of: " ") {
            name = text[..<sp].uppercased()
            rest = String(text[text.index(after: sp)...])
        } else {
            name = text.uppercased()
            rest = nil
        }
        let words = rest.map { $0.split(separator: " ").map(String.init) } ?? []
        switch name {
        case "CAPABILITY": return .capability(words)
        case "UIDVALIDITY":
            guard let w = words.first, let v = UInt32(w) else { throw IMAPParseError("bad UIDVALIDITY") }
            return .uidValidity(v)
        case "UIDNEXT":
            guard let w = words.first, let v = UInt32(w) else { throw IMAPParseError("bad UIDNEXT") }
            return .uidNext(v)
        case "ALERT": return .alert
        case "AUTHENTICATIONFAILED": return .authenticationFailed
        case "UNAVAILABLE": return .unavailable
        case "TRYCREATE": return .tryCreate
        case "READ-WRITE": return .readWrite
        case "READ-ONLY": return .readOnly
        case "PERMANENTFLAGS":
            let inner = rest.map { $0.trimmingParens() } ?? ""
            return .permanentFlags(inner.split(separator: " ").map(String.init))
        case "COPYUID":
            guard words.count == 3, let v = UInt32(words[0]) else { throw IMAPParseError("bad COPYUID") }
            return .copyUID(uidValidity: v, source: try parseSet(words[1]), destination: try parseSet(words[2]))
        case "APPENDUID":
            guard words.count == 2, let v = UInt32(words[0]), let u = UInt32(words[1]) else {
                throw IMAPParseError("bad APPENDUID")
            }
            return .appendUID(uidValidity: v, uid: u)
        default:
            return .other(name, rest)
        }
    }

    /// sequence-set = (seq-number / seq-range) ["," sequence-set]
    public static func parseSet(_ text: String) throws(IMAPParseError) -> IMAPSequenceSet {
        var ranges: [ClosedRange<UInt32>] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            func number(_ s: Substring) throws(IMAPParseError) -> UInt32 {
                if s == "*" { return UInt32.max }
                guard let n = UInt32(s), n > 0 else {
                    throw IMAPParseError("bad number \(String(s).debugDescription) in set")
                }
                return n
            }
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            switch ends.count {
            case 1:
                let n = try number(ends[0])
                ranges.append(n...n)
            case 2:
                let a = try number(ends[0])
                let b = try number(ends[1])
                ranges.append(min(a, b)...max(a, b))
            default:
                throw IMAPParseError("bad set \(text.debugDescription)")
            }
        }
        return IMAPSequenceSet(ranges)
    }

    static func parseUntagged(_ r: inout Reader) throws(IMAPParseError) -> IMAPUntaggedResponse {
        if let d = r.peek(), d >= 0x30, d <= 0x39 {
            let n = try r.number()
            try r.expect(UInt8(ascii: " "))
            let word = try r.atom().uppercased()
            switch word {
            case "EXISTS": return .exists(n)
            case "EXPUNGE": return .expunge(n)
            case "RECENT": return .recent(n)
            case "FETCH":
                try r.expect(UInt8(ascii: " "))
                return .fetch(sequenceNumber: n, try parseFetch(&r))
            default:
                return .other(word, "\(n) " + r.restAsText())
            }
        }
        let word = try r.atom().uppercased()
        switch word {
        case "OK", "NO", "BAD", "BYE", "PREAUTH":
            let kind = IMAPUntaggedResponse.ConditionKind(rawValue: word) ?? .ok
            let (code, text) = try parseRespText(&r)
            return .condition(kind, code, text)
        case "CAPABILITY":
            if r.peek() == UInt8(ascii: " ") { r.advance() }
            return .capability(r.restAsText().split(separator: " ").map(String.init))
        case "FLAGS":
            if r.peek() == UInt8(ascii: " ") { r.advance() }
            return .flags(r.restAsText().trimmingParens().split(separator: " ").map(String.init))
        case "SEARCH":
            var uids: [UInt32] = []
            while r.peek() == UInt8(ascii: " ") {
                r.advance()
                if r.peek() == UInt8(ascii: "(") {
                    try r.skipValue(depth: 0)
                    continue
                }  // (MODSEQ n), RFC 7162
                let n = try r.number()
                guard n > 0, n <= Int(UInt32.max) else { throw IMAPParseError("bad number in SEARCH") }
                uids.append(UInt32(n))
            }
            return .search(uids)
        case "ESEARCH":
            return .esearch(try parseESearch(&r))
        default:
            if r.peek() == UInt8(ascii: " ") { r.advance() }
            return .other(word, r.restAsText())
        }
    }

    // esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
    static func parseESearch(_ r: inout Reader) throws(IMAPParseError) -> IMAPESearch {
        var out = IMAPESearch()
        while r.peek() == UInt8(ascii: " ") {
            r.advance()
            if r.peek() == UInt8(ascii: "(") {
                r.advance()
                let key = try r.atom().uppercased()
                try r.expect(UInt8(ascii: " "))
                let value = try r.astring()
                try r.expect(UInt8(ascii: ")"))
                if key == "TAG" { out.tag = String(decoding: value, as: UTF8.self) }
                continue
            }
            let key = try r.atom().uppercased()
            if key == "UID" {
                out.uid = true
                continue
            }
            try r.expect(UInt8(ascii: " "))
            switch key {
            case "ALL": out.all = try parseSet(try r.atomString())
            case "COUNT": out.count = try r.number()
            case "MIN": out.min = UInt32(clamping: try r.number())
            case "MAX": out.max = UInt32(clamping: try r.number())
            default: try r.skipValue(depth: 0)
            }
        }
        return out
    }

    // msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP (...)) ")"
    static func parseFetch(_ r: inout Reader) throws(IMAPParseError) -> IMAPFetchAttributes {
        var a = IMAPFetchAttributes()
        try r.expect(UInt8(ascii: "("))
        var first = true
        while true {
            if r.peek() == UInt8(ascii: ")") {
                r.advance()
                break
            }
            if !first { try r.expect(UInt8(ascii: " ")) }
            first = false
            let name = try r.fetchItemName()
            try r.expect(UInt8(ascii: " "))
            let upper = name.uppercased()
            switch upper {
            case "UID":
                let n = try r.number()
                guard n > 0, n <= Int(UInt32.max) else { throw IMAPParseError("bad UID \(n)") }
                a.uid = UInt32(n)
            case "RFC822.SIZE":
                a.rfc822Size = try r.number()
            case "FLAGS":
                a.flags = try r.flagList()
            case "INTERNALDATE":
                a.internalDate = try r.nstring().map { String(decoding: $0, as: UTF8.self) }
            default:
                if upper.hasPrefix("BODY[") || upper.hasPrefix("BINARY[") || upper == "RFC822" {
                    let section = sectionName(upper)
                    let value = try r.nstring()
                    if section.isEmpty {
                        a.body = value
                        a.bodyIsNil = value == nil
                    } else if let value {
                        a.sections[section] = value
                    }
                } else {
                    try r.skipValue(depth: 0)
                }
            }
        }
        return a
    }

    /// "BODY[HEADER]<0>" → "HEADER"; "BODY[]" and "RFC822" → "".
    static func sectionName(_ item: String) -> String {
        guard let open = item.firstIndex(of: "["), let close = item.lastIndex(of: "]"), open < close else { return "" }
        return String(item[item.index(after: open)..<close])
    }
}

extension String {
    func trimmingParens() -> String {
        var s = Substring(self)
        if s.first == "(" { s = s.dropFirst() }
        if s.last == ")" { s = s.dropLast() }
        return String(s)
    }
}

/// A cursor over one response's octets.
struct Reader {
    let bytes: [UInt8]
    var position = 0
    var end: Int

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.end = bytes.count
    }

    mutating func stripCRLF() throws(IMAPParseError) {
        guard end >= 2, bytes[end - 2] == 0x0D, bytes[end - 1] == 0x0A else {
            throw IMAPParseError("response does not end with CRLF")
        }
        end -= 2
    }

    func peek() -> UInt8? { position < end ? bytes[position] : nil }
    mutating func advance() { position += 1 }

    mutating func expect(_ b: UInt8) throws(IMAPParseError) {
        guard peek() == b else {
            throw IMAPParseError(
                "expected \(String(decoding: [b], as: UTF8.self).debugDescription), found \(peek().map { String(decoding: [$0], as: UTF8.self).debugDescription } ?? "end")",
                offset: position)
        }
        position += 1
    }

    func firstIndex(of b: UInt8) -> Int? {
        var i = position
        while i < end {
            if bytes[i] == b { return i }
            i += 1
        }
        return nil
    }

    mutating func take(upTo index: Int) -> [UInt8] {
        let out = Array(bytes[position..<index])
        position = index
        return out
    }

    mutating func restAsText() -> String {
        let out = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end
        return out
    }

    static func isAtomChar(_ b: UInt8) -> Bool {
        // ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
        guard b > 0x20, b < 0x7F else { return false }
        switch b {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            return false
        default:
            return true
        }
    }

    /// tag = 1*<any ASTRING-CHAR except "+">
    mutating func tag() throws(IMAPParseError) -> String {
        let s = position
        while let b = peek(), Reader.isAtomChar(b) || b == UInt8(ascii: "]"), b != UInt8(ascii: "+") { position += 1 }
        guard position > s else { throw IMAPParseError("expected a tag, * or +", offset: position) }
        return String(decoding: bytes[s..<position], as: UTF8.self)
    }

    mutating func atom() throws(IMAPParseError) -> String {
        let s = position
        while let b = peek(), Reader.isAtomChar(b) { position += 1 }
        guard position > s else { throw IMAPParseError("expected an atom", offset: position) }
        return String(decoding: bytes[s..<position], as: UTF8.self)
    }

    /// A run of non-space, non-paren characters (sequence sets contain `*` and `:`).
    mutating func atomString() throws(IMAPParseError) -> String {
        let s = position
        while let b = peek(), b > 0x20, b < 0x7F, b != UInt8(ascii: "("), b != UInt8(ascii: ")") { position += 1 }
        guard position > s else { throw IMAPParseError("expected a value", offset: position) }
        return String(decoding: bytes[s..<position], as: UTF8.self)
    }

    mutating func number() throws(IMAPParseError) -> Int {
        let s = position
        var v = 0
        while let b = peek(), b >= 0x30, b <= 0x39 {
            guard position - s < 18 else { throw IMAPParseError("number too long", offset: s) }
            v = v * 10 + Int(b - 0x30)
            position += 1
        }
        guard position > s else { throw IMAPParseError("expected a number", offset: position) }
        return v
    }

    /// A FETCH item name: `UID`, `RFC822.SIZE`, `BODY[HEADER.FIELDS (FROM)]<0>`.
    mutating func fetchItemName() throws(IMAPParseError) -> String {
        let s = position
        while let b = peek(), Reader.isAtomChar(b), b != UInt8(ascii: "[") { position += 1 }
        if peek() == UInt8(ascii: "[") {
            guard let close = firstIndex(of: UInt8(ascii: "]")) else {
                throw IMAPParseError("section without ]", offset: position)
            }
            position = close + 1
            if peek() == UInt8(ascii: "<") {
                guard let gt = firstIndex(of: UInt8(ascii: ">")) else {
                    throw IMAPParseError("partial without >", offset: position)
                }
                position = gt + 1
            }
        }
        guard position > s else { throw IMAPParseError("expected a FETCH item", offset: position) }
        return String(decoding: bytes[s..<position], as: UTF8.self)
    }

    /// nstring = string / "NIL"; string = quoted / literal
    mutating func nstring() throws(IMAPParseError) -> [UInt8]? {
        switch peek() {
        case UInt8(ascii: "\""): return try quoted()
        case UInt8(ascii: "{"), UInt8(ascii: "~"): return try literal()
        default:
            let a = try atom()
            guard a.uppercased() == "NIL" else {
                throw IMAPParseError("expected a string or NIL, found \(a.debugDescription)", offset: position)
            }
            return nil
        }
    }

    /// astring = 1*ASTRING-CHAR / string
    mutating func astring() throws(IMAPParseError) -> [UInt8] {
        switch peek() {
        case UInt8(ascii: "\""): return try quoted()
        case UInt8(ascii: "{"): return try literal()
        default:
            let s = position
            while let b = peek(), Reader.isAtomChar(b) || b == UInt8(ascii: "]") { position += 1 }
            guard position > s else { throw IMAPParseError("expected a string", offset: position) }
            return Array(bytes[s..<position])
        }
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE; the only escapes are \" and \\.
    mutating func quoted() throws(IMAPParseError) -> [UInt8] {
        try expect(UInt8(ascii: "\""))
        var out: [UInt8] = []
        while let b = peek() {
            position += 1
            switch b {
            case UInt8(ascii: "\""): return out
            case UInt8(ascii: "\\"):
                guard let e = peek(), e == UInt8(ascii: "\"") || e == UInt8(ascii: "\\") else {
                    throw IMAPParseError("invalid escape in quoted string", offset: position)
                }
                position += 1
                out.append(e)
            case 0x0D, 0x0A, 0x00:
                throw IMAPParseError("CR, LF or NUL in quoted string", offset: position - 1)
            default:
                out.append(b)
            }
        }
        throw IMAPParseError("unterminated quoted string", offset: position)
    }

    /// literal = "{" number64 ["+"] "}" CRLF *CHAR8; `~{n}` is literal8 (BINARY).
    mutating func literal() throws(IMAPParseError) -> [UInt8] {
        if peek() == UInt8(ascii: "~") { position += 1 }
        try expect(UInt8(ascii: "{"))
        let n = try number()
        if peek() == UInt8(ascii: "+") { position += 1 }
        try expect(UInt8(ascii: "}"))
        try expect(0x0D)
        try expect(0x0A)
        guard end - position >= n else { throw IMAPParseError("literal of \(n) octets is cut short", offset: position) }
        let out = Array(bytes[position..<(position + n)])
        position += n
        return out
    }

    mutating func flagList() throws(IMAPParseError) -> [String] {
        try expect(UInt8(ascii: "("))
        var flags: [String] = []
        while let b = peek(), b != UInt8(ascii: ")") {
            if b == UInt8(ascii: " ") {
                position += 1
                continue
            }
            let s = position
            while let c = peek(), c > 0x20, c < 0x7F, c != UInt8(ascii: ")"), c != UInt8(ascii: "(") { position += 1 }
            guard position > s else { throw IMAPParseError("bad flag", offset: position) }
            flags.append(String(decoding: bytes[s..<position], as: UTF8.self))
        }
        try expect(UInt8(ascii: ")"))
        return flags
    }

    /// Skips one value of any shape: list, string, literal, NIL, atom, number.
    mutating func skipValue(depth: Int) throws(IMAPParseError) {
        guard depth < IMAPResponseParser.maxDepth else {
            throw IMAPParseError("nesting deeper than \(IMAPResponseParser.maxDepth)", offset: position)
        }
        switch peek() {
        case UInt8(ascii: "("):
            position += 1
            while let b = peek(), b != UInt8(ascii: ")") {
                if b == UInt8(ascii: " ") {
                    position += 1
                    continue
                }
                try skipValue(depth: depth + 1)
            }
            try expect(UInt8(ascii: ")"))
        case UInt8(ascii: "\""): _ = try quoted()
        case UInt8(ascii: "{"), UInt8(ascii: "~"): _ = try literal()
        case nil: throw IMAPParseError("value expected at the end", offset: position)
        default:
            let s = position
            while let b = peek(), b > 0x20, b != UInt8(ascii: "("), b != UInt8(ascii: ")") {
                if b == UInt8(ascii: "[") {
                    guard let close = firstIndex(of: UInt8(ascii: "]")) else {
                        throw IMAPParseError("[ without ]", offset: position)
                    }
                    position = close + 1
                    continue
                }
                position += 1
            }
            guard position > s else { throw IMAPParseError("value expected", offset: position) }
        }
    }
}
