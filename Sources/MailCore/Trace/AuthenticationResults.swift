/// One `Authentication-Results:` header field (RFC 8601): who evaluated
/// (authserv-id) and what each method concluded. Pure and total: any input
/// gives a value (unparsable method entries are skipped), never a crash.
public struct AuthenticationResults: Sendable, Hashable, Codable {
    /// The authserv-id as written (compare with `identifies(_:)`).
    public var authservID: String
    /// The method results in order; empty for `none`.
    public var results: [Method]

    public struct Method: Sendable, Hashable, Codable {
        /// Lower-cased: `spf`, `dkim`, `dmarc`, `arc`, ...
        public var method: String
        /// Lower-cased: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, `policy`, ...
        public var result: String
        public var reason: String?
        /// `ptype.property` (ptype and property lower-cased) → value, e.g. `header.d` → `example.org`.
        public var properties: [String: String]

        public init(method: String, result: String, reason: String? = nil, properties: [String: String] = [:]) {
            self.method = method
            self.result = result
            self.reason = reason
            self.properties = properties
        }
    }

    public init(authservID: String, results: [Method]) {
        self.authservID = authservID
        self.results = results
    }

    /// Whether the field was added by `id` (authserv-ids compare case-insensitively, RFC 8601 §2.5).
    public func identifies(_ id: String) -> Bool { authservID.asciiLowercased == id.asciiLowercased }

    /// The results of one method (`dkim` may give several, one per signature).
    public func results(for method: String) -> [Method] {
        let m = method.asciiLowercased
        return results.filter { $0.method == m }
    }

    /// Parses the field's (unfolded) value; nil when it has no authserv-id.
    public init?(parsing value: String) {
        let tokens = Self.tokenize(value.prefix(16 * 1024))
        // Split into `;`-separated statements.
        var statements: [[Token]] = [[]]
        for t in tokens {
            if case .semicolon = t { statements.append([]) } else { statements[statements.count - 1].append(t) }
        }
        guard let first = statements.first, case .word(let id)? = first.first, !id.isEmpty else { return nil }
        authservID = id
        results = []
        for statement in statements.dropFirst() {
            if let m = Self.method(statement) { results.append(m) }
        }
    }

    // MARK: Lexing

    enum Token: Hashable {
        case word(String)
        case equals
        case semicolon
        case slash
    }

    /// Words (atoms, dot-atoms, quoted strings unquoted), `=`, `;`, `/`; comments dropped.
    static func tokenize(_ text: Substring) -> [Token] {
        var out: [Token] = []
        var word = ""
        var i = text.startIndex
        func flush() {
            if !word.isEmpty { out.append(.word(word)) }
            word = ""
        }
        while i < text.endIndex {
            let c = text[i]
            switch c {
            case "(":
                flush()
                var depth = 0
                while i < text.endIndex {
                    let d = text[i]
                    if d == "\\" {
                        i = text.index(after: i)
                        if i < text.endIndex { i = text.index(after: i) }
                        continue
                    }
                    if d == "(" { depth += 1 }
                    if d == ")" {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    i = text.index(after: i)
                }
            case "\"":
                flush()
                i = text.index(after: i)
                var quoted = ""
                while i < text.endIndex, text[i] != "\"" {
                    if text[i] == "\\" {
                        i = text.index(after: i)
                        if i == text.endIndex { break }
                    }
                    quoted.append(text[i])
                    i = text.index(after: i)
                }
                out.append(.word(quoted))
            case "=":
                flush()
                out.append(.equals)
            case ";":
                flush()
                out.append(.semicolon)
            case "/":
                flush()
                out.append(.slash)
            case " ", "\t", "\r", "\n": flush()
            default: word.append(c)
            }
            if i < text.endIndex { i = text.index(after: i) }
        }
        flush()
        return out
    }

    /// `method [/ version] = result [reason = value] *(ptype.property = value)`.
    static func method(_ s: [Token]) -> Method? {
        var i = 0
        guard i < s.count, case .word(let name) = s[i] else { return nil }
        i += 1
        if i < s.count, case .slash = s[i] { i += 2 }  // method version
        guard i + 1 < s.count, case .equals = s[i], case .word(let result) = s[i + 1] else { return nil }
        i += 2
        var m = Method(method: name.asciiLowercased, result: result.asciiLowercased)
        while i + 2 < s.count {
            guard case .word(let key) = s[i], case .equals = s[i + 1], case .word(let value) = s[i + 2] else {
                i += 1
                continue
            }
            let k = key.asciiLowercased
            if k == "reason" { m.reason = value } else if k.contains(".") { m.properties[k] = value }
            i += 3
        }
        return m
    }
}

/// What the receiving side concluded about a message: the results of the
/// `Authentication-Results` fields added by the one authserv-id trusted.
public struct AuthenticationSummary: Sendable, Hashable, Codable {
    public struct DKIM: Sendable, Hashable, Codable {
        public var result: String
        /// `header.d`, `header.s` (and `header.i` when only it is given).
        public var domain: String?
        public var selector: String?

        public init(result: String, domain: String? = nil, selector: String? = nil) {
            self.result = result
            self.domain = domain
            self.selector = selector
        }
    }

    public var authservID: String
    public var spf: String?
    public var dkim: [DKIM]
    public var dmarc: String?
    public var arc: String?

    public init(authservID: String, spf: String? = nil, dkim: [DKIM] = [], dmarc: String? = nil, arc: String? = nil) {
        self.authservID = authservID
        self.spf = spf
        self.dkim = dkim
        self.dmarc = dmarc
        self.arc = arc
    }

    /// From the message's `Authentication-Results` values, topmost first:
    /// only those added by `trusted` (default: the topmost field's
    /// authserv-id; fields below from other ids are someone else's claims).
    /// nil when no field is there (or none from `trusted`).
    public static func from(_ values: [String], trusted: String? = nil) -> AuthenticationSummary? {
        let parsed = values.compactMap { AuthenticationResults(parsing: $0) }
        guard let id = trusted ?? parsed.first?.authservID else { return nil }
        let mine = parsed.filter { $0.identifies(id) }
        guard !mine.isEmpty else { return nil }
        var s = AuthenticationSummary(authservID: mine[0].authservID)
        for m in mine.flatMap(\.results) {
            switch m.method {
            case "spf": s.spf = s.spf ?? m.result
            case "dmarc": s.dmarc = s.dmarc ?? m.result
            case "arc": s.arc = s.arc ?? m.result
            case "dkim":
                s.dkim.append(
                    DKIM(
                        result: m.result, domain: m.properties["header.d"] ?? m.properties["header.i"].map(domainOf),
                        selector: m.properties["header.s"]))
            default: break
            }
        }
        return s
    }

    private static func domainOf(_ identity: String) -> String {
        identity.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? identity
    }

    /// A DKIM or DMARC result that says the probe is not what it claims.
    public var hasFailure: Bool {
        dkim.contains { $0.result == "fail" } || dmarc == "fail"
    }
}
