/// One `Received:` trace field (RFC 5321 §4.4): the hop it records. Pure
/// and total; what cannot be read stays nil.
///
///     Received: from client.example (client.example [192.0.2.1])
///             (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
///             by mx.example (Postfix) with ESMTPS id 4ABC for <a@example>;
///             Fri, 4 Dec 2026 10:00:00 +0000 (UTC)
public struct ReceivedField: Sendable, Hashable {
    /// The `from` host as the receiver wrote it (the HELO name, first word).
    public var from: String?
    /// The `by` host (the receiving server).
    public var by: String?
    /// The `with` protocol, upper-cased: `ESMTP`, `ESMTPS`, `ESMTPSA`, `LMTP`, `SMTP`, ...
    public var with: String?
    /// Whether the hop was encrypted: an `...S`/`...SA` protocol (RFC 3848),
    /// or a TLS note (`using TLS`, `with TLS`, `version=TLS`, `TLS1_3`).
    public var tls: Bool
    /// The timestamp after the last `;`.
    public var date: MessageDate?

    public init(
        from: String? = nil, by: String? = nil, with: String? = nil, tls: Bool = false, date: MessageDate? = nil
    ) {
        self.from = from
        self.by = by
        self.with = with
        self.tls = tls
        self.date = date
    }

    public init(parsing value: String) {
        let text = String(value.prefix(8 * 1024))
        var clauses = Substring(text)
        var dateText: Substring?
        if let semi = text.lastIndex(of: ";") {
            clauses = text[..<semi]
            dateText = text[text.index(after: semi)...]
        }
        date = dateText.flatMap { MessageDate(String($0)) }
        // Comments hold TLS notes; the clause words are read outside them.
        var words: [String] = []
        var comments = ""
        var depth = 0
        var word = ""
        for c in clauses {
            if c == "(" {
                depth += 1
                if depth == 1 {
                    if !word.isEmpty { words.append(word) }
                    word = ""
                    continue
                }
            }
            if c == ")" && depth > 0 {
                depth -= 1
                if depth == 0 {
                    comments += " "
                    continue
                }
            }
            if depth > 0 {
                comments.append(c)
            } else if c == " " || c == "\t" || c == "\r" || c == "\n" {
                if !word.isEmpty { words.append(word) }
                word = ""
            } else {
                word.append(c)
            }
        }
        if !word.isEmpty { words.append(word) }
        func after(_ key: String) -> String? {
            guard let i = words.firstIndex(where: { $0.asciiLowercased == key }), i + 1 < words.count else {
                return nil
            }
            return words[i + 1]
        }
        from = after("from")
        by = after("by")
        with = after("with")?.uppercased()
        let proto = with ?? ""
        let secureProtocol = ["ESMTPS", "ESMTPSA", "UTF8SMTPS", "UTF8SMTPSA", "LMTPS", "LMTPSA"].contains(proto)
        let c = comments.asciiLowercased
        let note =
            c.contains("using tls") || c.contains("with tls") || c.contains("version=tls") || c.contains("tls1_")
            || c.contains("tlsv1")
        let wordNote = words.contains { $0.asciiLowercased == "tls" } && words.contains { $0.asciiLowercased == "with" }
        tls = secureProtocol || note || wordNote
    }

    /// The hops of a message, from the `Received:` values topmost first
    /// (the last hop first, as they are stacked).
    public static func chain(_ values: [String]) -> [ReceivedField] {
        values.prefix(100).map { ReceivedField(parsing: $0) }
    }
}
