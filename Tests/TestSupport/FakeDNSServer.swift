import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An in-process DNS server on 127.0.0.1:0 (UDP) answering MX and A queries
/// from a table, NXDOMAIN for names it does not know, so resolver tests need
/// no external process and never touch the system's resolver.
public final class FakeDNSServer: Sendable {
    public struct Zone: Sendable {
        public var mx: [String: [(UInt16, String)]] = [:]
        public var a: [String: [[UInt8]]] = [:]
        /// Names that exist but answer SERVFAIL.
        public var servfail: Set<String> = []
        public init() {}
    }

    let channel: any Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    public static func start(_ zone: Zone) async throws -> FakeDNSServer {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Handler(zone: zone)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeDNSServer(channel: channel)
    }

    private init(channel: any Channel) { self.channel = channel }

    public func stop() async { try? await channel.close().get() }

    /// Starts a server for `body` and stops it (awaited) afterwards, also when `body` throws.
    public static func with<T>(_ zone: Zone, _ body: (FakeDNSServer) async throws -> T) async throws -> T {
        let server = try await start(zone)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let zone: Zone
        init(zone: Zone) { self.zone = zone }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            let q = Array(envelope.data.readableBytesView)
            guard q.count > 12, let (name, end) = Self.readName(q, 12), end + 4 <= q.count else { return }
            let qtype = UInt16(q[end]) << 8 | UInt16(q[end + 1])
            let key = name.lowercased()
            var answers: [[UInt8]] = []
            var rcode: UInt8 = 0
            let known = zone.mx[key] != nil || zone.a[key] != nil
            if zone.servfail.contains(key) {
                rcode = 2
            } else if !known {
                rcode = 3
            } else if qtype == 15 {
                for (pref, host) in zone.mx[key] ?? [] {
                    answers.append(
                        Self.record(type: 15, rdata: [UInt8(pref >> 8), UInt8(pref & 0xFF)] + Self.encodeName(host)))
                }
            } else if qtype == 1 {
                for addr in zone.a[key] ?? [] { answers.append(Self.record(type: 1, rdata: addr)) }
            }
            var r: [UInt8] = [q[0], q[1], 0x81, 0x80 | rcode, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
            r += q[12..<(end + 4)]
            for a in answers { r += a }
            let out = AddressedEnvelope(
                remoteAddress: envelope.remoteAddress, data: context.channel.allocator.buffer(bytes: r))
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }

        static func record(type: UInt16, rdata: [UInt8]) -> [UInt8] {
            // Name: pointer to the question at offset 12.
            [
                0xC0, 12, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1, 0, 0, 1, 0x2C, UInt8(rdata.count >> 8),
                UInt8(rdata.count & 0xFF),
            ] + rdata
        }

        static func encodeName(_ name: String) -> [UInt8] {
            var out: [UInt8] = []
            for label in name.split(separator: ".") where !label.isEmpty {
                out.append(UInt8(label.utf8.count))
                out += label.utf8
            }
            return out + [0]
        }

        static func readName(_ b: [UInt8], _ start: Int) -> (String, Int)? {
            var labels: [String] = []
            var i = start
            while i < b.count {
                let len = Int(b[i])
                if len == 0 { return (labels.joined(separator: "."), i + 1) }
                guard i + 1 + len <= b.count else { return nil }
                labels.append(String(decoding: b[(i + 1)...(i + len)], as: UTF8.self))
                i += 1 + len
            }
            return nil
        }
    }
}

@available(*, unavailable)
extension FakeDNSServer.Handler: Sendable {}
