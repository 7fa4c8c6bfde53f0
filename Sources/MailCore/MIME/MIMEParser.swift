/// Limits for hostile input. Bounces are hostile input.
public struct MIMELimits: Sendable, Hashable {
    /// Messages larger than this are refused with `MIMELimitError`.
    public var maxMessageSize: Int
    /// Entities nested deeper than this are kept as leaves (flagged `depthLimitReached`).
    public var maxDepth: Int
    /// At most this many entities are parsed (flagged `partLimitReached`).
    public var maxParts: Int

    public init(maxMessageSize: Int = 50 * 1024 * 1024, maxDepth: Int = 32, maxParts: Int = 1000) {
        self.maxMessageSize = maxMessageSize
        self.maxDepth = maxDepth
        self.maxParts = maxParts
    }
}

/// A limit that makes the whole message unparsable.
public struct MIMELimitError: Error, Sendable, Hashable, CustomStringConvertible {
    public var size: Int
    public var limit: Int
    public var description: String { "message of \(size) octets exceeds the \(limit)-octet limit" }
}

/// A lenient MIME parser over one byte buffer. Line ends may be CRLF, LF or lone CR.
///
///     delimiter = CRLF "--" boundary *LWSP CRLF
///     close     = CRLF "--" boundary "--" *LWSP
///
/// The line break before a delimiter belongs to it. Outer delimiters end inner parts at any depth
/// (the outer split happens first, so an inner part can never run past it). A missing close
/// delimiter closes at the end of the data with a flag.
/// - SeeAlso: RFC 2046 §5.1.1, RFC 2045 §6.
public enum MIMEParser {
    /// - Parameter encapsulatedBodies: when false, encapsulated messages (`message/rfc822`,
    ///   `message/global`) get their header parsed but their body kept as one leaf, which is all
    ///   a report parser needs from a returned original.
    public static func parse(
        _ bytes: [UInt8], limits: MIMELimits = MIMELimits(),
        encapsulatedBodies: Bool = true
    ) throws(MIMELimitError) -> MIMEPart {
        try parse(bytes[...], limits: limits, encapsulatedBodies: encapsulatedBodies)
    }

    public static func parse(
        _ bytes: ArraySlice<UInt8>, limits: MIMELimits = MIMELimits(),
        encapsulatedBodies: Bool = true
    ) throws(MIMELimitError) -> MIMEPart {
        if bytes.count > limits.maxMessageSize {
            throw MIMELimitError(size: bytes.count, limit: limits.maxMessageSize)
        }
        var state = State(limits: limits, encapsulatedBodies: encapsulatedBodies)
        return parseEntity(bytes, defaultType: .textPlain, depth: 0, state: &state)
    }

    /// Parses only the header section and keeps the body as one leaf.
    public static func parseHeaderOnly(_ bytes: ArraySlice<UInt8>) -> MIMEPart {
        let (header, bodyStart) = HeaderSection.parse(bytes)
        let ct = header.value("content-type").flatMap { ContentType(headerValue: $0) }
        return MIMEPart(
            header: header, contentType: ct ?? .textPlain, contentTypeDefaulted: ct == nil,
            transferEncoding: TransferEncoding(headerValue: header.value("content-transfer-encoding")),
            body: bytes[bodyStart...], children: [], embedded: [], defects: [], depth: 0)
    }

    struct State {
        var limits: MIMELimits
        var encapsulatedBodies: Bool
        var parts = 0
        var insideEncapsulated = false
    }

    static func parseEntity(_ bytes: ArraySlice<UInt8>, defaultType: ContentType, depth: Int, state: inout State)
        -> MIMEPart
    {
        state.parts += 1
        let (header, bodyStart) = HeaderSection.parse(bytes)
        let parsedType = header["content-type"].flatMap { ContentType(bytes: Array($0.unfoldedBytes)) }
        let contentType = parsedType ?? defaultType
        let cte = TransferEncoding(field: header["content-transfer-encoding"])
        var part = MIMEPart(
            header: header, contentType: contentType, contentTypeDefaulted: parsedType == nil,
            transferEncoding: cte, body: bytes[bodyStart...], children: [], embedded: [],
            defects: [], depth: depth)
        if contentType.isMultipart && (state.encapsulatedBodies || !state.insideEncapsulated) {
            guard let boundary = contentType.boundary, !boundary.isEmpty else {
                part.defects.insert(.missingBoundary)
                return part
            }
            if depth >= state.limits.maxDepth {
                part.defects.insert(.depthLimitReached)
                return part
            }
            let split = splitMultipart(part.body, boundary: Array(boundary.utf8))
            if split.parts.isEmpty {
                part.defects.insert(.noDelimiterFound)
                return part
            }
            if !split.closed { part.defects.insert(.missingCloseDelimiter) }
            let childDefault: ContentType = contentType.subtype == "digest" ? .messageRFC822 : .textPlain
            for slice in split.parts {
                if state.parts >= state.limits.maxParts {
                    part.defects.insert(.partLimitReached)
                    break
                }
                part.children.append(parseEntity(slice, defaultType: childDefault, depth: depth + 1, state: &state))
            }
        } else if contentType.type == "message"
            && (contentType.subtype == "rfc822" || contentType.subtype == "global"
                || contentType.subtype == "news")
        {
            if depth >= state.limits.maxDepth {
                part.defects.insert(.depthLimitReached)
                return part
            }
            if state.parts >= state.limits.maxParts {
                part.defects.insert(.partLimitReached)
                return part
            }
            let inner = cte.decode(part.body)
            let wasInside = state.insideEncapsulated
            state.insideEncapsulated = true
            part.embedded.append(parseEntity(inner, defaultType: .textPlain, depth: depth + 1, state: &state))
            state.insideEncapsulated = wasInside
        }
        return part
    }

    /// Splits a multipart body at its delimiters.
    /// - Returns: the part slices (without the delimiter line breaks) and whether the close
    ///   delimiter was seen. No parts means no delimiter was found.
    public static func splitMultipart(_ body: ArraySlice<UInt8>, boundary: [UInt8]) -> (
        parts: [ArraySlice<UInt8>], closed: Bool
    ) {
        let base = body.startIndex
        let blen = boundary.count
        let needle = [ASCII.dash, ASCII.dash] + boundary
        return needle.withUnsafeBufferPointer { nb in
            body.withUnsafeBufferPointer { buf -> ([ArraySlice<UInt8>], Bool) in
                var parts: [ArraySlice<UInt8>] = []
                let n = buf.count
                var from = 0
                var partStart = -1
                // Jump from one "--boundary" occurrence to the next instead of visiting every line.
                while let ds = ByteScan.find(nb, in: buf, from: from, to: n) {
                    // It must start a line (blanks before it are tolerated, seen in real bounces).
                    var ls = ds
                    while ls > 0 && buf[ls - 1].isBlank { ls -= 1 }
                    guard ls == 0 || buf[ls - 1] == ASCII.lf || buf[ls - 1] == ASCII.cr else {
                        from = ds + 1
                        continue
                    }
                    var j = ds + 2 + blen
                    var isClose = false
                    if j + 1 < n && buf[j] == ASCII.dash && buf[j + 1] == ASCII.dash {
                        isClose = true
                        j += 2
                    }
                    while j < n && buf[j].isBlank { j += 1 }
                    guard j == n || buf[j].isLineBreak else {
                        from = ds + 1
                        continue
                    }
                    let line = ByteScan.line(in: buf, from: j, limit: n)
                    if partStart >= 0 {
                        // The line break before the delimiter belongs to it.
                        var end = ls
                        if end > partStart {
                            if buf[end - 1] == ASCII.lf {
                                end -= 1
                                if end > partStart && buf[end - 1] == ASCII.cr { end -= 1 }
                            } else if buf[end - 1] == ASCII.cr {
                                end -= 1
                            }
                        }
                        parts.append(body[(base + partStart)..<(base + max(end, partStart))])
                    }
                    if isClose { return (parts, true) }
                    partStart = line.next
                    from = line.next
                }
                if partStart >= 0 { parts.append(body[(base + partStart)..<(base + n)]) }
                return (parts, false)
            }
        }
    }
}
