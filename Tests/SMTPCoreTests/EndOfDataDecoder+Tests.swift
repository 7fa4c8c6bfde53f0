import Testing

@testable import SMTPCore

@Suite struct EndOfDataDecoderTests {
    /// Feeds `input` in one piece and returns (message, consumed) or nil.
    func decodeAll(_ input: String, limit: Int = .max) -> (EndOfDataDecoder, Int?) {
        var d = EndOfDataDecoder(sizeLimit: limit)
        switch d.decode(Array(input.utf8)) {
        case .needMoreData: return (d, nil)
        case .finished(let n): return (d, n)
        }
    }

    func text(_ d: EndOfDataDecoder) -> String { String(decoding: d.message, as: UTF8.self) }

    @Test func endsOnlyAtCRLFDotCRLF() {
        let (d, n) = decodeAll("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        #expect(n == "Subject: x\r\n\r\nbody\r\n.\r\n".utf8.count)
        #expect(text(d) == "Subject: x\r\n\r\nbody\r\n")
        #expect(!d.hasBareLineEnding)
        #expect(d.size == d.message.count)
    }

    @Test func dotRightAfter354IsAnEmptyMessage() {
        let (d, n) = decodeAll(".\r\nQUIT\r\n")
        #expect(n == 3)
        #expect(d.message.isEmpty)
        #expect(d.isFinished)
    }

    @Test func blankLineThenDotIsOneEmptyLine() {
        let (d, n) = decodeAll("\r\n.\r\n")
        #expect(n == 5)
        #expect(text(d) == "\r\n")
    }

    @Test func oneLeadingDotIsRemoved() {
        let (d, _) = decodeAll("..hidden\r\n...two\r\n.x\r\na.b\r\n.\r\n")
        #expect(text(d) == ".hidden\r\n..two\r\nx\r\na.b\r\n")
        #expect(!d.hasBareLineEnding)
    }

    @Test func stuffedTerminatorIsData() {
        let (d, n) = decodeAll("a\r\n..\r\nb\r\n.\r\n")
        #expect(n != nil)
        #expect(text(d) == "a\r\n.\r\nb\r\n")
    }

    /// The smuggling terminators of SEC Consult's research: none ends the data,
    /// each is flagged.
    @Test(arguments: [
        "a\n.\nMAIL FROM:<x@y>\n",
        "a\n.\r\nMAIL FROM:<x@y>\r\n",
        "a\r\n.\nMAIL FROM:<x@y>\r\n",
        "a\r.\rMAIL FROM:<x@y>\r\n",
        "a\r.\r\nMAIL FROM:<x@y>\r\n",
        "a\r\n.\rMAIL FROM:<x@y>\r\n",
        "a\n.\r\n",
        "a\r\n.\r\r\n",
        "a\r\n\n.\r\n",
        ".\n",
        ".\rX",
        "\n.\r\n",
    ])
    func smugglingTerminatorsDoNotEndData(_ fake: String) {
        let (d, n) = decodeAll(fake)
        #expect(n == nil, "\(fake.debugDescription) ended the data")
        #expect(d.hasBareLineEnding)
        // The real terminator still ends it, and the defect stays flagged.
        var d2 = d
        let r = d2.decode(Array("\r\n.\r\n".utf8))
        #expect(r == .finished(consumed: 5))
        #expect(d2.hasBareLineEnding)
    }

    @Test(arguments: ["a\nb\r\n.\r\n", "a\rb\r\n.\r\n", "a\r\r\n.\r\n", "\n\r\n.\r\n", "a\r\n\r.\r\n.\r\n"])
    func bareCROrLFIsFlaggedButKeptVerbatim(_ input: String) {
        let (d, n) = decodeAll(input)
        #expect(n != nil, "\(input.debugDescription)")
        #expect(d.hasBareLineEnding)
        // Never "fixed": the bare octet is still there.
        #expect(d.message.contains(0x0A) || d.message.contains(0x0D))
    }

    @Test func bareLFAndBareCRAreDistinguished() {
        #expect(decodeAll("a\nb\r\n.\r\n").0.sawBareLF)
        #expect(!decodeAll("a\nb\r\n.\r\n").0.sawBareCR)
        #expect(decodeAll("a\rb\r\n.\r\n").0.sawBareCR)
        #expect(!decodeAll("a\rb\r\n.\r\n").0.sawBareLF)
    }

    @Test(arguments: [
        "Subject: t\r\n\r\n..a\r\nb\r\n\r\n.\r\n",
        "x\n.\ny\r\n.\r\n",
        "x\r.\ry\r\n.\r\n",
        ".\r\n",
        "a\r\n.\r\r\n.\r\n",
    ])
    func byteAtATimeGivesTheSameResult(_ input: String) {
        let (whole, n) = decodeAll(input)
        var d = EndOfDataDecoder()
        var end: Int?
        for (i, b) in input.utf8.enumerated() {
            if case .finished(let c) = d.decode([b]) {
                #expect(c == 1)
                end = i + 1
                break
            }
        }
        #expect(end == n)
        #expect(d.message == whole.message)
        #expect(d.hasBareLineEnding == whole.hasBareLineEnding)
    }

    @Test func everySplitPointGivesTheSameResult() {
        let input = Array("H: v\r\n\r\n..x\r\ny\n.\nz\r\n.\r\nRSET\r\n".utf8)
        var reference = EndOfDataDecoder()
        let r = reference.decode(input)
        for split in 0...input.count {
            var d = EndOfDataDecoder()
            var consumed = 0
            if case .finished(let c) = d.decode(input[..<split]) {
                consumed = c
            } else if case .finished(let c) = d.decode(input[split...]) {
                consumed = split + c
            }
            #expect(r == .finished(consumed: consumed))
            #expect(d.message == reference.message)
            #expect(d.sawBareLF)
        }
    }

    @Test func sizeCountsCRLFButNotStuffedDots() {
        let (d, _) = decodeAll("..ab\r\n.\r\n")
        #expect(d.size == 5)  // ".ab\r\n"
    }

    @Test func overTheLimitKeepsScanningButStopsKeeping() {
        let body = String(repeating: "x", count: 100) + "\r\n"
        let (d, n) = decodeAll(body + ".\r\nQUIT\r\n", limit: 50)
        #expect(n == body.utf8.count + 3)
        #expect(d.exceededSizeLimit)
        #expect(d.message.count == 50)
        #expect(d.size == 102)
    }

    @Test func exactlyAtTheLimitIsFine() {
        let (d, _) = decodeAll("abc\r\n.\r\n", limit: 5)
        #expect(!d.exceededSizeLimit)
        #expect(d.message.count == 5)
    }

    @Test func afterFinishingNothingMoreIsConsumed() {
        var d = EndOfDataDecoder()
        #expect(d.decode(Array(".\r\n".utf8)) == .finished(consumed: 3))
        #expect(d.decode(Array("MAIL\r\n".utf8)) == .finished(consumed: 0))
        #expect(d.message.isEmpty)
    }

    @Test func terminatorSplitAcrossChunks() {
        var d = EndOfDataDecoder()
        #expect(d.decode(Array("a\r".utf8)) == .needMoreData)
        #expect(d.decode(Array("\n.".utf8)) == .needMoreData)
        #expect(d.decode(Array("\r".utf8)) == .needMoreData)
        #expect(d.decode(Array("\nNOOP".utf8)) == .finished(consumed: 1))
        #expect(text(d) == "a\r\n")
    }
}
