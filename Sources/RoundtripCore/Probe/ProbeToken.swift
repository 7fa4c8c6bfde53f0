import Crypto

/// The probe's identity: creation time, 96 random bits and a 40-bit HMAC
/// under the installation's key, in 35 lower-case base32 characters
/// (`[a-z2-7]`) that survive case-folding MTAs and need no quoting or xtext
/// escapes. It fits a VERP local part (`roundtrip+TOKEN`, 45 ≤ 64 octets)
/// and ENVID's advised 38 characters.
///
///     tttttttrrrrrrrrrrrrrrrrrrrrmmmmmmmm
///     time(7) random(20)          mac(8)
///
/// - SeeAlso: docs/architecture.md §3
public struct ProbeToken: Hashable, Sendable, CustomStringConvertible, Comparable {
    public static let length = 35
    static let alphabet: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    public let value: String
    /// Seconds since 1970 when the probe was made.
    public let createdAt: UInt32

    public var description: String { value }

    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }

    /// Makes a token; `random` supplies the 12 random octets.
    public static func make(createdAt: UInt32, random: [UInt8], key: SymmetricKey) -> ProbeToken {
        precondition(random.count == 12, "12 random octets")
        let time = encode(bigEndian(createdAt), bits: 32, chars: 7)
        let rand = encode(random, bits: 96, chars: 20)
        let mac = Self.mac(time + rand, key: key)
        return ProbeToken(value: String(decoding: time + rand + mac, as: UTF8.self), createdAt: createdAt)
    }

    public static func make<R: RandomNumberGenerator>(createdAt: UInt32, key: SymmetricKey, using rng: inout R)
        -> ProbeToken
    {
        make(createdAt: createdAt, random: (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) }, key: key)
    }

    public enum Validation: Hashable, Sendable {
        case valid(ProbeToken)
        /// Well-formed, but the HMAC does not match: forged or another installation's.
        case forged
        /// Not a token at all.
        case malformed
    }

    /// Whether `text` has a token's shape (length and alphabet); says nothing
    /// of its HMAC.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.lowercased().utf8)
        return bytes.count == length && bytes.allSatisfy { alphabet.contains($0) }
    }

    /// Checks a candidate (case-insensitively: some MTAs upper-case local parts).
    public static func validate(_ text: some StringProtocol, key: SymmetricKey) -> Validation {
        let bytes = Array(text.lowercased().utf8)
        guard bytes.count == length, bytes.allSatisfy({ alphabet.contains($0) }) else { return .malformed }
        let body = Array(bytes[0..<27])
        let mac = Array(bytes[27...])
        let expected = Self.mac(body, key: key)
        // Constant-time comparison.
        var diff: UInt8 = 0
        for (a, b) in zip(mac, expected) { diff |= a ^ b }
        guard diff == 0 else { return .forged }
        let timeBytes = decode(Array(bytes[0..<7]), bits: 32)
        let t = timeBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return .valid(ProbeToken(value: String(decoding: bytes, as: UTF8.self), createdAt: t))
    }

    /// Finds token-shaped words in text (35 base32 characters bounded by
    /// non-alphanumerics), for the weaker correlation keys.
    public static func candidates(in text: some StringProtocol) -> [String] {
        var out: [String] = []
        var run: [UInt8] = []
        func flush() {
            if run.count == length { out.append(String(decoding: run, as: UTF8.self)) }
            run = []
        }
        for b in text.utf8 {
            let lower = (b >= 0x41 && b <= 0x5A) ? b + 32 : b
            let isAlnum = (lower >= 0x61 && lower <= 0x7A) || (lower >= 0x30 && lower <= 0x39)
            if isAlnum { run.append(lower) } else { flush() }
        }
        flush()
        return out.filter { $0.utf8.allSatisfy { alphabet.contains($0) } }
    }

    private init(value: String, createdAt: UInt32) {
        self.value = value
        self.createdAt = createdAt
    }

    static func mac(_ body: [UInt8], key: SymmetricKey) -> [UInt8] {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return encode(Array(code.prefix(5)), bits: 40, chars: 8)
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    /// Base32 of the first `bits` bits of `bytes`, left-aligned, zero-padded.
    static func encode(_ bytes: [UInt8], bits: Int, chars: Int) -> [UInt8] {
        var out: [UInt8] = []
        var acc: UInt64 = 0
        var n = 0
        var consumed = 0
        var i = 0
        while out.count < chars {
            if n < 5 {
                let next: UInt8 = i < bytes.count && consumed < bits ? bytes[i] : 0
                acc = acc << 8 | UInt64(next)
                n += 8
                i += 1
                consumed += 8
            }
            let idx = Int((acc >> UInt64(n - 5)) & 0x1F)
            out.append(alphabet[idx])
            n -= 5
        }
        return out
    }

    static func decode(_ chars: [UInt8], bits: Int) -> [UInt8] {
        var out: [UInt8] = []
        var acc: UInt64 = 0
        var n = 0
        for c in chars {
            guard let v = alphabet.firstIndex(of: c) else { return [] }
            acc = acc << 5 | UInt64(v)
            n += 5
            if n >= 8 {
                out.append(UInt8((acc >> UInt64(n - 8)) & 0xFF))
                n -= 8
            }
        }
        return Array(out.prefix(bits / 8))
    }
}
