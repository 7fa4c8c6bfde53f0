/// A quick look at a message's header section for listings: From, Subject,
/// Message-ID, and whether it is a `multipart/report` (a plain header scan;
/// the real report parser lives in DeliveryReports).
public struct MessageSummary: Hashable, Sendable, Codable {
    public var from: String?
    public var subject: String?
    public var messageID: String?
    public var contentType: String?
    public var probeToken: String?
    public var isMultipartReport: Bool

    public init(_ bytes: [UInt8]) {
        let fields = MessageSummary.headerFields(bytes)
        func field(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }
        from = field("from")
        subject = field("subject")
        messageID = field("message-id")
        contentType = field("content-type")
        probeToken = field("x-roundtrip-probe")
        let type = contentType?.lowercased().split(separator: ";").first.map { $0.trimmingCharacters(in: " \t") } ?? ""
        isMultipartReport = type == "multipart/report"
    }

    /// Unfolded (name lower-cased, value) pairs of the header section; LF or CRLF line ends.
    public static func headerFields(_ bytes: [UInt8], limit: Int = 256 * 1024) -> [(String, String)] {
        var fields: [(String, String)] = []
        var lines: [String] = []
        // Split on LF octets: a String would treat CRLF as one character.
        for raw in bytes.prefix(limit).split(separator: 0x0A, omittingEmptySubsequences: false) {
            let line = raw.last == 0x0D ? raw.dropLast() : raw
            if line.isEmpty { break }
            lines.append(String(decoding: line, as: UTF8.self))
        }
        var current: (String, String)?
        for line in lines {
            if line.first == " " || line.first == "\t" {
                current?.1 += " " + line.trimmingCharacters(in: " \t")
                continue
            }
            if let c = current { fields.append(c) }
            current = nil
            guard let colon = line.firstIndex(of: ":") else { continue }
            current = (
                line[..<colon].trimmingCharacters(in: " \t").lowercased(),
                line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            )
        }
        if let c = current { fields.append(c) }
        return fields
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
