import Crypto
import TestRandom
import Testing

@testable import RoundtripCore

@Suite struct ProbeTokenTests {
    let key = SymmetricKey(data: Array(repeating: UInt8(7), count: 32))
    let otherKey = SymmetricKey(data: Array(repeating: UInt8(8), count: 32))

    @Test func shapeAndRoundTrip() {
        var rng = SeededGenerator(seed: 1)
        for i in 0..<500 {
            let t = ProbeToken.make(createdAt: UInt32(1_700_000_000 + i * 9973), key: key, using: &rng)
            #expect(t.value.count == 35)
            #expect(t.value.utf8.allSatisfy { ProbeToken.alphabet.contains($0) })
            #expect(ProbeToken.validate(t.value, key: key) == .valid(t))
            #expect(ProbeToken.validate(t.value.uppercased(), key: key) == .valid(t))
            guard case .valid(let back) = ProbeToken.validate(t.value, key: key) else { continue }
            #expect(back.createdAt == UInt32(1_700_000_000 + i * 9973))
        }
    }

    @Test func otherKeyOrTamperingIsForged() {
        var rng = SeededGenerator(seed: 2)
        let t = ProbeToken.make(createdAt: 1_800_000_000, key: key, using: &rng)
        #expect(ProbeToken.validate(t.value, key: otherKey) == .forged)
        var chars = Array(t.value)
        for i in [0, 10, 26, 27, 34] {
            let original = chars[i]
            chars[i] = original == "a" ? "b" : "a"
            #expect(ProbeToken.validate(String(chars), key: key) == .forged, "position \(i)")
            chars[i] = original
        }
    }

    @Test(arguments: [
        "", "short", String(repeating: "a", count: 34), String(repeating: "a", count: 36),
        String(repeating: "1", count: 35), "abc+def",
    ])
    func malformed(_ text: String) {
        #expect(ProbeToken.validate(text, key: key) == .malformed)
    }

    @Test func candidatesInText() {
        var rng = SeededGenerator(seed: 3)
        let t = ProbeToken.make(createdAt: 1_800_000_000, key: key, using: &rng)
        let text =
            "Subject: roundtrip probe \(t.value)\nMessage-ID: <\(t.value.uppercased())@return.example>\nnot\(t.value)x"
        #expect(ProbeToken.candidates(in: text) == [t.value, t.value])
    }

    @Test func fitsTheVERPBudget() {
        var rng = SeededGenerator(seed: 4)
        let t = ProbeToken.make(createdAt: .max, key: key, using: &rng)
        #expect(("roundtrip+" + t.value).utf8.count <= 64)
    }
}
