/// A parsed `Content-Type` (or `Content-Disposition`) value.
///
///     content-type = type "/" subtype *( ";" parameter )
///     parameter    = attribute "=" ( token / quoted-string )
///     RFC 2231     = name*=charset'lang'%XX  /  name*0=…  name*1*=…
///
/// Type, subtype and parameter names are lower-cased; parameter values keep their case.
/// - SeeAlso: RFC 2045 §5.1, RFC 2231 §3–4.
public struct ContentType: Sendable, Hashable {
    public var type: String
    public var subtype: String
    public var parameters: [String: String]

    public init(type: String, subtype: String, parameters: [String: String] = [:]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    public static let textPlain = ContentType(type: "text", subtype: "plain", parameters: ["charset": "us-ascii"])
    public static let messageRFC822 = ContentType(type: "message", subtype: "rfc822")

    public var mimeType: String { type + "/" + subtype }
    public var isMultipart: Bool { type == "multipart" }
    public var boundary: String? { parameters["boundary"] }
    public var charset: String? { parameters["charset"] }

    /// Parses a header value; returns nil when there is no `type/subtype`.
    public init?(headerValue: String) {
        self.init(bytes: Array(headerValue.utf8))
    }

    /// Parses an unfolded header value given as bytes.
    public init?(bytes: [UInt8]) {
        var i = 0
        let n = bytes.count
        func skipCFWS() {
            while i < n {
                if bytes[i].isWhitespace {
                    i += 1
                    continue
                }
                if bytes[i] == ASCII.openParen {
                    var depth = 0
                    while i < n {
                        if bytes[i] == ASCII.backslash {
                            i += 2
                            continue
                        }
                        if bytes[i] == ASCII.openParen { depth += 1 }
                        if bytes[i] == ASCII.closeParen {
                            depth -= 1
                            if depth == 0 {
                                i += 1
                                break
                            }
                        }
                        i += 1
                    }
                    continue
                }
                break
            }
        }
        func token() -> String {
            let s = i
            while i < n {
                let b = bytes[i]
                if b <= 0x20 || b == ASCII.semicolon || b == ASCII.equals || b == 0x2F || b == ASCII.quote
                    || b == ASCII.openParen || b == 0x2C
                {
                    break
                }
                i += 1
            }
            return lowercasedString(bytes[s..<min(i, n)])
        }
        skipCFWS()
        let t = token()
        skipCFWS()
        guard !t.isEmpty, i < n, bytes[i] == 0x2F else { return nil }
        i += 1
        skipCFWS()
        let st = token()
        guard !st.isEmpty else { return nil }
        type = t
        subtype = st
        parameters = ContentType.parseParameters(bytes, from: i)
    }

    /// Parses `*( ";" attribute "=" value )` including RFC 2231 continuations and charsets.
    public static func parseParameters(_ bytes: [UInt8], from start: Int) -> [String: String] {
        var i = start
        let n = bytes.count
        var simple: [String: String] = [:]
        // name -> [(section, value, encoded)]
        var sections: [String: [(Int, [UInt8], Bool)]] = [:]
        while i < n {
            // Find the next ';'.
            while i < n && bytes[i] != ASCII.semicolon { i += 1 }
            if i >= n { break }
            i += 1
            while i < n && bytes[i].isWhitespace { i += 1 }
            let ns = i
            while i < n && bytes[i] != ASCII.equals && bytes[i] != ASCII.semicolon && !bytes[i].isWhitespace { i += 1 }
            let rawName = lowercasedString(bytes[ns..<i])
            let hasStar = bytes[ns..<i].contains(0x2A)
            while i < n && bytes[i].isWhitespace { i += 1 }
            guard i < n, bytes[i] == ASCII.equals, !rawName.isEmpty else { continue }
            i += 1
            while i < n && bytes[i].isWhitespace { i += 1 }
            var value: [UInt8] = []
            if i < n && bytes[i] == ASCII.quote {
                i += 1
                while i < n && bytes[i] != ASCII.quote {
                    if bytes[i] == ASCII.backslash && i + 1 < n { i += 1 }
                    value.append(bytes[i])
                    i += 1
                }
                if i < n { i += 1 }
            } else {
                while i < n && bytes[i] != ASCII.semicolon {
                    value.append(bytes[i])
                    i += 1
                }
                while let last = value.last, last.isWhitespace { value.removeLast() }
            }
            // RFC 2231: name*, name*N, name*N*
            if hasStar, let star = rawName.utf8.firstIndex(of: 0x2A) {
                let base = String(rawName[..<star])
                var rest = rawName[rawName.index(after: star)...]
                var encoded = false
                var section = 0
                if rest.hasSuffix("*") {
                    encoded = true
                    rest = rest.dropLast()
                }
                if rest.isEmpty {
                    encoded = true  // "name*=" is the single encoded form
                } else if let num = Int(rest) {
                    section = num
                } else {
                    simple[rawName] = decodeUTF8OrLatin1(value)
                    continue
                }
                if section > 1000 { continue }
                sections[base, default: []].append((section, value, encoded))
            } else if simple[rawName] == nil {
                simple[rawName] = decodeUTF8OrLatin1(value)
            }
        }
        for (name, parts) in sections {
            let sorted = parts.sorted { $0.0 < $1.0 }
            var charset = "us-ascii"
            var joined: [UInt8] = []
            for (idx, part) in sorted.enumerated() {
                var v = part.1[...]
                if part.2 {
                    if idx == 0 {
                        // charset'lang'value
                        if let q1 = v.firstIndex(of: 0x27), let q2 = v[(q1 + 1)...].firstIndex(of: 0x27) {
                            charset = String(decoding: v[v.startIndex..<q1], as: UTF8.self)
                            v = v[(q2 + 1)...]
                        }
                    }
                    joined.append(contentsOf: percentDecode(v))
                } else {
                    joined.append(contentsOf: v)
                }
            }
            simple[name] = Charset.decode(joined, charset: charset.isEmpty ? "us-ascii" : charset).string
        }
        return simple
    }

    static func percentDecode(_ v: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = v.startIndex
        while i < v.endIndex {
            if v[i] == 0x25, i + 2 < v.endIndex, let h = v[i + 1].hexValue, let l = v[i + 2].hexValue {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(v[i])
                i += 1
            }
        }
        return out
    }
}
