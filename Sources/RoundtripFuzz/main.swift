import CFuzzer
import DeliveryReports
import MailCore
import MailboxCore
import SMTPCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which parser the process fuzzes: `ROUNDTRIP_FUZZ_TARGET` = reports (default),
/// smtp-command, smtp-reply, imap or pop3 (scripts/fuzz.sh runs each in turn).
let fuzzTarget = getenv("ROUNDTRIP_FUZZ_TARGET").map { String(cString: $0) } ?? "reports"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch fuzzTarget {
    case "smtp-command": fuzzSMTPServer(bytes)
    case "smtp-reply": fuzzSMTPReplies(bytes)
    case "imap": fuzzIMAP(bytes)
    case "pop3": fuzzPOP3(bytes)
    default: fuzzReports(bytes)
    }
    return 0
}

/// The MIME parser (with small limits, so limit paths get exercised), every part's
/// decoders, the report parser, the mbox splitter and the field-level helpers.
func fuzzReports(_ bytes: [UInt8]) {
    if let message = try? MIMEParser.parse(
        bytes, limits: MIMELimits(maxMessageSize: 1 << 20, maxDepth: 8, maxParts: 64))
    {
        message.visit { part in
            _ = part.decodedBody
            _ = part.text
            for f in part.header.fields {
                _ = f.decodedValue
                _ = MessageDate(f.value)
                _ = AddressParser.addrSpec(in: f.value)
                _ = AuthenticationResults(parsing: f.value)
                _ = ReceivedField(parsing: f.value)
            }
            return true
        }
    }
    _ = try? DeliveryReportParser.parse(bytes)
    _ = Mbox.split(bytes)
    let text = decodeUTF8OrLatin1(bytes.prefix(4096))
    _ = XText.decode(text)
    _ = XText.decodeUnitext(text)
    _ = EncodedWord.decode(text)
    _ = ContentType(headerValue: text)
    _ = StatusCode.findInDiagnostic(text)
    _ = ReplyCode.find(in: text)
}

/// What a client sends the listener: every line through the command parser,
/// and the whole input through the server session (as one read and split in
/// two at a point the first byte picks), answering every stored message.
func fuzzSMTPServer(_ bytes: [UInt8]) {
    var start = 0
    for (i, b) in bytes.enumerated() where b == 0x0A {
        _ = ServerCommandParser.parse(Array(bytes[start..<i]))
        start = i + 1
    }
    var configuration = SMTPServerSession.Configuration(
        hostname: "mx.fuzz", domains: ["fuzz.test"], maxMessageSize: 65536, maxRecipients: 8)
    configuration.maxJunkCommands = 50
    var session = SMTPServerSession(
        configuration: configuration, recipientGate: RecipientGate(acceptedLocalParts: ["reports"]) { $0.count == 4 })
    session.storageAvailable = (bytes.first ?? 0) & 1 == 0
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    for piece in [bytes[..<cut], bytes[cut...]] {
        session.receive(piece)
        var steps = 0
        while let action = session.next(), steps < 10_000 {
            steps += 1
            switch action {
            case .acceptMessage: _ = session.messageStored(id: "fuzz")
            case .replyThenStartTLS: session.tlsHandshakeCompleted()
            case .reply, .replyThenClose: break
            }
        }
    }
}

/// What a server sends the SMTP client: replies, cut at every 7th byte.
func fuzzSMTPReplies(_ bytes: [UInt8]) {
    var parser = SMTPReplyParser(limits: .init(maxLineLength: 512, maxLines: 16, maxReplyLength: 4096))
    var i = 0
    while i < bytes.count {
        parser.append(bytes[i..<min(bytes.count, i + 7)])
        i += 7
        do {
            while let reply = try parser.next() {
                _ = EHLOCapabilities(reply: reply)
                _ = reply.enhancedCode
            }
        } catch { return }
    }
}

/// What a server sends the IMAP client: framing (literals across reads) and every response.
func fuzzIMAP(_ bytes: [UInt8]) {
    var framer = IMAPFramingParser(limits: .init(lineLength: 1024, literalSize: 8192, responseSize: 16384))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    for piece in [bytes[..<cut], bytes[cut...]] {
        framer.append(piece)
        do {
            while let frame = try framer.next() {
                if case .untagged(.other(_, let rest))? = try? IMAPResponseParser.parse(frame) {
                    _ = IMAPListEntry(parsing: rest)
                    _ = IMAPDateTime.secondsSince1970(rest)
                }
            }
        } catch { return }
    }
}

/// What a server sends the POP3 client: replies framed by expectations the
/// first byte picks (single- or multi-line per reply).
func fuzzPOP3(_ bytes: [UInt8]) {
    var parser = POP3ReplyParser(limits: .init(statusLineLength: 512, bodyLineLength: 1024, bodySize: 8192))
    let pattern = bytes.first ?? 0
    for bit in 0..<8 { parser.expect(pattern & (1 << bit) == 0 ? .singleLine : .multiLine) }
    var i = 0
    while i < bytes.count {
        parser.append(bytes[i..<min(bytes.count, i + 5)])
        i += 5
        do {
            while let reply = try parser.next() {
                _ = reply.lines
                _ = reply.statusLine
            }
        } catch { return }
    }
}

#if FUZZING
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(
        LLVMFuzzerRunDriver(
            &argc, &argv,
            { data, size in
                guard let data else { return 0 }
                return fuzzOne(data, size)
            }))
#else
    // Plain build: replay the files given as arguments (regression check for crash inputs).
    var replayed = 0
    for path in CommandLine.arguments.dropFirst() {
        guard let f = fopen(path, "rb") else {
            print("cannot open \(path)")
            continue
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        fclose(f)
        let padded = bytes + [0]  // never empty, so the base address exists; the pad is not passed on
        _ = padded.withUnsafeBufferPointer { buf in
            buf.baseAddress.map { fuzzOne($0, bytes.count) }
        }
        replayed += 1
    }
    print("replayed \(replayed) input(s) without a crash")
#endif
