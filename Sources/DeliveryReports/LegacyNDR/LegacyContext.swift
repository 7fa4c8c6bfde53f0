import MailCore

/// What the legacy recognisers look at: the report's header and its human-readable text
/// (text parts outside any returned message, charset-converted to UTF-8, HTML tags removed).
public struct LegacyContext: Sendable {
    public let message: MIMEPart
    /// `From:` decoded and lower-cased.
    public let from: String
    /// `Subject:` decoded and lower-cased.
    public let subject: String
    /// The human-readable text as UTF-8 bytes.
    public let text: [UInt8]
    /// `text` with ASCII letters lower-cased (same indices).
    public let lower: [UInt8]
    /// Where the human-readable text ends: the offset in `text` of the first delivery-status
    /// part's body appended after it (`text.count` when there is none).
    public let humanTextEnd: Int
    /// Which adjacent byte pairs occur in `lower`, hashed into 4096 bits. A marker with a pair that
    /// never occurs cannot be in the text, so most marker searches end without scanning it.
    let pairBits: [UInt64]

    public init(message: MIMEPart) {
        self.message = message
        from = (message.header["from"]?.decodedValue ?? "").asciiLowercased
        subject = (message.header["subject"]?.decodedValue ?? "").asciiLowercased
        var text: [UInt8] = []
        var statusAt: Int? = nil
        LegacyContext.collectText(message, into: &text, statusAt: &statusAt)
        self.text = text
        humanTextEnd = statusAt ?? text.count
        var lower = [UInt8](repeating: 0, count: text.count)
        var bits = [UInt64](repeating: 0, count: 64)
        text.withUnsafeBufferPointer { t in
            lower.withUnsafeMutableBufferPointer { l in
                // Lower-case 16 bytes at a time, then record the pairs.
                let n = t.count
                var i = 0
                if let src = t.baseAddress, let dst = l.baseAddress {
                    let upperA = SIMD16<UInt8>(repeating: 0x41)
                    let span = SIMD16<UInt8>(repeating: 25)
                    let bit = SIMD16<UInt8>(repeating: 0x20)
                    while i + 16 <= n {
                        let v = UnsafeRawPointer(src).loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                        let isUpper = (v &- upperA) .<= span
                        let lowered = v | bit.replacing(with: 0, where: .!isUpper)
                        UnsafeMutableRawPointer(dst).storeBytes(of: lowered, toByteOffset: i, as: SIMD16<UInt8>.self)
                        i += 16
                    }
                }
                while i < n {
                    l[i] = t[i].lowercasedASCIIByte
                    i += 1
                }
                bits.withUnsafeMutableBufferPointer { pb in
                    guard n >= 2 else { return }
                    var prev = UInt32(l[0] & 0x3F)
                    for j in 1..<n {
                        let cur = UInt32(l[j] & 0x3F)
                        let k = Int(prev << 6 | cur)
                        pb[k >> 6] |= 1 << UInt64(k & 63)
                        prev = cur
                    }
                }
            }
        }
        self.lower = lower
        pairBits = bits
    }

    /// False when `needle` certainly does not occur in `lower` (see `pairBits`).
    func mayContain(_ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        guard needle.count >= 2 else { return true }
        return pairBits.withUnsafeBufferPointer { pb in
            var prev = UInt32(needle[0] & 0x3F)
            for i in 1..<needle.count {
                let cur = UInt32(needle[i] & 0x3F)
                let k = Int(prev << 6 | cur)
                if pb[k >> 6] & (1 << UInt64(k & 63)) == 0 { return false }
                prev = cur
            }
            return true
        }
    }

    static func collectText(_ part: MIMEPart, into out: inout [UInt8], statusAt: inout Int?) {
        let ct = part.contentType
        if !part.children.isEmpty {
            var sawPlain = false
            if ct.subtype == "alternative" {
                // Prefer the plain alternative.
                for c in part.children where c.contentType.type == "text" && c.contentType.subtype == "plain" {
                    collectText(c, into: &out, statusAt: &statusAt)
                    sawPlain = true
                    break
                }
            }
            if !sawPlain {
                for c in part.children { collectText(c, into: &out, statusAt: &statusAt) }
            }
            return
        }
        // The returned message's headers are not the report's text.
        if ct.type == "text" && ct.subtype.hasSubstring("rfc822-header") { return }
        if ct.type == "text" || (ct.type == "multipart" && part.children.isEmpty) || part.contentTypeDefaulted {
            if !out.isEmpty { out.append(0x0A) }
            let body = part.decodedBody
            // ASCII text needs no charset conversion (the common case): copy the bytes.
            var ascii = true
            if !(ct.charset.map { $0.asciiLowercased.hasPrefix("iso-2022") || $0.asciiLowercased.hasPrefix("utf-16") }
                ?? false)
            {
                for b in body where b >= 0x80 {
                    ascii = false
                    break
                }
            } else {
                ascii = false
            }
            if ascii && ct.subtype != "html" {
                out.append(contentsOf: body)
                out.append(0x0A)
                return
            }
            let utf8: [UInt8] = ascii ? Array(body) : Array(part.text.utf8)
            if ct.subtype == "html" {
                out.append(contentsOf: HTMLText.strip(utf8))
            } else {
                out.append(contentsOf: utf8)
            }
            out.append(0x0A)
        } else if ct.type == "message" && ct.subtype.hasSubstring("delivery-status") {
            // A delivery-status part that did not parse: still useful text.
            if statusAt == nil { statusAt = out.count }
            out.append(contentsOf: part.decodedBody)
            out.append(0x0A)
        }
    }

    public func header(_ name: String) -> String? { message.header[name]?.decodedValue }

    /// Body fingerprints are looked for in the first this many bytes of the text only.
    public static let fingerprintWindow = 8192

    /// Case-insensitive search in the text; `marker` must be lower-case ASCII.
    public func textContains(_ marker: String) -> Bool { index(of: marker) != nil }

    public func index(of marker: String, from start: Int = 0, to end: Int? = nil) -> Int? {
        let e = end ?? lower.count
        guard start < e else { return nil }
        var marker = marker
        return marker.withUTF8 { nb -> Int? in
            if nb.isEmpty { return start }
            guard mayContain(nb) else { return nil }
            return lower.withUnsafeBufferPointer { ByteScan.find(nb, in: $0, from: start, to: e) }
        }
    }

    var fromAddress: String? { AddressParser.addrSpec(in: message.header["from"]?.value ?? "")?.asciiLowercased }

    /// Mailer-daemon style senders.
    var looksLikeBounceSender: Bool {
        for m in [
            "mailer-daemon", "postmaster", "mail delivery", "mail.delivery", "mailerdaemon", "mail administrator",
            "bounce", "mail-daemon", "no-reply@sns.amazonaws.com", "post_master", "mail system",
        ]
        where from.hasSubstring(m) { return true }
        return from.isEmpty
    }

    /// RFC 3834 auto-replies and vacation notices.
    var looksLikeAutoReply: Bool {
        let autoSubmitted = (message.header.value("auto-submitted") ?? "").asciiLowercased
        if autoSubmitted.hasPrefix("auto-replied") && !looksLikeBounceSender { return true }
        if message.header["x-autoreply"] != nil || message.header["x-autorespond"] != nil { return true }
        let precedence = (message.header.value("precedence") ?? "").asciiLowercased
        if precedence == "auto_reply" { return true }
        for s in [
            "out of office", "out of the office", "automatic reply", "auto-reply", "autoreply", "auto reply",
            "away from", "away until", "vacation", "abwesenheit", "absence",
        ] where subject.hasSubstring(s) {
            return !looksLikeBounceSender
        }
        if subject.hasPrefix("auto:") || subject.hasPrefix("autoresponse") { return true }
        return false
    }

    /// Abuse complaints without a feedback-report part (e.g. old Hotmail JMRP).
    var looksLikeComplaint: Bool {
        if subject.hasSubstring("complaint about message") { return true }
        var found = false
        message.visit { p in
            if p.header["x-hmxmroriginalrecipient"] != nil {
                found = true
                return false
            }
            return true
        }
        return found
    }
}

/// Removes HTML tags and decodes the common entities; block tags become line breaks.
enum HTMLText {
    static let entities: [([UInt8], UInt8)] = [
        ("&lt;", 0x3C), ("&gt;", 0x3E), ("&amp;", 0x26), ("&nbsp;", 0x20),
        ("&quot;", 0x22), ("&#39;", 0x27),
    ].map { (Array($0.0.utf8), $0.1) }
    static func strip(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x3C {
                var j = i + 1
                while j < b.count && b[j] != 0x3E { j += 1 }
                if j >= b.count {
                    // No closing ">": keep the rest as text (also keeps this linear on hostile input).
                    out.append(contentsOf: b[i...])
                    break
                }
                let tag = b[(i + 1)..<min(j, b.count)].prefix(4).map { $0.lowercasedASCIIByte }
                if tag.starts(with: Array("br".utf8)) || tag.starts(with: Array("p".utf8))
                    || tag.starts(with: Array("/p".utf8))
                    || tag.starts(with: Array("div".utf8)) || tag.starts(with: Array("/div".utf8))
                    || tag.starts(with: Array("tr".utf8)) || tag.starts(with: Array("/tr".utf8))
                    || tag.starts(with: Array("li".utf8))
                {
                    out.append(0x0A)
                } else if tag.starts(with: Array("td".utf8)) {
                    out.append(0x20)
                }
                i = j + 1
                continue
            }
            if c == 0x26 {
                var matched = false
                for (ent, ch) in HTMLText.entities where b[i...].starts(with: ent) {
                    out.append(ch)
                    i += ent.count
                    matched = true
                    break
                }
                if !matched {
                    out.append(c)
                    i += 1
                }
                continue
            }
            out.append(c)
            i += 1
        }
        return out
    }
}
