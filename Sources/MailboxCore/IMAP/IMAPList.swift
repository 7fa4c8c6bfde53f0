/// One `* LIST` response (RFC 9051 §7.3.1) with its attributes, among them
/// the RFC 6154 special-use ones (`\Junk`, `\Sent`, ...).
public struct IMAPListEntry: Hashable, Sendable {
    /// As written, e.g. `\HasNoChildren`, `\Junk`.
    public var attributes: [String]
    public var delimiter: String?
    public var name: String

    public init(attributes: [String], delimiter: String?, name: String) {
        self.attributes = attributes
        self.delimiter = delimiter
        self.name = name
    }

    /// Whether the mailbox carries the special-use attribute (`\Junk`), case-insensitively.
    public func has(_ attribute: String) -> Bool {
        attributes.contains { $0.lowercased() == attribute.lowercased() }
    }

    /// Parses what follows `* LIST `: `(attrs) delimiter name`, the delimiter
    /// quoted or NIL, the name an atom or a quoted string. nil for anything
    /// else (literal names included: a Junk folder is never named so).
    public init?(parsing rest: String) {
        var s = Substring(rest.prefix(4096))
        guard s.first == "(", let close = s.firstIndex(of: ")") else { return nil }
        attributes = s[s.index(after: s.startIndex)..<close].split(separator: " ").map(String.init)
        s = s[s.index(after: close)...].drop { $0 == " " }
        guard let (delimiter, afterDelimiter) = Self.string(s) else { return nil }
        self.delimiter = delimiter
        s = afterDelimiter.drop { $0 == " " }
        guard let (name, tail) = Self.string(s), let name, tail.allSatisfy({ $0 == " " }) else { return nil }
        self.name = name
    }

    /// A quoted string, `NIL` (nil) or an atom, and what follows it.
    private static func string(_ s: Substring) -> (String?, Substring)? {
        if s.first == "\"" {
            var out = ""
            var i = s.index(after: s.startIndex)
            while i < s.endIndex {
                let c = s[i]
                if c == "\\" {
                    i = s.index(after: i)
                    guard i < s.endIndex else { return nil }
                    out.append(s[i])
                } else if c == "\"" {
                    return (out, s[s.index(after: i)...])
                } else {
                    out.append(c)
                }
                i = s.index(after: i)
            }
            return nil
        }
        let end = s.firstIndex(of: " ") ?? s.endIndex
        let atom = s[..<end]
        guard !atom.isEmpty, !atom.contains("{"), !atom.contains("("), !atom.contains(")") else { return nil }
        if atom.uppercased() == "NIL" { return (nil, s[end...]) }
        return (String(atom), s[end...])
    }
}

/// An IMAP `date-time` (RFC 9051 §9: `"dd-Mon-yyyy hh:mm:ss +zzzz"`, the day
/// possibly space-padded), as INTERNALDATE gives it.
public enum IMAPDateTime {
    /// Seconds since 1970 (UTC), or nil when `text` is not a date-time.
    public static func secondsSince1970(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(in: " \"")
        let parts = t.split(separator: " ")
        guard parts.count == 3 else { return nil }
        let date = parts[0].split(separator: "-")
        let time = parts[1].split(separator: ":")
        let zone = parts[2]
        guard date.count == 3, time.count == 3, zone.count == 5, let sign = zone.first, sign == "+" || sign == "-",
            let day = Int(date[0]),
            let month = IMAPDate.months.firstIndex(where: { $0.lowercased() == date[1].lowercased() }),
            let year = Int(date[2]), let h = Int(time[0]), let m = Int(time[1]), let sec = Int(time[2]),
            let zh = Int(zone.dropFirst().prefix(2)), let zm = Int(zone.suffix(2)),
            (1...31).contains(day), (1...9999).contains(year), (0...23).contains(h), (0...59).contains(m),
            (0...60).contains(sec), zm < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month + 1, day: day)
        let offset = Int64((zh * 60 + zm) * 60) * (sign == "-" ? -1 : 1)
        return days * 86400 + Int64(h * 3600 + m * 60 + sec) - offset
    }

    /// Days since 1970-01-01 (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
