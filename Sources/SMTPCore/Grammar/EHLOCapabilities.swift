/// The extensions a server advertised in its EHLO reply.
///
///     ehlo-ok-rsp = "250" SP Domain [ SP ehlo-greet ] CRLF
///                 / "250-" Domain [ SP ehlo-greet ] CRLF
///                   *( "250-" ehlo-line CRLF ) "250" SP ehlo-line CRLF
///     ehlo-line   = ehlo-keyword *( SP ehlo-param )
///
/// - SeeAlso: RFC 5321 §4.1.1.1
public struct EHLOCapabilities: Hashable, Sendable {
    /// The server's name from the first line.
    public let serverName: String
    public let greeting: String
    /// Keywords in the order advertised, upper-cased, with their parameters.
    public let extensions: [Extension]

    public struct Extension: Hashable, Sendable {
        public let keyword: String
        public var parameters: [String]
    }

    public init(reply: SMTPReply) {
        let first = reply.lines.first ?? ""
        let parts = first.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        serverName = parts.first.map(String.init) ?? ""
        greeting = parts.count > 1 ? String(parts[1]) : ""
        var ext: [Extension] = []
        for line in reply.lines.dropFirst() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard var keyword = words.first?.uppercased(), !keyword.isEmpty else { continue }
            var params = Array(words.dropFirst())
            // Legacy "AUTH=LOGIN PLAIN" line.
            if keyword.hasPrefix("AUTH=") {
                let first = String(keyword.dropFirst(5))
                if !first.isEmpty { params.insert(first, at: 0) }
                keyword = "AUTH"
            }
            if let idx = ext.firstIndex(where: { $0.keyword == keyword }) {
                for p in params where !ext[idx].parameters.contains(where: { $0.uppercased() == p.uppercased() }) {
                    ext[idx].parameters.append(p)
                }
            } else {
                ext.append(Extension(keyword: keyword, parameters: params))
            }
        }
        extensions = ext
    }

    /// HELO: no extensions at all.
    public init(heloReply: SMTPReply) {
        let first = heloReply.lines.first ?? ""
        serverName = first.split(separator: " ").first.map(String.init) ?? ""
        greeting = ""
        extensions = []
    }

    public func supports(_ keyword: String) -> Bool {
        let k = keyword.uppercased()
        return extensions.contains { $0.keyword == k }
    }

    public func parameters(of keyword: String) -> [String]? {
        let k = keyword.uppercased()
        return extensions.first { $0.keyword == k }?.parameters
    }

    public var keywords: [String] { extensions.map(\.keyword) }

    public var dsn: Bool { supports("DSN") }
    public var startTLS: Bool { supports("STARTTLS") }
    public var pipelining: Bool { supports("PIPELINING") }
    public var eightBitMIME: Bool { supports("8BITMIME") }
    public var smtpUTF8: Bool { supports("SMTPUTF8") }
    public var enhancedStatusCodes: Bool { supports("ENHANCEDSTATUSCODES") }
    public var chunking: Bool { supports("CHUNKING") }

    /// SIZE: nil when not advertised, 0 when advertised without a fixed limit.
    public var sizeLimit: Int? {
        guard let p = parameters(of: "SIZE") else { return nil }
        // Digits only: Int() would also take "-5" or "+5".
        guard let value = p.first, !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return 0 }
        return Int(value) ?? 0
    }

    /// AUTH mechanisms, upper-cased.
    public var authMechanisms: [String] {
        (parameters(of: "AUTH") ?? []).map { $0.uppercased() }
    }
}
