import MailCore

/// The shared part of every legacy recogniser: section splitting, address finding, status and
/// reply-code finding, diagnostic and remote-host extraction.
enum LegacyExtractor {
    /// Markers after which the returned original message (or its headers) follows.
    static let commonEnd: [String] = [
        "--- below this line is a copy of the message",
        "------ this is a copy of the message",
        "----- original message -----",
        "-----original message-----",
        "--- original message follows",
        "original message follows",
        "------- returned mail follows",
        "----- returned mail follows",
        "--- the header of the original message is following",
        "------ original message header",
        "original message headers:",
        "----- message header follows",
        "-- the header and top",
        "------ the message header",
        "headers of the returned message",
        "content-type: message/rfc822",
        "message headers follow",
        "-------original message",
        "------- returned message",
        "\nreceived: from",
        "\nreturn-path:",
    ]

    static let ignoredLocalParts: Set<String> = [
        "postmaster", "mailer-daemon", "mail-daemon", "mailerdaemon",
        "abuse", "hostmaster", "noreply", "no-reply", "root",
    ]

    static func extract(_ r: LegacyRecognizer, _ c: LegacyContext, humanTextOnly: Bool = false) -> DeliveryReport? {
        let n = c.lower.count
        var start = 0
        for m in r.start {
            if let i = c.index(of: m) {
                start = i + m.utf8.count
                break
            }
        }
        var end = humanTextOnly ? min(n, c.humanTextEnd) : n
        for m in r.end + commonEnd {
            if let i = c.index(of: m, from: start, to: end) { end = i }
        }
        if start >= end { return nil }

        let excluded = excludedAddresses(c, textEnd: end)
        var found = findRecipients(r.recipients, c, start: start, end: end, excluded: excluded)
        if found.isEmpty && r.recipients != .anywhere {
            found = findRecipients(.anywhere, c, start: start, end: end, excluded: excluded)
        }
        // An address after an original-recipient label is that recipient's original address.
        if found.count > 1 {
            let kept = found.filter { !afterLabel(c.lower, $0.position, labels: originalLabels, floor: start) }
            if !kept.isEmpty { found = kept }
        }
        // X-Failed-Recipients (Exim, Google and others) names failed recipients: each is one,
        // whether or not the text names it (the text's own list is kept).
        let failedHeader = failedRecipientsHeader(c.message.header)
        if !failedHeader.isEmpty { found = honour(failedHeader, found, c, start: start, end: end) }
        if found.isEmpty { return nil }

        let decision = LegacyAction.decide(
            c, textEnd: end, familyDelayed: r.delayed, familyDelivered: r.delivered,
            familyFailed: r.failed)
        let delayed = decision == .delayed
        let delivered = decision == .delivered

        let placed = found.filter { $0.position >= 0 }
        let whole = c.text[start..<end]
        let lowerWhole = c.lower[start..<end]
        var recipients: [RecipientReport] = []
        let relayNotice = delivered && LegacyAction.isRelayNotice(c, textEnd: end)
        // Where each placed recipient's entry ends: at the next placed one.
        let positions = placed.map(\.position).sorted()
        for hit in found {
            let block: ArraySlice<UInt8>
            var skip = 0
            if hit.position >= 0 {
                // The first placed position after this one (binary search).
                var (low, high) = (0, positions.count)
                while low < high {
                    let mid = (low + high) / 2
                    if positions[mid] <= hit.position { low = mid + 1 } else { high = mid }
                }
                let next = low < positions.count ? positions[low] : end
                block = c.text[hit.position..<max(hit.position, next)]
                skip = hit.length
            } else {
                block = found.count == 1 ? whole : c.text[start..<start]
            }
            var status = StatusCode.find(in: block)
            if status == nil && found.count == 1 { status = StatusCode.find(in: whole) }
            var reply = ReplyCode.find(in: block)
            if reply == nil && found.count == 1 { reply = ReplyCode.find(in: whole) }
            let diagnostic = diagnosticText(block, skip: skip)
            let action: DeliveryAction =
                delivered
                ? LegacyAction.successAction(c, block: block.startIndex..<block.endIndex, relayNotice: relayNotice)
                : delayed ? .delayed : .failed
            var rr = RecipientReport(
                finalRecipient: TypedValue(type: "rfc822", value: ReportAddress.mailbox(hit.address)),
                action: action)
            if let s = status {
                rr.status = s
            } else if let code = reply {
                rr.status = StatusCode.pseudo(replyCode: code, text: diagnostic)
                rr.statusIsPseudo = true
            } else if decision == .failed(expired: true) {
                rr.status = StatusCode(statusClass: 4, subject: 4, detail: 7)
                rr.statusIsPseudo = true
            } else {
                rr.status = StatusCode(statusClass: delivered ? 2 : delayed ? 4 : 5, subject: 0, detail: 0)
                rr.statusIsPseudo = true
            }
            // A success code in a failure or delay notice is not this recipient's outcome, and the
            // reverse: the action decides the class.
            if let s = rr.status, (s.statusClass == 2) != delivered {
                rr.status = StatusCode(statusClass: delivered ? 2 : delayed ? 4 : 5, subject: 0, detail: 0)
                rr.statusIsPseudo = true
            }
            rr.diagnosticType = reply != nil || status != nil ? "smtp" : "unknown"
            rr.diagnostic = diagnostic.isEmpty ? nil : diagnostic
            let lowerBlock = c.lower[block.startIndex..<block.endIndex]
            if let host = remoteHost(block, lower: lowerBlock)
                ?? (found.count == 1 ? remoteHost(whole, lower: lowerWhole) : nil)
            {
                rr.remoteMTA = TypedValue(type: "dns", value: host)
            }
            if let code = reply { rr.extraFields["x-reply-code"] = String(code) }
            if hit.position < 0 { rr.extraFields["x-recipient-source"] = "x-failed-recipients" }
            if let original = originalRecipient(in: c, block: block) {
                rr.originalRecipient = TypedValue(type: "rfc822", value: original)
                rr.originalRecipientDecoded = original
            }
            if r.requiresCode {
                let written =
                    (status != nil && status?.statusClass != 2) || (reply.map { $0 >= 400 && $0 < 600 } ?? false)
                if !written { return nil }
            }
            recipients.append(rr)
        }
        return DeliveryReport(kind: .legacy(family: r.family), recipients: RecipientMerge.onePerRecipient(recipients))
    }

    /// Labels after which a legacy text gives the address the sender used for this recipient:
    /// Sendmail's `(expanded from: %s)`, PMDF/Sun Messaging Server's "Original address:".
    static let originalLabels: [String] = ["(expanded from:", "original address:"]

    /// The original recipient named in the block after one of `originalLabels`.
    static func originalRecipient(in c: LegacyContext, block: ArraySlice<UInt8>) -> String? {
        let lower = c.lower[block.startIndex..<block.endIndex]
        for label in originalLabels {
            guard let i = ByteScan.firstIndex(of: Array(label.utf8), in: lower) else { continue }
            let after = i + label.utf8.count
            let line = c.text[after..<min(block.endIndex, after + 300)]
            let stop = line.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) ?? line.endIndex
            if let range = AddressParser.findAddresses(in: c.text[after..<stop]).first {
                return ReportAddress.mailbox(decodeUTF8OrLatin1(c.text[range]))
            }
        }
        return nil
    }

    /// The addresses of an `X-Failed-Recipients` header (comma-separated, possibly repeated).
    static func failedRecipientsHeader(_ h: HeaderSection) -> [String] {
        var out: [String] = []
        for f in h.all("x-failed-recipients") {
            for part in f.value.splitASCII(0x2C) {
                if let a = AddressParser.addrSpec(in: String(part)), DeliveryReportParser.isMailbox(a) {
                    out.append(ReportAddress.mailbox(a))
                }
            }
        }
        return out
    }

    /// The text's recipients, then the header's recipients the text's list lacks, each placed where
    /// the text names it (for its diagnostic); a recipient the text does not name still counts.
    static func honour(_ header: [String], _ found: [Hit], _ c: LegacyContext, start: Int, end: Int) -> [Hit] {
        var out = found
        var seen = Set(found.map { ReportAddress.mailbox($0.address).asciiLowercased })
        for a in header {
            let l = a.asciiLowercased
            guard seen.insert(l).inserted else { continue }
            if let i = c.index(of: l, from: start, to: end) {
                out.append(Hit(address: a, position: i, length: l.utf8.count))
            } else {
                out.append(Hit(address: a, position: -1, length: 0))
            }
        }
        return out
    }

    struct Hit {
        var address: String
        /// Where the address starts in the text; -1 when only a header names it.
        var position: Int
        /// Its length in the text.
        var length: Int
    }

    /// Addresses that are not failed recipients when the report names another address: the
    /// report's own From/To/Return-Path/Reply-To/Sender, and the returned message's From, Sender
    /// and Return-Path (the original sender: group and list services quote it in their text).
    static func excludedAddresses(_ c: LegacyContext, textEnd: Int) -> Set<String> {
        var s = Set<String>(minimumCapacity: 8)
        if let f = c.fromAddress { s.insert(f) }
        func addSenders(_ h: HeaderSection) {
            for f in h.fields where f.hasName("from") || f.hasName("sender") || f.hasName("return-path") {
                for part in f.value.splitASCII(0x2C) {
                    if let a = AddressParser.addrSpec(in: String(part)) { s.insert(a.asciiLowercased) }
                }
            }
        }
        c.message.visit { p in
            if let inner = p.encapsulatedMessage { addSenders(inner.header) }
            if p.contentType.subtype.hasSubstring("rfc822-header") || p.contentType.subtype == "global-headers" {
                addSenders(HeaderSection.parse(p.decodedBody).0)
            }
            return true
        }
        if textEnd < c.text.count, let quoted = InlineHeaders.find(in: c.text[textEnd...]) { addSenders(quoted) }
        // One pass over the header for the four fields (the set does not care about order).
        for f in c.message.header.fields
        where f.hasName("to") || f.hasName("return-path") || f.hasName("reply-to") || f.hasName("sender") {
            for part in f.value.splitASCII(0x2C) {
                if let a = AddressParser.addrSpec(in: String(part)) { s.insert(a.asciiLowercased) }
            }
        }
        return s
    }

    static func findRecipients(
        _ style: LegacyRecognizer.RecipientStyle, _ c: LegacyContext, start: Int, end: Int,
        excluded: Set<String>
    ) -> [Hit] {
        let ranges = AddressParser.findAddresses(in: c.text[start..<end])
        var candidates: [Hit] = []
        for range in ranges {
            let ok: Bool
            switch style {
            case .anywhere: ok = true
            case .lineStart: ok = atLineStart(c.text, range.lowerBound, floor: start)
            case .afterLabels(let labels): ok = afterLabel(c.lower, range.lowerBound, labels: labels, floor: start)
            case .immediatelyAfter(let labels):
                ok = immediatelyAfter(c.lower, range.lowerBound, labels: labels, floor: start)
            }
            if ok {
                var a = decodeUTF8OrLatin1(c.text[range])
                if a.hasPrefix("mailto:") { a = String(a.dropFirst(7)) }
                candidates.append(Hit(address: a, position: range.lowerBound, length: range.count))
            }
        }
        // Drop the report's own addresses and daemon addresses when better candidates exist.
        let filtered = candidates.filter { h in
            let l = h.address.asciiLowercased
            if excluded.contains(l) { return false }
            let local = l.splitASCII(0x40).first.map(String.init) ?? l
            return !ignoredLocalParts.contains(local)
        }
        let chosen = filtered.isEmpty ? candidates : filtered
        var seen = Set<String>()
        var out: [Hit] = []
        for h in chosen where seen.insert(h.address.asciiLowercased).inserted { out.append(h) }
        return out
    }

    /// True if only blanks, `<`, quotes, `*` or a short label precede the address on its line.
    static func atLineStart(_ t: [UInt8], _ pos: Int, floor: Int) -> Bool {
        var i = pos - 1
        while i >= floor {
            let b = t[i]
            if b == 0x0A || b == 0x0D { return true }
            if b == 0x20 || b == 0x09 || b == 0x3C || b == 0x22 || b == 0x27 || b == 0x2A || b == 0x3A || b == 0x5B
                || b == 0x2D || b == 0x3E
            {
                i -= 1
                continue
            }
            return false
        }
        return true
    }

    static func afterLabel(_ lower: [UInt8], _ pos: Int, labels: [String], floor: Int) -> Bool {
        var lineStart = pos
        let limit = max(floor, pos - 256)  // labels sit close to the address; bounded for hostile input
        while lineStart > limit && lower[lineStart - 1] != 0x0A && lower[lineStart - 1] != 0x0D { lineStart -= 1 }
        let prefix = lower[lineStart..<pos]
        for l in labels where ByteScan.firstIndex(of: Array(l.utf8), in: prefix) != nil { return true }
        return false
    }

    static func immediatelyAfter(_ lower: [UInt8], _ pos: Int, labels: [String], floor: Int) -> Bool {
        var e = pos
        while e > floor && (lower[e - 1] == 0x20 || lower[e - 1] == 0x09 || lower[e - 1] == 0x3C) { e -= 1 }
        for l in labels {
            let lb = Array(l.utf8)
            if e - lb.count >= floor && lower[(e - lb.count)..<e].elementsEqual(lb) { return true }
        }
        return false
    }

    /// The block text with whitespace collapsed, starting `skip` bytes in (after the address),
    /// capped at 1000 bytes.
    static func diagnosticText(_ block: ArraySlice<UInt8>, skip: Int) -> String {
        var skip = block.startIndex + skip
        if skip > block.endIndex { skip = block.endIndex }
        let out = block[skip...].withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: min(src.count, 1000) + 1) { dst, count in
                var n = 0
                var lastBlank = true
                for b in src {
                    if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                        if !lastBlank {
                            dst[n] = 0x20
                            n += 1
                        }
                        lastBlank = true
                    } else {
                        dst[n] = b
                        n += 1
                        lastBlank = false
                    }
                    if n >= 1000 { break }
                }
                count = n
            }
        }
        var s = decodeUTF8OrLatin1(out).trimmedBlanks
        while let f = s.first, f == ">" || f == ":" || f == "." || f == " " { s.removeFirst() }
        return s
    }

    static let hostLabels: [[UInt8]] = ["remote host ", "host ", "server ", "mx ", "remote-mta: dns;"].map {
        Array($0.utf8)
    }

    /// A host name after "host", "remote host", "server" in the block.
    static func remoteHost(_ block: ArraySlice<UInt8>, lower: ArraySlice<UInt8>) -> String? {
        for label in hostLabels {
            guard let i = ByteScan.firstIndex(of: label, in: lower) else { continue }
            var s = i + label.count
            while s < lower.endIndex && (lower[s] == 0x20 || lower[s] == 0x5B) { s += 1 }
            var e = s
            while e < lower.endIndex,
                lower[e].isASCIILetter || lower[e].isASCIIDigit || lower[e] == 0x2E || lower[e] == 0x2D
                    || lower[e] == 0x3A
            {
                e += 1
            }
            while e > s && (lower[e - 1] == 0x2E || lower[e - 1] == 0x3A) { e -= 1 }
            let token = block[s..<e]
            if token.contains(0x2E) && token.count >= 3 {
                return String(decoding: token, as: UTF8.self)
            }
        }
        return nil
    }
}
