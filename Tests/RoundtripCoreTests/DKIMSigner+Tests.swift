import Crypto
import Foundation
import Testing
import _CryptoExtras

@testable import RoundtripCore

@Suite struct DKIMSignerTests {
    /// RFC 8463 Appendix A: the Ed25519 key of `brisbane._domainkey.football.example.com`.
    static let rfc8463Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    static let rfc8463Public = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    static let rfc8463Message = Array(
        """
        From: Joe SixPack <joe@football.example.com>\r
        To: Suzie Q <suzie@shopping.example.net>\r
        Subject: Is dinner ready?\r
        Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r
        Message-ID: <20030712040037.46341.5F8J@football.example.com>\r
        \r
        Hi.\r
        \r
        We lost the game.  Are you hungry yet?\r
        \r
        Joe.\r

        """.utf8)

    @Test func rfc6376RelaxedExample() {
        // RFC 6376 §3.4.6.
        #expect(DKIMSigner.relaxedHeader(name: "A", value: Array(" X\r\n".utf8)) == Array("a:X".utf8))
        #expect(DKIMSigner.relaxedHeader(name: "B ", value: Array(" Y\t\r\n\tZ  \r\n".utf8)) == Array("b:Y Z".utf8))
        #expect(
            DKIMSigner.relaxedBody(ArraySlice(" C \r\nD \t E\r\n\r\n\r\n".utf8)) == Array(" C\r\nD E\r\n".utf8))
        // An empty body is empty; a last line without CRLF gets one.
        #expect(DKIMSigner.relaxedBody([]) == [])
        #expect(DKIMSigner.relaxedBody(ArraySlice("\r\n\r\n".utf8)) == [])
        #expect(DKIMSigner.relaxedBody(ArraySlice("x  ".utf8)) == Array("x\r\n".utf8))
    }

    @Test func rfc8463BodyHashAndKey() throws {
        let key = try DKIMSigner.key(from: Self.rfc8463Seed, algorithm: nil)
        guard case .ed25519(let k) = key else {
            Issue.record("not Ed25519")
            return
        }
        #expect(k.publicKey.rawRepresentation.base64EncodedString() == Self.rfc8463Public)
        let signer = try DKIMSigner(key: key, domain: "football.example.com", selector: "brisbane")
        let field = try signer.signatureField(for: Self.rfc8463Message, time: 1_528_637_909)
        // The body hash RFC 8463 prints for this message.
        #expect(field.contains("bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;"))
        #expect(field.contains("a=ed25519-sha256; c=relaxed/relaxed; d=football.example.com; s=brisbane;"))
        #expect(field.contains("h=from:to:subject:date:message-id;"))
        #expect(field.hasSuffix("\r\n"))
        // The signature verifies with the published key over the RFC 6376 §3.7 hash input.
        try #expect(
            Self.verify(field, message: Self.rfc8463Message, signed: ["from", "to", "subject", "date", "message-id"]) {
                data, sig in
                try Curve25519.Signing.PublicKey(rawRepresentation: Data(base64Encoded: Self.rfc8463Public)!)
                    .isValidSignature(sig, for: Data(SHA256.hash(data: data)))
            })
    }

    /// Rebuilds the hash input from the signed header fields as a verifier
    /// would (RFC 6376 §3.7) and checks `b=` with `check`.
    static func verify(
        _ field: String, message: [UInt8], signed: [String], check: ([UInt8], Data) throws -> Bool
    ) throws -> Bool {
        let value = String(field.dropFirst("DKIM-Signature:".count))
        guard let b = value.range(of: "b=", options: .backwards) else { return false }
        let signature = Data(base64Encoded: value[b.upperBound...].filter { !$0.isWhitespace })!
        let (fields, _) = DKIMSigner.split(message)
        var input: [UInt8] = []
        for name in signed {
            let f = fields.last { $0.name.lowercased() == name }!
            input += DKIMSigner.relaxedHeader(name: f.name, value: f.value) + [0x0D, 0x0A]
        }
        input += DKIMSigner.relaxedHeader(name: "DKIM-Signature", value: Array(value[..<b.upperBound].utf8))
        return try check(input, signature)
    }

    @Test func rsaSignatureVerifies() throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let key = try DKIMSigner.key(from: rsa.pemRepresentation, algorithm: .rsaSHA256)
        let signer = try DKIMSigner(key: key, domain: "rt.test", selector: "rsa1")
        let message = Self.rfc8463Message
        let signed = try signer.sign(message, time: 1)
        #expect(Array(signed.suffix(message.count)) == message)
        let field = String(decoding: signed.prefix(signed.count - message.count), as: UTF8.self)
        #expect(field.contains("a=rsa-sha256;"))
        try #expect(
            Self.verify(field, message: message, signed: ["from", "to", "subject", "date", "message-id"]) { data, sig in
                rsa.publicKey.isValidSignature(
                    _RSA.Signing.RSASignature(rawRepresentation: sig), for: SHA256.hash(data: data),
                    padding: .insecurePKCS1v1_5)
            })
        // No line of the field is longer than 78 octets plus CRLF.
        #expect(field.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 80 })
    }

    @Test func keyFormsAndRefusals() throws {
        let ed = Curve25519.Signing.PrivateKey()
        let pkcs8 = Data(DKIMSigner.ed25519PKCS8Prefix) + ed.rawRepresentation
        let pem = "-----BEGIN PRIVATE KEY-----\n\(pkcs8.base64EncodedString())\n-----END PRIVATE KEY-----\n"
        guard case .ed25519(let k) = try DKIMSigner.key(from: pem, algorithm: .ed25519SHA256) else {
            Issue.record("PKCS #8 Ed25519 not read")
            return
        }
        #expect(k.rawRepresentation == ed.rawRepresentation)
        #expect(throws: DKIMSigner.KeyError.self) { try DKIMSigner.key(from: pem, algorithm: .rsaSHA256) }
        #expect(throws: DKIMSigner.KeyError.self) { try DKIMSigner.key(from: "garbage", algorithm: nil) }
        #expect(throws: DKIMSigner.KeyError.self) {
            try DKIMSigner.key(from: Self.rfc8463Seed, algorithm: .rsaSHA256)
        }
        let key = try DKIMSigner.key(from: Self.rfc8463Seed, algorithm: nil)
        #expect(throws: DKIMSigner.KeyError.self) { try DKIMSigner(key: key, domain: "a;b", selector: "s") }
        #expect(throws: DKIMSigner.KeyError.self) { try DKIMSigner(key: key, domain: "rt.test", selector: "") }
    }

    @Test func signsTheProbeHeaders() throws {
        let key = try DKIMSigner.key(from: Self.rfc8463Seed, algorithm: nil)
        let message = Array(
            "From: <a@rt.test>\r\nTo: <b@rt.test>\r\nSubject: s\r\nDate: d\r\nMessage-ID: <m@rt.test>\r\nX-Roundtrip-Probe: t\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nbody\r\n"
                .utf8)
        let field = try DKIMSigner(key: key, domain: "rt.test", selector: "s").signatureField(for: message, time: 5)
        #expect(
            field.contains(
                "h=from:to:subject:date:message-id:x-roundtrip-probe:mime-version:content-type:content-transfer-encoding;"
            ))
        #expect(field.contains("t=5;"))
    }
}
