/// A header section: fields in order, looked up case-insensitively.
///
/// - SeeAlso: RFC 5322 §2.2 (unstructured folding), §4.5 (obsolete syntax: blanks before the colon).
public struct HeaderSection: Sendable, Hashable {
    public var fields: [HeaderField]

    public init(fields: [HeaderField] = []) { self.fields = fields }

    /// The first field with this name (case-insensitive).
    public subscript(name: String) -> HeaderField? {
        // Borrow the fields while comparing; only the match is copied (retained).
        guard let i = firstIndex(name, from: 0) else { return nil }
        return fields[i]
    }

    /// The index of the first field named `name` at or after `from`, comparing in place.
    func firstIndex(_ name: String, from: Int) -> Int? {
        let key = HeaderField.key(name)
        let short = name.utf8.count <= 7  // the key holds the whole name
        return fields.withUnsafeBufferPointer { buf -> Int? in
            var i = from
            while i < buf.count {
                if buf[i].nameKey == key && (short || buf[i].hasName(name)) { return i }
                i += 1
            }
            return nil
        }
    }

    /// The unfolded value of the first field with this name.
    public func value(_ name: String) -> String? { self[name]?.value }

    /// All fields with this name, in order.
    public func all(_ name: String) -> [HeaderField] {
        var out: [HeaderField] = []
        var i = 0
        while let k = firstIndex(name, from: i) {
            out.append(fields[k])
            i = k + 1
        }
        return out
    }

    public var isEmpty: Bool { fields.isEmpty }
}

extension HeaderSection {
    /// Parses a header section at the start of `bytes`.
    ///
    ///     field     = name *WSP ":" value CRLF *( WSP continuation CRLF )
    ///     section   = *field CRLF
    ///
    /// Lines end at CRLF, LF or lone CR. A colon-less line that is not indented is skipped; it never
    /// ends the section. Only an empty line (or the end of the data) ends it.
    /// - Returns: the section and the index where the body starts.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> (header: HeaderSection, bodyStart: Int) {
        let base = bytes.startIndex
        return bytes.withUnsafeBufferPointer { buf in
            var fields: [HeaderField] = []
            fields.reserveCapacity(16)
            var i = 0
            let limit = buf.count
            var currentName: Range<Int>?
            var valueStart = 0
            var valueEnd = 0
            func flush() {
                if let n = currentName {
                    let key = HeaderField.key(
                        UnsafeBufferPointer(rebasing: buf[(n.lowerBound - base)..<(n.upperBound - base)]))
                    fields.append(
                        HeaderField(
                            nameBytes: bytes[n], rawValue: bytes[(base + valueStart)..<(base + valueEnd)],
                            nameKey: key))
                    currentName = nil
                }
            }
            while i < limit {
                let line = ByteScan.line(in: buf, from: i, limit: limit)
                if line.end == line.start {
                    // Empty line: end of the header section.
                    flush()
                    return (HeaderSection(fields: fields), base + line.next)
                }
                let first = buf[line.start]
                if first == ASCII.space || first == ASCII.tab {
                    if currentName != nil { valueEnd = line.end }
                    i = line.next
                    continue
                }
                // Find the colon; the name is printable ASCII without blanks (blanks before the colon allowed).
                var j = line.start
                var nameEnd = -1
                var valid = true
                // Fast path over ordinary name bytes (printable, not ':'); the loop below handles the rest.
                while j < line.end {
                    let b = buf[j]
                    if b == ASCII.colon || b &- 0x21 > 0x5D { break }
                    j += 1
                }
                while j < line.end {
                    let b = buf[j]
                    if b == ASCII.colon { break }
                    if b.isBlank {
                        if nameEnd < 0 { nameEnd = j }
                    } else if b < 0x21 || b > 0x7E || nameEnd >= 0 {
                        valid = false
                        break
                    }
                    j += 1
                }
                if valid && j < line.end && j > line.start {
                    if nameEnd < 0 { nameEnd = j }
                    if nameEnd > line.start {
                        flush()
                        currentName = (base + line.start)..<(base + nameEnd)
                        valueStart = j + 1
                        valueEnd = line.end
                        i = line.next
                        continue
                    }
                }
                // Colon-less or broken line: skipped (it never ends the header).
                i = line.next
            }
            flush()
            return (HeaderSection(fields: fields), base + limit)
        }
    }
}
