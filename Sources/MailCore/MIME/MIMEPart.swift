/// Things the lenient MIME parser noticed and repaired.
public struct MIMEDefects: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A multipart ended without its close delimiter (truncated mail); closed at the end of the data.
    public static let missingCloseDelimiter = MIMEDefects(rawValue: 1 << 0)
    /// A multipart had no delimiter at all; its body was kept as a single leaf.
    public static let noDelimiterFound = MIMEDefects(rawValue: 1 << 1)
    /// Nesting went deeper than the depth limit; deeper entities were kept as leaves.
    public static let depthLimitReached = MIMEDefects(rawValue: 1 << 2)
    /// The part-count limit was reached; later parts were dropped.
    public static let partLimitReached = MIMEDefects(rawValue: 1 << 3)
    /// A multipart without a boundary parameter.
    public static let missingBoundary = MIMEDefects(rawValue: 1 << 4)
}

/// One MIME entity: its header, its raw body (a slice of the message buffer, no copy) and,
/// for multiparts and encapsulated messages, its children.
/// - SeeAlso: RFC 2045, RFC 2046 §5.1 (multipart), §5.2 (message/rfc822); RFC 6532 (message/global).
public struct MIMEPart: Sendable, Hashable {
    public var header: HeaderSection
    public var contentType: ContentType
    /// True when the entity had no (parsable) Content-Type and the default was used.
    public var contentTypeDefaulted: Bool
    public var transferEncoding: TransferEncoding
    /// The raw body, still transfer-encoded. For a multipart this includes preamble and epilogue.
    public var body: ArraySlice<UInt8>
    /// Sub-parts of a multipart, in order.
    public var children: [MIMEPart]
    /// The encapsulated message of a `message/rfc822` or `message/global` entity (0 or 1 element).
    public var embedded: [MIMEPart]
    public var defects: MIMEDefects
    /// 0 for the message itself.
    public var depth: Int

    public var encapsulatedMessage: MIMEPart? { embedded.first }

    /// The body with its Content-Transfer-Encoding undone (lenient).
    public var decodedBody: ArraySlice<UInt8> { transferEncoding.decode(body) }

    /// The decoded body converted from its charset (default US-ASCII, read as UTF-8/Latin-1).
    public var text: String {
        Charset.decode(decodedBody, charset: contentType.charset ?? "us-ascii").string
    }

    /// Every entity of the tree in depth-first order, including this one and embedded messages.
    public func allParts() -> [MIMEPart] {
        var out: [MIMEPart] = []
        func walk(_ p: MIMEPart) {
            out.append(p)
            for c in p.children { walk(c) }
            for e in p.embedded { walk(e) }
        }
        walk(self)
        return out
    }

    /// Visits every entity depth-first; return false from `body` to stop.
    @discardableResult
    public func visit(_ body: (MIMEPart) -> Bool) -> Bool {
        if !body(self) { return false }
        for c in children where !c.visit(body) { return false }
        for e in embedded where !e.visit(body) { return false }
        return true
    }
}
