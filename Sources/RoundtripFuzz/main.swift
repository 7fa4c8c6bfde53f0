import CFuzzer
import DeliveryReports
import MailCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One input: the MIME parser (with small limits, so limit paths get exercised), every part's
/// decoders, the report parser, the mbox splitter and the field-level helpers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let message = try? MIMEParser.parse(bytes, limits: MIMELimits(maxMessageSize: 1 << 20, maxDepth: 8, maxParts: 64)) {
        message.visit { part in
            _ = part.decodedBody
            _ = part.text
            for f in part.header.fields {
                _ = f.decodedValue
                _ = MessageDate(f.value)
                _ = AddressParser.addrSpec(in: f.value)
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
    return 0
}

#if FUZZING
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in
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
    let padded = bytes + [0]   // never empty, so the base address exists; the pad is not passed on
    _ = padded.withUnsafeBufferPointer { buf in
        buf.baseAddress.map { fuzzOne($0, bytes.count) }
    }
    replayed += 1
}
print("replayed \(replayed) input(s) without a crash")
#endif
