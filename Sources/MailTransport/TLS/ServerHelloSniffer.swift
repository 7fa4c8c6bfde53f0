import NIOCore

/// Reads the cipher suite out of the server's ServerHello, which travels in
/// the clear in every TLS version (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
/// NIOSSL does not expose the negotiated suite, so this handler sits in
/// front of it, looks at the first handshake record and passes every byte on
/// untouched.
final class ServerHelloSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var seen: [UInt8] = []
    private var done = false
    private let onCipher: (UInt16) -> Void

    init(onCipher: @escaping (UInt16) -> Void) {
        self.onCipher = onCipher
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done {
            let buffer = unwrapInboundIn(data)
            seen += buffer.readableBytesView.prefix(16384 - seen.count)
            switch Self.cipherSuite(in: seen) {
            case .found(let suite):
                done = true
                seen = []
                onCipher(suite)
            case .invalid:
                done = true
                seen = []
            case .needMore:
                if seen.count >= 16384 {
                    done = true
                    seen = []
                }
            }
        }
        context.fireChannelRead(data)
    }

    enum Result: Equatable { case found(UInt16), needMore, invalid }

    /// record: type(1)=22 version(2) length(2); handshake: type(1)=2 length(3)
    /// legacy_version(2) random(32) session_id<0..32> cipher_suite(2)
    static func cipherSuite(in b: [UInt8]) -> Result {
        guard b.count >= 5 else { return .needMore }
        guard b[0] == 22 else { return .invalid }
        let recordLength = Int(b[3]) << 8 | Int(b[4])
        let body = b.dropFirst(5).prefix(recordLength)
        guard body.count >= 4 + 2 + 32 + 1 else { return b.count >= 5 + recordLength ? .invalid : .needMore }
        let s = body.startIndex
        guard body[s] == 2 else { return .invalid }
        let sessionIDLength = Int(body[s + 38])
        let at = s + 39 + sessionIDLength
        guard at + 2 <= body.endIndex else { return b.count >= 5 + recordLength ? .invalid : .needMore }
        return .found(UInt16(body[at]) << 8 | UInt16(body[at + 1]))
    }

    /// IANA names of the suites BoringSSL negotiates.
    static func name(of suite: UInt16) -> String {
        let names: [UInt16: String] = [
            0x1301: "TLS_AES_128_GCM_SHA256",
            0x1302: "TLS_AES_256_GCM_SHA384",
            0x1303: "TLS_CHACHA20_POLY1305_SHA256",
            0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
            0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
            0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
            0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
        ]
        if let name = names[suite] { return name }
        let hex = String(suite, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
