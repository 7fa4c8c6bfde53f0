import MailCore

/// Address forms found in delivery reports, reduced to the plain mailbox `local@domain`.
///
/// - `rfc822; user@host`, and the mistyped types seen in the wild (`rfc/822;`, `RFC-822;`,
///   `rfc 822;`, `SMTP;`): the type is lower-cased and stripped of everything but letters and
///   digits (`rfc822`), RFC 3464 §2.3.2 makes types case-insensitive;
/// - `<user@host>` and `Name <user@host>`: the angle-bracketed addr-spec;
/// - source routes `@relay1,@relay2:user@host`, with or without angle brackets: the route is
///   dropped (RFC 5321 §4.1.2, §C: receivers must accept and may ignore it);
/// - quoted local parts that need no quoting (`"user"@host`): unquoted, RFC 5321 §4.1.2 makes
///   `"user"` and `user` the same local part. A local part that needs its quotes keeps them.
public enum ReportAddress {
    /// The address type of a `type; address` value: lower-case letters and digits only.
    public static func normaliseType(_ raw: Substring) -> String {
        String(
            decoding: raw.utf8.filter { $0.isASCIILetter || $0.isASCIIDigit }.map { $0.lowercasedASCIIByte },
            as: UTF8.self)
    }

    /// True when `s` (before a `;`) reads as an address type: at most 32 letters, digits, and the
    /// separators `-._/` and blanks that mistyped types carry.
    static func looksLikeType(_ s: Substring) -> Bool {
        let t = s.utf8
        guard !t.isEmpty, t.count <= 32 else { return false }
        var letters = 0
        for c in t {
            if c.isASCIILetter {
                letters += 1
                continue
            }
            if c.isASCIIDigit || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x2F || c == 0x20 || c == 0x09 { continue }
            return false
        }
        return letters > 0
    }

    /// Splits `type; value` (the type may be mistyped) and reduces the value to a mailbox.
    public static func typed(_ raw: String) -> TypedValue {
        var type = "unknown"
        var value = Substring(raw)
        if let semi = raw.firstIndex(of: ";"), looksLikeType(raw[..<semi]) {
            type = normaliseType(raw[..<semi])
            value = raw[raw.index(after: semi)...]
        }
        return TypedValue(type: type, value: String(value).trimmedBlanks)
    }

    /// The plain mailbox in an address value (see the type's doc comment).
    public static func mailbox(_ raw: String) -> String {
        var v = raw.trimmedBlanks
        if let spec = AddressParser.addrSpec(in: v) { v = spec }
        v = dropSourceRoute(v)
        if v.hasPrefix("<") { v.removeFirst() }
        if v.hasSuffix(">") && !v.hasSubstring("<") { v.removeLast() }
        return unquoteLocalPart(v.trimmedBlanks)
    }

    /// `@a,@b:user@host` → `user@host`.
    static func dropSourceRoute(_ v: String) -> String {
        var t = Substring(v)
        if t.hasPrefix("<") { t = t.dropFirst() }
        guard t.hasPrefix("@"), let colon = t.firstIndex(of: ":"), t[t.index(after: colon)...].contains("@") else {
            return v
        }
        var rest = String(t[t.index(after: colon)...])
        if rest.hasSuffix(">") { rest.removeLast() }
        return rest
    }

    /// `"user.name"@host` → `user.name@host` when the unquoted local part is a dot-atom.
    static func unquoteLocalPart(_ v: String) -> String {
        guard v.hasPrefix("\""), let at = v.lastIndex(of: "@"), at > v.startIndex else { return v }
        let local = v[..<at]
        guard local.count >= 2, local.hasSuffix("\"") else { return v }
        let inner = local.dropFirst().dropLast()
        guard isDotAtom(inner) else { return v }
        return String(inner) + v[at...]
    }

    /// RFC 5322 §3.2.3 dot-atom-text.
    static func isDotAtom(_ s: Substring) -> Bool {
        guard !s.isEmpty, s.first != ".", s.last != ".", !s.contains("..") else { return false }
        for c in s.utf8 {
            if c.isASCIILetter || c.isASCIIDigit { continue }
            if c >= 0x80 { continue }  // RFC 6531 UTF-8 local parts
            if "!#$%&'*+-/=?^_`{|}~.".utf8.contains(c) { continue }
            return false
        }
        return true
    }
}
