internal import Foundation

#if canImport(CoreFoundation)
    internal import CoreFoundation
#endif

/// Converts bytes in a named charset to a String.
///
/// UTF-8, US-ASCII and Latin-1 are handled here; every other IANA name goes through Foundation
/// (`CFStringConvertIANACharSetNameToEncoding`), which covers iso-8859-x, windows-125x, iso-2022-jp,
/// shift_jis, euc-jp, gb2312/gbk, big5 and koi8-r. An unknown charset, or bytes that do not convert,
/// come back as Latin-1 with `exact == false`.
public enum Charset {
    public struct Decoded: Sendable, Hashable {
        public var string: String
        /// False when the charset was unknown or the bytes were invalid and Latin-1 was used.
        public var exact: Bool
    }

    public static func decode<C: Collection>(_ bytes: C, charset: String) -> Decoded where C.Element == UInt8 {
        let name = charset.asciiLowercased.trimmedBlanks
        switch name {
        case "", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "default":
            if let s = String(validating: bytes, as: UTF8.self) { return Decoded(string: s, exact: true) }
            return Decoded(string: latin1(bytes), exact: name != "utf-8" && name != "utf8")
        case "iso-8859-1", "latin1", "iso_8859-1", "l1", "iso8859-1":
            return Decoded(string: latin1(bytes), exact: true)
        default:
            var ascii = true
            for b in bytes where b >= 0x80 || b == 0x1B {
                ascii = false
                break
            }
            if ascii { return Decoded(string: String(decoding: bytes, as: UTF8.self), exact: true) }
            if let s = convertDirectly(bytes, name) { return Decoded(string: s, exact: true) }
            if let encoding = foundationEncoding(name),
                let s = String(data: Data(bytes), encoding: encoding)
            {
                return Decoded(string: s, exact: true)
            }
            if let s = String(validating: bytes, as: UTF8.self) { return Decoded(string: s, exact: false) }
            return Decoded(string: latin1(bytes), exact: false)
        }
    }

    static func latin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if let s = bytes.withContiguousStorageIfAvailable({ latin1String($0) }) { return s }
        return Array(bytes).withUnsafeBufferPointer { latin1String($0) }
    }

    /// Converts through CFString straight to UTF-8 bytes, skipping the NSString → String bridge
    /// (which costs more than the conversion itself). Used for the byte-oriented charsets
    /// (iso-2022-jp, iso-8859-x, windows-125x, shift_jis, ...); nil means "use the general path".
    static func convertDirectly<C: Collection>(_ bytes: C, _ name: String) -> String? where C.Element == UInt8 {
        if name.hasSubstring("utf") || name.hasSubstring("unicode") || name.hasSubstring("ucs") { return nil }
        guard let cfEncoding = cfEncoding(name) else { return nil }
        let converted: String?? = bytes.withContiguousStorageIfAvailable { buf -> String? in
            guard let base = buf.baseAddress,
                let cf = CFStringCreateWithBytes(nil, base, buf.count, cfEncoding, true)
            else { return nil }
            let length = CFStringGetLength(cf)
            let range = CFRange(location: 0, length: length)
            let utf8 = CFStringBuiltInEncodings.UTF8.rawValue
            var needed: CFIndex = 0
            guard CFStringGetBytes(cf, range, utf8, 0, false, nil, 0, &needed) == length else { return nil }
            var complete = true
            let s = String(unsafeUninitializedCapacity: needed) { out -> Int in
                var used: CFIndex = 0
                let n = CFStringGetBytes(cf, range, utf8, 0, false, out.baseAddress, needed, &used)
                if n != length || used != needed {
                    complete = false
                    return 0
                }
                return used
            }
            return complete ? s : nil
        }
        return converted ?? nil
    }

    static func cfEncoding(_ name: String) -> CFStringEncoding? {
        let alias: String
        switch name {
        case "cp1252": alias = "windows-1252"
        case "cp1251": alias = "windows-1251"
        case "cp1250": alias = "windows-1250"
        case "sjis", "x-sjis", "shift-jis": alias = "shift_jis"
        case "euc_jp", "x-euc-jp": alias = "euc-jp"
        case "ks_c_5601-1987", "ksc5601": alias = "euc-kr"
        default: alias = name
        }
        let cfEncoding: CFStringEncoding = alias.withCString { pointer in
            guard let cfName = CFStringCreateWithCString(nil, pointer, CFStringBuiltInEncodings.UTF8.rawValue) else {
                return kCFStringEncodingInvalidId
            }
            return CFStringConvertIANACharSetNameToEncoding(cfName)
        }
        return cfEncoding == kCFStringEncodingInvalidId ? nil : cfEncoding
    }

    static func foundationEncoding(_ name: String) -> String.Encoding? {
        let alias: String
        switch name {
        case "cp1252": alias = "windows-1252"
        case "cp1251": alias = "windows-1251"
        case "cp1250": alias = "windows-1250"
        case "sjis", "x-sjis", "shift-jis": alias = "shift_jis"
        case "euc_jp", "x-euc-jp": alias = "euc-jp"
        case "ks_c_5601-1987", "ksc5601": alias = "euc-kr"
        default: alias = name
        }
        let cfEncoding: CFStringEncoding = alias.withCString { pointer in
            guard let cfName = CFStringCreateWithCString(nil, pointer, CFStringBuiltInEncodings.UTF8.rawValue) else {
                return kCFStringEncodingInvalidId
            }
            return CFStringConvertIANACharSetNameToEncoding(cfName)
        }
        if cfEncoding == kCFStringEncodingInvalidId { return nil }
        return String.Encoding(rawValue: CFStringConvertEncodingToNSStringEncoding(cfEncoding))
    }
}
